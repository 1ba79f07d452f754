"""The approval gate: does this rollout wait for a person, and what happens when they answer (or don't)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from breakerpanel.core.caller import display, identity, same_person
from breakerpanel.core.model import ApprovalMode
from breakerpanel.core.whatif import WhatIfSummary

APPROVAL_EVENT = "RolloutApproval"


def approval_event(wave: int) -> str:
    """The external event one wave's gate waits on. One name per wave: an answer meant for wave 1 (a double
    click, a late retry) stays buffered under wave 1's name and can never be read by wave 2's gate."""
    return f"{APPROVAL_EVENT}-wave-{int(wave)}"


def what_if_digest(what_ifs: Mapping[str, object]) -> str:
    """A digest of the what-if a wave's approver is shown ({targetKey: summary dict}): an approval names it."""
    canonical = json.dumps(what_ifs, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
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


def judge_answer(
    event: object, gate: Mapping[str, Any], started_by: object, *, allow_self_approval: bool
) -> dict[str, Any]:
    """What the gate does with one answer: {"decision": GateResult dict} to end the wait, or {"ignored": why}
    to keep waiting (an answer to another question, or a self-approval four eyes refuses).

    An answer is `{"approved", "wave", "whatIfDigest", "by": {objectId, upn, name, via}, "comment"}`. It
    counts only for this gate's wave and digest. An unreadable answer is a rejection: a rollout never
    proceeds on a guess. Rejecting needs no second person; approving does, unless allowed for labs.
    """
    payload = event
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return {"decision": GateResult(False, "rejected", f"approval event not understood: {payload[:80]!r}")
                    .to_dict()}
    if not isinstance(payload, Mapping) or not isinstance(payload.get("approved"), bool):
        return {"decision": GateResult(False, "rejected",
                                       'approval event not understood: expected {"approved": true|false, ...}')
                .to_dict()}
    who = identity(payload.get("by"))
    if payload.get("wave") != gate.get("wave") or payload.get("whatIfDigest") != gate.get("whatIfDigest"):
        return {"ignored": f"an answer by {display(who)} for wave {payload.get('wave')!r} / what-if "
                           f"{str(payload.get('whatIfDigest'))[:19]!r} does not answer this gate "
                           f"(wave {gate.get('wave')}, {str(gate.get('whatIfDigest'))[:19]})"}
    comment = str(payload.get("comment") or "")
    if not payload["approved"]:
        return {"decision": {**GateResult(False, "rejected", comment or "rejected", display(who)).to_dict(),
                             "byIdentity": who}}
    same = same_person(who, started_by)
    four_eyes = "kept"
    if same is not False:
        if not allow_self_approval:
            why = "started it" if same else "cannot be told apart from who started it (no Entra identity)"
            return {"ignored": f"{display(who)} {why}; four eyes needs another approver"}
        four_eyes = "relaxed: BREAKERPANEL_ALLOW_SELF_APPROVAL let the starter's identity approve"
    return {"decision": {**GateResult(True, "approved", comment or "approved", display(who)).to_dict(),
                         "byIdentity": who, "fourEyes": four_eyes}}
