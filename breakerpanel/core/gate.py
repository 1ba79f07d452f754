"""The approval gate: does this rollout wait for a person, and what happens when they answer (or don't)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from breakerpanel.core.model import ApprovalMode
from breakerpanel.core.whatif import WhatIfSummary

APPROVAL_EVENT = "RolloutApproval"
GateOutcome = Literal["not_required", "approved", "rejected", "timed_out"]


@dataclass(frozen=True)
class ApprovalDecision:
    required: bool
    reason: str


@dataclass(frozen=True)
class GateResult:
    proceed: bool
    outcome: GateOutcome
    reason: str
    by: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"proceed": self.proceed, "outcome": self.outcome, "reason": self.reason, "by": self.by}


def approval_needed(mode: ApprovalMode, what_if: WhatIfSummary | None) -> ApprovalDecision:
    if mode == "none":
        return ApprovalDecision(False, "approval is 'none'")
    if mode == "required":
        return ApprovalDecision(True, "approval is 'required' for every rollout")
    if what_if is None or what_if.failed:
        # Without a what-if nobody can say the rollout deletes nothing, so a person decides.
        return ApprovalDecision(True, "what-if did not complete, so deletions cannot be ruled out")
    if what_if.is_destructive:
        deletes = what_if.counts.get("Delete", 0)
        removed = sum(1 for c in what_if.changes if c.change_type == "Modify" and c.removes_properties)
        parts = [f"{deletes} resource(s) deleted"] if deletes else []
        parts += [f"{removed} resource(s) lose properties"] if removed else []
        return ApprovalDecision(True, "what-if shows " + " and ".join(parts))
    return ApprovalDecision(False, "what-if shows no deletions")



def not_required(decision: ApprovalDecision) -> GateResult:
    return GateResult(True, "not_required", decision.reason)


def gate_outcome(event: object, *, timed_out: bool, timeout_seconds: float | None = None) -> GateResult:
    """The gate's result from the approval event payload, or from the timer having fired first.

    The payload is `{"approved": true|false, "by": "...", "comment": "..."}` (a JSON string of it, or a bare
    boolean, is accepted). Anything unreadable is a rejection: a rollout never proceeds on a guess.
    """
    if timed_out:
        waited = f" within {timeout_seconds:g} s" if timeout_seconds is not None else ""
        return GateResult(False, "timed_out", f"no approval arrived{waited}; nothing was deployed")
    payload = event
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return GateResult(False, "rejected", f"approval event not understood: {payload[:80]!r}")
    if isinstance(payload, bool):
        payload = {"approved": payload}
    if not isinstance(payload, Mapping) or not isinstance(payload.get("approved"), bool):
        return GateResult(False, "rejected", 'approval event not understood: expected {"approved": true|false}')
    by = str(payload.get("by") or "")
    comment = str(payload.get("comment") or "")
    if payload["approved"]:
        return GateResult(True, "approved", comment or "approved", by)
    return GateResult(False, "rejected", comment or "rejected", by)
