"""The rollout orchestration through the real Durable replay engine, with the real activities on the twin.

What a person would check: the final status and its summary, the phases the status showed on the way, what
APIM holds afterwards, and what ARM was asked to do (the twin's captured requests).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import function_app
from activities.policy import current_policy
from breakerpanel.core.model import Target
from breakerpanel.core.request import check_rollout_request
from breakerpanel.core.rollout_api import orchestration_input, rollout_instance_id
from breakerpanel.core.summary import render_summary
from breakerpanel.localrun import LocalDurableHost, Step
from breakerpanel.settings import load_settings
from tests import rollout_inputs as inputs
from tests.rollout_inputs import BACKENDS, BREAKER

SUB = "00000000-0000-0000-0000-0000000000aa"
STARTER = {"objectId": "11111111-1111-1111-1111-111111111111", "upn": "ada@contoso.com", "name": "Ada",
           "via": "easyAuth"}
APPROVER = {"objectId": "22222222-2222-2222-2222-222222222222", "upn": "grace@contoso.com", "name": "Grace",
            "via": "easyAuth"}
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def target(apim: str, wave: int = 1, group: str = "rg-gw") -> dict[str, Any]:
    return inputs.target(SUB, group, apim, wave)


def request(*targets: dict[str, Any], approval: str = "none", backends: list[dict[str, Any]] | None = None,
            rollback: bool = True) -> dict[str, Any]:
    return inputs.rollout_request(list(targets) or [target("apim-one")], approval=approval, backends=backends,
                                  rollback=rollback)


class Rollouts:
    """Starts rollouts on one LocalDurableHost and keeps every step's custom status."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        # Called after every episode with its step: a test acts at an exact moment of the run.
        self.hooks: list[Any] = []
        self.host = LocalDurableHost(function_app.app, start_time=T0, on_step=self._step)
        self._count = 0

    def start(self, body: dict[str, Any], *, approval_timeout: float = 3600) -> str:
        allowed = [Target(t["subscriptionId"], t["resourceGroup"], t["apimName"]) for t in body["targets"]]
        check = check_rollout_request(body, allowed)
        assert check.request is not None, [p.to_dict() for p in check.errors]
        self._count += 1
        settings = load_settings()
        timeouts = type("Timeouts", (), {"approval_timeout_seconds": approval_timeout,
                                         "deploy_timeout_seconds": settings.deploy_timeout_seconds})()
        rollout_id = f"r{self._count}"
        instance_id = rollout_instance_id(rollout_id)
        # As the HTTP starter does: the plan computed once, from the settings' policy, and carried in the input.
        spec = orchestration_input(rollout_id, check.request, [], timeouts, STARTER, self.host.now,
                                   policy=current_policy(), instance_id=instance_id)
        return self.host.start("rollout_orchestrator", spec, instance_id=instance_id)

    def _step(self, step: Step) -> None:
        self.steps.append(step)
        for hook in list(self.hooks):
            hook(step)

    def answer(self, instance_id: str, approved: bool, by: dict[str, str] | None = None, **override: Any) -> None:
        """Answer the gate the rollout waits on now, as the HTTP API would: its wave, its what-if digest."""
        gate = self.host.status(instance_id)["customStatus"]["approval"]
        event = override.pop("event", gate["event"])
        payload = {"approved": approved, "wave": gate["wave"], "whatIfDigest": gate["whatIfDigest"],
                   "by": by or APPROVER, "comment": "", **override}
        self.host.raise_event(instance_id, event, payload)

    def run(self, instance_id: str, horizon: timedelta | None = None) -> dict[str, Any]:
        status = self.host.run_until_idle(instance_id, timer_horizon=horizon)
        assert status is not None
        return status

    def phases(self, instance_id: str) -> list[str]:
        seen: list[str] = []
        for step in self.steps:
            if step.instance_id == instance_id and isinstance(step.custom_status, dict):
                phase = step.custom_status.get("phase")
                if not seen or seen[-1] != phase:
                    seen.append(phase)
        return seen


@pytest.fixture
def rollouts(twin: Any, twin_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
             tmp_path: Any) -> Iterator[Rollouts]:
    for name, value in twin_env.items():
        monkeypatch.setenv(name, value)
    # The per-target lock's store: a SQLite file of this test's own.
    monkeypatch.setenv("BREAKERPANEL_STORE", "sqlite")
    monkeypatch.setenv("BREAKERPANEL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("BREAKERPANEL_ALLOW_SELF_APPROVAL", raising=False)
    monkeypatch.delenv("BREAKERPANEL_BACKEND_HOSTS", raising=False)
    names = ("apim-one", "apim-two", "apim-three", "apim-consumption")
    monkeypatch.setenv("BREAKERPANEL_TARGETS", json.dumps(
        [{"subscriptionId": SUB, "resourceGroup": "rg-gw", "apimName": a} for a in names]
    ))
    for apim in ("apim-one", "apim-two", "apim-three"):
        twin.apim.create_service(SUB, "rg-gw", apim)
    yield Rollouts()


def only_target(status: dict[str, Any]) -> dict[str, Any]:
    targets = status["output"]["targets"]
    assert len(targets) == 1
    return next(iter(targets.values()))


def backends_in(twin: Any, apim: str) -> dict[str, dict[str, Any]]:
    found = {}
    for resource in twin.apim.list_resources(SUB, "rg-gw", apim):
        if resource["type"].lower().endswith("/backends"):
            found[resource["name"]] = resource["properties"]
    return found


def deployment_puts(twin: Any) -> list[dict[str, Any]]:
    return twin.captured("arm.deployments.put")


def test_a_rollout_deploys_verifies_and_reports(rollouts: Rollouts, twin: Any) -> None:
    instance_id = rollouts.start(request())
    status = rollouts.run(instance_id)

    assert status["runtimeStatus"] == "Completed"
    output = status["output"]
    assert output["status"] == "succeeded"
    result = only_target(status)
    assert result["phase"] == "verified"
    assert result["result"]["provisioningState"] == "Succeeded"
    assert result["result"]["verify"]["differences"] == []
    assert rollouts.phases(instance_id) == ["preflight", "deploying", "done"]

    held = backends_in(twin, "apim-one")
    assert set(held) == {"aoai-eastus", "aoai-westus", "aoai-sweden", "aoai-pool"}
    members = {s["id"].rsplit("/", 1)[-1]: (s["priority"], s["weight"]) for s in held["aoai-pool"]["pool"]["services"]}
    assert members == {"aoai-eastus": (1, 50), "aoai-westus": (1, 50), "aoai-sweden": (2, 100)}
    rule = held["aoai-eastus"]["circuitBreaker"]["rules"][0]
    assert rule["failureCondition"]["count"] == 3 and rule["tripDuration"] == "PT1M"

    summary = "\n".join(render_summary(output))
    assert "SUCCEEDED" in summary and "verify: APIM matches the request" in summary
    # ARM saw the preflight, then exactly one deployment.
    routes = [r["route"] for r in twin.captured("arm.deployments.*")]
    assert routes.index("arm.deployments.validate") < routes.index("arm.deployments.whatif")
    assert routes.index("arm.deployments.whatif") < routes.index("arm.deployments.put")
    assert len(deployment_puts(twin)) == 1


def test_custom_status_shows_progress_at_every_phase(rollouts: Rollouts) -> None:
    instance_id = rollouts.start(request())
    rollouts.run(instance_id)

    statuses = [s.custom_status for s in rollouts.steps if s.instance_id == instance_id and s.custom_status]
    deploying = next(s for s in statuses if s["phase"] == "deploying")
    entry = next(iter(deploying["targets"].values()))
    assert entry["phase"] == "deploying"
    assert entry["deploymentName"].startswith("bp-r1-apim-one-")
    assert entry["whatIf"] == {"Create": 8}
    # The custom status stays small: no raw payloads, whatever the rollout found.
    assert all(len(json.dumps(s)) < 16_000 for s in statuses)


def test_approval_required_waits_then_proceeds_when_approved(rollouts: Rollouts, twin: Any) -> None:
    instance_id = rollouts.start(request(approval="required"))
    status = rollouts.run(instance_id, horizon=timedelta(minutes=30))
    assert status["runtimeStatus"] == "Running"
    assert status["customStatus"]["phase"] == "awaitingApproval"
    assert deployment_puts(twin) == []

    rollouts.answer(instance_id, True, comment="ship it")
    status = rollouts.run(instance_id)

    assert status["output"]["status"] == "succeeded"
    assert status["output"]["approval"]["outcome"] == "approved"
    assert status["output"]["approval"]["byIdentity"]["objectId"] == APPROVER["objectId"]
    assert "grace@contoso.com" in status["output"]["approval"]["by"]
    assert status["output"]["approval"]["fourEyes"] == "kept"
    assert len(deployment_puts(twin)) == 1


def test_rejected_approval_deploys_nothing(rollouts: Rollouts, twin: Any) -> None:
    instance_id = rollouts.start(request(approval="required"))
    rollouts.run(instance_id, horizon=timedelta(minutes=30))
    rollouts.answer(instance_id, False, comment="not today")
    status = rollouts.run(instance_id)

    assert status["output"]["status"] == "rejected"
    assert only_target(status)["phase"] == "rejected"
    assert "not today" in "\n".join(render_summary(status["output"]))
    assert deployment_puts(twin) == []
    assert backends_in(twin, "apim-one") == {}


def test_approval_that_never_comes_times_out_and_rejects(rollouts: Rollouts, twin: Any) -> None:
    instance_id = rollouts.start(request(approval="required"), approval_timeout=600)
    status = rollouts.run(instance_id, horizon=timedelta(minutes=5))
    assert status["customStatus"]["phase"] == "awaitingApproval"

    rollouts.host.advance_time(timedelta(minutes=6))
    status = rollouts.run(instance_id)

    assert status["output"]["status"] == "rejected"
    assert status["output"]["approval"]["outcome"] == "timed_out"
    assert deployment_puts(twin) == []


def test_an_approval_timeout_past_six_days_still_lets_an_approved_rollout_complete(rollouts: Rollouts,
                                                                                  twin: Any) -> None:
    # BREAKERPANEL_APPROVAL_TIMEOUT allows P7D. A timer past Azure Storage's 6 days is the SDK's LongTimerTask,
    # whose cancel() never reaches the extension (Azure/azure-functions-durable-python#573), and DurableTask.Core
    # completes an orchestration only with no open task: the rollout would stay Running for days after it ended.
    instance_id = rollouts.start(request(approval="required"), approval_timeout=7 * 24 * 3600)
    assert rollouts.run(instance_id, horizon=timedelta(minutes=30))["customStatus"]["phase"] == "awaitingApproval"

    rollouts.answer(instance_id, True)
    status = rollouts.run(instance_id, horizon=timedelta(hours=2))

    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["status"] == "succeeded"


def test_an_approval_timeout_past_six_days_still_times_out_at_its_deadline(rollouts: Rollouts, twin: Any) -> None:
    instance_id = rollouts.start(request(approval="required"), approval_timeout=7 * 24 * 3600)
    status = rollouts.run(instance_id, horizon=timedelta(days=6, hours=23))
    assert (status["runtimeStatus"], status["customStatus"]["phase"]) == ("Running", "awaitingApproval")

    status = rollouts.run(instance_id)

    assert status["output"]["approval"]["outcome"] == "timed_out"
    assert rollouts.host.now == T0 + timedelta(days=7)
    assert deployment_puts(twin) == []

def test_on_destructive_gates_a_change_that_drops_a_pool_member(rollouts: Rollouts, twin: Any) -> None:
    first = rollouts.start(request(approval="onDestructive"))
    assert rollouts.run(first)["output"]["status"] == "succeeded"

    shrunk = request(approval="onDestructive", backends=[b for b in BACKENDS if b["name"] != "aoai-westus"])
    second = rollouts.start(shrunk)
    status = rollouts.run(second, horizon=timedelta(minutes=30))

    assert status["customStatus"]["phase"] == "awaitingApproval"
    waiting = next(iter(status["customStatus"]["targets"].values()))
    assert waiting["whatIf"]["Modify"] >= 1
    assert "lose properties" in status["customStatus"]["approval"]["reason"]

    rollouts.answer(second, True)
    status = rollouts.run(second)
    assert status["output"]["status"] == "succeeded"
    members = [s["id"].rsplit("/", 1)[-1] for s in backends_in(twin, "apim-one")["aoai-pool"]["pool"]["services"]]
    assert members == ["aoai-eastus", "aoai-sweden"]


def test_a_consumption_instance_is_stopped_before_validate_with_the_fix(rollouts: Rollouts, twin: Any) -> None:
    # The Consumption tier has no backend pools nor circuit breakers: ARM's validate passes and APIM refuses each
    # backend twenty minutes later — the prerequisites say so before anything is sent to ARM.
    twin.apim.create_service(SUB, "rg-gw", "apim-consumption", sku="Consumption")
    instance_id = rollouts.start(request(target("apim-consumption")))
    status = rollouts.run(instance_id)

    assert status["output"]["status"] == "failed"
    entry = only_target(status)
    assert entry["failure"]["stage"] == "prerequisites"
    assert [f["check"] for f in entry["prerequisites"] if f["status"] == "blocking"] == ["tier"]
    assert not [r for r in twin.captured("arm.deployments.*")], "nothing reached ARM"
    summary = "\n".join(render_summary(status["output"]))
    assert "FAILED" in summary and "Consumption" in summary and "fix:" in summary


def test_waves_run_in_order_and_a_failure_halts_the_rest(rollouts: Rollouts, twin: Any) -> None:
    twin.apim.create_service(SUB, "rg-gw", "apim-consumption", sku="Consumption")
    body = request(target("apim-one", wave=1), target("apim-consumption", wave=2), target("apim-three", wave=3))
    instance_id = rollouts.start(body)
    status = rollouts.run(instance_id)

    phases = {key.rsplit("/", 1)[-1]: t["phase"] for key, t in status["output"]["targets"].items()}
    assert phases == {"apim-one": "verified", "apim-consumption": "failed", "apim-three": "skipped"}
    assert status["output"]["status"] == "failed"
    assert status["output"]["halted"]["wave"] == 2
    # Wave 3 never reached ARM.
    assert all("apim-three" not in json.dumps(r["body"] or {}) for r in deployment_puts(twin))
    assert backends_in(twin, "apim-three") == {}


def test_arm_throttling_and_server_errors_on_every_route_are_survived(rollouts: Rollouts, twin: Any) -> None:
    from twin.faults import parse_rule

    for route in ("arm.deployments.validate", "arm.deployments.whatif", "arm.deployments.put",
                  "arm.deployments.get", "apim.backends.list"):
        twin.faults.add(parse_rule({"route": route, "kind": "throttle", "retryAfter": 17, "count": 1}))
        twin.faults.add(parse_rule({"route": route, "kind": "error", "status": 503, "count": 1, "skip": 1}))
        # A connection broken mid-response: the answer never arrives, as with a timeout.
        twin.faults.add(parse_rule({"route": route, "kind": "drop", "count": 1, "skip": 2}))
    start = rollouts.host.now
    instance_id = rollouts.start(request())
    status = rollouts.run(instance_id)

    assert status["output"]["status"] == "succeeded"
    faulted = [r for r in twin.captured() if r["fault"] is not None]
    assert {r["route"] for r in faulted} >= {"arm.deployments.validate", "arm.deployments.put", "apim.backends.list"}
    assert {r["fault"] for r in faulted} == {"throttle", "error", "drop"}
    assert len(deployment_puts(twin)) >= 2  # the throttled PUT, then the one that landed
    # Each 429 asked for 17 s and the orchestration waited at least that long on a durable timer.
    assert rollouts.host.now - start >= timedelta(seconds=17 * 3)


def test_a_restart_mid_poll_reattaches_to_the_same_deployment(rollouts: Rollouts, twin: Any) -> None:
    # The host dies after the deployment was submitted but before the activity's result was recorded:
    # the activity runs again and must find the deployment, not submit a second one.
    rollouts.host.crash_after_next_activity("arm_start_deployment")
    instance_id = rollouts.start(request())
    status = rollouts.run(instance_id)

    runs = [a for a in rollouts.host.activity_executions if a.name == "arm_start_deployment"]
    assert [a.delivery for a in runs] == [1, 2]
    assert status["output"]["status"] == "succeeded"
    assert only_target(status)["result"]["attached"] is True
    puts = deployment_puts(twin)
    assert len(puts) == 1, "exactly one PUT of the deployment"


def test_a_template_arm_rejects_stops_the_rollout_at_validate(
    rollouts: Rollouts, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import activities.deployments as deployments

    broken = copy.deepcopy(deployments.gateway_template())
    broken["variables"]["retryCount"] = "[noSuchFunction(parameters('backends'))]"
    monkeypatch.setattr(deployments, "gateway_template", lambda: broken)

    instance_id = rollouts.start(request())
    status = rollouts.run(instance_id)

    assert status["output"]["status"] == "failed"
    entry = only_target(status)
    assert entry["phase"] == "failed"
    assert entry["failure"]["stage"] == "validate"
    assert entry["failure"]["error"]["code"] == "InvalidTemplate"
    assert any("noSuchFunction" in d["message"] for d in entry["failure"]["diagnoses"])
    # A permanent error is not retried; nothing reached a deployment, and the what-if was not even asked.
    assert len(twin.captured("arm.deployments.validate")) == 1
    assert deployment_puts(twin) == []
    assert twin.captured("arm.deployments.whatif") == []
    assert "InvalidTemplate" in "\n".join(render_summary(status["output"]))


def test_a_failed_deployment_is_rolled_back_to_the_last_good_state(rollouts: Rollouts, twin: Any) -> None:
    from twin.arm_deployments.failures import parse_failure

    first = rollouts.start(request())
    assert rollouts.run(first)["output"]["status"] == "succeeded"

    # The second rollout tightens the rule and adds a backend the resource provider then refuses: the
    # existing backends are already changed when the deployment fails.
    changed = request(backends=[*BACKENDS, {"name": "aoai-france", "url": "https://aoai-france.openai.azure.com/openai",
                                            "priority": 2, "weight": 100}])
    changed["breakerRule"]["failureCount"] = 5
    twin.arm.failures.add(parse_failure({
        "resource": "*/backends/aoai-france", "status": 500, "code": "InternalServerError",
        "message": "The request failed due to an internal error.",
    }))
    second = rollouts.start(changed)
    status = rollouts.run(second)

    assert status["output"]["status"] == "failed"
    result = only_target(status)["result"]
    assert result["stage"] == "deploy"
    assert [(d["resourceName"], d["code"]) for d in result["diagnoses"]] == [("apim-one/aoai-france",
                                                                             "InternalServerError")]
    rollback = result["rollback"]
    assert rollback["ran"] is True
    assert rollback["provisioningState"] == "Succeeded"
    assert rollback["from"].startswith("bp-r1-")
    assert rollback["deploymentName"] == result["deploymentName"][:61] + "-rb"
    assert sorted(rollback["restored"]) == ["aoai-eastus", "aoai-pool", "aoai-sweden", "aoai-westus"]
    assert rollback["verify"]["differences"] == []
    # APIM holds the first rollout's rule again.
    held = backends_in(twin, "apim-one")
    assert held["aoai-eastus"]["circuitBreaker"]["rules"][0]["failureCondition"]["count"] == 3
    # Rolled back Incrementally under its own name: nothing outside the template was deleted, and ARM
    # was never asked for onErrorDeployment (which re-runs in Complete mode).
    assert "apim-one" in [s["name"] for s in [twin.apim.service_body(SUB, "rg-gw", "apim-one")]]
    for put in deployment_puts(twin):
        assert put["body"]["properties"]["mode"] == "Incremental"
        assert "onErrorDeployment" not in put["body"]["properties"]
    summary = "\n".join(render_summary(status["output"]))
    assert "rollback" in summary.lower()


def test_without_an_earlier_good_deployment_nothing_is_rolled_back(rollouts: Rollouts, twin: Any) -> None:
    from twin.arm_deployments.failures import parse_failure

    twin.arm.failures.add(parse_failure({"resource": "*/backends/aoai-sweden", "code": "Conflict",
                                         "status": 409, "message": "Another operation is in progress."}))
    status = rollouts.run(rollouts.start(request()))

    result = only_target(status)["result"]
    assert result["rollback"] == {
        "ran": False,
        "reason": "no earlier successful breakerpanel deployment of this gateway to return to",
    }
    assert [p["route"] for p in deployment_puts(twin)] == ["arm.deployments.put"]


# ------------------------------------------------------------------------- issue 8: the orchestration's own checks


def _direct_start(rollouts: Rollouts, body: dict[str, Any], name: str = "rollout_orchestrator") -> str:
    """An orchestration started the way a holder of the task hub's system key could: any input, no HTTP API."""
    spec = {"rolloutId": "r-direct", "request": body, "startedBy": STARTER, "options": {}}
    return rollouts.host.start(name, spec, instance_id="rollout-direct")


def test_a_directly_started_rollout_outside_the_allowlist_is_refused_before_any_call(
    rollouts: Rollouts, twin: Any
) -> None:
    body = request(target("apim-elsewhere", group="rg-not-allowed"))
    status = rollouts.run(_direct_start(rollouts, body))

    assert status["output"]["status"] == "refused"
    assert "allowlist" in status["output"]["halted"]["reason"]
    assert twin.captured() == []


def test_a_directly_started_rollout_with_a_request_the_validator_refuses_is_refused(
    rollouts: Rollouts, twin: Any
) -> None:
    body = request(backends=[{**BACKENDS[0], "url": "https://127\u30020\u30020\u30021/openai"}, *BACKENDS[1:]])
    status = rollouts.run(_direct_start(rollouts, body))

    assert status["output"]["status"] == "refused"
    assert any(p["field"] == "backends[0].url" for p in status["output"]["problems"])
    assert twin.captured() == []


def test_a_sub_orchestration_started_directly_cannot_reach_azure_for_an_unlisted_target(
    rollouts: Rollouts, twin: Any
) -> None:
    from breakerpanel.core.gateway_parameters import gateway_parameters
    from breakerpanel.core.model import BackendSpec, BreakerRule, RolloutRequest, StatusCodeRange

    outsider = Target(SUB, "rg-not-allowed", "apim-outsider")
    planted = RolloutRequest((outsider,), (BackendSpec("evil", "https://attacker.example/openai", 1, 100),),
                             BreakerRule("r", 3, None, "PT1M", (StatusCodeRange(500, 599),), (), "PT1M", False),
                             "pool")
    call = {"target": outsider.to_dict(), "deploymentName": "bp-x-apim-outsider-00000000",
            "parameters": gateway_parameters(planted, outsider)}
    job = {"key": "k", "call": call, "attempts": 1, "rollback": False, "deployTimeoutSeconds": 60,
           "request": planted.to_dict(), "policy": {"outcome": "ok", "targets": []}}
    instance_id = rollouts.host.start("target_deploy", job, instance_id="direct-target-deploy")
    status = rollouts.run(instance_id)

    assert status["output"]["status"] == "failed"
    assert status["output"]["error"]["code"] == "RefusedByBreakerpanel"
    assert twin.captured("arm.*") == []

    # An allowlisted target with parameters the validator refuses does not reach ARM either.
    inside = Target(SUB, "rg-gw", "apim-one")
    job["call"] = {**call, "target": inside.to_dict(), "parameters": {
        **gateway_parameters(planted, inside), "apimServiceName": {"value": "apim-one"}}}
    status = rollouts.run(rollouts.host.start("target_deploy", job, instance_id="direct-target-deploy-2"))
    assert status["output"]["error"]["code"] == "RefusedByBreakerpanel"
    assert "attacker.example" in status["output"]["error"]["message"]
    assert twin.captured("arm.*") == []


# ------------------------------------------------------------------------- issue 8: one answer, one question


def test_a_double_click_never_approves_the_next_wave_unseen(rollouts: Rollouts, twin: Any) -> None:
    instance_id = rollouts.start(request(target("apim-one", wave=1), target("apim-two", wave=2),
                                         approval="required"))
    rollouts.run(instance_id, horizon=timedelta(minutes=30))
    first_gate = rollouts.host.status(instance_id)["customStatus"]["approval"]
    assert first_gate["wave"] == 1 and first_gate["whatIfDigest"].startswith("sha256:")

    rollouts.answer(instance_id, True)
    rollouts.answer(instance_id, True)  # the double click, before the rollout read the first
    status = rollouts.run(instance_id, horizon=timedelta(minutes=30))

    assert status["customStatus"]["phase"] == "awaitingApproval"
    second_gate = status["customStatus"]["approval"]
    assert second_gate["wave"] == 2
    assert second_gate["whatIfDigest"] != first_gate["whatIfDigest"]
    assert len(deployment_puts(twin)) == 1  # wave 1 only

    # Wave 1's answer, even sent to wave 2's event, answers another question: ignored, still waiting.
    rollouts.host.raise_event(instance_id, second_gate["event"], {
        "approved": True, "wave": 1, "whatIfDigest": first_gate["whatIfDigest"], "by": APPROVER})
    status = rollouts.run(instance_id, horizon=timedelta(minutes=30))
    assert status["customStatus"]["phase"] == "awaitingApproval"
    assert "does not answer this gate" in status["customStatus"]["approval"]["ignored"][-1]["why"]
    assert len(deployment_puts(twin)) == 1

    rollouts.answer(instance_id, True)
    status = rollouts.run(instance_id)
    assert status["output"]["status"] == "succeeded"
    assert [a["wave"] for a in status["output"]["approvals"]] == [1, 2]
    assert len(deployment_puts(twin)) == 2


def test_the_starter_cannot_approve_their_own_rollout(rollouts: Rollouts, twin: Any) -> None:
    instance_id = rollouts.start(request(approval="required"))
    rollouts.run(instance_id, horizon=timedelta(minutes=30))

    rollouts.answer(instance_id, True, by=STARTER)
    status = rollouts.run(instance_id, horizon=timedelta(minutes=30))

    assert status["customStatus"]["phase"] == "awaitingApproval"
    assert "four eyes" in status["customStatus"]["approval"]["ignored"][-1]["why"]
    assert deployment_puts(twin) == []
    # Without an Entra identity nobody can be told apart from the starter either.
    rollouts.answer(instance_id, True, by={"objectId": "", "upn": "", "name": "function key", "via": "functionKey"})
    status = rollouts.run(instance_id, horizon=timedelta(minutes=30))
    assert status["customStatus"]["phase"] == "awaitingApproval"
    assert deployment_puts(twin) == []
    # The starter may still stop it.
    rollouts.answer(instance_id, False, by=STARTER)
    assert rollouts.run(instance_id)["output"]["status"] == "rejected"


def test_a_lab_setting_relaxes_four_eyes_and_the_result_says_so(
    rollouts: Rollouts, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BREAKERPANEL_ALLOW_SELF_APPROVAL", "true")
    instance_id = rollouts.start(request(approval="required"))
    rollouts.run(instance_id, horizon=timedelta(minutes=30))

    rollouts.answer(instance_id, True, by=STARTER)
    status = rollouts.run(instance_id)

    assert status["output"]["status"] == "succeeded"
    assert status["output"]["approval"]["fourEyes"].startswith("relaxed")
    assert "four eyes relaxed" in "\n".join(render_summary(status["output"]))


# ------------------------------------------------------------------------- issue 8: a rollback that cannot be planted


def _fail_next_rollout(rollouts: Rollouts, twin: Any) -> dict[str, Any]:
    from twin.arm_deployments.failures import parse_failure

    changed = request(backends=[*BACKENDS, {"name": "aoai-france", "url": "https://aoai-france.openai.azure.com/openai",
                                            "priority": 2, "weight": 100}])
    twin.arm.failures.add(parse_failure({"resource": "*/backends/aoai-france", "status": 500,
                                         "code": "InternalServerError", "message": "internal error"}))
    return rollouts.run(rollouts.start(changed))


def _plant(twin: Any, name: str, template: dict[str, Any], backends: list[dict[str, Any]]) -> None:
    """What anyone with deployment rights in the resource group can do: a deployment named like the app's."""
    body = {"properties": {"mode": "Incremental", "template": template, "parameters": {
        "apimServiceName": {"value": "apim-one"}, "backends": {"value": backends},
        "breakerRule": {"value": {**BREAKER, "errorReasons": []}}, "poolName": {"value": "aoai-pool"}}}}
    deployment, _ = twin.arm.start(SUB, "rg-gw", name, body)
    twin.arm.settle(deployment)
    assert deployment.state == "Succeeded"


def test_a_planted_template_is_never_a_rollback_point(rollouts: Rollouts, twin: Any) -> None:
    from activities.deployments import gateway_template

    assert rollouts.run(rollouts.start(request()))["output"]["status"] == "succeeded"
    foreign = copy.deepcopy(gateway_template())
    foreign["variables"] = {**foreign.get("variables", {}), "planted": "yes"}
    _plant(twin, "bp-planted-apim-one-00000000", foreign, BACKENDS)

    status = _fail_next_rollout(rollouts, twin)

    rollback = only_target(status)["result"]["rollback"]
    assert rollback["ran"] is True and rollback["from"].startswith("bp-r1-")
    assert [u["deploymentName"] for u in rollback["untrusted"]] == ["bp-planted-apim-one-00000000"]
    assert rollback["template"] == "the committed gateway template"
    assert rollback["whatIf"]["status"] == "Succeeded" and rollback["whatIf"]["lines"]
    assert rollback["verify"]["differences"] == []
    # Every deployment the app sent carried the committed template, the rollback included.
    committed = gateway_template()
    assert all(put["body"]["properties"]["template"] == committed for put in deployment_puts(twin))
    assert twin.captured("arm.deployments.exporttemplate") == []


def test_a_rollback_point_whose_parameters_fail_validation_is_no_point(rollouts: Rollouts, twin: Any) -> None:
    from activities.deployments import gateway_template

    assert rollouts.run(rollouts.start(request()))["output"]["status"] == "succeeded"
    # The committed template, but parameters the validator refuses: a backend outside the allowed hosts.
    _plant(twin, "bp-planted-apim-one-00000001", gateway_template(),
           [{**BACKENDS[0], "url": "https://attacker.example/openai"}, *BACKENDS[1:]])
    puts_before = len(deployment_puts(twin))

    status = _fail_next_rollout(rollouts, twin)

    rollback = only_target(status)["result"]["rollback"]
    assert rollback["ran"] is False
    assert "no trustworthy point" in rollback["reason"] and "attacker.example" in rollback["reason"]
    assert len(deployment_puts(twin)) == puts_before + 1  # the failed rollout only; no rollback deployed


# ------------------------------------------------------------------------- issue 9: faults, cancel, deadline, lock


def _rule(**spec: Any) -> Any:
    from twin.faults import parse_rule

    return parse_rule(spec)


def _lock_records() -> dict[str, dict[str, Any]]:
    from breakerpanel.core import target_lock
    from breakerpanel.store.factory import open_store

    store = open_store()
    try:
        return {r.key: r.value for r in store.list(target_lock.KIND, target_lock.PREFIX)}
    finally:
        store.close()


def _cancel(rollouts: Rollouts, instance_id: str, by: dict[str, str] = APPROVER) -> list[str]:
    """What POST /api/rollouts/{id}/cancel does: the event to the rollout and to each of its running children."""
    from breakerpanel.core.rollout_api import child_ids
    from breakerpanel.core.rollout_flow import CANCEL_EVENT

    status = rollouts.host.status(instance_id)
    spec = json.loads(status["input"]) if isinstance(status["input"], str) else status["input"]
    event = {"by": by, "reason": "stop it"}
    _flag_cancel(instance_id, event)
    reached = [instance_id]
    rollouts.host.raise_event(instance_id, CANCEL_EVENT, event)
    running = {s["instanceId"] for s in rollouts.host.statuses() if s["runtimeStatus"] in ("Running", "Pending")}
    for child in child_ids(spec):
        if child in running:
            rollouts.host.raise_event(child, CANCEL_EVENT, event)
            reached.append(child)
    return reached


def _flag_cancel(instance_id: str, event: dict[str, Any]) -> None:
    """The cancel route's first step: the rollout's cancel flag in the store, before any event."""
    from breakerpanel import rollout_cancel
    from breakerpanel.store.factory import open_store

    store = open_store()
    try:
        rollout_cancel.request(store, instance_id, event, T0)
    finally:
        store.close()


def _cancel_flags() -> list[str]:
    from breakerpanel import rollout_cancel
    from breakerpanel.store.factory import open_store

    store = open_store()
    try:
        return [r.key for r in store.list(rollout_cancel.KIND)]
    finally:
        store.close()


def _cancel_between_listing_and_start(rollouts: Rollouts, instance_id: str, created: Any) -> list[str]:
    """Cancel as the route would at the worst moment: its listing of running children ran while the parent's
    episode was scheduling a child (`created(step)` says the episode just committed it), so the event goes
    to the rollout (and to `created`'s listed parent, if any) but never to the new child."""
    from breakerpanel.core.rollout_flow import CANCEL_EVENT

    fired: list[str] = []

    def hook(step: Step) -> None:
        target_ids = created(step)
        if fired or target_ids is None:
            return
        event = {"by": APPROVER, "reason": "stop it"}
        _flag_cancel(instance_id, event)
        for listed in target_ids:
            rollouts.host.raise_event(listed, CANCEL_EVENT, event)
        fired.extend(target_ids)

    rollouts.hooks.append(hook)
    return fired


def test_a_child_created_right_after_the_cancel_listed_the_children_still_stops(
    rollouts: Rollouts, twin: Any
) -> None:
    instance_id = rollouts.start(request())

    def deploying(step: Step) -> list[str] | None:
        # The rollout's episode that starts the wave's target_deploy: the route listed nothing of it.
        if step.instance_id == instance_id and (step.custom_status or {}).get("phase") == "deploying":
            return [instance_id]
        return None

    fired = _cancel_between_listing_and_start(rollouts, instance_id, deploying)
    status = rollouts.run(instance_id)

    assert fired == [instance_id]
    assert status["output"]["status"] == "cancelled", render_summary(status["output"])
    assert deployment_puts(twin) == [], "the child that never heard the event deployed nothing"
    assert only_target(status)["phase"] == "cancelled"
    assert all(s["runtimeStatus"] == "Completed" for s in rollouts.host.statuses())
    assert _lock_records() == {} and _cancel_flags() == [], "the target is free and the flag gone"


def test_a_poller_created_right_after_the_cancel_listed_the_children_cancels_the_deployment(
    rollouts: Rollouts, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _slow_arm(twin, monkeypatch)
    instance_id = rollouts.start(request())

    def poller_scheduled(step: Step) -> list[str] | None:
        # target_deploy's episode that starts its poller: the route found the rollout and target_deploy only.
        if step.name == "target_deploy" and any(s["instanceId"].endswith("-poll") for s in rollouts.host.statuses()):
            return [instance_id, step.instance_id]
        return None

    fired = _cancel_between_listing_and_start(rollouts, instance_id, poller_scheduled)
    status = rollouts.run(instance_id)

    assert len(fired) == 2
    assert status["output"]["status"] == "cancelled", render_summary(status["output"])
    result = only_target(status)["result"]
    assert result["provisioningState"] == "Canceled"
    assert result["stop"]["reason"] == "cancelled"
    assert len(twin.captured("arm.deployments.cancel")) == 1
    assert all(not d.active for d in twin.arm.all_active())
    assert _lock_records() == {} and _cancel_flags() == []


def test_a_cancel_heard_as_the_poller_continues_as_new_is_not_lost(
    rollouts: Rollouts, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestrators.rollout as rollout

    # One poll per generation: every wait is the generation's last, and the event heard there ends the
    # generation, whose continue-as-new drops it (as ContinueAsNew without preserveUnprocessedEvents does).
    monkeypatch.setattr(rollout, "POLLS_PER_GENERATION", 1)
    _slow_arm(twin, monkeypatch)
    instance_id = rollouts.start(request())
    rollouts.run(instance_id, horizon=timedelta(minutes=2))
    assert any(s["instanceId"].endswith("-poll") and s["runtimeStatus"] == "Running"
               for s in rollouts.host.statuses())

    _cancel(rollouts, instance_id)
    status = rollouts.run(instance_id)

    result = only_target(status)["result"]
    assert result["stop"]["reason"] == "cancelled", result["stop"]
    assert result["provisioningState"] == "Canceled"
    assert status["output"]["status"] == "cancelled"


def _slow_arm(twin: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """ARM that keeps a deployment Running for a thousand polls."""
    import dataclasses

    monkeypatch.setattr(twin.arm, "config", dataclasses.replace(twin.arm.config, deployment_poll_steps=1000))


@pytest.mark.parametrize("kind", ["empty", "html", "truncated"])
def test_an_unreadable_poll_answer_is_retried_and_the_rollout_verifies(rollouts: Rollouts, twin: Any,
                                                                       kind: str) -> None:
    # The first GET is the start activity's own look for an existing deployment (404); then the polls.
    twin.faults.add(_rule(route="arm.deployments.get", kind=kind, skip=1, count=3))
    status = rollouts.run(rollouts.start(request()))

    assert status["runtimeStatus"] == "Completed", status["output"]
    assert status["output"]["status"] == "succeeded"
    result = only_target(status)["result"]
    assert result["provisioningState"] == "Succeeded"
    assert result["verify"]["differences"] == []
    assert [r["fault"] for r in twin.captured("arm.deployments.get")].count(kind) == 3


@pytest.mark.parametrize("route", ["arm.deployments.validate", "arm.deployments.whatif",
                                   "arm.deployments.whatif.result", "arm.deployments.list", "arm.deployments.put",
                                   "arm.asyncoperation.get", "apim.backends.list", "apim.backends.get"])
def test_an_html_answer_on_any_call_is_survived(rollouts: Rollouts, twin: Any, route: str) -> None:
    twin.faults.add(_rule(route=route, kind="html", count=1))
    status = rollouts.run(rollouts.start(request()))

    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["status"] == "succeeded", render_summary(status["output"])
    assert len(deployment_puts(twin)) in (1, 2)
    assert len({p["params"]["name"] for p in deployment_puts(twin)}) == 1


def test_a_deployment_whose_state_cannot_be_learned_is_unknown_never_verified_and_holds_the_target(
    rollouts: Rollouts, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BREAKERPANEL_DEPLOY_TIMEOUT", "PT10M")
    twin.faults.add(_rule(route="arm.deployments.get", kind="html", skip=1))
    status = rollouts.run(rollouts.start(request()))

    assert status["runtimeStatus"] == "Completed"
    output = status["output"]
    assert output["status"] == "unknown"
    entry = only_target(status)
    assert entry["phase"] == "unknown"
    result = entry["result"]
    assert result["status"] == "unknown"
    assert "verify" not in result, "no diff is presented while the deployment may still be running"
    message = result["error"]["message"]
    assert message.startswith(f"unknown — the deployment {result['deploymentName']} may still be running")
    assert f"az deployment group show --subscription {SUB} -g rg-gw -n {result['deploymentName']}" in message
    summary = "\n".join(render_summary(output))
    assert "UNKNOWN" in summary and "may still be running" in summary and "verify:" not in summary
    # ARM was asked to cancel it at the deadline, and the target stays held.
    assert twin.captured("arm.deployments.cancel")
    (lock,) = _lock_records().values()
    assert lock["state"] == "inDoubt"
    assert lock["deployments"][0]["deploymentName"] == result["deploymentName"]
    assert output["lock"]["held"] == [f"{SUB}/rg-gw/apim-one"]

    # A new rollout of the target is refused by the orchestration itself as well.
    twin.faults.clear()
    again = rollouts.run(rollouts.start(request()))
    assert again["output"]["status"] == "refused"
    assert "held by rollout rollout-r1" in again["output"]["halted"]["reason"]


def test_an_authentication_failure_is_permanent_and_says_what_to_fix(rollouts: Rollouts, twin: Any) -> None:
    twin.faults.add(_rule(route="arm.deployments.validate", kind="error", status=401))
    status = rollouts.run(rollouts.start(request()))

    entry = only_target(status)
    assert entry["failure"]["stage"] == "validate"
    assert entry["failure"]["error"]["code"] == "ExpiredAuthenticationToken"
    assert len(twin.captured("arm.deployments.validate")) == 1, "a lost credential is not retried"
    assert status["output"]["status"] == "failed"


def test_a_403_names_the_missing_role(rollouts: Rollouts, twin: Any) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    from activities.outcomes import failure

    twin.faults.add(_rule(route="arm.deployments.put", kind="error", status=403))
    status = rollouts.run(rollouts.start(request()))

    result = only_target(status)["result"]
    assert (result["stage"], result["error"]["code"]) == ("submit", "AuthorizationFailed")
    assert len(deployment_puts(twin)) == 1
    summary = "\n".join(render_summary(status["output"]))
    assert "'Microsoft.Resources/deployments/write'" in summary
    assert "'breakerpanel deployments (custom)' on the target's resource group" in summary
    # No token at all (the managed identity is gone): permanent, and the fix names AZURE_CLIENT_ID.
    lost = failure(ClientAuthenticationError("ManagedIdentityCredential: no identity assigned"))
    assert lost["outcome"] == "permanent" and "AZURE_CLIENT_ID" in lost["fix"]


def test_a_put_carried_out_but_answered_500_is_reattached_not_resubmitted(rollouts: Rollouts, twin: Any) -> None:
    twin.faults.add(_rule(route="arm.deployments.put", kind="applied", status=500, count=1))
    status = rollouts.run(rollouts.start(request()))

    assert status["output"]["status"] == "succeeded"
    assert only_target(status)["result"]["attached"] is True
    assert len(deployment_puts(twin)) == 1


def test_an_activity_that_raises_never_crashes_the_orchestration(
    rollouts: Rollouts, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import activities.backends as backends

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in the activity")

    monkeypatch.setattr(backends, "apim_client", broken)
    status = rollouts.run(rollouts.start(request()))

    assert status["runtimeStatus"] == "Completed"
    result = only_target(status)["result"]
    assert result["verify"]["read"] is False
    assert result["verify"]["error"]["code"] == "ActivityFailed"
    assert "a bug in the activity" in result["verify"]["error"]["message"]
    assert status["output"]["status"] == "failed"


def test_cancel_during_the_deployment_cancels_it_in_arm_and_reports_apim(
    rollouts: Rollouts, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _slow_arm(twin, monkeypatch)
    instance_id = rollouts.start(request(target("apim-one", wave=1), target("apim-two", wave=2)))
    status = rollouts.run(instance_id, horizon=timedelta(minutes=2))
    assert status["customStatus"]["phase"] == "deploying"
    name = deployment_puts(twin)[0]["params"]["name"]

    reached = _cancel(rollouts, instance_id)
    status = rollouts.run(instance_id)

    assert any(r.endswith("-poll") for r in reached)
    assert status["runtimeStatus"] == "Completed"
    output = status["output"]
    assert output["status"] == "cancelled"
    phases = {key.rsplit("/", 1)[-1]: t["phase"] for key, t in output["targets"].items()}
    assert phases == {"apim-one": "cancelled", "apim-two": "cancelled"}
    first = output["targets"][f"{SUB}/rg-gw/apim-one"]["result"]
    assert first["provisioningState"] == "Canceled"
    assert first["stop"]["reason"] == "cancelled" and first["stop"]["requested"] is True
    assert first["apimAfterStop"]["read"] is True
    assert [c["params"]["name"] for c in twin.captured("arm.deployments.cancel")] == [name]
    # Nothing keeps running: no deployment active in ARM, no orchestration of the rollout still going.
    assert all(not d.active for d in twin.arm.all_active())
    assert all(s["runtimeStatus"] == "Completed" for s in rollouts.host.statuses())
    assert len(deployment_puts(twin)) == 1  # wave 2 never started
    assert _lock_records() == {}, "the target is free again"
    summary = "\n".join(render_summary(output))
    assert "CANCELLED" in summary and "cancelled by grace@contoso.com" in summary


@pytest.mark.parametrize("phase", ["preflight", "awaitingApproval", "deploying", "rollback"])
def test_a_cancel_at_every_phase_leaves_no_deployment_running(
    rollouts: Rollouts, twin: Any, monkeypatch: pytest.MonkeyPatch, phase: str
) -> None:
    from twin.arm_deployments.failures import parse_failure

    if phase == "rollback":
        assert rollouts.run(rollouts.start(request()))["output"]["status"] == "succeeded"
        twin.arm.failures.add(parse_failure({"resource": "*/backends/aoai-westus", "status": 500,
                                             "code": "InternalServerError", "message": "internal error"}))
        changed = request()
        changed["breakerRule"]["failureCount"] = 5
        instance_id = rollouts.start(changed)
        rollouts.run(instance_id, horizon=timedelta(seconds=0))
        # Let the failed deployment happen, then slow ARM so the rollback stays Running.
        for _ in range(200):
            rollouts.host.run_until_idle(timer_horizon=timedelta(seconds=5))
            if any(p["params"]["name"].endswith("-rb") for p in deployment_puts(twin)):
                break
        _slow_arm(twin, monkeypatch)
    else:
        if phase == "deploying":
            _slow_arm(twin, monkeypatch)
        if phase == "preflight":
            twin.faults.add(_rule(route="arm.deployments.whatif", kind="throttle", retryAfter=120))
        instance_id = rollouts.start(request(approval="required" if phase == "awaitingApproval" else "none"))
        rollouts.run(instance_id, horizon=timedelta(seconds=90))
        assert rollouts.host.status(instance_id)["customStatus"]["phase"] == phase

    _cancel(rollouts, instance_id)
    status = rollouts.run(instance_id)

    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["status"] == "cancelled", render_summary(status["output"])
    assert twin.arm.all_active() == [] or all(not d.active for d in twin.arm.all_active())
    assert all(s["runtimeStatus"] != "Running" for s in rollouts.host.statuses())
    assert _lock_records() == {}


def test_the_deploy_deadline_cancels_the_deployment_and_waits_for_it_to_stop(
    rollouts: Rollouts, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BREAKERPANEL_DEPLOY_TIMEOUT", "PT5M")
    _slow_arm(twin, monkeypatch)
    status = rollouts.run(rollouts.start(request()))

    result = only_target(status)["result"]
    assert (result["status"], result["stage"]) == ("failed", "deadline")
    assert result["error"]["code"] == "DeploymentTimedOut"
    assert result["provisioningState"] == "Canceled"
    assert twin.captured("arm.deployments.cancel")
    assert all(not d.active for d in twin.arm.all_active())
    assert _lock_records() == {}


def test_a_deployment_that_will_not_stop_keeps_the_target_held(
    rollouts: Rollouts, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BREAKERPANEL_DEPLOY_TIMEOUT", "PT5M")
    _slow_arm(twin, monkeypatch)
    # ARM accepts nothing: every cancel is answered 500.
    twin.faults.add(_rule(route="arm.deployments.cancel", kind="error", status=500))
    status = rollouts.run(rollouts.start(request()))

    result = only_target(status)["result"]
    assert result["status"] == "unknown"
    assert "900 s later it is still Accepted" in result["error"]["message"]
    assert any(d.active for d in twin.arm.all_active())
    assert next(iter(_lock_records().values()))["state"] == "inDoubt"


def test_an_upgrade_mid_rollout_does_not_change_what_it_deploys(
    rollouts: Rollouts, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import breakerpanel.core.rollout_flow as flow

    instance_id = rollouts.start(request(approval="required"))
    status = rollouts.run(instance_id, horizon=timedelta(minutes=30))
    planned = next(iter(status["customStatus"]["targets"].values()))["deploymentName"]

    # The app is upgraded while the rollout waits: new code names deployments differently.
    monkeypatch.setattr(flow, "deployment_name", lambda rollout_id, target: "bp-upgraded-naming-00000000")
    rollouts.answer(instance_id, True)
    status = rollouts.run(instance_id)

    assert status["output"]["status"] == "succeeded"
    assert [p["params"]["name"] for p in deployment_puts(twin)] == [planned]


def test_an_upgrade_mid_rollout_does_not_change_its_admission_nor_the_question_its_approver_answered(
    rollouts: Rollouts, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import breakerpanel.core.rollout_flow as flow
    from breakerpanel.core.model import Problem

    instance_id = rollouts.start(request(approval="required"))
    status = rollouts.run(instance_id, horizon=timedelta(minutes=30))
    assert status["customStatus"]["phase"] == "awaitingApproval"

    # The app is upgraded while the rollout waits: the new validator refuses this input, and the new gate
    # digests what-if differently. Every replay from now on runs the new code.
    monkeypatch.setattr(flow, "admit", lambda spec, policy: [Problem("request", "refused by newer rules", "none")])
    monkeypatch.setattr(flow, "what_if_digest", lambda what_ifs: "sha256:upgraded-digest")
    rollouts.answer(instance_id, True)  # the digest the approver was shown
    status = rollouts.run(instance_id)

    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["status"] == "succeeded", render_summary(status["output"])
    assert len(deployment_puts(twin)) == 1


def test_the_what_if_result_is_summarised_before_it_enters_history(rollouts: Rollouts) -> None:
    status = rollouts.run(rollouts.start(request()))
    assert status["output"]["status"] == "succeeded"
    preflight = next(s for s in rollouts.host.statuses() if s["instanceId"].endswith("-preflight"))
    what_if = preflight["output"]["whatIf"]
    assert what_if["summarized"] is True
    assert len(json.dumps(what_if)) < 4_000


# ------------------------------------------------------------- validate's documented forms (2025-04-01 and later)

def _broken_template(monkeypatch: pytest.MonkeyPatch) -> None:
    import activities.deployments as deployments

    broken = copy.deepcopy(deployments.gateway_template())
    broken["variables"]["retryCount"] = "[noSuchFunction(parameters('backends'))]"
    monkeypatch.setattr(deployments, "gateway_template", lambda: broken)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_validation_error_in_a_200_result_stops_the_rollout_at_validate(
    rollouts: Rollouts, twin: Any, monkeypatch: pytest.MonkeyPatch, asynchronous: bool
) -> None:
    # DeploymentValidateResult carries `error` on any answer (az CLI reads validation_result.error after a
    # validate that did not raise): a 200 holding one is a refusal, never a pass to deploy.
    from twin.arm_deployments.state import ValidateMode

    _broken_template(monkeypatch)
    twin.arm.validate_mode = ValidateMode(asynchronous=asynchronous, failure_status=200)
    status = rollouts.run(rollouts.start(request()))

    entry = only_target(status)
    assert entry["failure"]["stage"] == "validate"
    assert entry["failure"]["error"]["code"] == "InvalidTemplate"
    assert any("noSuchFunction" in d["message"] for d in entry["failure"]["diagnoses"])
    assert deployment_puts(twin) == []


def test_a_validate_answered_202_with_a_relative_location_is_followed(
    rollouts: Rollouts, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The 2025-04-01 long-running form: 202 + Location (relative in the published example), then the result.
    from twin.arm_deployments.state import ValidateMode

    twin.arm.validate_mode = ValidateMode(asynchronous=True)
    status = rollouts.run(rollouts.start(request()))
    assert status["output"]["status"] == "succeeded", render_summary(status["output"])
    assert only_target(status)["phase"] == "verified"
    assert len(twin.captured("arm.deployments.whatif.result")) >= 2  # the validate's poll and the what-if's

    _broken_template(monkeypatch)
    status = rollouts.run(rollouts.start(request(target("apim-two"))))
    entry = only_target(status)
    assert entry["failure"]["stage"] == "validate"
    assert entry["failure"]["error"]["code"] == "InvalidTemplate"
    assert len(deployment_puts(twin)) == 1  # only the first rollout's


# ------------------------------------------------------------------ provisioningState is a case-insensitive word

def test_a_state_in_other_case_is_read_as_the_spec_spells_it_so_a_success_is_never_a_failure() -> None:
    # The SDK's ProvisioningState is a CaseInsensitiveEnumMeta enum and azure-core's polling lower-cases the
    # status: "succeeded" is Succeeded. Read through the SDK's own model, as the activities read ARM's answer.
    from azure.mgmt.resource.deployments.models import DeploymentExtended

    from activities.deployments import _state
    from breakerpanel.core.rollout_flow import target_result

    answer = DeploymentExtended({"name": "bp-x", "properties": {"provisioningState": "succeeded",
                                                                "outputResources": []}})
    state = _state(answer)
    assert state["provisioningState"] == "Succeeded"
    job = {"key": "k", "call": {"target": {"subscriptionId": SUB, "resourceGroup": "rg-gw", "apimName": "apim-one"},
                                "deploymentName": "bp-x"}, "rollback": False}
    result = target_result(job, started={"outcome": "ok", **state}, final={"outcome": "ok", **state, "polls": 1})
    assert result["status"] == "verified" and "diagnoses" not in result


# ---------------------------------------------------------------- what the backend read keeps in the history

def test_backend_secrets_apim_answers_never_enter_the_history(rollouts: Rollouts, twin: Any) -> None:
    # APIM's GET answers a backend's credentials (header/query values, authorization parameter) and proxy
    # password in clear (2024-05-01 example ApiManagementCreateBackendProxyBackend); the verify read lists every
    # backend of the instance, other teams' included, and an activity's result is kept in the task hub history.
    import io

    from breakerpanel.azure.clients import apim_client
    from tests.conftest import load_fixture

    example = load_fixture("apim_2024-05-01_ApiManagementCreateBackendProxyBackend.json")
    client = apim_client(load_settings(), SUB)
    client.backend.create_or_update("rg-gw", "apim-one", "team-proxy", io.BytesIO(
        json.dumps(example["parameters"]["parameters"]).encode()), api_version="2024-05-01")

    instance_id = rollouts.start(request())
    status = rollouts.run(instance_id)
    assert only_target(status)["phase"] == "verified"

    instances = {e.instance_id for e in rollouts.host.activity_executions} | {instance_id}
    history = json.dumps([rollouts.host.status(i, show_history=True) for i in sorted(instances)], default=str)
    assert "team-proxy" in history  # the read is recorded, with every backend's name
    for secret in ("opensesma", "<password>", "val1", "Contoso"):
        assert secret not in history


def test_a_provider_that_ends_failed_without_a_reason_is_diagnosed_as_such(rollouts: Rollouts, twin: Any) -> None:
    # ARM's relay of a provider's asynchronous Failed: statusCode Conflict, ResourceDeploymentFailure, no details.
    from twin.arm_deployments.failures import parse_failure

    twin.arm.failures.add(parse_failure({
        "resource": "*/backends/aoai-eastus", "status": 409, "code": "ResourceDeploymentFailure",
        "message": "The resource operation completed with terminal provisioning state 'Failed'.",
    }))
    status = rollouts.run(rollouts.start(request(rollback=False)))
    result = only_target(status)["result"]
    assert result["stage"] == "deploy"
    [diagnosis] = [d for d in result["diagnoses"] if d["resourceName"] == "apim-one/aoai-eastus"]
    assert diagnosis["key"] == "provider_failed_without_reason" and not diagnosis["retryable"]
    assert "terminal provisioning state 'Failed'" in diagnosis["message"]
