"""Live progress of a local rollout: phases, target states, and what each orchestration waits for.

Fed by the local runner's `on_step` (one call per orchestrator replay). What the rollout says about itself
(its custom status) gives the phases; each child orchestration's custom status says, before every durable
timer, why it waits (breakerpanel/core/waiting.py): a poll interval, a Retry-After ARM asked for, a back-off
after a transient failure — and the rollout's own, the approval gate's timeout.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, TextIO

from rich.text import Text

from breakerpanel.console import console_for
from breakerpanel.core.waiting import child_target, describe
from breakerpanel.localrun import Step

ROLLOUT = "rollout_orchestrator"
_CHILDREN = frozenset({"target_preflight", "target_deploy", "deployment_poller"})
_PHASE_STYLE = {"verified": "green", "failed": "red", "rejected": "yellow", "unknown": "red",
                "awaitingApproval": "yellow", "cancelled": "yellow"}
_WAIT_STYLE = {"retryAfter": "yellow", "backoff": "yellow", "approval": "yellow"}


def _clock(elapsed: timedelta) -> str:
    return str(elapsed).split(".")[0]


def _waiting(status: object) -> dict[str, Any] | None:
    wait = status.get("waiting") if isinstance(status, dict) else None
    return wait if isinstance(wait, dict) else None


class ProgressPrinter:
    """Prints a line whenever the rollout's phase, or a target's phase, changes, and whenever an orchestration
    starts a wait: wall and virtual time on each line. Keeps every wait it saw (`waits`), as data."""

    def __init__(self, out: TextIO) -> None:
        self._console = console_for(out)
        self._started = time.monotonic()
        self._seen: dict[str, str] = {}
        self._targets: dict[str, Any] = {}
        self._waits: dict[str, dict[str, Any]] = {}
        self.waits: list[dict[str, Any]] = []

    def __call__(self, step: Step) -> None:
        if step.name == ROLLOUT and isinstance(step.custom_status, dict):
            self._rollout(step, step.custom_status)
        elif step.name in _CHILDREN:
            self._wait(step, self._child_label(step.instance_id))

    def _line(self, step: Step, text: Text) -> None:
        stamp = Text(f"[{time.monotonic() - self._started:6.1f}s | +{_clock(step.virtual_elapsed)}] ", style="dim")
        self._console.print(stamp + text)

    def _rollout(self, step: Step, status: dict[str, Any]) -> None:
        if isinstance(status.get("targets"), dict):
            self._targets = status["targets"]
        phase = str(status.get("phase"))
        if self._seen.get("") != phase:
            self._seen[""] = phase
            wave = f" wave {status['wave']}" if status.get("wave") is not None else ""
            self._line(step, Text(f"{phase}{wave}", style=_PHASE_STYLE.get(phase, "bold")))
            approval = status.get("approval") or {}
            if phase == "awaitingApproval" and approval.get("status") == "waiting":
                self._line(step, Text(f"  waiting for approval of wave {approval.get('wave')}: "
                                      f"{approval.get('reason')} (what-if {approval.get('whatIfDigest')})",
                                      style="yellow"))
        for key, target in (status.get("targets") or {}).items():
            phase = str(target.get("phase"))
            if self._seen.get(key) == phase:
                continue
            self._seen[key] = phase
            state = f" ({target['provisioningState']})" if target.get("provisioningState") else ""
            self._line(step, Text(f"  {self._name(key)}: {phase}{state}", style=_PHASE_STYLE.get(phase, "")))
        self._wait(step, "rollout")

    def _name(self, key: str) -> str:
        target = self._targets.get(key) or {}
        return str((target.get("target") or {}).get("apimName") or key.split("/")[-1])

    def _child_label(self, instance_id: str) -> str:
        found = child_target(instance_id, self._targets)
        if found is None:
            return "-".join(instance_id.split("-")[-3:])
        key, role = found
        return f"{self._name(key)} {role}"

    def _wait(self, step: Step, label: str) -> None:
        """A line when an orchestration starts a wait (its custom status gained a new `waiting`)."""
        wait = _waiting(step.custom_status)
        if wait is None or self._waits.get(step.instance_id) == wait:
            if wait is None:
                self._waits.pop(step.instance_id, None)
            return
        self._waits[step.instance_id] = wait
        self.waits.append({"instanceId": step.instance_id, "label": label, **wait})
        indent = "  " if label == "rollout" else "    "
        shown = describe(wait) if label == "rollout" else f"{label}: {describe(wait)}"
        self._line(step, Text(f"{indent}{shown}", style=_WAIT_STYLE.get(str(wait.get("reason")), "dim")))
