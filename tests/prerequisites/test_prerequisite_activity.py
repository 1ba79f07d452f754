"""The prerequisites activity through the real SDK clients against the twin: each finding blocking, passing and
could-not-check, as the rollout's preflight would get it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from prereq_target import APIM, APIM_ID, GROUP, OPENAI_USER, SUB, WORKSPACE, account_id, by_check, rollout_call

from twin.faults import parse_rule

Check = Callable[..., dict[str, Any]]


def grant_openai_user(twin: Any, *accounts: str) -> None:
    principal = twin.apim.service(SUB, GROUP, APIM).principal_id
    for account in accounts:
        twin.prerequisites.assign(account_id(account), OPENAI_USER, principal)


def statuses(outcome: dict[str, Any]) -> dict[str, list[str]]:
    return {check: [f["status"] for f in found] for check, found in by_check(outcome).items()}


def test_a_prepared_instance_passes_every_check(check: Check, target_env: Any) -> None:
    grant_openai_user(target_env, "aoai-eastus", "aoai-westus")
    outcome = check()

    assert outcome["outcome"] == "ok" and outcome["blocking"] is False
    assert statuses(outcome) == {"tier": ["passed"], "identity": ["passed"], "openaiRole": ["passed", "passed"],
                                 "provider": ["passed"], "diagnosticSetting": ["passed"]}
    # Only the reads the parameters call for: gateway logs need Microsoft.Insights; no events, no Event Grid.
    routes = [r["route"] for r in target_env.captured()]
    assert "eventgrid.systemTopics.list" not in routes
    assert [r["path"].rsplit("/", 1)[-1] for r in target_env.captured("arm.providers.get")] == ["Microsoft.Insights"]
    assert outcome["parameters"] == {}


def test_the_consumption_tier_blocks_with_the_tiers_that_work(check: Check, target_env: Any) -> None:
    target_env.apim.create_service(SUB, GROUP, APIM, sku="Consumption")
    [tier] = by_check(check())["tier"]
    assert tier["status"] == "blocking"
    assert "Consumption" in tier["detail"] and "Developer, Basic, Standard or Premium" in tier["fix"]


@pytest.mark.parametrize("identity", ["None", "UserAssigned"])
def test_no_system_assigned_identity_blocks_with_the_command_that_enables_it(
        check: Check, target_env: Any, identity: str) -> None:
    target_env.apim.create_service(SUB, GROUP, APIM, identity=identity)
    outcome = check()
    [found] = by_check(outcome)["identity"]
    assert found["status"] == "blocking"
    assert "--enable-managed-identity true" in found["fix"]
    # Without a system-assigned identity there is no principal whose roles could be read.
    assert "openaiRole" not in by_check(outcome)


def test_a_missing_openai_role_is_a_warning_naming_the_account(check: Check, target_env: Any) -> None:
    grant_openai_user(target_env, "aoai-eastus")
    outcome = check()
    roles = by_check(outcome)["openaiRole"]
    assert [f["status"] for f in roles] == ["passed", "warning"]
    assert "aoai-westus" in roles[1]["detail"] and "Cognitive Services OpenAI User" in roles[1]["fix"]
    assert outcome["blocking"] is False


def test_role_assignments_the_app_may_not_read_are_could_not_check(check: Check, target_env: Any) -> None:
    target_env.add_fault(parse_rule({"route": "authorization.roleAssignments.list", "kind": "error", "status": 403}))
    outcome = check()
    [found] = by_check(outcome)["openaiRole"]
    assert found["status"] == "couldNotCheck"
    assert found["detail"] == ("could not check: the identity lacks Microsoft.Authorization/roleAssignments/read on "
                               f"/subscriptions/{SUB}")
    assert outcome["outcome"] == "ok" and outcome["blocking"] is False


def test_an_unregistered_provider_blocks_with_the_register_command(check: Check, target_env: Any) -> None:
    target_env.prerequisites.set_registration(SUB, "Microsoft.Insights", "NotRegistered")
    [found] = by_check(check())["provider"]
    assert found["status"] == "blocking"
    assert found["fix"].startswith(f"az provider register --namespace Microsoft.Insights --subscription {SUB}")


def test_a_provider_read_refused_is_could_not_check_not_a_block(check: Check, target_env: Any) -> None:
    target_env.add_fault(parse_rule({"route": "arm.providers.get", "kind": "error", "status": 403}))
    outcome = check()
    [found] = by_check(outcome)["provider"]
    assert found["status"] == "couldNotCheck"
    assert "Microsoft.Resources/subscriptions/providers/read" in found["detail"]
    assert outcome["blocking"] is False


def _setting(twin: Any, name: str, workspace: str, **properties: Any) -> None:
    twin.arm.resources.put_body(f"{APIM_ID}/providers/Microsoft.Insights/diagnosticSettings/{name}",
                                "Microsoft.Insights/diagnosticSettings",
                                {"properties": {"workspaceId": workspace, **properties}})


def test_another_setting_sending_the_gateway_logs_to_the_workspace_blocks(check: Check, target_env: Any) -> None:
    _setting(target_env, "to-logs", WORKSPACE.upper(), logs=[{"categoryGroup": "allLogs", "enabled": True}])
    [found] = by_check(check())["diagnosticSetting"]
    assert found["status"] == "blocking"
    assert "'to-logs'" in found["detail"] and "Data sink" in found["detail"] and "delete 'to-logs'" in found["fix"]


@pytest.mark.parametrize("name, workspace, logs", [
    ("breakerpanel-gateway-logs", WORKSPACE, [{"category": "GatewayLogs", "enabled": True}]),  # the template's own
    ("elsewhere", WORKSPACE.replace("/logs", "/other"), [{"category": "GatewayLogs", "enabled": True}]),
    ("disabled", WORKSPACE, [{"category": "GatewayLogs", "enabled": False}]),
    ("other-category", WORKSPACE, [{"category": "WebSocketConnectionLogs", "enabled": True}]),
])
def test_settings_that_do_not_clash_pass(check: Check, target_env: Any, name: str, workspace: str,
                                         logs: list[dict[str, Any]]) -> None:
    _setting(target_env, name, workspace, logs=logs)
    assert [f["status"] for f in by_check(check())["diagnosticSetting"]] == ["passed"]


def test_an_unanswered_read_is_transient_and_could_not_check(check: Check, target_env: Any) -> None:
    target_env.add_fault(parse_rule({"route": "apim.service.get", "kind": "error", "status": 503}))
    outcome = check()
    assert outcome["outcome"] == "transient"
    assert [f["status"] for f in by_check(outcome)["tier"]] == ["couldNotCheck"]
    assert outcome["blocking"] is False


def test_a_missing_instance_blocks(check: Check, target_env: Any) -> None:
    target_env.apim.reset()
    [found] = by_check(check())["service"]
    assert found["status"] == "blocking" and APIM in found["detail"]


def test_a_call_outside_the_allowlist_is_refused_before_any_read(check: Check, target_env: Any) -> None:
    call = rollout_call()
    call["target"] = {**call["target"], "apimName": "apim-elsewhere"}
    outcome = check(call)
    assert outcome["outcome"] == "permanent" and outcome["error"]["code"] == "RefusedByBreakerpanel"
    assert target_env.captured() == []
