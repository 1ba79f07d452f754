"""Every decision of the rollout orchestration, as pure functions over plain JSON data.

The orchestrators in orchestrators/rollout.py only yield; they hand what activities returned to these
functions and carry the returned dicts forward. Everything here must be deterministic (it runs again on
every replay), so time is always passed in and nothing reads the clock or the environment.

`progress` is the custom status a person sees while the rollout runs; the result of `finish` is the
orchestration's output. Both are JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from breakerpanel.core import admission, prerequisites, target_lock
from breakerpanel.core.caller import identity
from breakerpanel.core.diagnosis import diagnose_error, diagnose_operations, parse_error
from breakerpanel.core.gate import approval_event, approval_needed, gate_outcome, judge_answer, what_if_digest
from breakerpanel.core.gateway_parameters import gateway_parameters
from breakerpanel.core.model import Problem, RolloutRequest
from breakerpanel.core.naming import deployment_name, rollback_deployment_name
from breakerpanel.core.polling import is_terminal, poll_delay
from breakerpanel.core.retry import retry_delay
from breakerpanel.core.verify import diff_backends
from breakerpanel.core.whatif import WhatIfSummary, summarize_what_if

DEFAULT_OPTIONS: dict[str, Any] = {
    "approvalTimeoutSeconds": 24 * 3600,
    "deployTimeoutSeconds": 2 * 3600,
    # Tries of one activity when it keeps failing transiently (429, 5xx, dropped connection). With the
    # backoff of core/retry.py (2, 4, 8 … 60 s, or what Retry-After asks) 8 tries ride out about 3 minutes.
    "attempts": 8,
    # After asking ARM to cancel (a person's cancel, or the deploy deadline): how long to wait for the
    # deployment to reach Canceled/Succeeded/Failed before reporting its state as unknown (and keeping the
    # target held).
    "cancelGraceSeconds": 15 * 60,
}
# The event every waiting orchestration of a rollout listens to (POST /api/rollouts/{id}/cancel raises it).
CANCEL_EVENT = "RolloutCancel"
# Target phases a person reads in the status, in the order they happen.
PHASES = ("pending", "preflight", "awaitingApproval", "deploying", "verified", "failed", "rejected", "skipped",
          "cancelled", "unknown")
FAILED_PHASES = frozenset({"failed", "rejected", "cancelled", "unknown"})


def event_payload(value: object) -> object:
    """An external event's data as the orchestrator was meant to see it. In Azure the orchestrator receives the
    JSON text the Durable Python client posted, not the object: raise_event sends json.dumps(data) as a JSON
    value, the extension keeps that string (Azure/azure-functions-durable-python#295), so a dict comes back as
    its text. Text that holds a JSON object is decoded; anything else is returned as it came."""
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, Mapping) else value
    return value


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


iso = _iso


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def target_key(target: Any) -> str:
    return "/".join((target.subscription_id, target.resource_group, target.apim_name))


def read_request(request: object, policy: Mapping[str, Any]) -> RolloutRequest:
    """The request, validated again against the policy the settings give now (the same validator as the
    HTTP API). ValueError lists every problem."""
    check = admission.check_request(request, policy)
    if check.request is None:
        raise ValueError("rollout request is invalid: " + "; ".join(f"{p.field}: {p.problem}" for p in check.errors))
    return check.request


def admit(spec: object, policy: Mapping[str, Any]) -> list[Problem]:
    """Every reason this orchestration input may not run: the orchestrator's own check, whoever started it.

    The HTTP API validates before starting; an orchestration started any other way (the task hub's management
    API, a hand-made input) meets the same validator and the allowlist the settings give now.
    """
    if policy.get("outcome") != "ok":
        error = policy.get("error") or {}
        return [Problem("(settings)", f"the app's policy could not be read: {error.get('message')}",
                        "fix the setting it names")]
    if not isinstance(spec, Mapping) or not isinstance(spec.get("request"), Mapping) or not str(
        spec.get("rolloutId") or ""
    ).strip():
        return [Problem("(input)", "the input is not {rolloutId, request, ...}",
                        "start rollouts with POST /api/rollouts")]
    return list(admission.check_request(spec["request"], policy).errors)


def plan_problems(plan_: object, spec: Mapping[str, Any], policy: Mapping[str, Any], instance_id: str
                  ) -> list[Problem]:
    """Why the plan carried in the input may not run: every call must be one the activities would send anyway
    (allowlisted target, valid parameters), cover exactly the request's targets, and name children of this
    instance. A plan is data from whoever started the orchestration; the activities check each call again."""
    fix = "start rollouts with POST /api/rollouts"
    if not isinstance(plan_, Mapping) or not isinstance(plan_.get("waves"), list):
        return [Problem("plan", "the plan is not {waves: [...]}", fix)]
    wanted = set(target_lock.keys_for(spec["request"].get("targets") or []))
    seen: set[str] = set()
    problems: list[Problem] = []
    for wave in plan_["waves"]:
        jobs = [*(wave.get("preflight") or []), *(wave.get("deploy") or [])] if isinstance(wave, Mapping) else []
        for job in jobs:
            call = job.get("call") if isinstance(job, Mapping) else None
            problems += admission.call_problems(call, policy, with_parameters=True)
            if isinstance(call, Mapping) and isinstance(call.get("target"), Mapping):
                seen.add(target_lock.key_for(call["target"]))
            ids = [job.get(k) for k in ("instanceId", "pollerId", "rollbackPollerId") if k in job]
            if any(not str(i).startswith(f"{instance_id}-") for i in ids):
                problems.append(Problem("plan", "a child id is not this rollout's", fix))
            if isinstance(job, Mapping) and job.get("rollout") not in (None, instance_id):
                problems.append(Problem("plan", "a job reads another rollout's cancel flag", fix))
    if seen != wanted:
        problems.append(Problem("plan", "the plan's targets are not the request's targets", fix))
    if plan_.get("instanceId") != instance_id or plan_.get("rolloutId") != spec.get("rolloutId"):
        problems.append(Problem("plan", "the plan belongs to another rollout", fix))
    return problems


def admission_problems(outcome: Mapping[str, Any]) -> list[Problem]:
    """Why the input may not run, as the admission decision recorded it (activities/decisions.py)."""
    if outcome.get("outcome") != "ok":
        error = outcome.get("error") or {}
        return [Problem("(settings)", f"the input could not be checked: {error.get('code')}: {error.get('message')}",
                        "fix the setting it names, then start again")]
    return [Problem(**p) for p in outcome.get("problems") or []]


def lock_problems(outcome: Mapping[str, Any]) -> list[Problem]:
    """Why the orchestration may not go on after confirming its targets' locks (empty: they are its own)."""
    if outcome.get("outcome") != "ok":
        error = outcome.get("error") or {}
        return [Problem("(lock)", f"the per-target lock could not be confirmed: {error.get('code')}: "
                        f"{error.get('message')}", "check the app's store (BREAKERPANEL_STORE), then start again")]
    others = outcome.get("heldByOthers") or {}
    return [Problem("(lock)", f"{key.removeprefix(target_lock.PREFIX)} is held by rollout {holder}",
                    "wait for that rollout, or cancel it, then start again") for key, holder in sorted(others.items())]


def note_release(result: Mapping[str, Any], outcome: Mapping[str, Any]) -> dict[str, Any]:
    """Record in the result whether the targets were freed, or which stay held and why."""
    held = list(outcome.get("held") or []) if outcome.get("outcome") == "ok" else []
    lock = {"released": outcome.get("outcome") == "ok", "held": [k.removeprefix(target_lock.PREFIX) for k in held]}
    if outcome.get("outcome") != "ok":
        lock["error"] = outcome.get("error")
    return {**result, "lock": lock}


def refused(spec: object, problems: Sequence[Problem], now: datetime) -> dict[str, Any]:
    """The result of an orchestration whose input `admit` refused: nothing was called."""
    rollout_id = spec.get("rolloutId") if isinstance(spec, Mapping) else None
    return {
        "rolloutId": rollout_id,
        "phase": "done",
        "status": "refused",
        "wave": None,
        "startedAt": _iso(now),
        "updatedAt": _iso(now),
        "finishedAt": _iso(now),
        "targets": {},
        "approval": None,
        "halted": {"wave": None, "reason": "the input was refused before anything was called: "
                   + "; ".join(f"{p.field}: {p.problem}" for p in problems)},
        "problems": [p.to_dict() for p in problems],
    }


def child_id(instance_id: str, wave: int, index: int, role: str) -> str:
    """A child orchestration's explicit, predictable id: the cancel route reaches it without a query."""
    return f"{instance_id}-w{wave}-t{index}-{role}"


def plan(spec: Mapping[str, Any], policy: Mapping[str, Any], instance_id: str) -> dict[str, Any]:
    """The jobs of every wave, computed ONCE — by the HTTP starter, which passes it in the input — so a
    replay after an upgrade of the app runs the names and parameters the rollout started with.

    spec: {"rolloutId", "request" (the JSON contract), "startedBy", "options"?: {approvalTimeoutSeconds,
    deployTimeoutSeconds, attempts, cancelGraceSeconds}}. Workspaces, allowlist and backend hosts come from
    `policy` (the settings), never from the input.
    """
    request = read_request(spec["request"], policy)
    options = {**DEFAULT_OPTIONS, **(spec.get("options") or {})}
    rollout_id = str(spec["rolloutId"])
    # eventsFunctionId too: a rollback point deployed with this app's breaker events must re-validate.
    job_policy = {"outcome": "ok", "targets": policy.get("targets") or [],
                  "backendHosts": list(admission.backend_hosts(policy)),
                  "eventsFunctionId": admission.events_function_id(policy)}
    waves = []
    for number, targets in request.waves():
        preflight, deploy = [], []
        for index, target in enumerate(targets):
            key = target_key(target)
            call = {
                "target": target.to_dict(),
                "deploymentName": deployment_name(rollout_id, target),
                "parameters": gateway_parameters(
                    request, target, log_analytics_workspace_id=admission.workspace_for(policy, target),
                    function_app_resource_id=admission.events_function_id(policy),
                ),
            }
            # "prerequisites": the preflight reads them before validate (a plan made before they existed does not).
            preflight.append({"key": key, "call": call, "attempts": options["attempts"], "prerequisites": True,
                              "instanceId": child_id(instance_id, number, index, "preflight")})
            deploy.append(
                {
                    "key": key,
                    "call": call,
                    "attempts": options["attempts"],
                    "instanceId": child_id(instance_id, number, index, "deploy"),
                    # Whose cancel flag the child and its pollers read (breakerpanel/rollout_cancel.py).
                    "rollout": instance_id,
                    "pollerId": child_id(instance_id, number, index, "poll"),
                    "rollbackPollerId": child_id(instance_id, number, index, "rbpoll"),
                    "rollback": request.rollback_on_failure,
                    "deployTimeoutSeconds": options["deployTimeoutSeconds"],
                    "cancelGraceSeconds": options["cancelGraceSeconds"],
                    "request": request.to_dict(),
                    "policy": job_policy,
                }
            )
        waves.append({"number": number, "keys": [job["key"] for job in preflight], "preflight": preflight,
                      "deploy": deploy})
    return {
        "rolloutId": rollout_id,
        "instanceId": instance_id,
        "lockKeys": target_lock.keys_for(t.to_dict() for t in request.targets),
        "approval": request.approval,
        "approvalTimeoutSeconds": float(options["approvalTimeoutSeconds"]),
        "startedBy": identity(spec.get("startedBy")),
        # Relaxed by the setting, or for the local runner's one operator (options.localOperator: whoever can
        # start an orchestration with their own input holds the task hub's key and could answer as anyone).
        "allowSelfApproval": bool(policy.get("allowSelfApproval")) or bool(options.get("localOperator")),
        "waves": waves,
    }


def start_progress(plan_: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    targets: dict[str, Any] = {}
    for wave in plan_["waves"]:
        for job in wave["preflight"]:
            targets[job["key"]] = {
                "target": job["call"]["target"],
                "wave": wave["number"],
                "phase": "pending",
                "deploymentName": job["call"]["deploymentName"],
            }
    return {
        "rolloutId": plan_["rolloutId"],
        "startedBy": plan_.get("startedBy"),
        "phase": "starting",
        "wave": None,
        "startedAt": _iso(now),
        "updatedAt": _iso(now),
        "targets": targets,
        "approval": None,
        "halted": None,
    }


def _with_targets(progress: Mapping[str, Any], keys: Sequence[str], now: datetime, **changes: Any) -> dict[str, Any]:
    targets = {key: dict(value) for key, value in progress["targets"].items()}
    for key in keys:
        targets[key].update(changes)
    return {**progress, "targets": targets, "updatedAt": _iso(now)}


def enter_phase(
    progress: Mapping[str, Any], wave_number: int, phase: str, now: datetime, *, gate: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    keys = [k for k, t in progress["targets"].items() if t["wave"] == wave_number]
    updated = _with_targets(progress, keys, now, phase=phase)
    updated["phase"] = phase
    updated["wave"] = wave_number
    if gate is not None:
        updated["approval"] = {
            "status": "waiting",
            "wave": gate["wave"],
            "whatIfDigest": gate["whatIfDigest"],
            "event": gate["event"],
            "reason": gate["reason"],
            "whatIf": gate["whatIf"],
            "since": _iso(now),
            "ignored": [],
        }
    return updated


def cancel_requested(progress: Mapping[str, Any], event: object, now: datetime) -> dict[str, Any]:
    """Note the cancel in the status: no new wave starts; running children stop their deployments."""
    if progress.get("cancel") is not None:
        return dict(progress)
    event = event_payload(event)
    by = identity(event.get("by")) if isinstance(event, Mapping) else None
    reason = str(event.get("reason") or "") if isinstance(event, Mapping) else ""
    return {**progress, "cancel": {"at": _iso(now), "by": by, "reason": reason[:500]}, "updatedAt": _iso(now)}


def after_cancel(progress: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """Halt the rollout because of the cancel: pending targets of this and later waves never start."""
    current = progress.get("wave")
    pending = [k for k, t in progress["targets"].items() if t["phase"] in ("pending", "preflight",
                                                                            "awaitingApproval", "skipped")]
    updated = _with_targets(progress, pending, now, phase="cancelled")
    cancel = progress.get("cancel") or {}
    by = f" by {cancel['by'].get('upn') or cancel['by'].get('name')}" if isinstance(cancel.get("by"), Mapping) else ""
    updated["halted"] = {"wave": current, "reason": f"cancelled{by}" + (f": {cancel['reason']}"
                                                                         if cancel.get("reason") else "")}
    return updated


def halted(progress: Mapping[str, Any]) -> bool:
    return progress.get("halted") is not None


def _halt(progress: dict[str, Any], reason: str, now: datetime) -> dict[str, Any]:
    """Stop the rollout: every target of a later wave is skipped, never started."""
    current = progress["wave"]
    skipped = [k for k, t in progress["targets"].items() if t["wave"] > current and t["phase"] == "pending"]
    updated = _with_targets(progress, skipped, now, phase="skipped")
    updated["halted"] = {"wave": current, "reason": reason}
    return updated


def prerequisite_findings(outcome: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The findings of the prerequisites activity; an outcome without any (refused, or the activity failed) is
    one finding: blocking when the call was refused (validate would refuse it too), otherwise could not check."""
    if outcome is None:
        return []
    if isinstance(outcome.get("findings"), list):
        return [dict(f) for f in outcome["findings"] if isinstance(f, Mapping)]
    error = outcome.get("error") or {}
    refused_call = error.get("code") == "RefusedByBreakerpanel"
    return [{"check": "prerequisites", "status": "blocking" if refused_call else "couldNotCheck",
             "detail": f"{'refused' if refused_call else 'could not check'}: {error.get('code')}: "
                       f"{str(error.get('message') or '')[:300]}",
             **({"fix": outcome["fix"]} if outcome.get("fix") else {})}]


def prerequisites_block(outcome: Mapping[str, Any] | None) -> bool:
    return bool(prerequisites.blocking(prerequisite_findings(outcome)))


def with_prerequisites(call: Mapping[str, Any], outcome: Mapping[str, Any] | None) -> dict[str, Any]:
    """The call with the parameters the prerequisites chose instead (an existing system topic's name)."""
    overrides = (outcome or {}).get("parameters") if (outcome or {}).get("findings") is not None else None
    if not isinstance(overrides, Mapping) or not overrides:
        return dict(call)
    return {**call, "parameters": {**call["parameters"], **{k: {"value": v} for k, v in overrides.items()}}}


def deploy_jobs(progress: Mapping[str, Any], wave: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The wave's deploy jobs, each with the parameters its preflight chose (and validated) instead."""
    jobs = []
    for job in wave["deploy"]:
        overrides = (progress["targets"].get(job["key"]) or {}).get("parameterOverrides") or {}
        jobs.append({**job, "call": with_prerequisites(job["call"], {"findings": [], "parameters": overrides})})
    return jobs


def _finding_notes(findings: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Findings as the summary shows problems and warnings ({field, problem, fix})."""
    def note(f: Mapping[str, Any]) -> dict[str, Any]:
        return {"field": f"prerequisites.{f.get('check')}", "problem": str(f.get("detail") or ""),
                "fix": str(f.get("fix") or "")}
    problems = [{"severity": "error", **note(f)} for f in findings if f.get("status") == "blocking"]
    warnings = [note(f) for f in findings if f.get("status") in ("warning", "couldNotCheck")]
    return {**({"problems": problems} if problems else {}), **({"warnings": warnings} if warnings else {})}


def after_preflight(
    plan_: Mapping[str, Any],
    progress: Mapping[str, Any],
    wave: Mapping[str, Any],
    results: Sequence[Mapping[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    updated = dict(progress)
    failed: list[str] = []
    for job, result in zip(wave["preflight"], results, strict=True):
        key = job["key"]
        checked = result.get("prerequisites")
        findings = prerequisite_findings(checked)
        if findings:
            updated = _with_targets(updated, [key], now, prerequisites=findings)
        if prerequisites.blocking(findings):
            updated = _with_targets(updated, [key], now, phase="failed", failure={
                "stage": "prerequisites", "error": "a prerequisite of the target is missing: the rollout stopped "
                "before validate", **_finding_notes(findings)})
            failed.append(key)
            continue
        notes = _finding_notes(findings)
        if notes.get("warnings"):
            updated = _with_targets(updated, [key], now, warnings=notes["warnings"])
        overrides = (checked or {}).get("parameters") if findings else None
        if isinstance(overrides, Mapping) and overrides:
            updated = _with_targets(updated, [key], now, parameterOverrides=dict(overrides))
        validated = result.get("validate") or {}
        if validated.get("outcome") != "ok":
            error = validated.get("error")
            diagnoses = [d.to_dict() for d in diagnose_error(error)] if parse_error(error) is not None else []
            updated = _with_targets(updated, [key], now, phase="failed", failure={
                "stage": "validate", "error": error, "diagnoses": diagnoses,
                **({"fix": validated["fix"]} if validated.get("fix") else {}),
            })
            failed.append(key)
            continue
        summary = what_if_summary(result.get("whatIf") or {})
        decision = approval_needed(plan_["approval"], WhatIfSummary.from_dict(summary))
        updated = _with_targets(updated, [key], now, whatIf=summary, approvalNeeded={
            "required": decision.required, "reason": decision.reason,
        })
    if failed:
        return _halt(updated, f"preflight failed for {', '.join(failed)}", now)
    return updated


# What the approver is shown of each target's what-if in the status, at most: the digest covers all of it.
_GATE_LINES_PER_TARGET = 25


def gate_lines(lines: Sequence[str]) -> list[str]:
    """A target's what-if lines as the approval gate shows them: the first _GATE_LINES_PER_TARGET, then a count."""
    more = [f"  … {len(lines) - _GATE_LINES_PER_TARGET} more"] if len(lines) > _GATE_LINES_PER_TARGET else []
    return list(lines[:_GATE_LINES_PER_TARGET]) + more


def gate(progress: Mapping[str, Any], wave: Mapping[str, Any]) -> dict[str, Any]:
    """One approval per wave, needed when any of its targets needs one; it names the wave, its own event
    and the digest of the what-if it approves."""
    reasons = [
        f"{key}: {progress['targets'][key]['approvalNeeded']['reason']}"
        for key in wave["keys"]
        if progress["targets"][key].get("approvalNeeded", {}).get("required")
    ]
    what_ifs = {key: progress["targets"][key].get("whatIf") for key in wave["keys"]}
    shown = {key: gate_lines((summary or {}).get("lines") or []) for key, summary in what_ifs.items()}
    return {
        "required": bool(reasons),
        "reason": "; ".join(reasons),
        "wave": wave["number"],
        "event": approval_event(wave["number"]),
        "whatIfDigest": what_if_digest(what_ifs),
        "whatIf": shown,
    }


def approval_decision(event: object, *, timed_out: bool, timeout_seconds: float | None = None) -> dict[str, Any]:
    return gate_outcome(event, timed_out=timed_out, timeout_seconds=timeout_seconds).to_dict()


def judge_approval(plan_: Mapping[str, Any], gate_: Mapping[str, Any], event: object) -> dict[str, Any]:
    """{"decision": …} ends the wait; {"ignored": why} keeps waiting (see gate.judge_answer)."""
    return judge_answer(event, gate_, plan_.get("startedBy"), allow_self_approval=bool(plan_.get("allowSelfApproval")))


def note_ignored_answer(progress: Mapping[str, Any], why: str, now: datetime) -> dict[str, Any]:
    approval = dict(progress.get("approval") or {})
    approval["ignored"] = [*(approval.get("ignored") or [])[-9:], {"at": _iso(now), "why": why}]
    return {**progress, "approval": approval, "updatedAt": _iso(now)}


def after_gate(
    progress: Mapping[str, Any], wave: Mapping[str, Any], decision: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    updated = dict(progress)
    waiting = progress.get("approval") or {}
    updated["approval"] = {**decision, "wave": waiting.get("wave"), "whatIfDigest": waiting.get("whatIfDigest"),
                           "ignored": waiting.get("ignored") or [], "decidedAt": _iso(now)}
    approvals = [*(progress.get("approvals") or []), updated["approval"]]
    updated["approvals"] = approvals
    if decision["proceed"]:
        return updated
    updated = _with_targets(updated, wave["keys"], now, phase="rejected")
    return _halt(updated, f"approval {decision['outcome']}: {decision['reason']}", now)


def what_if_summary(outcome: Mapping[str, Any]) -> dict[str, Any]:
    """The what-if summary from the what-if activity's outcome (the activity summarises; older histories
    carry the raw result)."""
    if outcome.get("outcome") != "ok":
        return summarize_what_if({"status": "Failed", "error": outcome.get("error")}).to_dict()
    if outcome.get("summarized"):
        return dict(outcome.get("whatIf") or {})
    return summarize_what_if(outcome.get("whatIf") or {}).to_dict()


def retry_after(outcome: Mapping[str, Any], attempt: int, attempts: int) -> float | None:
    """Seconds to wait before trying an activity again, or None to keep its outcome (`attempt` counts from 0).

    Only a transient failure is tried again, at most `attempts` times in all, honouring Retry-After.
    """
    if outcome.get("outcome") != "transient" or attempt + 1 >= attempts:
        return None
    return retry_delay(attempt, outcome.get("retryAfterSeconds"))


def poller_input(job: Mapping[str, Any], call: Mapping[str, Any], now: datetime, *, mode: str = "watch",
                 reason: str | None = None) -> dict[str, Any]:
    """The poller's input. mode "watch": poll until terminal, cancel at the deadline or on a cancel;
    "stop": ask ARM to cancel first (a cancel or a failed submit that may have landed), then wait for it."""
    deadline = now + timedelta(seconds=float(job["deployTimeoutSeconds"]))
    spec = {"call": dict(call), "attempts": job["attempts"], "deadline": _iso(deadline), "polls": 0,
            "mode": mode, "cancelGraceSeconds": float(job.get("cancelGraceSeconds")
                                                      or DEFAULT_OPTIONS["cancelGraceSeconds"])}
    if job.get("rollout"):
        spec["rollout"] = job["rollout"]
    return stop_polling(spec, reason or "cancelled", now) if mode == "stop" else spec


def stop_polling(spec: Mapping[str, Any], reason: str, now: datetime, by: object = None) -> dict[str, Any]:
    """Switch the poller to cancelling the deployment: `reason` is "cancelled", "deadline" or "submit"."""
    stop = {"reason": reason, "at": _iso(now)}
    by = event_payload(by)
    if isinstance(by, Mapping):
        stop["by"] = identity(by.get("by"))
    return {**spec, "mode": "stop", "stop": stop}


def _final(spec: Mapping[str, Any], state: Mapping[str, Any], unknown: str | None = None) -> dict[str, Any]:
    stop = spec.get("stop") or {}
    return {**state, "polls": int(spec.get("polls", 0)), "timedOut": stop.get("reason") == "deadline",
            "cancelled": stop.get("reason") == "cancelled", "stop": stop or None, "unknown": unknown}


def _read_problem(state: Mapping[str, Any]) -> str:
    error = state.get("error") or {}
    return f"{error.get('code') or '?'}: {error.get('message') or ''}".strip()


def poll_decision(spec: Mapping[str, Any], state: Mapping[str, Any], now: datetime, *, cancelled: bool,
                  cancel_event: object = None) -> dict[str, Any]:
    """After one read of the deployment: {"done": final} | {"spec": next spec, "stop": True} | {"wait": s}.

    Done when the deployment is terminal. A read that fails permanently (403, the deployment gone) means the
    rollout cannot learn the state: done, as UNKNOWN — the deployment may still be running. Before a cancel
    the deadline or a cancel event turns the poller to cancelling; after it, the grace period bounds the wait.
    """
    provisioning = state.get("provisioningState")
    if state.get("outcome") == "ok" and isinstance(provisioning, str) and is_terminal(provisioning):
        return {"done": _final(spec, state)}
    if state.get("outcome") == "permanent":
        return {"done": _final(spec, state, unknown=f"its state could not be read ({_read_problem(state)})")}
    mode = spec.get("mode", "watch")
    if mode == "watch":
        if cancelled:
            return {"spec": stop_polling(spec, "cancelled", now, cancel_event), "stop": True}
        if now >= _parse_time(spec["deadline"]):
            return {"spec": stop_polling(spec, "deadline", now), "stop": True}
    elif mode == "stopping" and now >= _parse_time(spec["stopDeadline"]):
        seen = provisioning if state.get("outcome") == "ok" else f"unreadable ({_read_problem(state)})"
        return {"done": _final(spec, state, unknown=(
            f"ARM was asked to cancel it, and {float(spec['cancelGraceSeconds']):g} s later it is still {seen}"))}
    return {"wait": next_poll_delay(int(spec.get("polls", 0)), state)}


def after_cancel_request(spec: Mapping[str, Any], outcome: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """After the cancel activity: done when there is nothing left running, else wait for ARM to stop it."""
    stop = {**(spec.get("stop") or {}), "requested": bool(outcome.get("cancelRequested")),
            "answer": outcome.get("outcome")}
    if outcome.get("outcome") != "ok":
        stop["error"] = outcome.get("error")
    updated = {**spec, "stop": stop}
    if outcome.get("outcome") == "ok":
        if outcome.get("exists") is False:
            return {"done": _final(updated, {**outcome, "provisioningState": None})}
        provisioning = outcome.get("provisioningState")
        if isinstance(provisioning, str) and is_terminal(provisioning):
            return {"done": _final(updated, outcome)}
    grace = timedelta(seconds=float(spec["cancelGraceSeconds"]))
    return {"spec": {**updated, "mode": "stopping", "stopDeadline": _iso(now + grace)}}


def next_poll_delay(polls: int, state: Mapping[str, Any]) -> float:
    return poll_delay(max(polls - 1, 0), state.get("retryAfterSeconds"))


def rollback_call(job: Mapping[str, Any], point: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The rollback deployment to run after this target's deployment failed; None when there is none to run.

    The rollback point is the latest successful deployment of this target that the activity could trust: a
    breakerpanel name, the committed gateway template's own hash, this APIM instance. What is re-deployed is
    the COMMITTED template (never the point's exported template) with the point's parameters, re-validated
    here by the same validator and allowlist as a new request; a point whose parameters fail is no point.
    It runs Incrementally under a deterministic name (not ARM's onErrorDeployment, which re-runs in Complete
    mode and deletes whatever else lives in the resource group — the APIM instance included).
    """
    if not job["rollback"] or point is None or point.get("outcome") != "ok" or not point.get("deploymentName"):
        return None
    if rollback_refusal(job, point):
        return None
    target = job["call"]["target"]
    request = read_request(admission.request_from_parameters(point.get("parameters") or {}, target), job["policy"])
    workspace = admission.workspace_for(job["policy"], target)
    return {
        "target": target,
        "deploymentName": rollback_deployment_name(job["call"]["deploymentName"]),
        "from": point["deploymentName"],
        "parameters": gateway_parameters(request, request.targets[0], log_analytics_workspace_id=workspace,
                                         function_app_resource_id=admission.events_function_id(job["policy"])),
    }


def rollback_refusal(job: Mapping[str, Any], point: Mapping[str, Any]) -> list[str]:
    """Why the point's parameters may not be re-deployed (empty when they may)."""
    values = point.get("parameters")
    if not isinstance(values, Mapping):
        return ["the rollback point has no readable parameters"]
    return [f"{p.field}: {p.problem}" for p in admission.parameters_problems(values, job["call"]["target"],
                                                                              job["policy"])]


def rollback_report(
    call: Mapping[str, Any],
    what_if: Mapping[str, Any] | None,
    started: Mapping[str, Any],
    final: Mapping[str, Any] | None,
) -> dict[str, Any]:
    report: dict[str, Any] = {"ran": True, "from": call["from"], "deploymentName": call["deploymentName"],
                              "template": "the committed gateway template",
                              "parameters": {k: v["value"] for k, v in call["parameters"].items()}}
    if what_if is not None:
        report["whatIf"] = what_if_summary(what_if)
    if started.get("outcome") != "ok" or final is None:
        return {**report, "provisioningState": "NotStarted", "error": started.get("error")}
    if final.get("unknown") or final.get("outcome") not in (None, "ok"):
        return {**report, "provisioningState": final.get("provisioningState"),
                "unknown": final.get("unknown") or _read_problem(final)}
    return {
        **report,
        "provisioningState": final.get("provisioningState"),
        "error": final.get("error"),
        "restored": [rid.rsplit("/", 1)[-1] for rid in final.get("outputResources") or []
                     if "/backends/" in rid.lower()],
    }


def how_to_check(call: Mapping[str, Any]) -> str:
    target = call["target"]
    return (f"az deployment group show --subscription {target['subscriptionId']} -g {target['resourceGroup']} "
            f"-n {call['deploymentName']} --query properties.provisioningState")


def unknown_error(call: Mapping[str, Any], why: str) -> dict[str, Any]:
    return {"code": "DeploymentStateUnknown", "message": (
        f"unknown — the deployment {call['deploymentName']} may still be running: {why}. The target stays held "
        f"(no new rollout starts on it) until a person has looked; check it with: {how_to_check(call)}")}


def child_failed(job: Mapping[str, Any], role: str, message: str) -> dict[str, Any]:
    """A child orchestration that ended without a result (it should never): its outcome as data."""
    if role == "preflight":
        return {"validate": {"outcome": "permanent", "status": None, "error": {
            "code": "ChildOrchestrationFailed", "message": message[:500]}}, "whatIf": None}
    return {"key": job["key"], "target": job["call"]["target"], "deploymentName": job["call"]["deploymentName"],
            "attached": False, "status": "unknown", "stage": "deploy",
            "error": unknown_error(job["call"], f"its orchestration ended without a result ({message[:300]})")}


def _stopped_view(job: Mapping[str, Any], read: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What APIM holds after a deployment was stopped part-way: a report, not a verdict."""
    if read is None:
        return None
    return {**_verify(job, read), "against": "the request, after the deployment was stopped"}


def target_result(
    job: Mapping[str, Any],
    *,
    started: Mapping[str, Any] | None,
    final: Mapping[str, Any] | None = None,
    operations: Mapping[str, Any] | None = None,
    point: Mapping[str, Any] | None = None,
    rollback: Mapping[str, Any] | None = None,
    read: Mapping[str, Any] | None = None,
    cancel: object = None,
) -> dict[str, Any]:
    """What happened to one target: its status, and everything a person needs to act on it.

    status: verified | failed | cancelled | unknown. "unknown" means the deployment's state could not be
    learned and it may still be running: nothing is verified then, and the target stays held.
    """
    result: dict[str, Any] = {
        "key": job["key"],
        "target": job["call"]["target"],
        "deploymentName": job["call"]["deploymentName"],
        "attached": bool((started or {}).get("attached")),
    }
    if started is None:
        # The cancel event's data (JSON text in Azure, see event_payload) or the flag the route recorded.
        cancel = event_payload(cancel)
        result.update(status="cancelled", stage="before submit", cancel=dict(cancel) if isinstance(cancel, Mapping)
                      else {},
                      error={"code": "RolloutCancelled", "message": "cancelled before the deployment was "
                             "submitted: nothing was deployed to this target"})
        return result
    if started.get("outcome") != "ok" and final is None:
        error = started.get("error")
        result.update(status="failed", stage="submit", error=error,
                      diagnoses=[d.to_dict() for d in diagnose_error(error)] if parse_error(error) else [])
        if started.get("fix"):
            result["fix"] = started["fix"]
        return result
    assert final is not None
    state = final.get("provisioningState")
    result["provisioningState"] = state
    result["polls"] = final.get("polls")
    if final.get("stop"):
        result["stop"] = final["stop"]
    if final.get("unknown"):
        result.update(status="unknown", stage="poll", error=unknown_error(job["call"], str(final["unknown"])))
        if final.get("fix"):
            result["fix"] = final["fix"]
        return result  # nothing read from APIM is a verdict while the deployment may still be running
    if started.get("outcome") != "ok" and final.get("exists") is False:
        error = started.get("error")
        result.update(status="cancelled" if final.get("cancelled") else "failed", stage="submit", error=error,
                      note="the deployment does not exist in ARM: nothing was deployed",
                      diagnoses=[d.to_dict() for d in diagnose_error(error)] if parse_error(error) else [])
        return result
    if state == "Canceled" or (final.get("stop") and state != "Succeeded" and state != "Failed"):
        reason = (final.get("stop") or {}).get("reason")
        if final.get("timedOut"):
            result.update(status="failed", stage="deadline", error={"code": "DeploymentTimedOut", "message": (
                f"still running at the rollout's deadline: ARM was asked to cancel it, and it is now {state}")})
        else:
            result.update(status="cancelled", stage="deploy", error={"code": "RolloutCancelled", "message": (
                f"the rollout was cancelled ({reason}); ARM stopped the deployment, which is now {state} and "
                "may have left the target partially deployed (see apimAfterStop)")})
        result["apimAfterStop"] = _stopped_view(job, read)
        return result
    if final.get("outcome") != "ok":
        result.update(status="unknown", stage="poll", error=unknown_error(job["call"], _read_problem(final)))
        return result
    if state != "Succeeded":
        result.update(status="failed", stage="deploy", error=final.get("error"))
        result["diagnoses"] = _diagnoses(operations, final)
        result["rollback"] = (
            {k: v for k, v in rollback.items() if k != "parameters"}
            if rollback is not None
            else {"ran": False, "reason": _no_rollback(job, point)}
        )
        if point is not None and point.get("untrusted"):
            result["rollback"]["untrusted"] = point["untrusted"]
    if read is not None:
        if rollback is not None and rollback.get("provisioningState") == "Succeeded":
            # APIM should now hold the rollback point's state: that is what gets verified.
            result["rollback"]["verify"] = _verify(job, read, previous=rollback.get("parameters") or {})
        elif rollback is not None and rollback.get("unknown"):
            pass  # the rollback may still be running: nothing read now is a verdict
        else:
            result["verify"] = _verify(job, read)
            if "status" not in result and result["verify"]["differences"]:
                result.update(status="failed", stage="verify")
    if rollback is not None and rollback.get("unknown"):
        result.update(status="unknown", error=unknown_error(
            {"target": job["call"]["target"], "deploymentName": rollback.get("deploymentName")},
            str(rollback["unknown"])))
    result.setdefault("status", "verified")
    return result


def held_deployments(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The deployments of a target result that ARM may still be running (the lock is kept for them)."""
    if result.get("status") != "unknown":
        return []
    rollback = result.get("rollback") or {}
    name = rollback.get("deploymentName") if rollback.get("unknown") else result.get("deploymentName")
    return [{"deploymentName": name, "why": (result.get("error") or {}).get("message")}]


def _no_rollback(job: Mapping[str, Any], point: Mapping[str, Any] | None) -> str:
    if not job["rollback"]:
        return "rollbackOnFailure is false"
    if point is not None and point.get("outcome") != "ok":
        return f"the deployment history could not be read: {(point.get('error') or {}).get('message')}"
    if point is not None and point.get("deploymentName"):
        problems = rollback_refusal(job, point)
        return (f"no trustworthy point to return to: {point['deploymentName']}'s parameters do not pass "
                f"validation ({'; '.join(problems)}); nothing was re-deployed")
    if point is not None and point.get("untrusted"):
        return ("no trustworthy point to return to: every earlier deployment of this gateway either was not "
                "made from the committed gateway template or is not this app's; nothing was re-deployed")
    return "no earlier successful breakerpanel deployment of this gateway to return to"


def _diagnoses(operations: Mapping[str, Any] | None, final: Mapping[str, Any]) -> list[dict[str, Any]]:
    if operations is not None and operations.get("outcome") == "ok":
        found = [d.to_dict() for d in diagnose_operations(operations.get("operations") or [])]
        if found:
            return found
    # No failed operation to read (listing failed, or the template never reached a resource): the
    # deployment's own error is all there is.
    error = final.get("error")
    return [d.to_dict() for d in diagnose_error(error)] if parse_error(error) else []


def _previous_request(job: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The gateway a rollback point deployed, as a request, so APIM can be verified against it."""
    return {
        "targets": [job["call"]["target"]],
        "backends": parameters.get("backends") or [],
        "breakerRule": parameters.get("breakerRule") or {},
        "poolName": parameters.get("poolName") or "",
        "approval": "none",
        "rollbackOnFailure": False,
    }


def _unread_problem(target: Mapping[str, Any], read: Mapping[str, Any]) -> str:
    """Which instance could not be read, where it was looked for, and what came back instead."""
    where = (f"APIM instance {target.get('apimName')} (resource group {target.get('resourceGroup')}, "
             f"subscription {target.get('subscriptionId')})")
    error = read.get("error") if isinstance(read.get("error"), Mapping) else {}
    code, message = str(error.get("code") or ""), str(error.get("message") or "")
    if read.get("status") == 404 or code in ("ResourceNotFound", "NotFound"):
        return (f"{where} was not found ({code}: {message}), so nothing is verified; check the target's apimName, "
                "resourceGroup and subscriptionId (and BREAKERPANEL_TARGETS), or create the instance first")
    said = f" ({code}: {message})" if code or message else ""
    return f"the backends of {where} could not be read back{said}, so nothing is verified"


def _verify(
    job: Mapping[str, Any], read: Mapping[str, Any], previous: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    if read.get("outcome") != "ok":
        return {"read": False, "error": read.get("error"), "differences": [
            {"backend": "*", "field": "", "kind": "unreadable", "expected": None, "actual": None,
             "problem": _unread_problem(job["call"]["target"], read)}
        ]}
    if previous is not None:
        try:
            request = read_request(_previous_request(job, previous), job["policy"])
        except ValueError as exc:
            return {"read": True, "against": "rollback point", "differences": [
                {"backend": "*", "field": "", "kind": "unverifiable", "expected": None, "actual": None,
                 "problem": f"the rollback point's parameters are not a valid request: {exc}"}
            ]}
    else:
        request = read_request(job["request"], job["policy"])
    differences = [d.to_dict() for d in diff_backends(request, read.get("backends") or [])]
    return {"read": True, "backends": len(read.get("backends") or []), "differences": differences}


def after_deploy(
    progress: Mapping[str, Any], wave: Mapping[str, Any], results: Sequence[Mapping[str, Any]], now: datetime
) -> dict[str, Any]:
    updated = dict(progress)
    failed: list[str] = []
    for result in results:
        phase = result["status"] if result["status"] in ("verified", "cancelled", "unknown") else "failed"
        updated = _with_targets(updated, [result["key"]], now, phase=phase, result=dict(result),
                                provisioningState=result.get("provisioningState"))
        if phase != "verified":
            failed.append(result["key"])
    if failed:
        return _halt(updated, f"wave {wave['number']} failed for {', '.join(failed)}", now)
    return updated


def finish(progress: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    phases = [t["phase"] for t in progress["targets"].values()]
    if any(p == "unknown" for p in phases):
        status = "unknown"
    elif progress.get("cancel") is not None:
        status = "cancelled"
    elif any(p == "rejected" for p in phases):
        status = "rejected"
    elif any(p == "failed" for p in phases):
        status = "failed"
    else:
        status = "succeeded"
    return {**progress, "phase": "done", "status": status, "finishedAt": _iso(now), "updatedAt": _iso(now)}


def status_view(progress: Mapping[str, Any]) -> dict[str, Any]:
    """The custom status: progress without the bulky details (raw errors, backends), which stay in the output.

    Durable caps custom status at 16 KB; a person polling the status needs phases and counts, not payloads.
    """
    targets = {}
    for key, target in progress["targets"].items():
        view = {k: v for k, v in target.items() if k not in ("result", "failure", "whatIf")}
        if "whatIf" in target:
            view["whatIf"] = target["whatIf"].get("counts")
        result = target.get("result") or target.get("failure") or {}
        if result:
            view["stage"] = result.get("stage")
            view["problems"] = len(result.get("diagnoses") or []) + len(
                (result.get("verify") or {}).get("differences") or []
            )
        targets[key] = view
    return {**{k: v for k, v in progress.items() if k != "targets"}, "targets": targets}
