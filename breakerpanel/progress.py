"""Live progress of a local rollout: phases, target states, approval waits and the waits on durable timers.

Fed by the local runner's `on_step` (one call per orchestrator replay). What the rollout says about itself
(its custom status) gives the phases; a child orchestration whose clock moved between two of its steps has
just come back from a durable timer — a poll interval, or a Retry-After the rollout honoured.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, TextIO

from rich.text import Text

from breakerpanel.console import console_for
from breakerpanel.localrun import Step

ROLLOUT = "rollout_orchestrator"
_CHILD_ROLES = {"target_preflight": "preflight", "target_deploy": "deploy", "deployment_poller": "poll"}
_PHASE_STYLE = {"verified": "green", "failed": "red", "rejected": "yellow", "unknown": "red",
                "awaitingApproval": "yellow", "cancelled": "yellow"}


def _clock(elapsed: timedelta) -> str:
    return str(elapsed).split(".")[0]


class ProgressPrinter:
    """Prints a line whenever the rollout's phase, or a target's phase, changes, when an approval is awaited,
    and when a child orchestration waited on a timer: wall and virtual time on each line."""

    def __init__(self, out: TextIO) -> None:
        self._console = console_for(out)
        self._started = time.monotonic()
        self._seen: dict[str, str] = {}
        self._child_clock: dict[str, timedelta] = {}
        self._waiting_on_child: set[str] = set()

    def __call__(self, step: Step) -> None:
        if step.name == ROLLOUT and isinstance(step.custom_status, dict):
            self._rollout(step, step.custom_status)
        elif step.name in _CHILD_ROLES:
            self._child(step)

    def _line(self, step: Step, text: Text) -> None:
        stamp = Text(f"[{time.monotonic() - self._started:6.1f}s | +{_clock(step.virtual_elapsed)}] ", style="dim")
        self._console.print(stamp + text)

    def _rollout(self, step: Step, status: dict[str, Any]) -> None:
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
            name = (target.get("target") or {}).get("apimName") or key
            self._line(step, Text(f"  {name}: {phase}{state}", style=_PHASE_STYLE.get(phase, "")))

    def _child(self, step: Step) -> None:
        # Child ids end in -w<wave>-t<n>-<role> (rollout_flow.child_id); a deploy's pollers share its prefix.
        prefix = step.instance_id.rpartition("-")[0]
        if step.name == "deployment_poller":
            self._waiting_on_child.add(prefix)
        # A continue-as-new restarts a poller's clock at its new execution; a backwards step is that, not a wait.
        before = self._child_clock.get(step.instance_id)
        self._child_clock[step.instance_id] = step.virtual_elapsed
        if step.name == "target_deploy" and prefix in self._waiting_on_child:
            # Its clock moved while its poller ran: that was the poller's wait, already shown.
            self._waiting_on_child.discard(prefix)
            return
        if before is None or step.virtual_elapsed <= before:
            return
        waited = (step.virtual_elapsed - before).total_seconds()
        label = "-".join(step.instance_id.split("-")[-3:])
        reason = "poll interval or Retry-After" if step.name == "deployment_poller" else "Retry-After or backoff"
        self._line(step, Text(f"    {label}: waited {waited:g} s on a durable timer ({reason})", style="dim"))
