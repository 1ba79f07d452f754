"""The pure parts behind `plan` and the verify message: exit codes from preflight outcomes, and a read-back
that failed naming the instance instead of "(expected , found )"."""

from __future__ import annotations

from datetime import UTC, datetime

from breakerpanel.core import plan_report
from breakerpanel.core import rollout_flow as flow
from breakerpanel.core.summary import render_target

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
SUB = "00000000-0000-0000-0000-0000000000e2"
REQUEST = {
    "targets": [{"subscriptionId": SUB, "resourceGroup": "rg", "apimName": "apim-a", "wave": 1}],
    "backends": [{"name": "aoai-1", "url": "https://aoai-1.openai.azure.com/openai", "priority": 1, "weight": 100}],
    "breakerRule": {"name": "rule", "failureCount": 3, "interval": "PT1M",
                    "statusCodeRanges": [{"min": 429, "max": 429}, {"min": 500, "max": 599}],
                    "tripDuration": "PT1M", "acceptRetryAfter": False},
    "poolName": "pool",
    "approval": "onDestructive",
    "rollbackOnFailure": True,
}
POLICY = {"outcome": "ok", "backendHosts": [".openai.azure.com"], "allowSelfApproval": False,
          "targets": [{"subscriptionId": SUB, "resourceGroup": "rg", "apimName": "apim-a",
                       "logAnalyticsWorkspaceId": ""}]}
POOL_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim-a/backends/pool"


def _report(preflight: dict) -> dict:
    plan = flow.plan({"rolloutId": "r-1", "request": REQUEST}, POLICY, "rollout-r-1")
    key = plan["waves"][0]["preflight"][0]["key"]
    return plan_report.plan_report(plan, {key: preflight}, NOW, REQUEST)


def _what_if(*changes: dict) -> dict:
    from breakerpanel.core.whatif import summarize_what_if

    return {"outcome": "ok", "summarized": True,
            "whatIf": summarize_what_if({"status": "Succeeded", "properties": {"changes": list(changes)}}).to_dict()}


def _pool(*members: str) -> dict:
    return {"properties": {"type": "Pool", "pool": {"services": [
        {"id": f"/backends/{m}", "priority": 1, "weight": 50} for m in members]}}}


def test_a_pool_losing_a_member_is_destructive_and_named() -> None:
    change = {"resourceId": POOL_ID, "changeType": "Modify", "before": _pool("aoai-1", "aoai-2"),
              "after": _pool("aoai-1"), "delta": [{"path": "properties.pool.services", "propertyChangeType": "Array",
                                                   "children": [{"path": "1", "propertyChangeType": "Delete"}]}]}

    report = _report({"validate": {"outcome": "ok"}, "whatIf": _what_if(change)})

    assert report["exitCode"] == plan_report.APPROVAL_NEEDED
    pool = report["waves"][0]["targets"][0]["changes"][0]
    assert pool["kind"] == "pool" and pool["name"] == "pool"
    assert pool["members"] == [{"backend": "aoai-2", "change": "Delete"}]


def test_nothing_but_creates_needs_no_approval() -> None:
    change = {"resourceId": POOL_ID, "changeType": "Create", "after": _pool("aoai-1")}

    report = _report({"validate": {"outcome": "ok"}, "whatIf": _what_if(change)})

    assert report["exitCode"] == plan_report.NOTHING_DESTRUCTIVE
    assert report["waves"][0]["targets"][0]["changes"][0]["members"] == [{"backend": "aoai-1", "change": "Create"}]


def test_arm_refusing_the_parameters_is_bad_input_and_no_answer_is_not_planned() -> None:
    refused = {"outcome": "permanent", "status": 400,
               "error": {"code": "InvalidTemplate", "message": "Deployment template validation failed"}}
    unanswered = {"outcome": "transient", "status": None, "error": {"code": "ServiceRequestError", "message": "x"},
                  "fix": "no connection to 127.0.0.1:1: …"}

    assert _report({"validate": refused, "whatIf": None})["exitCode"] == plan_report.BAD_INPUT
    not_planned = _report({"validate": unanswered, "whatIf": None})
    assert not_planned["exitCode"] == plan_report.NOT_PLANNED
    assert not_planned["waves"][0]["targets"][0]["failure"]["fix"].startswith("no connection")


def test_backends_that_cannot_be_read_back_name_the_instance_and_where_it_was_looked_for() -> None:
    job = flow.plan({"rolloutId": "r-1", "request": REQUEST}, POLICY, "rollout-r-1")["waves"][0]["deploy"][0]
    read = {"outcome": "permanent", "status": 404,
            "error": {"code": "ResourceNotFound", "message": "The Resource 'apim-a' was not found"}}

    result = flow.target_result(job, started={"outcome": "ok"},
                                final={"outcome": "ok", "provisioningState": "Succeeded"}, read=read)
    difference = result["verify"]["differences"][0]
    text = "\n".join(render_target({"outcome": "failed", "stage": "verify", "differences": [difference]}))

    assert f"APIM instance apim-a (resource group rg, subscription {SUB}) was not found" in difference["problem"]
    assert "ResourceNotFound" in text and "create the instance first" in text
    assert "expected" not in text
