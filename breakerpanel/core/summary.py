"""The rollout summary a person reads: what happened per target, why it failed, how to fix it.

Everything printed passes through `redact`: URLs lose query strings and user info, and key/token/
signature values are masked, because error messages and URLs can carry them. A raw error is printed (redacted,
cut to a few hundred characters) only when the diagnosis does not recognise it: then it is all there is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TypedDict

from breakerpanel.core.backend_urls import redact_url


class TargetResult(TypedDict, total=False):
    """What the rollout orchestrator returns for one target (all keys optional; camelCase for JSON)."""

    rolloutId: str
    target: dict[str, object]  # Target.to_dict()
    instanceId: str
    phase: str  # e.g. validating, what-if, awaiting-approval, deploying, verifying, rolling-back, done
    outcome: str  # succeeded | failed | rejected | timed_out | invalid
    deploymentName: str
    deploymentState: str
    whatIf: dict[str, object]  # WhatIfSummary.to_dict()
    approval: dict[str, object]  # GateResult.to_dict()
    warnings: list[dict[str, object]]  # Problem.to_dict()
    problems: list[dict[str, object]]  # Problem.to_dict(), when the request was refused
    diagnoses: list[dict[str, object]]  # Diagnosis.to_dict()
    differences: list[dict[str, object]]  # Difference.to_dict()
    rollback: dict[str, object]  # {"deploymentName", "state", "diagnoses": [...]}
    apimAfterStop: dict[str, object]  # what APIM held after a cancelled / timed-out deployment was stopped
    stage: str
    fix: str
    error: str


class RolloutResult(TypedDict, total=False):
    rolloutId: str
    outcome: str
    targets: list[TargetResult]


_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_SECRET_PAIR = re.compile(
    r"(?i)\b(api[-_]?key|subscription[-_]?key|ocp-apim-subscription-key|sig|signature|token|access_token|"
    r"secret|password|pwd|authorization|code)(\s*[=:]\s*)(\"?)[^\s&\"',;]+"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic|sharedaccesssignature)\s+[A-Za-z0-9._~+/=-]{8,}")


def redact(text: str) -> str:
    """`text` with URLs reduced to scheme://host/path and credential values replaced by ***."""
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} ***", text)
    return _SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}***", text)


def _s(value: object) -> str:
    if isinstance(value, Mapping) and ("code" in value or "message" in value):
        status = f" (HTTP {value['httpStatus']})" if value.get("httpStatus") else ""
        value = f"{value.get('code') or '?'}{status}: {value.get('message') or ''}".rstrip(": ")
    return redact("" if value is None else str(value))


def _map(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Mapping[str, object]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _target_label(target: object) -> str:
    if not isinstance(target, Mapping):
        return "target ?"
    sub = str(target.get("subscriptionId") or "")
    wave = target.get("wave")
    return (
        f"{_s(target.get('apimName'))} (resource group {_s(target.get('resourceGroup'))}, subscription "
        f"{_s(sub[:8])}…" + (f", wave {wave}" if wave is not None else "") + ")"
    )


def normalize_target(raw: Mapping[str, object]) -> TargetResult:
    """A TargetResult from either this module's shape or the rollout progress entry of a target
    (`{"phase", "target", "whatIf", "approvalNeeded", "result"|"failure": {"status", "stage", "error",
    "provisioningState", "diagnoses", "rollback", "verify": {"differences"}}}`)."""
    inner = _map(raw.get("result")) or _map(raw.get("failure"))
    merged: dict[str, object] = {**inner, **{k: v for k, v in raw.items() if k not in ("result", "failure")}}
    out: dict[str, object] = {k: v for k, v in merged.items() if k in TargetResult.__annotations__}
    out["outcome"] = raw.get("outcome") or inner.get("status") or raw.get("phase") or "in progress"
    stage = inner.get("stage") or raw.get("stage")
    if stage:
        out["stage"] = stage
    out["phase"] = f"{raw.get('phase') or '?'}" + (f", at {stage}" if stage else "")
    state = raw.get("deploymentState") or inner.get("provisioningState") or raw.get("provisioningState")
    if state:
        out["deploymentState"] = state
    verify = _map(inner.get("verify") or raw.get("verify"))
    if "differences" not in out and verify:
        out["differences"] = verify.get("differences") or []
    if isinstance(raw.get("wave"), int) and isinstance(raw.get("target"), Mapping):
        out["target"] = {**_map(raw.get("target")), "wave": raw["wave"]}
    needed = _map(raw.get("approvalNeeded"))
    if needed.get("required") and "approval" not in out:
        out["approval"] = {"outcome": "needed", "reason": needed.get("reason")}
    if isinstance(raw.get("problems"), int):
        out["error"] = f"{raw['problems']} problem(s); see the rollout output for details"
    return out  # type: ignore[return-value]  # keys filtered to TargetResult's


def render_summary(result: Mapping[str, object]) -> list[str]:
    """Readable lines for a rollout: a RolloutResult, the orchestrator's progress/output (targets keyed by
    target), or one TargetResult."""
    targets = result.get("targets")
    if isinstance(targets, Mapping):
        targets = list(targets.values())
    if not isinstance(targets, list):
        return render_target(result)
    entries = [normalize_target(t) for t in _list(targets)]
    outcome = _s(result.get("outcome") or result.get("status") or _overall(entries)).upper()
    phase = f" (phase: {_s(result.get('phase'))})" if result.get("phase") else ""
    lines = [f"Rollout {_s(result.get('rolloutId') or '?')}: {outcome}{phase}"]
    halted = _map(result.get("halted"))
    if halted:
        lines.append(f"  halted at wave {_s(halted.get('wave'))}: {_s(halted.get('reason'))}")
    lines += _approval_lines(result.get("approval"), "  ")
    for entry in entries:
        lines += ["", *render_target(entry)]
    return lines


def _overall(targets: list[TargetResult]) -> str:
    outcomes = {str(t.get("outcome") or "") for t in targets}
    if outcomes <= {"succeeded", "verified"} and outcomes:
        return "succeeded"
    if "failed" in outcomes:
        return "failed"
    return ", ".join(sorted(o for o in outcomes if o)) or "in progress"


def _approval_lines(approval: object, indent: str) -> list[str]:
    if not isinstance(approval, Mapping):
        return []
    by = f" by {_s(approval.get('by'))}" if approval.get("by") else ""
    state = _s(approval.get("outcome") or approval.get("status") or "?")
    wave = f" (wave {_s(approval.get('wave'))})" if approval.get("wave") is not None else ""
    reason = f" — {_s(approval.get('reason'))}" if approval.get("reason") else ""
    lines = [f"{indent}approval{wave}: {state}{by}{reason}"]
    four_eyes = str(approval.get("fourEyes") or "")
    if four_eyes.startswith("relaxed"):
        lines.append(f"{indent}  four eyes relaxed: the rollout's starter approved it ({_s(four_eyes)})")
    for ignored in _list(approval.get("ignored")):
        lines.append(f"{indent}  answer ignored: {_s(ignored.get('why'))}")
    return lines


def render_target(result: Mapping[str, object]) -> list[str]:
    if "result" in result or "failure" in result or "approvalNeeded" in result:
        result = normalize_target(result)
    outcome = _s(result.get("outcome") or "in progress")
    phase = _s(result.get("phase") or "?")
    lines = [f"Target {_target_label(result.get('target'))}: {outcome.upper()} (phase: {phase})"]
    if result.get("deploymentName"):
        state = f" — {_s(result.get('deploymentState'))}" if result.get("deploymentState") else ""
        lines.append(f"  deployment {_s(result.get('deploymentName'))}{state}")
    if result.get("error"):
        lines.append(f"  error: {_s(result.get('error'))}")
    if result.get("fix"):
        lines.append(f"  fix: {_s(result.get('fix'))}")
    for problem in _list(result.get("problems")):
        lines.append(
            f"  {_s(problem.get('severity') or 'error')} {_s(problem.get('field'))}: {_s(problem.get('problem'))}"
        )
        lines.append(f"    fix: {_s(problem.get('fix'))}")
    lines += _what_if_lines(result.get("whatIf"))
    lines += _approval_lines(result.get("approval"), "  ")
    for warning in _list(result.get("warnings")):
        lines.append(f"  warning {_s(warning.get('field'))}: {_s(warning.get('problem'))}")
        lines.append(f"    fix: {_s(warning.get('fix'))}")
    lines += _diagnosis_lines(_list(result.get("diagnoses")), "  ")
    lines += _difference_lines(result)
    lines += _stopped_lines(result.get("apimAfterStop"))
    lines += _rollback_lines(result.get("rollback"))
    return lines


def _stopped_lines(view: object) -> list[str]:
    if not isinstance(view, Mapping):
        return []
    if view.get("read") is False:
        return ["  APIM after the stop: could not be read back — check the backends in the portal"]
    differences = _list(view.get("differences"))
    if not differences:
        return ["  APIM after the stop: every backend already matches the request (the deployment had written "
                "them, or they were so before)"]
    lines = [f"  APIM after the stop: {len(differences)} difference(s) from the request — the target is partially "
             "deployed or still holds its earlier state"]
    return lines + [f"    {_s(d.get('backend'))} {_s(d.get('field'))}: {_s(d.get('problem'))}".replace("  :", ":")
                    for d in differences]


def _what_if_lines(what_if: object) -> list[str]:
    if not isinstance(what_if, Mapping):
        return []
    listed = what_if.get("lines")
    if isinstance(listed, list):
        return [f"  {_s(line)}" for line in listed]
    # The status view keeps only the counts.
    counts = what_if.get("counts") if isinstance(what_if.get("counts"), Mapping) else what_if
    shown = ", ".join(f"{_s(k)} {_s(v)}" for k, v in _map(counts).items())
    return [f"  what-if: {shown or 'no changes'}"]


def _rollback_lines(rollback: object) -> list[str]:
    if not isinstance(rollback, Mapping):
        return []
    untrusted = [f"    not a rollback point: {_s(u.get('deploymentName'))} — {_s(u.get('reason'))}"
                 for u in _list(rollback.get("untrusted"))]
    if rollback.get("ran") is False:
        return [f"  rollback: not run — {_s(rollback.get('reason') or 'no reason given')}", *untrusted]
    name = _s(rollback.get("deploymentName") or "?")
    state = _s(rollback.get("state") or rollback.get("provisioningState") or "?")
    source = (f" (the committed gateway template with {_s(rollback['from'])}'s re-validated parameters)"
              if rollback.get("from") else "")
    lines = [f"  rollback: deployment {name}{source} — {state}"]
    what_if = rollback.get("whatIf")
    if isinstance(what_if, Mapping):
        lines += [f"  {line}" for line in _what_if_lines(what_if)]
    restored = rollback.get("restored")
    if isinstance(restored, list) and restored:
        lines.append(f"    restored: {', '.join(_s(r) for r in restored)}")
    verify = rollback.get("verify")
    if isinstance(verify, Mapping):
        differences = _list(verify.get("differences"))
        if differences:
            lines.append(f"    APIM differs from the rollback point in {len(differences)} place(s):")
            lines += [f"      {_s(d.get('backend'))} {_s(d.get('field'))}: {_s(d.get('problem'))}" for d in differences]
        else:
            lines.append("    verify: APIM matches the rollback point")
    return [*lines, *untrusted, *_diagnosis_lines(_list(rollback.get("diagnoses")), "    ")]


_RAW_CHARS = 600


def _raw(value: object) -> str:
    """An unrecognised error as Azure sent it: compact JSON, redacted, cut short."""
    try:
        text = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = str(value)
    text = redact(text)
    return text if len(text) <= _RAW_CHARS else text[:_RAW_CHARS] + "…"


def _diagnosis_lines(diagnoses: list[Mapping[str, object]], indent: str) -> list[str]:
    lines: list[str] = []
    for d in diagnoses:
        where = _s(d.get("resourceName") or d.get("resourceId") or "deployment")
        kind = f" ({_s(d.get('resourceType'))})" if d.get("resourceType") else ""
        lines.append(f"{indent}failed: {where}{kind}")
        cause = str(d.get("cause") or "")
        if cause and cause != "unrecognized":
            lines.append(f"{indent}  cause: {_s(cause)}")
        lines.append(f"{indent}  error: {_s(d.get('code') or '?')}: {_s(d.get('message'))}")
        if str(d.get("fix") or "") != "see raw error":
            lines.append(f"{indent}  fix: {_s(d.get('fix'))}")
        elif d.get("raw") is not None:
            lines.append(f"{indent}  fix: see the raw error below")
            lines.append(f"{indent}  raw error: {_raw(d.get('raw'))}")
        else:
            # Nothing more than the code and message came back: say so instead of pointing at nothing.
            lines.append(f"{indent}  fix: not one breakerpanel recognises; the error above is all Azure returned "
                         "(quote its tracking id to Azure support)")
        if d.get("trackingId"):
            lines.append(f"{indent}  tracking id: {_s(d.get('trackingId'))}")
    return lines


def _difference_lines(result: Mapping[str, object]) -> list[str]:
    if "differences" not in result:
        return []
    differences = _list(result.get("differences"))
    # After a failed deployment that was not rolled back, APIM is not the rollout's success: it holds its
    # earlier state, or whatever the failed deployment had written before it failed.
    rollback = result.get("rollback")
    rolled_back = isinstance(rollback, Mapping) and rollback.get("ran") is not False
    failed_deploy = str(result.get("outcome")) == "failed" and result.get("stage") == "deploy" and not rolled_back
    if not differences:
        if failed_deploy:
            return ["  verify: APIM holds what the request asks for, but the deployment FAILED: this is the state "
                    "APIM already had (or what the deployment wrote before it failed), not a successful rollout"]
        return ["  verify: APIM matches the request"]
    if failed_deploy:
        lines = [f"  verify: APIM still holds its earlier state — {len(differences)} difference(s) from the request"]
    else:
        lines = [f"  verify: {len(differences)} difference(s) between the request and APIM"]
    for d in differences:
        field = f" {_s(d.get('field'))}" if d.get("field") else ""
        # A difference that compares nothing (the backends could not be read) has no values to show.
        compared = (f" (expected {_s(d.get('expected'))}, found {_s(d.get('actual'))})"
                    if d.get("expected") is not None or d.get("actual") is not None else "")
        lines.append(f"    {_s(d.get('backend'))}{field}: {_s(d.get('problem'))}{compared}")
    return lines
