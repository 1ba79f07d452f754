"""The twin's RBAC mode through the real SDK clients: Azure's refusals, exactly as the services word them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resource.deployments.models import Deployment, DeploymentProperties

from twin.rbac.infra import AppInfra, app_assignments, builtin_roles
from twin.rbac.roles import Assignment, Permission, RoleDefinition

pytestmark = pytest.mark.twin
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-gateway"
APIM_ID = f"{GROUP}/providers/Microsoft.ApiManagement/service/apim-gateway"
FUNCTION_APP = f"{GROUP}/providers/Microsoft.Web/sites/func-breakerpanel"
PRINCIPAL = "0b7c5d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e"
MAIN_JSON = Path(__file__).resolve().parents[2] / "infra" / "gateway" / "main.json"


def custom(*actions: str, not_actions: tuple[str, ...] = ()) -> RoleDefinition:
    return RoleDefinition("test-role", "test role", (Permission(actions, not_actions),), False)


def grant(role: RoleDefinition, scope: str) -> Assignment:
    return Assignment(PRINCIPAL, role, scope, f"test: {role.name} at {scope}")


@pytest.fixture
def token(twin: Any, settings: Any) -> str:
    twin.apim.create_service(SUBSCRIPTION, "rg-gateway", "apim-gateway", "Developer")
    return str(settings.static_token)


def test_a_call_no_role_allows_gets_arms_authorization_failed_word_for_word(twin: Any, token: str,
                                                                            deployments: Any) -> None:
    twin.rbac.enable({token: PRINCIPAL}, [])
    with pytest.raises(HttpResponseError) as refused:
        deployments.deployments.get("rg-gateway", "gw-1")
    assert refused.value.status_code == 403
    assert refused.value.error.code == "AuthorizationFailed"
    assert refused.value.error.message == (
        f"The client '{PRINCIPAL}' with object id '{PRINCIPAL}' does not have authorization to perform action "
        f"'Microsoft.Resources/deployments/read' over scope '{GROUP}/providers/Microsoft.Resources/deployments/gw-1' "
        "or the scope is invalid. If access was recently granted, please refresh your credentials.")


def test_a_token_rbac_mode_does_not_know_is_refused_401(twin: Any, deployments: Any) -> None:
    twin.rbac.enable({"someone-else": PRINCIPAL}, [])
    with pytest.raises(HttpResponseError) as refused:
        deployments.deployments.get("rg-gateway", "gw-1")
    assert refused.value.status_code == 401


def test_not_actions_subtract_and_scopes_do_not_leak_to_a_sibling_instance(twin: Any, token: str,
                                                                           apim: Any) -> None:
    twin.apim.create_service(SUBSCRIPTION, "rg-gateway", "apim-other", "Developer")
    reader = custom("Microsoft.ApiManagement/service/*/read", "Microsoft.ApiManagement/service/read",
                    not_actions=("Microsoft.ApiManagement/service/backends/*",))
    twin.rbac.enable({token: PRINCIPAL}, [grant(reader, APIM_ID)])
    assert apim.api_management_service.get("rg-gateway", "apim-gateway").name == "apim-gateway"
    with pytest.raises(HttpResponseError) as refused:
        list(apim.backend.list_by_service("rg-gateway", "apim-gateway"))
    assert "'Microsoft.ApiManagement/service/backends/read'" in refused.value.error.message
    with pytest.raises(HttpResponseError):
        apim.api_management_service.get("rg-gateway", "apim-other")


def test_log_analytics_refuses_in_its_own_words(twin: Any, token: str, logs: Any) -> None:
    from datetime import timedelta

    workspace = f"{GROUP}/providers/Microsoft.OperationalInsights/workspaces/log-gateway"
    guid = "3c9b1f0e-5a7d-4e2b-9c8a-1d2e3f4a5b6c"
    twin.rbac.enable({token: PRINCIPAL}, [], {guid: workspace})
    with pytest.raises(HttpResponseError) as refused:
        logs.query_workspace(guid, "ApiManagementGatewayLogs | take 1", timespan=timedelta(hours=1))
    assert refused.value.status_code == 403
    assert refused.value.error.code == "InsufficientAccessError"
    reader = builtin_roles()["73c42c96-874c-492b-b04d-ab87d138a893"]
    twin.rbac.enable({token: PRINCIPAL}, [grant(reader, workspace)], {guid: workspace})
    assert logs.query_workspace(guid, "ApiManagementGatewayLogs | take 1", timespan=timedelta(hours=1)).tables


def _deploy_with_breaker_events(deployments: Any) -> Any:
    backends = [{"name": "aoai-eastus", "url": "https://aoai-eastus.openai.azure.com/openai", "priority": 1,
                 "weight": 1}]
    parameters = {"apimServiceName": {"value": "apim-gateway"}, "backends": {"value": backends},
                  "breakerRule": {"value": {"name": "b", "failureCount": 3, "interval": "PT1M",
                                            "statusCodeRanges": [{"min": 500, "max": 599}], "errorReasons": [],
                                            "tripDuration": "PT1M", "acceptRetryAfter": False}},
                  "poolName": {"value": "aoai-pool"}, "functionAppResourceId": {"value": FUNCTION_APP}}
    body = Deployment(properties=DeploymentProperties(mode="Incremental", template=json.loads(MAIN_JSON.read_text()),
                                                      parameters=parameters))
    return deployments.deployments.begin_create_or_update("rg-gateway", "gw-events", body).result()


def test_an_event_grid_subscription_to_a_function_needs_write_on_the_function(twin: Any, token: str,
                                                                              deployments: Any) -> None:
    everything_but_the_app = custom("Microsoft.Resources/deployments/*", "Microsoft.ApiManagement/service/*",
                                    "Microsoft.EventGrid/*")
    twin.rbac.enable({token: PRINCIPAL}, [grant(everything_but_the_app, GROUP)])
    with pytest.raises(HttpResponseError) as failed:
        _deploy_with_breaker_events(deployments)
    assert failed.value.error.code == "DeploymentFailed"
    operations = list(deployments.deployment_operations.list("rg-gateway", "gw-events"))
    [refused] = [op for op in operations if op.properties.provisioning_state == "Failed"]
    assert refused.properties.target_resource.resource_type.endswith("/eventSubscriptions")
    error = refused.properties.status_message.error.as_dict()
    assert error["code"] == "LinkedAuthorizationFailed"
    assert (f"does not have permission to perform action 'Microsoft.Web/sites/functions/write' on the linked "
            f"scope(s) '{FUNCTION_APP}/functions/") in error["message"]

    from breakerpanel.core.diagnosis import diagnose_operations

    [diagnosis] = diagnose_operations([{"properties": {"provisioningState": "Failed", "statusMessage": {
        "error": error}, "targetResource": {}}}])
    assert diagnosis.key == "authorization_failed" and "Microsoft.Web/sites/functions/write" in diagnosis.cause

    writer = custom("Microsoft.Web/sites/functions/write")
    twin.rbac.enable({token: PRINCIPAL}, [grant(everything_but_the_app, GROUP), grant(writer, FUNCTION_APP)])
    assert _deploy_with_breaker_events(deployments).properties.provisioning_state == "Succeeded"


def _track(url: str, ca: str, token: str, ikey: str) -> requests.Response:
    envelope = {"name": "Microsoft.ApplicationInsights.Event", "time": "2026-12-01T10:00:00.0000000Z", "iKey": ikey,
                "data": {"baseType": "EventData", "baseData": {"ver": 2, "name": "RolloutCompleted",
                                                               "properties": {}}}}
    return requests.post(f"{url}/v2.1/track", json=[envelope], headers={"Authorization": f"Bearer {token}"},
                         verify=ca, timeout=30)


def test_telemetry_ingestion_needs_monitoring_metrics_publisher_on_the_component(twin: Any, twin_env: dict[str, str],
                                                                                  token: str) -> None:
    from twin.app_insights.state import DEFAULT_COMPONENT, DEFAULT_IKEY

    app = DEFAULT_COMPONENT.rsplit("/providers/", 1)[0] + "/providers"
    infra = AppInfra(PRINCIPAL, [], f"{app}/Microsoft.OperationalInsights/workspaces/log-breakerpanel",
                     DEFAULT_COMPONENT, f"{app}/Microsoft.Storage/storageAccounts/stbp",
                     f"{app}/Microsoft.Web/sites/func-breakerpanel")
    everything = app_assignments(infra)
    url, ca = twin_env["BREAKERPANEL_ARM_ENDPOINT"], twin_env["REQUESTS_CA_BUNDLE"]
    twin.rbac.enable({token: PRINCIPAL}, everything)
    assert _track(url, ca, token, DEFAULT_IKEY).status_code == 200
    twin.rbac.enable({token: PRINCIPAL}, [a for a in everything if "metricsPublisher" not in a.source])
    refused = _track(url, ca, token, DEFAULT_IKEY)
    assert refused.status_code == 403
    assert "'Microsoft.Insights/Telemetry/Write'" in refused.json()["error"]["message"]


@pytest.mark.parametrize(("body", "names"), [
    ({"principals": {"t": PRINCIPAL}}, "'infra'"),
    ({"principals": {"t": PRINCIPAL}, "infra": {"principalId": PRINCIPAL, "targets": [], "appWorkspaceId": "/w",
                                                "appInsightsId": "/a", "storageId": "/s"}},
     "'infra.appWorkspaceId' must be a resource id"),
    ({"principals": {"t": PRINCIPAL}, "infra": {"principalId": PRINCIPAL, "targets": [],
                                                "appWorkspaceId": f"{GROUP}/providers/M.O/workspaces/w",
                                                "appInsightsId": f"{GROUP}/providers/M.I/components/a",
                                                "storageId": f"{GROUP}/providers/M.S/storageAccounts/s",
                                                "functionAppId": FUNCTION_APP},
      "without": ["nope"]}, "'without' names no assignment"),
    ({"principals": ["t"], "infra": {}}, "'principals'"),
    ({"principal": {}}, "unknown field(s) ['principal']"),
])
def test_a_bad_control_request_names_the_field(twin: Any, twin_env: dict[str, str], body: Any, names: str) -> None:
    answer = requests.put(twin_env["BREAKERPANEL_ARM_ENDPOINT"] + "/_twin/rbac", json=body,
                          verify=twin_env["REQUESTS_CA_BUNDLE"], timeout=30)
    assert answer.status_code == 400 and names in answer.json()["error"]["message"], answer.text
    assert twin.rbac.enabled is False
