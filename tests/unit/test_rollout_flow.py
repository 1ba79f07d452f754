"""The rollout's pure decisions: polling verdicts, halting waves, per-target results, the status view."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from breakerpanel.core import rollout_flow as flow

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SUB = "00000000-0000-0000-0000-000000000001"
REQUEST = {
    "targets": [
        {"subscriptionId": SUB, "resourceGroup": "rg", "apimName": "apim-a", "wave": 1},
        {"subscriptionId": SUB, "resourceGroup": "rg", "apimName": "apim-b", "wave": 2},
    ],
    "backends": [
        {"name": "aoai-1", "url": "https://aoai-1.openai.azure.com/openai", "priority": 1, "weight": 50},
        {"name": "aoai-2", "url": "https://aoai-2.openai.azure.com/openai", "priority": 1, "weight": 50},
    ],
    "breakerRule": {"name": "rule", "failureCount": 3, "interval": "PT1M",
                    "statusCodeRanges": [{"min": 429, "max": 429}, {"min": 500, "max": 599}],
                    "tripDuration": "PT1M", "acceptRetryAfter": False},
    "poolName": "pool",
    "approval": "none",
    "rollbackOnFailure": True,
}


POLICY = {
    "outcome": "ok",
    "targets": [{"subscriptionId": SUB, "resourceGroup": "rg", "apimName": a, "logAnalyticsWorkspaceId": ""}
                for a in ("apim-a", "apim-b")],
    "backendHosts": [".openai.azure.com"],
    "allowSelfApproval": False,
}


def _plan() -> dict:
    return flow.plan({"rolloutId": "r-1", "request": REQUEST}, POLICY)


def test_plan_has_one_wave_per_wave_number_with_deterministic_deployment_names() -> None:
    plan = _plan()
    assert [w["number"] for w in plan["waves"]] == [1, 2]
    first = plan["waves"][0]["deploy"][0]["call"]
    assert first["deploymentName"] == _plan()["waves"][0]["deploy"][0]["call"]["deploymentName"]
    assert first["deploymentName"].startswith("bp-r-1-apim-a-")
    assert first["parameters"]["poolName"] == {"value": "pool"}
    assert first["parameters"]["breakerRule"]["value"]["failureCount"] == 3
    # Unset optional rule fields are left out, not sent as null.
    assert "failurePercentage" not in first["parameters"]["breakerRule"]["value"]


def test_poll_verdict_is_done_on_terminal_states_permanent_errors_and_the_deadline() -> None:
    deadline = (NOW + timedelta(hours=1)).isoformat()
    assert flow.poll_verdict({"outcome": "ok", "provisioningState": "Running"}, NOW, deadline) == {
        "done": False, "timedOut": False}
    for state in ("Succeeded", "Failed", "Canceled"):
        assert flow.poll_verdict({"outcome": "ok", "provisioningState": state}, NOW, deadline)["done"]
    assert flow.poll_verdict({"outcome": "permanent", "error": {}}, NOW, deadline)["done"]
    # Still throttled after every retry: keep polling until the deadline.
    assert not flow.poll_verdict({"outcome": "transient"}, NOW, deadline)["done"]
    late = flow.poll_verdict({"outcome": "ok", "provisioningState": "Running"}, NOW + timedelta(hours=2), deadline)
    assert late == {"done": True, "timedOut": True}


def test_a_failed_wave_skips_every_later_target() -> None:
    plan = _plan()
    progress = flow.start_progress(plan, NOW)
    progress = flow.enter_phase(progress, 1, "deploying", NOW)
    wave = plan["waves"][0]
    failed = {"key": wave["keys"][0], "status": "failed", "stage": "deploy", "provisioningState": "Failed"}
    progress = flow.after_deploy(progress, wave, [failed], NOW)
    assert flow.halted(progress)
    phases = [t["phase"] for t in progress["targets"].values()]
    assert phases == ["failed", "skipped"]
    assert flow.finish(progress, NOW)["status"] == "failed"


def test_a_verify_difference_fails_a_target_whose_deployment_succeeded() -> None:
    job = _plan()["waves"][0]["deploy"][0]
    read = {"outcome": "ok", "backends": [
        {"name": "aoai-1", "properties": {"type": "Single", "url": "https://aoai-1.openai.azure.com/openai"}},
    ]}
    result = flow.target_result(job, started={"outcome": "ok"}, final={"outcome": "ok",
                                "provisioningState": "Succeeded", "polls": 2}, read=read)
    assert result["status"] == "failed"
    assert result["stage"] == "verify"
    kinds = {(d["backend"], d["kind"]) for d in result["verify"]["differences"]}
    assert ("aoai-2", "missing_backend") in kinds and ("pool", "missing_pool") in kinds


def test_the_status_view_keeps_phases_and_drops_payloads() -> None:
    plan = _plan()
    progress = flow.start_progress(plan, NOW)
    wave = plan["waves"][0]
    huge = {"key": wave["keys"][0], "status": "failed", "stage": "deploy", "provisioningState": "Failed",
            "diagnoses": [{"raw": "x" * 50_000}]}
    progress = flow.after_deploy(flow.enter_phase(progress, 1, "deploying", NOW), wave, [huge], NOW)
    view = flow.status_view(progress)
    assert len(json.dumps(view)) < 4_000
    entry = view["targets"][wave["keys"][0]]
    assert entry["phase"] == "failed" and entry["stage"] == "deploy" and entry["problems"] == 1


def test_only_transient_outcomes_are_tried_again_honouring_retry_after() -> None:
    assert flow.retry_after({"outcome": "ok"}, 0, 8) is None
    assert flow.retry_after({"outcome": "permanent", "error": {}}, 0, 8) is None
    assert flow.retry_after({"outcome": "transient", "retryAfterSeconds": 17.0}, 0, 8) == 17.0
    assert flow.retry_after({"outcome": "transient"}, 0, 8) == 2.0
    assert flow.retry_after({"outcome": "transient"}, 3, 8) == 16.0
    assert flow.retry_after({"outcome": "transient"}, 7, 8) is None  # the eighth try was the last
