"""What an orchestration is waiting for on a durable timer: the `waiting` object of its custom status.

{"reason", "seconds", "until", "call"}: reason is "poll" (the next look at a running deployment), "retryAfter"
(Azure asked for the delay in a Retry-After header), "backoff" (a transient failure tried again after a
doubling delay) or "approval" (the gate's timeout); `until` comes from the orchestration's own clock; `call`
is a label such as "deployment GET", never a URL (a query string could carry a token). Small on purpose: the
task hub stores the custom status with every checkpoint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

REASONS = ("poll", "retryAfter", "backoff", "approval")
DEPLOYMENT_GET = "deployment GET"
# rollout_flow.child_id: <rollout instance>-w<wave>-t<index in the wave>-<role>
_CHILD = re.compile(r"^(?P<rollout>.+)-w(?P<wave>\d+)-t(?P<index>\d+)-(?P<role>preflight|deploy|poll|rbpoll)$")
# Which children can be waiting while the rollout shows a phase: preflight runs one child per target; a deploy
# runs its own retries, then its poller, then (after a failure) the rollback's poller.
PHASE_ROLES = {"preflight": ("preflight",), "deploying": ("deploy", "poll", "rbpoll")}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def waiting(reason: str, seconds: float, now: datetime, call: str) -> dict[str, Any]:
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {', '.join(REASONS)}, got {reason!r}")
    return {"reason": reason, "seconds": round(float(seconds), 3), "until": _iso(now + timedelta(seconds=seconds)),
            "call": call}


def _asked(outcome: Mapping[str, Any]) -> bool:
    return outcome.get("retryAfterSeconds") is not None


def retry_wait(outcome: Mapping[str, Any], seconds: float, now: datetime, call: str) -> dict[str, Any]:
    """Before trying `call` again after a transient outcome: Azure's Retry-After, or our own back-off."""
    return waiting("retryAfter" if _asked(outcome) else "backoff", seconds, now, call)


def poll_wait(state: Mapping[str, Any], seconds: float, now: datetime) -> dict[str, Any]:
    """Before the poller's next deployment GET: the poll interval, unless the last read carried a Retry-After
    (a read that kept failing transiently after its retries, whose last answer asked for the delay)."""
    return waiting("retryAfter" if _asked(state) else "poll", seconds, now, DEPLOYMENT_GET)


def approval_wait(wave: object, seconds: float, now: datetime) -> dict[str, Any]:
    return waiting("approval", seconds, now, f"wave {wave} approval")


# The longest durable timer an orchestrator creates. Past the backend's short-timer limit (Azure Storage: 6 days,
# the extension's maximumShortTimerDuration) the Python SDK makes a LongTimerTask, whose cancel() never reaches
# the extension (Azure/azure-functions-durable-python#573); DurableTask.Core completes an orchestration only when
# no timer is left open, so an approved rollout would stay Running until that timer fired. A longer wait is a
# chain of these, each one cancellable. 3 days: the extension's own interval for long timers.
MAX_TIMER = timedelta(days=3)


def next_timer_at(now: datetime, deadline: datetime) -> datetime | None:
    """When the next durable timer of a wait ending at `deadline` fires (at most MAX_TIMER away), or None once
    the deadline has come."""
    if now >= deadline:
        return None
    return min(deadline, now + MAX_TIMER)


def _seconds(value: object) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def describe(wait: Mapping[str, Any]) -> str:
    """One line for a person: what is awaited, how long, and why."""
    reason, call, until = wait.get("reason"), wait.get("call"), wait.get("until")
    seconds = _seconds(wait.get("seconds"))
    if reason == "retryAfter":
        return f"waiting {seconds} s: ARM asked (Retry-After) on {call}"
    if reason == "backoff":
        return f"waiting {seconds} s: backing off after a transient failure of {call}"
    if reason == "poll":
        return f"polling every {seconds} s ({call})"
    if reason == "approval":
        return f"waiting for approval until {until} ({call})"
    return f"waiting {seconds} s on {call}"


def child_of(instance_id: str) -> tuple[str, int, int, str] | None:
    """(rollout instance id, wave, index within the wave, role) of a child orchestration's id; None otherwise."""
    found = _CHILD.match(instance_id)
    if found is None:
        return None
    return found["rollout"], int(found["wave"]), int(found["index"]), found["role"]


def wave_keys(targets: Mapping[str, Any], wave: object) -> list[str]:
    """The keys of a wave's targets in plan order, which is the order of the children's indexes."""
    return [key for key, target in targets.items() if isinstance(target, Mapping) and target.get("wave") == wave]


def child_target(instance_id: str, targets: Mapping[str, Any]) -> tuple[str, str] | None:
    """(target key, role) of a child orchestration, from the rollout's status targets; None when not one."""
    parsed = child_of(instance_id)
    if parsed is None:
        return None
    _, wave, index, role = parsed
    keys = wave_keys(targets, wave)
    return (keys[index], role) if index < len(keys) else None


def children_waiting_now(instance_id: str, status: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """The children that may be waiting in the rollout's current phase: child id → (target key, role).

    Read from the rollout's custom status alone (phase, wave, targets), so the status route asks for a few
    children of one wave, never for every child of the plan."""
    targets = status.get("targets")
    roles = PHASE_ROLES.get(str(status.get("phase")), ())
    if not isinstance(targets, Mapping) or not roles:
        return {}
    return {f"{instance_id}-w{status.get('wave')}-t{index}-{role}": (key, role)
            for index, key in enumerate(wave_keys(targets, status.get("wave"))) for role in roles}
