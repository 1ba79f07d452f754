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
    return flow.plan({"rolloutId": "r-1", "request": REQUEST}, POLICY, "rollout-r-1")


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


def _poller(**extra: object) -> dict:
    job = {"deployTimeoutSeconds": 3600, "attempts": 8, "cancelGraceSeconds": 600}
    return {**flow.poller_input(job, {"target": {}, "deploymentName": "d"}, NOW), **extra}


def test_the_poller_is_done_on_terminal_states_and_unknown_when_the_state_cannot_be_read() -> None:
    spec = _poller(polls=1)
    assert "wait" in flow.poll_decision(spec, {"outcome": "ok", "provisioningState": "Running"}, NOW,
                                        cancelled=False)
    for state in ("Succeeded", "Failed", "Canceled"):
        done = flow.poll_decision(spec, {"outcome": "ok", "provisioningState": state}, NOW, cancelled=False)
        assert done["done"]["provisioningState"] == state and not done["done"]["unknown"]
    # A read refused for good (403, the deployment gone): the rollout cannot learn the state — unknown.
    refused = flow.poll_decision(spec, {"outcome": "permanent", "error": {"code": "AuthorizationFailed"}}, NOW,
                                 cancelled=False)
    assert "AuthorizationFailed" in refused["done"]["unknown"]
    # Still unreadable after every retry: keep polling until the deadline.
    assert "wait" in flow.poll_decision(spec, {"outcome": "transient"}, NOW, cancelled=False)


def test_the_deadline_and_a_cancel_turn_the_poller_to_cancelling_then_the_grace_bounds_the_wait() -> None:
    spec = _poller(polls=3)
    late = flow.poll_decision(spec, {"outcome": "ok", "provisioningState": "Running"}, NOW + timedelta(hours=2),
                              cancelled=False)
    assert late["spec"]["mode"] == "stop" and late["spec"]["stop"]["reason"] == "deadline"
    cancelled = flow.poll_decision(spec, {"outcome": "transient"}, NOW, cancelled=True,
                                   cancel_event={"by": {"upn": "grace@contoso.com"}})
    assert cancelled["spec"]["stop"]["reason"] == "cancelled"
    assert cancelled["spec"]["stop"]["by"]["upn"] == "grace@contoso.com"

    asked = flow.after_cancel_request(late["spec"], {"outcome": "ok", "exists": True, "cancelRequested": True,
                                                     "provisioningState": "Running"}, NOW)
    stopping = asked["spec"]
    assert stopping["mode"] == "stopping" and stopping["stop"]["requested"] is True
    still = flow.poll_decision(stopping, {"outcome": "ok", "provisioningState": "Running"},
                               NOW + timedelta(minutes=11), cancelled=False)
    assert "still Running" in still["done"]["unknown"]
    stopped = flow.poll_decision(stopping, {"outcome": "ok", "provisioningState": "Canceled"}, NOW, cancelled=False)
    assert stopped["done"]["timedOut"] is True and not stopped["done"]["unknown"]
    # Nothing under the name (a submit that never landed): done, nothing to stop.
    gone = flow.after_cancel_request(late["spec"], {"outcome": "ok", "exists": False}, NOW)
    assert gone["done"]["exists"] is False


def test_an_unknown_target_is_never_verified_and_keeps_its_target_held() -> None:
    job = _plan()["waves"][0]["deploy"][0]
    final = {"outcome": "transient", "provisioningState": None, "polls": 9, "unknown": "its state could not be read"}
    result = flow.target_result(job, started={"outcome": "ok"}, final=final,
                                read={"outcome": "ok", "backends": []})
    assert result["status"] == "unknown"
    assert "verify" not in result
    assert result["error"]["message"].startswith("unknown — the deployment bp-r-1-apim-a-")
    assert "az deployment group show" in result["error"]["message"]
    assert flow.held_deployments(result) == [{"deploymentName": job["call"]["deploymentName"],
                                              "why": result["error"]["message"]}]


def test_the_plan_carries_explicit_child_ids_and_a_lock_key_per_target() -> None:
    plan = _plan()
    job = plan["waves"][0]["deploy"][0]
    assert job["instanceId"] == "rollout-r-1-w1-t0-deploy"
    assert job["pollerId"] == "rollout-r-1-w1-t0-poll"
    assert plan["waves"][0]["preflight"][0]["instanceId"] == "rollout-r-1-w1-t0-preflight"
    assert plan["lockKeys"] == sorted(plan["lockKeys"]) and len(plan["lockKeys"]) == 2
    spec = {"rolloutId": "r-1", "request": REQUEST}
    assert flow.plan_problems(plan, spec, POLICY, "rollout-r-1") == []
    assert flow.plan_problems(plan, spec, POLICY, "rollout-other")
    planted = {**plan, "waves": plan["waves"][:1]}
    assert any("targets" in p.problem for p in flow.plan_problems(planted, spec, POLICY, "rollout-r-1"))


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
