"""`make reliability`: the rollout against every fault on every call it makes, and a table of what happened.

Each cell is one whole rollout through the real Durable replay engine (LocalDurableHost) and the real
activities, whose real SDK clients talk HTTPS to a fresh twin. One fault rule fires twice on one call of the
rollout (a `skip` found by a clean probe run of the same scenario picks exactly that call). The outcome is
judged against the twin's own truth, not against what the rollout says:

  ok        survived: the rollout succeeded and APIM holds the request (in the rollback scenario, where the
            deployment is made to fail, ok means: diagnosed, rolled back, APIM verified against the rollback point)
  failed    failed clearly: the result names the error and the state it left, ARM has nothing running, and
            the target is free
  unknown   the rollout could not learn a deployment's state, says so, and keeps the target held
  BAD       anything else: the orchestration crashed, a deployment is still running while the result is final
            (or the target was freed), a second deployment was submitted under one name, the result's
            provisioning state is not ARM's, or "verified" while APIM differs

Then: a crash after every activity (each result lost once and redelivered) never submits a second
deployment, and a cancel in every phase leaves no deployment running. Target: no BAD cell.

    .venv/bin/python -m tests.reliability.fault_matrix [--workers 2]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import multiprocessing
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests import rollout_inputs as inputs
from tests.rollout_inputs import BACKENDS

SUB = "00000000-0000-0000-0000-0000000000cc"
GROUP = "rg-gw"
APIM = "apim-one"
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
READ_TIMEOUT = 1.0  # the clients' read timeout in this run; the "read timeout" fault answers after 1.5 s

# Columns: label -> fault rule fields (route and skip are added per row).
FAULTS: dict[str, dict[str, Any]] = {
    "429+RA": {"kind": "throttle", "retryAfter": 5},
    "500": {"kind": "error", "status": 500},
    "503": {"kind": "error", "status": 503},
    "reset": {"kind": "reset"},
    "timeout": {"kind": "latency", "latencyMs": int(READ_TIMEOUT * 1500)},
    "empty": {"kind": "empty"},
    "html": {"kind": "html"},
    "trunc": {"kind": "truncated"},
    "401": {"kind": "error", "status": 401},
    "403": {"kind": "error", "status": 403},
    "done+500": {"kind": "applied", "status": 500},
}
# Rows: (label, scenario, route, which call: the n-th call of that route matching `where`, counted from 1).
ROWS: list[tuple[str, str, str, str, int]] = [
    ("prereq: instance GET", "deploy", "apim.service.get", "", 1),
    ("prereq: role assignments", "deploy", "authorization.roleAssignments.list", "", 1),
    ("validate", "deploy", "arm.deployments.validate", "", 1),
    ("what-if", "deploy", "arm.deployments.whatif", "", 1),
    ("what-if result", "deploy", "arm.deployments.whatif.result", "", 1),
    ("rollback point: list", "deploy", "arm.deployments.list", "", 1),
    ("rollback point: hash", "deploy", "arm.templatehash", "", 1),
    ("re-attach lookup GET", "deploy", "arm.deployments.get", "", 1),
    ("PUT deployment", "deploy", "arm.deployments.put", "", 1),
    ("poll 1", "deploy", "arm.deployments.get", "", 2),
    ("poll 2", "deploy", "arm.deployments.get", "", 3),
    ("backends list", "deploy", "apim.backends.list", "", 1),
    ("backend GET", "deploy", "apim.backends.get", "", 1),
    ("failed operations", "rollback", "arm.operations.list", "", 1),
    ("rollback what-if", "rollback", "arm.deployments.whatif", "-rb/", 1),
    ("rollback PUT", "rollback", "arm.deployments.put", "-rb", 1),
    ("rollback poll", "rollback", "arm.deployments.get", "-rb", 2),
    ("backends after rollback", "rollback", "apim.backends.list", "", 1),
]


def _request(**changes: Any) -> dict[str, Any]:
    body = inputs.rollout_request([inputs.target(SUB, GROUP, APIM)])
    body.update(changes)
    return body


class Bench:
    """One twin for this process; a fresh host and a fresh store per cell."""

    def __init__(self) -> None:
        from twin.server import TwinServer

        self.folder = Path(tempfile.mkdtemp(prefix="bp-reliability-"))
        self.server = TwinServer(self.folder / "twin")
        self.server.start()
        # A reset or a timed-out client makes the server's write fail: expected here, and not worth a traceback.
        self.server._loopback.server.handle_error = lambda request, address: None
        self.twin = self.server.twin
        for name, value in self.server.environment().items():
            os.environ[name] = value
        os.environ["BREAKERPANEL_TARGETS"] = json.dumps([{"subscriptionId": SUB, "resourceGroup": GROUP,
                                                          "apimName": APIM}])
        os.environ["BREAKERPANEL_STORE"] = "sqlite"
        os.environ.pop("BREAKERPANEL_BACKEND_HOSTS", None)
        os.environ["BREAKERPANEL_DEPLOY_TIMEOUT"] = "PT30M"
        import breakerpanel.azure.clients as clients

        clients.ARM_READ_TIMEOUT_SECONDS = READ_TIMEOUT
        self.cell = 0

    def fresh(self, on_step: Any = None) -> Any:
        import function_app
        from breakerpanel.localrun import LocalDurableHost

        self.twin.reset()
        self.twin.apim.create_service(SUB, GROUP, APIM)
        self.cell += 1
        os.environ["BREAKERPANEL_STATE_DIR"] = str(self.folder / f"state-{self.cell}")
        return LocalDurableHost(function_app.app, start_time=T0, on_step=on_step)

    def start(self, host: Any, body: dict[str, Any], number: int = 1) -> str:
        from activities.policy import current_policy
        from breakerpanel.core.model import Target
        from breakerpanel.core.request import check_rollout_request
        from breakerpanel.core.rollout_api import orchestration_input, rollout_instance_id

        check = check_rollout_request(body, [Target(SUB, GROUP, APIM)])
        assert check.request is not None, check.errors
        timeouts = type("T", (), {"approval_timeout_seconds": 3600.0, "deploy_timeout_seconds": 1800.0})()
        rollout_id = f"m{self.cell}x{number}"
        instance_id = rollout_instance_id(rollout_id)
        spec = orchestration_input(rollout_id, check.request, [], timeouts, {"name": "matrix"}, host.now,
                                   policy=current_policy(), instance_id=instance_id)
        return host.start("rollout_orchestrator", spec, instance_id=instance_id)

    def prepare(self, host: Any, scenario: str) -> dict[str, Any]:
        """Run what comes before the rollout under test; return the request of the rollout under test."""
        if scenario == "deploy":
            return _request()
        from twin.arm_deployments.failures import parse_failure

        first = host.run_until_idle(self.start(host, _request(), 0))
        assert first["output"]["status"] == "succeeded", first["output"]
        # The next rollout tightens the rule and adds a backend the resource provider refuses: the deployment
        # fails after changing the others, and the rollback puts the first rollout's state back.
        self.twin.arm.failures.add(parse_failure({"resource": "*/backends/aoai-france", "status": 500,
                                                  "code": "InternalServerError", "message": "internal error"}))
        self.twin.clear_captured()
        changed = _request(backends=[*copy.deepcopy(BACKENDS), {
            "name": "aoai-france", "url": "https://aoai-france.openai.azure.com/openai", "priority": 2,
            "weight": 100}])
        changed["breakerRule"]["failureCount"] = 5
        return changed

    def probe(self, scenario: str) -> list[dict[str, Any]]:
        host = self.fresh()
        body = self.prepare(host, scenario)
        status = host.run_until_idle(self.start(host, body))
        assert status["runtimeStatus"] == "Completed"
        return self.twin.captured()


def skip_for(captured: list[dict[str, Any]], route: str, where: str, nth: int) -> int | None:
    """How many calls of `route` come before its nth call matching `where` in the probe run."""
    calls = [entry for entry in captured if entry["route"] == route]
    matching = [i for i, entry in enumerate(calls) if where in entry["path"]]
    return matching[nth - 1] if len(matching) >= nth else None


def judge(bench: Bench, host: Any, instance_id: str, scenario: str) -> str:
    """The cell's verdict from the twin's truth (see the module docstring)."""
    from breakerpanel.core import target_lock
    from breakerpanel.store.factory import open_store

    status = host.status(instance_id)
    if status["runtimeStatus"] != "Completed":
        return f"BAD: {status['runtimeStatus']}"
    output = status["output"] or {}
    store = open_store()
    try:
        held = bool(store.list(target_lock.KIND, target_lock.PREFIX))
    finally:
        store.close()
    active = [d for d in bench.twin.arm.all_active() if d.active]
    (entry,) = output["targets"].values()
    result = entry.get("result") or entry.get("failure") or {}
    outcome = output.get("status")
    puts: dict[str, int] = {}
    for put in bench.twin.captured("arm.deployments.put"):
        carried_out = (put["status"] in (200, 201) or put["fault"] in ("applied", "empty", "html", "truncated")
                       or put["fault"] == "latency")
        if carried_out:
            puts[put["params"]["name"]] = puts.get(put["params"]["name"], 0) + 1
    if any(count > 1 for count in puts.values()):
        return "BAD: submitted twice"
    if outcome == "unknown":
        return "unknown" if held else "BAD: unknown, freed"
    if active:
        return "BAD: still running"
    if held:
        return "BAD: target kept"
    name = result.get("deploymentName")
    truth = bench.twin.arm.find(SUB, GROUP, name) if name else None
    said = result.get("provisioningState")
    if said is not None and truth is not None and said != truth.state:
        return f"BAD: says {said}, ARM {truth.state}"
    expected_ok = (outcome == "succeeded" if scenario == "deploy" else
                   (result.get("rollback") or {}).get("provisioningState") == "Succeeded"
                   and (result.get("rollback") or {}).get("verify", {}).get("differences") == [])
    if expected_ok:
        if outcome == "succeeded" and (result.get("verify") or {}).get("differences"):
            return "BAD: verified, differs"
        return "ok"
    error = result.get("error") or (result.get("verify") or {}).get("error") or {}
    code = str(error.get("code") or "?")
    if not code or code == "?":
        return "BAD: no error named"
    return "failed " + _SHORT.get(code, code[:12])


_SHORT = {"ExpiredAuthenticationToken": "401", "AuthorizationFailed": "403", "DeploymentFailed": "deploy"}


def run_cell(bench: Bench, scenario: str, route: str, skip: int, fault: dict[str, Any]) -> str:
    from twin.faults import parse_rule

    host = bench.fresh()
    body = bench.prepare(host, scenario)
    bench.twin.faults.add(parse_rule({"route": route, "skip": skip, "count": 2, **fault}))
    instance_id = bench.start(host, body)
    try:
        host.run_until_idle(instance_id)
    except Exception as exc:  # the local host itself refused something: as bad as a crash
        return f"BAD: {type(exc).__name__}"
    return judge(bench, host, instance_id, scenario)


def _worker(job: tuple[str, str, str, int | None, str]) -> tuple[str, str, str]:
    row, scenario, route, skip, column = job
    bench = _BENCH.get("bench")
    if bench is None:
        bench = _BENCH["bench"] = Bench()
    if skip is None:
        return row, column, "n/a"
    return row, column, run_cell(bench, scenario, route, skip, FAULTS[column])


_BENCH: dict[str, Bench] = {}


def crash_runs(bench: Bench) -> list[str]:
    """Every activity result lost once (redelivered), and a crash after each kind of activity alone."""
    lines = []
    for scenario in ("deploy", "rollback"):
        host = bench.fresh()
        body = bench.prepare(host, scenario)
        for _ in range(400):
            host.crash_after_next_activity()
        instance_id = bench.start(host, body)
        host.run_until_idle(instance_id)
        redelivered = sum(1 for a in host.activity_executions if a.delivery == 2)
        lines.append(f"  {scenario}: every activity's result lost once ({redelivered} redeliveries): "
                     f"{judge(bench, host, instance_id, scenario)}")
    return lines


_CANCEL = {"by": {"name": "matrix"}, "reason": "matrix"}


def flag_cancel(instance_id: str) -> None:
    """The cancel route's first step, before any event: the rollout's cancel flag in the store."""
    from breakerpanel import rollout_cancel
    from breakerpanel.store.factory import open_store

    store = open_store()
    try:
        rollout_cancel.request(store, instance_id, _CANCEL, T0)
    finally:
        store.close()


def cancel_race_runs(bench: Bench) -> list[str]:
    """A cancel whose listing of running children ran while the parent's episode was scheduling one: the new
    child never hears the event, and must still stop (it reads the flag when it starts)."""
    from breakerpanel.core.rollout_flow import CANCEL_EVENT

    lines = []
    for moment in ("target_deploy", "deployment_poller"):
        state: dict[str, Any] = {"host": None, "fired": False, "instance": None}

        def hook(step: Any, moment: str = moment, state: dict[str, Any] = state) -> None:
            host, instance_id = state["host"], state["instance"]
            if state["fired"] or host is None:
                return
            if moment == "target_deploy":
                hit = step.instance_id == instance_id and (step.custom_status or {}).get("phase") == "deploying"
                listed = [instance_id]
            else:
                hit = step.name == "target_deploy" and any(
                    s["instanceId"].endswith("-poll") for s in host.statuses())
                listed = [instance_id, step.instance_id]
            if hit:
                state["fired"] = True
                flag_cancel(instance_id)
                for target in listed:
                    host.raise_event(target, CANCEL_EVENT, _CANCEL)

        host = bench.fresh(on_step=hook)
        body = bench.prepare(host, "deploy")
        slow = dataclasses.replace(bench.twin.arm.config, deployment_poll_steps=1000)
        bench.twin.arm.config = slow
        state["instance"] = bench.start(host, body)
        state["host"] = host
        host.run_until_idle(state["instance"])
        bench.twin.arm.config = dataclasses.replace(slow, deployment_poll_steps=1)
        output = host.status(state["instance"])["output"] or {}
        left = [d.name for d in bench.twin.arm.all_active() if d.active]
        ok = state["fired"] and output.get("status") == "cancelled" and not left
        verdict = "ok" if ok else f"BAD: {output.get('status')} {left}"
        lines.append(f"  cancel listed just before {moment} started (it never hears the event): "
                     f"{output.get('status')}, deployments still running: {len(left)} -> {verdict}")
    return lines


def cancel_runs(bench: Bench) -> list[str]:
    from breakerpanel.core.rollout_api import child_ids
    from breakerpanel.core.rollout_flow import CANCEL_EVENT
    from twin.faults import parse_rule

    lines = []
    for phase in ("preflight", "awaitingApproval", "deploying", "rollback"):
        host = bench.fresh()
        scenario = "rollback" if phase == "rollback" else "deploy"
        body = bench.prepare(host, scenario)
        if phase == "awaitingApproval":
            body["approval"] = "required"
        if phase == "preflight":
            bench.twin.faults.add(parse_rule({"route": "arm.deployments.whatif", "kind": "throttle",
                                              "retryAfter": 120}))
        instance_id = bench.start(host, body)
        slow = dataclasses.replace(bench.twin.arm.config, deployment_poll_steps=1000)
        if phase == "deploying":
            bench.twin.arm.config = slow
        if phase == "rollback":
            for _ in range(300):
                host.run_until_idle(timer_horizon=timedelta(seconds=5))
                if any(p["params"]["name"].endswith("-rb") for p in bench.twin.captured("arm.deployments.put")):
                    break
            bench.twin.arm.config = slow
        host.run_until_idle(timer_horizon=timedelta(seconds=90))
        seen = (host.status(instance_id)["customStatus"] or {}).get("phase")
        spec = json.loads(host.status(instance_id)["input"])
        flag_cancel(instance_id)
        running = {s["instanceId"] for s in host.statuses() if s["runtimeStatus"] in ("Running", "Pending")}
        for target in [instance_id, *child_ids(spec)]:
            if target in running:
                host.raise_event(target, CANCEL_EVENT, _CANCEL)
        host.run_until_idle(instance_id)
        bench.twin.arm.config = dataclasses.replace(slow, deployment_poll_steps=1)
        output = host.status(instance_id)["output"] or {}
        left = [d.name for d in bench.twin.arm.all_active() if d.active]
        verdict = "ok" if output.get("status") == "cancelled" and not left else f"BAD: {output.get('status')} {left}"
        lines.append(f"  cancel while {phase} (status showed {seen}): {output.get('status')}, "
                     f"deployments still running: {len(left)} -> {verdict}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    started = time.monotonic()
    bench = Bench()
    probes = {scenario: bench.probe(scenario) for scenario in ("deploy", "rollback")}
    jobs = [(row, scenario, route, skip_for(probes[scenario], route, where, nth), column)
            for row, scenario, route, where, nth in ROWS for column in FAULTS]
    if args.workers > 1:
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            cells = pool.map(_worker, jobs, chunksize=4)
    else:
        _BENCH["bench"] = bench
        cells = [_worker(job) for job in jobs]
    table = {(row, column): verdict for row, column, verdict in cells}
    width = max(len(row) for row, *_ in ROWS)
    widths = {c: max(len(c), *(len(table[(row, c)]) for row, *_ in ROWS)) + 1 for c in FAULTS}
    print("Fault-injection matrix: one rollout per cell, real SDK clients against the twin, each fault firing "
          "twice on that call")
    print(f"{'call':<{width}} | " + "".join(f"{c:<{widths[c]}}" for c in FAULTS))
    print("-" * (width + 3 + sum(widths.values())))
    for row, *_ in ROWS:
        print(f"{row:<{width}} | " + "".join(f"{table[(row, c)]:<{widths[c]}}" for c in FAULTS))
    extra = ["", "Crash after every step (results lost and redelivered; every step replays from history):",
             *crash_runs(bench), "", "Cancel at every phase:", *cancel_runs(bench),
             *cancel_race_runs(bench)]
    print("\n".join(extra))
    bad = [v for v in table.values() if v.startswith("BAD")] + [line for line in extra if "BAD" in line]
    print(f"\n{len(table)} cells, {len(bad)} BAD, {time.monotonic() - started:.0f} s on {args.workers} worker(s)")
    bench.server.stop()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
