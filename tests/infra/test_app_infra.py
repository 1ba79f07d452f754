"""The function app's infrastructure: keyless storage, identity-based settings, least-privilege roles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bicep_drift_check import _split_types
from pycep import BicepParser

APP = Path(__file__).resolve().parents[2] / "infra" / "app"
OWNER = "8e3af657-a8ff-443d-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
USER_ACCESS_ADMIN = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"


def _parse(path: Path) -> dict[str, Any]:
    text, _ = _split_types(path.read_text(encoding="utf-8"))
    return BicepParser().parse(text=text)


def _resources(module: str) -> dict[str, Any]:
    return _parse(APP / "modules" / module)["resources"]


def test_storage_accepts_no_shared_key() -> None:
    props = _resources("storage.bicep")["storage"]["config"]["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"


def test_host_settings_are_identity_based() -> None:
    variables = _parse(APP / "modules" / "functionapp.bicep")["variables"]
    settings = variables["hostSettings"]["value"]
    assert settings["AzureWebJobsStorage__accountName"] == "storageAccountName"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in settings
    assert not [name for name in settings if "ConnectionString" in name or name == "AzureWebJobsStorage"]
    # Flex Consumption rejects these: the runtime is declared in functionAppConfig.
    assert "FUNCTIONS_WORKER_RUNTIME" not in settings and "FUNCTIONS_EXTENSION_VERSION" not in settings


def test_breakerpanel_settings_reach_the_app() -> None:
    module = _parse(APP / "main.bicep")["modules"]["functionApp"]
    settings = module["config"]["params"]["breakerpanelSettings"]
    assert settings["BREAKERPANEL_CREDENTIAL"] == "default"
    assert {"BREAKERPANEL_ARM_ENDPOINT", "BREAKERPANEL_LOGS_ENDPOINT", "BREAKERPANEL_TARGETS"} <= set(settings)


def test_plan_is_flex_consumption_running_python_311() -> None:
    resources = _resources("functionapp.bicep")
    assert resources["plan"]["config"]["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    app_config = resources["app"]["config"]["properties"]["functionAppConfig"]
    assert app_config["runtime"] == {"name": "python", "version": "3.11"}
    assert app_config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert resources["app"]["config"]["identity"]["type"] == "UserAssigned"


@pytest.mark.parametrize("module", ["identity.bicep", "apim-access.bicep", "workspace-access.bicep"])
def test_role_assignments_are_named_by_guid_and_grant_no_broad_role(module: str) -> None:
    parsed = _parse(APP / "modules" / module)
    role_ids = {name: entry["value"] for name, entry in parsed["variables"].items()}
    assignments = {
        name: entry
        for name, entry in parsed["resources"].items()
        if entry["type"] == "Microsoft.Authorization/roleAssignments"
    }
    assert assignments
    for name, entry in assignments.items():
        config = entry["config"]["config"] if "condition" in entry["config"] else entry["config"]
        assert config["name"]["function"]["type"] == "guid", name
        assert config["properties"]["principalType"] == "ServicePrincipal", name
        role = config["properties"]["roleDefinitionId"]
        if "operator" in role:
            # A custom role of this module (its actions are checked in test_app_roles.py).
            defined = parsed["resources"][role["operator"]["operands"]["operand_1"]]
            assert defined["type"] == "Microsoft.Authorization/roleDefinitions", name
            continue
        role_var = role["function"]["parameters"]["resource_name_1"]
        assert role_ids[role_var] not in (OWNER, CONTRIBUTOR, USER_ACCESS_ADMIN), name


def test_app_service_authentication_requires_entra_id_for_every_request() -> None:
    auth = _resources("functionapp.bicep")["auth"]
    assert auth["type"] == "Microsoft.Web/sites/config"
    config = auth["config"]
    assert config["name"] == "authsettingsV2"
    props = config["properties"]
    assert props["platform"]["enabled"] is True
    validation = props["globalValidation"]
    assert validation["requireAuthentication"] is True
    assert validation["unauthenticatedClientAction"] == "Return401"
    # Only Event Grid's webhook (guarded by its system key) and the health probe (function key) skip it; never
    # the rollout API or Durable's.
    assert validation["excludedPaths"] == ["/runtime/webhooks/eventgrid", "/api/health"]
    entra = props["identityProviders"]["azureActiveDirectory"]
    assert entra["enabled"] is True
    assert entra["registration"]["clientId"] == "authClientId"
    assert props["httpSettings"]["requireHttps"] is True


def test_the_app_runs_in_easy_auth_mode_with_four_eyes_in_azure() -> None:
    module = _parse(APP / "main.bicep")["modules"]["functionApp"]
    settings = module["config"]["params"]["breakerpanelSettings"]
    assert settings["BREAKERPANEL_AUTH"] == "easyAuth"
    assert settings["BREAKERPANEL_ALLOW_SELF_APPROVAL"] == "false"
    assert module["config"]["params"]["authClientId"] == "authClientId"


def test_the_app_registration_roles_are_the_roles_the_app_checks() -> None:
    import json

    from breakerpanel.settings import Settings

    roles = json.loads((APP / "app-roles.json").read_text())
    assert {r["value"] for r in roles} == {Settings.deployer_role, Settings.approver_role}
    assert all(r["isEnabled"] and r["id"] and r["description"] for r in roles)
    approver = next(r for r in roles if r["value"] == Settings.approver_role)
    # Approving is a person's decision: no application can hold the approver role.
    assert approver["allowedMemberTypes"] == ["User"]


def test_durable_functions_follow_microsofts_flex_consumption_guidance() -> None:
    """One always-ready instance for the durable group, and queue polling at most every 10 s: without them a
    durable timer or an approval event waits for a cold start and up to 30 s of polling back-off.
    https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-azure-storage-provider#flex-consumption-plan
    """
    import datetime as dt
    import json

    scale = _resources("functionapp.bicep")["app"]["config"]["properties"]["functionAppConfig"]["scaleAndConcurrency"]
    assert scale["alwaysReady"] == [{"name": "durable", "instanceCount": 1}]

    host = json.loads((APP.parents[1] / "host.json").read_text())
    interval = host["extensions"]["durableTask"]["storageProvider"]["maxQueuePollingInterval"]
    hours, minutes, seconds = (int(part) for part in interval.split(":"))
    assert dt.timedelta(hours=hours, minutes=minutes, seconds=seconds) <= dt.timedelta(seconds=10)


def test_the_app_registration_section_names_every_path_outside_authentication() -> None:
    """infra/README.md, "App registration", tells an operator what App Service Authentication lets through
    without a token: it must name every excluded path the Bicep declares, and no other."""
    import re

    excluded = _resources("functionapp.bicep")["auth"]["config"]["properties"]["globalValidation"]["excludedPaths"]
    readme = (APP.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### App registration")[1].split("```")[0]
    assert set(re.findall(r"`(/[\w.-]+(?:/[\w.-]+)+)`", section)) == set(excluded)
