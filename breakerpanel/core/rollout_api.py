"""Decisions of the rollout HTTP API: instance ids, conflicts, the orchestration input, readable status."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from breakerpanel.core import apim_limits as lim
from breakerpanel.core import naming
from breakerpanel.core.caller import identity
from breakerpanel.core.model import Problem, RolloutRequest, Target
from breakerpanel.core.rollout_flow import gate_lines, what_if_summary
from breakerpanel.core.summary import redact, render_summary
from breakerpanel.core.waiting import children_waiting_now

MAX_COMMENT_CHARS = 500
_INSTANCE_ID = re.compile(r"^rollout-[a-z0-9]+(?:-[a-z0-9]+)*$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_STOPPED = ("Failed", "Terminated", "Canceled")
_RUNNING = ("Running", "Pending", "ContinuedAsNew")


class _Allowed(Protocol):
    target: Target
    log_analytics_workspace_id: str | None


class _Timeouts(Protocol):
    approval_timeout_seconds: float
    deploy_timeout_seconds: float


def not_json_problem() -> Problem:
    return Problem("(body)", "the body is not JSON", "send the rollout request as a JSON object")


def instance_id_problem(instance_id: object) -> str | None:
    """Why a route's instance id cannot be a rollout's, before it reaches the Durable client (None: it can).

    Rollout ids are what instance_id_for makes: 'rollout-' then lower-case letters, digits and hyphens, at most
    100 characters (Durable's own limit) — so no '/', '?', '#', '%', '..' or anything else that could change
    which management URL the client calls."""
    if not isinstance(instance_id, str) or not instance_id:
        return "the rollout id is missing"
    if len(instance_id) > lim.MAX_INSTANCE_ID_LENGTH or not _INSTANCE_ID.match(instance_id):
        return "not a rollout id (rollout-<letters, digits, hyphens>, at most 100 characters)"
    return None


def rollout_links(origin: str, instance_id: str) -> dict[str, str]:
    """The app's own URLs for one rollout — never the Durable extension's management URLs, which carry the
    task hub's system key and reach raise-event, terminate, purge, rewind and start without any app check."""
    base = f"{origin.rstrip('/')}/api/rollouts/{instance_id}"
    return {"status": base, "approve": f"{base}/approve", "reject": f"{base}/reject", "cancel": f"{base}/cancel",
            "terminate": f"{base}/terminate"}


def answer_from(body: bytes) -> tuple[dict[str, Any] | None, list[Problem]]:
    """{"wave": n, "whatIfDigest": "sha256:…", "comment"?: "…"} for approve/reject — the question answered."""
    if len(body) > 4096:
        return None, [Problem("(body)", "the body is larger than 4 KiB", "send the wave, the digest and a comment")]
    try:
        payload = json.loads(body.decode("utf-8-sig")) if body else None
    except (ValueError, RecursionError):
        payload = None
    fix = 'send {"wave": <the waiting wave>, "whatIfDigest": "<approval.whatIfDigest from GET>", "comment": "…"}'
    if not isinstance(payload, Mapping):
        return None, [Problem("(body)", "the answer is not a JSON object", fix)]
    problems = []
    unknown = sorted(set(payload) - {"wave", "whatIfDigest", "comment"})
    problems += [Problem(key, f"unknown field '{key}'", fix) for key in unknown]
    wave = payload.get("wave")
    if isinstance(wave, bool) or not isinstance(wave, int):
        problems.append(Problem("wave", "the wave this answer is for is missing or not a whole number", fix))
    digest = payload.get("whatIfDigest")
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        problems.append(Problem("whatIfDigest", "the digest of the what-if this answers is missing or malformed",
                                fix))
    comment = payload.get("comment")
    if comment is not None and not isinstance(comment, str):
        problems.append(Problem("comment", "the comment is not a string", fix))
    if problems:
        return None, problems
    return {"wave": wave, "whatIfDigest": digest, "comment": (comment or "")[:MAX_COMMENT_CHARS]}, []


def gate_mismatch(status: Mapping[str, Any], answer: Mapping[str, Any]) -> str | None:
    """Why this answer does not answer the question the rollout waits on now (None: it does)."""
    approval = (status.get("customStatus") or {}).get("approval") or {}
    if answer["wave"] != approval.get("wave"):
        return (f"the rollout waits on wave {approval.get('wave')}, not wave {answer['wave']}: the answer is stale "
                "or for another wave")
    if answer["whatIfDigest"] != approval.get("whatIfDigest"):
        return "the what-if digest is not the one this wave's approval shows: read the rollout again and answer that"
    return None


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


def rollout_instance_id(rollout_id: str) -> str:
    """Every rollout's record under its own id ('rollout-<rollout id>'): a new rollout of a target never
    overwrites the history of the one before. One rollout per target is the per-target lock's job."""
    instance = f"rollout-{naming._slug(rollout_id, 80)}"
    assert not instance_id_problem(instance), instance
    return instance


def child_ids(spec: Mapping[str, Any]) -> list[str]:
    """The explicit ids of every child orchestration the rollout's plan can start (the cancel route's list)."""
    plan = spec.get("plan") if isinstance(spec, Mapping) else None
    found: list[str] = []
    for wave in (plan or {}).get("waves") or [] if isinstance(plan, Mapping) else []:
        for job in [*(wave.get("preflight") or []), *(wave.get("deploy") or [])]:
            found += [str(job[k]) for k in ("instanceId", "pollerId", "rollbackPollerId") if job.get(k)]
    return found


def orchestration_input(
    rollout_id: str,
    request: RolloutRequest,
    allowed: Sequence[_Allowed],
    timeouts: _Timeouts,
    started_by: object,
    now: datetime,
    *,
    policy: Mapping[str, Any] | None = None,
    instance_id: str | None = None,
) -> dict[str, Any]:
    """The orchestration's input. `started_by` is the caller (`Caller.to_dict()`: object id, UPN, name).

    With `policy` (the settings' allowlist, hosts, workspaces: activities.policy.current_policy()) and the
    instance id, the plan — deployment names, parameters, child ids — is computed here, once, and carried in
    the input: a replay by an upgraded app runs what the rollout started with. The orchestrator checks it
    against the policy again, and every activity checks each call."""
    spec: dict[str, Any] = {
        "rolloutId": rollout_id,
        "request": request.to_dict(),
        "startedBy": identity(started_by),
        "requestedAt": now.isoformat(),
        "options": {
            "approvalTimeoutSeconds": timeouts.approval_timeout_seconds,
            "deployTimeoutSeconds": timeouts.deploy_timeout_seconds,
        },
    }
    if policy is not None and instance_id is not None:
        from breakerpanel.core.rollout_flow import plan

        spec["plan"] = plan(spec, policy, instance_id)
    return spec


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


def children_to_read(status: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """The child orchestrations whose waits GET /api/rollouts/{id} shows (child id → target key, role): those of
    the wave a running rollout is in now, from its custom status — none once it ended."""
    custom = status.get("customStatus")
    if status.get("runtimeStatus") not in _RUNNING or not isinstance(custom, Mapping):
        return {}
    return children_waiting_now(str(status.get("instanceId")), custom)


def status_input(status: Mapping[str, Any]) -> dict[str, Any]:
    """A rollout's orchestration input from its Durable status (JSON text or already decoded); {} if unreadable."""
    raw = status.get("input")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    return raw if isinstance(raw, dict) else {}


def gate_children_to_read(status: Mapping[str, Any]) -> dict[str, str]:
    """Preflight child id → target key for the wave waiting for approval, when the custom status had to cut the
    gate's what-if to Durable's 16 KB: GET then shows the approver each target's what-if from the preflight's
    own result (outputs have no such limit). From the input's plan, which names every child."""
    custom = status.get("customStatus")
    if status.get("runtimeStatus") not in _RUNNING or not isinstance(custom, Mapping) or "trimmed" not in custom:
        return {}
    approval = custom.get("approval")
    if custom.get("phase") != "awaitingApproval" or not isinstance(approval, Mapping):
        return {}
    plan = status_input(status).get("plan")
    for wave in plan.get("waves") or [] if isinstance(plan, Mapping) else []:
        if isinstance(wave, Mapping) and wave.get("number") == approval.get("wave"):
            return {str(job["instanceId"]): str(job["key"]) for job in wave.get("preflight") or []
                    if isinstance(job, Mapping) and job.get("instanceId") and job.get("key")}
    return {}


def _gate_what_if(approval: object, children: Mapping[str, str],
                  child_statuses: Mapping[str, Mapping[str, Any] | None]) -> object:
    """The gate with each target's what-if lines read back from its preflight result, as the gate shows them."""
    if not isinstance(approval, Mapping) or not children:
        return approval
    shown = dict(approval.get("whatIf") or {}) if isinstance(approval.get("whatIf"), Mapping) else {}
    read = 0
    for child, key in children.items():
        output = (child_statuses.get(child) or {}).get("output")
        if not isinstance(output, Mapping) or not isinstance(output.get("whatIf"), Mapping):
            continue
        shown[key] = gate_lines([str(line) for line in what_if_summary(output["whatIf"]).get("lines") or []])
        read += 1
    if not read:
        return approval
    return {**approval, "whatIf": shown, "whatIfFrom": "each target's preflight result (the status is cut to 16 KB)"}


def _with_waits(targets: object, children: Mapping[str, tuple[str, str]],
                child_statuses: Mapping[str, Mapping[str, Any] | None]) -> object:
    """Each target with what its running child orchestration waits for now (`waiting`, with the child's role)."""
    if not isinstance(targets, Mapping):
        return targets
    shown = {key: dict(value) if isinstance(value, Mapping) else value for key, value in targets.items()}
    for child, (key, role) in children.items():
        found = child_statuses.get(child) or {}
        custom = found.get("customStatus")
        wait = custom.get("waiting") if isinstance(custom, Mapping) else None
        if found.get("runtimeStatus") in _RUNNING and isinstance(wait, Mapping) and isinstance(shown.get(key), dict):
            shown[key]["waiting"] = {**wait, "role": role}
    return shown


def readable_status(status: Mapping[str, Any], child_statuses: Mapping[str, Mapping[str, Any] | None] | None = None
                    ) -> dict[str, Any]:
    """What GET /api/rollouts/{id} answers: the phase and per-target progress, or the final result.

    While it runs: what the rollout waits for itself (`waiting`: the approval gate), and under each target what
    its child orchestration waits for (`child_statuses`: the statuses of `children_to_read`, None when unread)."""
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
        if not isinstance(output, Mapping) and not stopped:
            body["waiting"] = progress.get("waiting")
            body["targets"] = _with_waits(progress.get("targets"), children_to_read(status), child_statuses or {})
            body["approval"] = _gate_what_if(body["approval"], gate_children_to_read(status), child_statuses or {})
            if progress.get("trimmed"):
                body["trimmed"] = progress["trimmed"]
        summary = render_summary(progress)
        body["summary"] = [summary[0], f"  {reason}", *summary[1:]] if stopped and summary else summary
    elif stopped:
        body["status"] = stopped
        body["summary"] = [f"rollout {reason}"]
    return body
