"""What `plan` reports: each target's validate and what-if, read with the rollout's own rules.

The preflight results are those of the rollout's `target_preflight` orchestration; the what-if summary, the
destructive-change rule and the approval gate are the rollout's own (rollout_flow.after_preflight and gate),
so `plan` says "approval needed" exactly when `deploy` would stop at the gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from breakerpanel.core import rollout_flow as flow
from breakerpanel.core.summary import redact
from breakerpanel.core.whatif import ResourceChange, WhatIfSummary

# Exit codes: the plan deploys nothing, so a script branches on these.
NOTHING_DESTRUCTIVE, APPROVAL_NEEDED, BAD_INPUT, NOT_PLANNED = 0, 1, 2, 3
_KINDS = {"microsoft.apimanagement/service/backends": "backend", "microsoft.apimanagement/service/apis": "api",
          "microsoft.apimanagement/service/apis/operations": "operation",
          "microsoft.apimanagement/service/apis/policies": "policy"}
_QUIET = ("NoChange", "Ignore")


def _resource(change: ResourceChange, pool_name: str) -> dict[str, Any]:
    kind = _KINDS.get(change.resource_type.lower(), change.resource_type)
    # The first name is the APIM instance: the target's own, shown once per target.
    name = change.name.split("/", 1)[1] if "/" in change.name else change.name
    if kind == "backend" and (change.member_changes or name == pool_name):
        kind = "pool"
    entry: dict[str, Any] = {"kind": kind, "name": name, "change": change.change_type}
    if change.property_changes:
        entry["properties"] = [f"{path} ({what})" for path, what in change.property_changes]
    if change.member_changes:
        entry["members"] = [{"backend": member, "change": what} for member, what in change.member_changes]
    return entry


def _failure(stage: str, outcome: Mapping[str, Any]) -> dict[str, Any]:
    error = outcome.get("error") or {}
    code = str(error.get("code") or "?") if isinstance(error, Mapping) else "?"
    message = str(error.get("message") or "") if isinstance(error, Mapping) else str(error)
    failure: dict[str, Any] = {"stage": stage, "code": code, "message": redact(message),
                               "httpStatus": outcome.get("status")}
    if outcome.get("fix"):
        failure["fix"] = str(outcome["fix"])
    return failure


def _bad_input(failure: Mapping[str, Any]) -> bool:
    """The target lacks what a template cannot fix, or ARM refused the template or parameters (a 4xx other than
    auth and throttling): the request or its target is wrong, not Azure's answer."""
    if failure.get("stage") == "prerequisites":
        return True
    status = failure.get("httpStatus")
    return failure.get("stage") == "validate" and isinstance(status, int) and 400 <= status < 500 \
        and status not in (401, 403, 408, 429)


def plan_report(plan: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]], now: datetime,
                request: Mapping[str, Any]) -> dict[str, Any]:
    """`results`: the preflight child's result per target key. Returns the report, with its `exitCode`."""
    pool_name = str(request.get("poolName") or "")
    progress = flow.start_progress(plan, now)
    waves, failures, needed = [], [], False
    for wave in plan["waves"]:
        preflights: Sequence[Mapping[str, Any]] = [results[job["key"]] for job in wave["preflight"]]
        progress = flow.enter_phase(progress, wave["number"], "preflight", now)
        progress = flow.after_preflight(plan, progress, wave, preflights, now)
        gate = flow.gate(progress, wave)
        targets = []
        for job, preflight in zip(wave["preflight"], preflights, strict=True):
            state = progress["targets"][job["key"]]
            entry: dict[str, Any] = {"target": job["call"]["target"], "deploymentName": job["call"]["deploymentName"]}
            validated, what_if = preflight.get("validate") or {}, preflight.get("whatIf") or {}
            failed = state.get("failure") if state.get("phase") == "failed" else None
            if state.get("warnings"):
                entry["warnings"] = list(state["warnings"])
            if isinstance(failed, Mapping) and failed.get("stage") == "prerequisites":
                entry["failure"] = {"stage": "prerequisites", "code": "PrerequisiteMissing",
                                    "message": str(failed.get("error") or ""), "httpStatus": None,
                                    "problems": list(failed.get("problems") or [])}
            elif validated.get("outcome") != "ok":
                entry["failure"] = _failure("validate", validated)
            elif what_if.get("outcome") != "ok":
                entry["failure"] = _failure("whatIf", what_if)
            summary = state.get("whatIf") or {}
            if "failure" not in entry:
                changes = WhatIfSummary.from_dict(summary).changes
                entry["changes"] = [_resource(c, pool_name) for c in changes if c.change_type not in _QUIET]
                entry["counts"] = summary.get("counts") or {}
                entry["isDestructive"] = bool(summary.get("isDestructive"))
            else:
                failures.append(entry["failure"])
            entry["approvalNeeded"] = state.get("approvalNeeded") or {"required": True,
                                                                     "reason": "the preflight did not complete"}
            targets.append(entry)
        needed = needed or gate["required"]
        waves.append({"wave": wave["number"], "approvalNeeded": gate["required"], "reason": gate["reason"],
                      "whatIfDigest": gate["whatIfDigest"], "targets": targets})
    if failures:
        code = BAD_INPUT if all(_bad_input(f) for f in failures) else NOT_PLANNED
    else:
        code = APPROVAL_NEEDED if needed else NOTHING_DESTRUCTIVE
    return {"approval": plan["approval"], "approvalNeeded": needed, "deployed": False, "waves": waves,
            "exitCode": code}
