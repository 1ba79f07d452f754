"""What a rollout says it is waiting for: the `waiting` object of each orchestration's custom status.

Through the real replay engine on the twin: a 429 with Retry-After on the deployment GET shows as a wait on
ARM's asked seconds, then the poller's own poll waits; the approval gate shows its timeout; a finished
orchestration waits for nothing. The local progress printer shows the same waits as lines.
"""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from breakerpanel.core.waiting import describe
from breakerpanel.progress import ProgressPrinter
from tests.functions import test_rollout_orchestration as orchestration
from tests.functions.test_rollout_orchestration import Rollouts, request
from twin.faults import parse_rule

SUB = orchestration.SUB
# The orchestration tests' fixture: the same allowlist and APIM instances, a store of the test's own.
rollouts = orchestration.rollouts


def waits_of(rollouts: Rollouts, suffix: str) -> list[dict[str, Any]]:
    """Each distinct wait the instance ending in `suffix` showed, in order (its custom status at every step)."""
    seen: list[dict[str, Any]] = []
    for step in rollouts.steps:
        if not step.instance_id.endswith(suffix) or not isinstance(step.custom_status, dict):
            continue
        wait = step.custom_status.get("waiting")
        if wait and (not seen or seen[-1] != wait):
            seen.append(wait)
    return seen


def test_a_throttled_deployment_get_shows_the_asked_wait_then_the_poll_waits(
    rollouts: Rollouts, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ARM keeps the deployment Running for a few reads, so the poller waits more than once.
    monkeypatch.setattr(twin.arm, "config", dataclasses.replace(twin.arm.config, deployment_poll_steps=4))
    # The submit activity reads the deployment first (is it there already?): the poller's first GET is the 2nd.
    twin.faults.add(parse_rule({"route": "arm.deployments.get", "kind": "throttle", "retryAfter": 7, "count": 1,
                                "skip": 1}))
    out = io.StringIO()
    rollouts.hooks.append(ProgressPrinter(out))
    instance_id = rollouts.start(request())
    status = rollouts.run(instance_id)
    assert status["output"]["status"] == "succeeded"

    waits = waits_of(rollouts, "-poll")
    assert waits, "the poller showed no wait"
    asked = waits[0]
    assert (asked["reason"], asked["seconds"], asked["call"]) == ("retryAfter", 7, "deployment GET")
    polls = [w for w in waits[1:] if w["reason"] == "poll"]
    assert polls and all(w["call"] == "deployment GET" for w in polls)
    assert [w["seconds"] for w in polls] == sorted(w["seconds"] for w in polls)  # 5, 10, 20 … never shorter
    # `until` is the orchestration's clock plus the wait: T0-based, never the wall clock.
    assert asked["until"].startswith(rollouts.host.now.strftime("%Y-%m-%d"))

    # Nothing awaited once done; no URL anywhere in what was shown.
    final = rollouts.host.status(instance_id)
    assert not (final["customStatus"] or {}).get("waiting")
    poller = next(s for s in rollouts.host.statuses() if s["instanceId"].endswith("-poll"))
    assert not (poller["customStatus"] or {}).get("waiting")
    shown = json.dumps([s.custom_status for s in rollouts.steps])
    assert "https://" not in shown and "?" not in shown

    printed = out.getvalue()
    assert "apim-one poll: waiting 7 s: ARM asked (Retry-After) on deployment GET" in printed
    assert f"apim-one poll: polling every {polls[0]['seconds']:g} s (deployment GET)" in printed
    assert "poll interval or Retry-After" not in printed


def test_a_throttled_validate_shows_its_retry_and_a_server_error_its_backoff(rollouts: Rollouts, twin: Any) -> None:
    twin.faults.add(parse_rule({"route": "arm.deployments.validate", "kind": "throttle", "retryAfter": 11,
                                "count": 1}))
    twin.faults.add(parse_rule({"route": "arm.deployments.whatif", "kind": "error", "status": 500, "count": 1}))
    instance_id = rollouts.start(request())
    assert rollouts.run(instance_id)["output"]["status"] == "succeeded"

    waits = waits_of(rollouts, "-preflight")
    assert [(w["reason"], w["call"]) for w in waits] == [("retryAfter", "validate"), ("backoff", "what-if")]
    assert waits[0]["seconds"] == 11
    assert describe(waits[1]).startswith("waiting 2 s: backing off after a transient failure of what-if")


def test_the_approval_gate_shows_its_timeout_and_stops_showing_it_once_answered(rollouts: Rollouts) -> None:
    instance_id = rollouts.start(request(approval="required"), approval_timeout=900)
    status = rollouts.run(instance_id, horizon=timedelta(minutes=1))
    custom = status["customStatus"]
    assert custom["phase"] == "awaitingApproval"
    wait = custom["waiting"]
    assert (wait["reason"], wait["seconds"], wait["call"]) == ("approval", 900, "wave 1 approval")
    since = custom["approval"]["since"].replace("Z", "+00:00")
    assert datetime.fromisoformat(wait["until"].replace("Z", "+00:00")) - datetime.fromisoformat(since) == \
        timedelta(seconds=900)
    assert describe(wait) == f"waiting for approval until {wait['until']} (wave 1 approval)"

    rollouts.answer(instance_id, True)
    status = rollouts.run(instance_id)
    assert status["output"]["status"] == "succeeded"
    after = [s.custom_status for s in rollouts.steps if s.instance_id == instance_id][-1]
    assert "waiting" not in after


# ------------------------------------------------------------------------- the pure parts


def test_a_child_id_names_its_target_by_wave_and_index_as_the_plan_made_it() -> None:
    from breakerpanel.core.rollout_flow import child_id
    from breakerpanel.core.waiting import child_of, child_target, children_waiting_now

    targets = {"s/g/a": {"wave": 1}, "s/g/b": {"wave": 2}, "s/g/c": {"wave": 2}}
    assert child_of(child_id("rollout-r1", 2, 1, "poll")) == ("rollout-r1", 2, 1, "poll")
    assert child_target(child_id("rollout-r1", 2, 1, "rbpoll"), targets) == ("s/g/c", "rbpoll")
    assert child_target(child_id("rollout-r1", 2, 5, "poll"), targets) is None
    assert child_of("rollout-r1") is None
    assert children_waiting_now("rollout-r1", {"phase": "deploying", "wave": 2, "targets": targets}) == {
        "rollout-r1-w2-t0-deploy": ("s/g/b", "deploy"), "rollout-r1-w2-t0-poll": ("s/g/b", "poll"),
        "rollout-r1-w2-t0-rbpoll": ("s/g/b", "rbpoll"), "rollout-r1-w2-t1-deploy": ("s/g/c", "deploy"),
        "rollout-r1-w2-t1-poll": ("s/g/c", "poll"), "rollout-r1-w2-t1-rbpoll": ("s/g/c", "rbpoll")}
    assert children_waiting_now("rollout-r1", {"phase": "awaitingApproval", "wave": 1, "targets": targets}) == {}


def test_a_wait_says_why_and_an_unknown_reason_is_refused() -> None:
    from breakerpanel.core.waiting import poll_wait, retry_wait, waiting

    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    asked = retry_wait({"outcome": "transient", "retryAfterSeconds": 7.0}, 7.0, now, "deployment GET")
    assert asked == {"reason": "retryAfter", "seconds": 7.0, "until": "2026-11-24T09:00:07Z",
                     "call": "deployment GET"}
    assert describe(asked) == "waiting 7 s: ARM asked (Retry-After) on deployment GET"
    assert retry_wait({"outcome": "transient", "retryAfterSeconds": None}, 4.0, now, "validate")["reason"] == "backoff"
    assert describe(poll_wait({"outcome": "ok"}, 10.0, now)) == "polling every 10 s (deployment GET)"
    # A read still failing after its retries: the poller's wait is what its last answer asked for.
    assert poll_wait({"outcome": "transient", "retryAfterSeconds": 30.0}, 30.0, now)["reason"] == "retryAfter"
    with pytest.raises(ValueError, match="reason must be one of poll, retryAfter, backoff, approval"):
        waiting("sleep", 1.0, now, "validate")
