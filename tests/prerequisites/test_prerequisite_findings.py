"""The pure core of the prerequisites: what each read means, with no Azure in sight."""

from __future__ import annotations

from typing import Any

import pytest

from breakerpanel.core import prerequisites as p
from breakerpanel.core import rollout_flow as flow

SUB = "00000000-0000-0000-0000-0000000000dd"
TARGET = {"subscriptionId": SUB, "resourceGroup": "rg", "apimName": "apim"}
APIM_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim"
BACKENDS = [{"url": "https://aoai-one.openai.azure.com/openai"}, {"url": "https://aoai-two.cognitiveservices.azure.com/"}]
PRINCIPAL = "9b8e7d6c-0000-4000-8000-000000000001"
USER = "/providers/Microsoft.Authorization/roleDefinitions/5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"
READER = "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"


def ok(**body: Any) -> dict[str, Any]:
    return {"outcome": "ok", **body}


def refused(status: int, code: str, outcome: str = "permanent") -> dict[str, Any]:
    return {"outcome": outcome, "status": status, "error": {"code": code, "message": "no"}}


def roles(*assignments: tuple[str, str]) -> list[p.Finding]:
    listed = [{"scope": scope, "roleDefinitionId": role, "principalId": PRINCIPAL} for scope, role in assignments]
    return p.role_findings(TARGET, BACKENDS, PRINCIPAL, ok(assignments=listed))


def test_the_account_is_the_backend_hosts_first_label() -> None:
    assert [p.account_name(b["url"]) for b in BACKENDS] == ["aoai-one", "aoai-two"]


def test_an_assignment_on_the_subscription_or_the_account_covers_it_a_group_only_maybe() -> None:
    account = f"/subscriptions/{SUB}/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/AOAI-ONE"
    found = roles((f"/subscriptions/{SUB}/resourceGroups/rg-ai", USER), (account, USER))
    assert [(f.status, "aoai-one" in f.detail) for f in found] == [("passed", True), ("warning", False)]
    assert "rg-ai" in found[1].detail and "only if the account is there" in found[1].detail
    assert [f.status for f in roles((f"/subscriptions/{SUB}", USER))] == ["passed", "passed"]


def test_a_role_without_the_inference_data_actions_does_not_count() -> None:
    found = roles((f"/subscriptions/{SUB}", READER))
    assert [f.status for f in found] == ["warning", "warning"]
    assert all("401" in f.detail for f in found)


@pytest.mark.parametrize("tier, status", [("Consumption", "blocking"), ("StandardV2", "passed"),
                                          ("Premium", "passed"), ("Isolated", "warning")])
def test_tiers(tier: str, status: str) -> None:
    service = ok(service={"sku": {"name": tier}, "identity": {"type": "SystemAssigned", "principalId": PRINCIPAL}})
    [found, _] = p.service_findings(TARGET, service)
    assert (found.check, found.status) == ("tier", status)


@pytest.mark.parametrize("outcome, detail", [
    (refused(403, "AuthorizationFailed"),
     f"could not check: the identity lacks Microsoft.ApiManagement/service/read on {APIM_ID}"),
    (refused(503, "ServiceUnavailable", "transient"), "could not check: Azure did not answer (ServiceUnavailable)"),
    (refused(401, "InvalidAuthenticationToken"), "could not check: InvalidAuthenticationToken: no"),
])
def test_a_failed_service_read_is_could_not_check_for_both_of_its_checks(outcome: dict[str, Any], detail: str) -> None:
    found = p.service_findings(TARGET, outcome)
    assert [(f.check, f.status, f.detail) for f in found] == [("tier", "couldNotCheck", detail),
                                                              ("identity", "couldNotCheck", detail)]


def test_needs_follow_the_parameters() -> None:
    none = p.needs({"apimServiceName": {"value": "apim"}})
    assert (none.providers, none.system_topic, none.workspace_id) == ((), None, None)
    both = p.needs({"apimServiceName": {"value": "apim"}, "logAnalyticsWorkspaceId": {"value": "/w"},
                    "functionAppResourceId": {"value": "/site"}})
    assert (both.providers, both.system_topic, both.workspace_id) == (
        ("Microsoft.Insights", "Microsoft.EventGrid"), "apim-events", "/w")


def test_an_existing_topic_of_another_source_is_not_reused() -> None:
    other = {"name": "storage-events", "source": APIM_ID.replace("/apim", "/other")}
    findings, reuse = p.system_topic_findings(APIM_ID, "apim-events", ok(topics=[other]))
    assert reuse is None and findings[0].status == "passed"
    mine = {"name": "legacy-topic", "source": APIM_ID.upper()}
    findings, reuse = p.system_topic_findings(APIM_ID, "apim-events", ok(topics=[other, mine]))
    assert reuse == "legacy-topic" and "reused" in findings[0].detail


def test_the_flow_blocks_a_refused_call_and_only_warns_on_a_failed_activity() -> None:
    refusal = {"outcome": "permanent", "error": {"code": "RefusedByBreakerpanel", "message": "not sent"}}
    assert flow.prerequisites_block(refusal)
    crashed = {"outcome": "permanent", "error": {"code": "ActivityFailed", "message": "KeyError"}}
    assert not flow.prerequisites_block(crashed)
    assert flow.prerequisite_findings(crashed)[0]["status"] == "couldNotCheck"
    assert not flow.prerequisites_block(None)


def test_overrides_reach_the_call_only_from_an_assessment() -> None:
    call = {"target": TARGET, "parameters": {"apimServiceName": {"value": "apim"}}}
    chosen = flow.with_prerequisites(call, {"findings": [], "parameters": {"systemTopicName": "legacy-topic"}})
    assert chosen["parameters"]["systemTopicName"] == {"value": "legacy-topic"}
    assert call["parameters"] == {"apimServiceName": {"value": "apim"}}, "the plan's call is left as it was"
    # An outcome without findings (a failure) carries no parameters to trust.
    assert flow.with_prerequisites(call, {"outcome": "permanent", "parameters": {"x": 1}}) == call
