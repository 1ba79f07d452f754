"""Decisions of the rollout HTTP API: instance ids, conflicts, the orchestration input, readable status."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from breakerpanel.core import naming
from breakerpanel.core.model import Problem, RolloutRequest, Target
from breakerpanel.core.rollout_flow import target_key
from breakerpanel.core.summary import redact, render_summary

MAX_COMMENT_CHARS = 500
_STOPPED = ("Failed", "Terminated", "Canceled")


class _Allowed(Protocol):
    target: Target
    log_analytics_workspace_id: str | None


class _Timeouts(Protocol):
    approval_timeout_seconds: float
    deploy_timeout_seconds: float


def not_json_problem() -> Problem:
    return Problem("(body)", "the body is not JSON", "send the rollout request as a JSON object")


def instance_id_for(request: RolloutRequest) -> str:
    """One target: that target's singleton id. Several: an id derived from the whole set of targets."""
    if len(request.targets) == 1:
        return naming.instance_id(request.targets[0])
    keys = sorted("/".join(t.key) for t in request.targets)
    digest = hashlib.sha256("|".join(keys).encode()).hexdigest()[:16]
    return f"rollout-{len(keys)}-targets-{digest}"


def _keys(targets: object) -> set[str]:
    found: set[str] = set()
    for item in targets if isinstance(targets, list) else []:
        if isinstance(item, Mapping) and all(isinstance(item.get(k), str) for k in ("subscriptionId",
                                                                                      "resourceGroup", "apimName")):
            found.add("/".join(str(item[k]).lower() for k in ("subscriptionId", "resourceGroup", "apimName")))
    return found


def conflicting_rollout(
    request: RolloutRequest, running: Sequence[Mapping[str, Any]], orchestrator: str
) -> dict[str, Any] | None:
    """The first running rollout that touches any target of `request`, with the targets they share."""
    wanted = {"/".join(t.key) for t in request.targets}
    for status in running:
        if status.get("name") != orchestrator:
            continue
        spec = status.get("input")
        if isinstance(spec, str):
            try:
                spec = json.loads(spec)
            except ValueError:
                spec = None
        targets = (spec or {}).get("request", {}).get("targets") if isinstance(spec, Mapping) else None
        overlap = wanted & _keys(targets)
        if overlap:
            return {**status, "overlap": sorted(overlap)}
    return None


def orchestration_input(
    rollout_id: str,
    request: RolloutRequest,
    allowed: Sequence[_Allowed],
    timeouts: _Timeouts,
    started_by: str,
    now: datetime,
) -> dict[str, Any]:
    workspaces = {
        target_key(entry.target): entry.log_analytics_workspace_id
        for entry in allowed
        if entry.log_analytics_workspace_id
    }
    wanted = {target_key(t) for t in request.targets}
    return {
        "rolloutId": rollout_id,
        "request": request.to_dict(),
        "startedBy": started_by,
        "requestedAt": now.isoformat(),
        "options": {
            "approvalTimeoutSeconds": timeouts.approval_timeout_seconds,
            "deployTimeoutSeconds": timeouts.deploy_timeout_seconds,
            "workspaces": {key: ws for key, ws in workspaces.items() if key in wanted},
        },
    }


def awaiting_approval(status: Mapping[str, Any]) -> bool:
    custom = status.get("customStatus")
    return (
        status.get("runtimeStatus") in ("Running", "Pending")
        and isinstance(custom, Mapping)
        and custom.get("phase") == "awaitingApproval"
    )


def comment_from(body: bytes) -> str:
    """An optional {"comment": "..."} on approve/reject, bounded so it cannot bloat history."""
    if not body:
        return ""
    try:
        payload = json.loads(body)
    except ValueError:
        return ""
    comment = payload.get("comment") if isinstance(payload, Mapping) else None
    return str(comment)[:MAX_COMMENT_CHARS] if comment else ""


def readable_status(status: Mapping[str, Any]) -> dict[str, Any]:
    """What GET /api/rollouts/{id} answers: the phase and per-target progress, or the final result."""
    output = status.get("output")
    runtime_status = status.get("runtimeStatus")
    progress = output if isinstance(output, Mapping) else status.get("customStatus")
    # Terminated or crashed: the output is the reason, and the last progress still says "in progress".
    stopped = str(runtime_status).lower() if runtime_status in _STOPPED and not isinstance(output, Mapping) else None
    body: dict[str, Any] = {
        "instanceId": status.get("instanceId"),
        "runtimeStatus": runtime_status,
        "createdTime": status.get("createdTime"),
        "lastUpdatedTime": status.get("lastUpdatedTime"),
    }
    reason = f"{stopped}: {redact(str(output or 'no reason given'))}" if stopped else ""
    if isinstance(progress, Mapping):
        if stopped:
            progress = {**progress, "status": stopped}
        body["rolloutId"] = progress.get("rolloutId")
        body["phase"] = progress.get("phase")
        body["status"] = progress.get("status")
        body["approval"] = progress.get("approval")
        body["targets"] = progress.get("targets")
        summary = render_summary(progress)
        body["summary"] = [summary[0], f"  {reason}", *summary[1:]] if stopped and summary else summary
    elif stopped:
        body["status"] = stopped
        body["summary"] = [f"rollout {reason}"]
    return body
