"""What a notification says, built once from an incident view or a rollout result (pure, no I/O).

A notification is the outbox's unit: one custom event name, its time, flat string dimensions (what the alert
rules and workbook split and filter on), numeric measurements, a one-line title and a readable text. Every
sink renders it from that stored form, so what App Insights shows and what the webhook says never differ.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

INCIDENT_OPENED = "IncidentOpened"
INCIDENT_RESOLVED = "IncidentResolved"
ROLLOUT_COMPLETED = "RolloutCompleted"
EVENT_NAMES = (INCIDENT_OPENED, INCIDENT_RESOLVED, ROLLOUT_COMPLETED)
# Application Insights keeps a property value to 8192 characters (learn.microsoft.com, data model: "Maximum
# value length: 8192"; the exporter cuts there too, _utils._filter_custom_properties). JSON dimensions are cut
# here first, on our terms, so that what arrives is still JSON.
_MAX_PROPERTY_CHARS = 8192
_CHANGES = {"opened": INCIDENT_OPENED, "resolved": INCIDENT_RESOLVED}
_SUBJECTS = ("backend", "pool", "deployment")

# Secrets that can travel inside evidence or an ARM error message: URL query strings (SAS signatures, keys
# as query parameters), `name=value` pairs whose name says secret, bearer tokens.
_URL_QUERY = re.compile(r"(https?://[^\s\"'?#]+)\?[^\s\"'#]*")
_SECRET_PAIR = re.compile(
    r"(?i)\b((?:api[-_]?key|subscription[-_]?key|x-api-key|key|token|secret|password|pwd|sig|signature|"
    r"accountkey|sharedaccesskey|client[-_]?secret)\s*[=:]\s*)(\"?)[^\s\"';&,}]+"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[a-z0-9\-._~+/]+=*")


def redact(text: str) -> str:
    """`text` with URL query strings, secret-named values and bearer tokens masked."""
    text = _URL_QUERY.sub(r"\1?***", text)
    text = _SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    return _BEARER.sub(r"\1***", text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _compact_json(value: Any, limit: int = _MAX_PROPERTY_CHARS) -> str:
    """`value` as compact JSON of at most `limit` characters: whole when it fits, else
    {"truncated": true, "head": <its beginning>}. The head is JSON text, and quoting it again escapes every
    quote and backslash, so its length is measured after quoting, not guessed. ASCII only (ensure_ascii), so a
    character is one UTF-16 unit, which is how ingestion counts."""
    text = json.dumps(_clean(value), separators=(",", ":"), sort_keys=True, default=str)
    if len(text) <= limit:
        return text

    def cut(keep: int) -> str:
        return json.dumps({"truncated": True, "head": text[:keep]}, separators=(",", ":"))

    low, high = 0, limit  # the longest head that fits, by bisection: its quoted length grows with it
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if len(cut(middle)) <= limit else (low, middle - 1)
    return cut(low)


def idempotency_key(*parts: str) -> str:
    """The same notification always gets the same key: the outbox record's name and the receiver's dedupe key."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"bp-{digest[:40]}"


def _seconds_between(start: Any, end: Any) -> float | None:
    try:
        a = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        b = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return None
    return max((b - a).total_seconds(), 0.0)


def incident_notification(view: Mapping[str, Any]) -> dict[str, Any] | None:
    """The notification of an opened or resolved incident (`incident_view` form); None for any other change."""
    change = str(view.get("state"))
    name = _CHANGES.get(change)
    if name is None:
        return None
    subject_type = next((s for s in _SUBJECTS if view.get(s)), "")
    subject = str(view.get(subject_type) or "")
    time = str((view.get("resolvedAt") if change == "resolved" else view.get("openedAt")) or view.get("since"))
    dimensions = {
        "target": str(view.get("target") or ""),
        "subscriptionId": str(view.get("subscriptionId") or ""),
        "resourceGroup": str(view.get("resourceGroup") or ""),
        "kind": str(view.get("kind") or ""),
        "severity": str(view.get("severity") or ""),
        "state": "open" if change == "opened" else "resolved",
        "change": change,
        "incidentKey": str(view.get("key") or ""),
        "incidentId": str(view.get("id") or ""),
        "subjectType": subject_type,
        "subject": subject,
        "since": str(view.get("since") or ""),
        "openedAt": str(view.get("openedAt") or ""),
        "resolvedAt": str(view.get("resolvedAt") or ""),
        "runbook": redact(str(view.get("runbook") or "")),
        "evidence": _compact_json(view.get("evidence") or {}),
    }
    if subject_type:
        dimensions[subject_type] = subject
    if view.get("dataUnknown"):
        dimensions["dataUnknown"] = "true"
    measurements: dict[str, float] = {}
    duration = _seconds_between(view.get("since"), time)
    if duration is not None:
        measurements["durationSeconds"] = duration
    where = f"{dimensions['target']}, {subject_type} {subject}" if subject_type else dimensions["target"]
    verb = "opened" if change == "opened" else "resolved"
    title = f"[{verb}] {dimensions['severity']} {dimensions['kind']} — {where}"
    lines = [title, f"since {dimensions['since']}" + (f", resolved {dimensions['resolvedAt']}" if change ==
                                                         "resolved" else "")]
    if dimensions["runbook"] and change == "opened":
        lines.append(f"runbook: {dimensions['runbook']}")
    return {
        "event": name,
        "time": time,
        "idempotencyKey": idempotency_key("incident", dimensions["incidentId"], change),
        "targetKey": _target_key(dimensions),
        "dimensions": dimensions,
        "measurements": measurements,
        "title": title,
        "text": "\n".join(lines),
    }


def _target_key(dimensions: Mapping[str, str]) -> str:
    return "/".join(dimensions.get(k, "").lower() for k in ("subscriptionId", "resourceGroup", "target"))


_PHASE_OUTCOMES = {"verified": "succeeded", "failed": "failed", "rejected": "rejected", "skipped": "skipped",
                   "unknown": "unknown", "cancelled": "cancelled"}


def rollout_outcome(entry: Mapping[str, Any], rollout_status: str) -> str:
    """succeeded / failed / rolledBack / rejected / cancelled / refused for one target of a finished rollout
    (`rollout_flow.finish`'s targets): a target the rollout never reached, because it halted, is cancelled."""
    if rollout_status == "refused":
        return "refused"
    outcome = _PHASE_OUTCOMES.get(str(entry.get("phase")), "cancelled")
    rollback = (entry.get("result") or {}).get("rollback") if isinstance(entry.get("result"), Mapping) else None
    if outcome == "failed" and isinstance(rollback, Mapping) and rollback.get("ran"):
        return "rolledBack"
    return outcome


def rollout_notifications(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One RolloutCompleted notification per target of a finished rollout, or one for a refused rollout."""
    rollout_id = str(result.get("rolloutId") or "")
    status = str(result.get("status") or "")
    at = str(result.get("finishedAt") or result.get("updatedAt") or "")
    raw_targets = result.get("targets")
    entries = [t for t in (raw_targets.values() if isinstance(raw_targets, Mapping) else []) if isinstance(t, Mapping)]
    if not entries:
        entries = [{"target": {}, "phase": status}]
    notes = []
    for entry in entries:
        target = entry.get("target") if isinstance(entry.get("target"), Mapping) else {}
        assert isinstance(target, Mapping)
        outcome = rollout_outcome(entry, status)
        detail = entry.get("result") if isinstance(entry.get("result"), Mapping) else {}
        assert isinstance(detail, Mapping)
        failed_ops = [d for d in detail.get("diagnoses") or [] if isinstance(d, Mapping)]
        rollback = detail.get("rollback") if isinstance(detail.get("rollback"), Mapping) else {}
        assert isinstance(rollback, Mapping)
        dimensions = {
            "rolloutId": rollout_id,
            "outcome": outcome,
            "rolloutStatus": status,
            "target": str(target.get("apimName") or ""),
            "subscriptionId": str(target.get("subscriptionId") or ""),
            "resourceGroup": str(target.get("resourceGroup") or ""),
            "deployment": str(entry.get("deploymentName") or detail.get("deploymentName") or ""),
            "stage": str(detail.get("stage") or ""),
            "wave": str(entry.get("wave") or ""),
            "rollbackDeployment": str(rollback.get("deploymentName") or "") if rollback.get("ran") else "",
            "failedOperations": _compact_json(failed_ops),
            "severity": "critical" if outcome in ("failed", "rolledBack") else "informational",
            "kind": "Rollout",
        }
        title = f"[rollout {outcome}] {dimensions['target'] or '(no target)'} — {rollout_id}"
        lines = [title]
        if dimensions["deployment"]:
            lines.append(f"deployment {dimensions['deployment']}" + (f", failed at {dimensions['stage']}"
                                                                     if dimensions["stage"] else ""))
        for op in failed_ops[:5]:
            lines.append(redact(f"{op.get('code', '')}: {op.get('message', '')}"[:300]))
        if dimensions["rollbackDeployment"]:
            lines.append(f"rolled back as {dimensions['rollbackDeployment']}")
        notes.append({
            "event": ROLLOUT_COMPLETED,
            "time": at,
            "idempotencyKey": idempotency_key("rollout", rollout_id, _target_key(dimensions), outcome),
            "targetKey": _target_key(dimensions),
            "dimensions": dimensions,
            "measurements": {},
            "title": title,
            "text": "\n".join(lines),
        })
    return notes


# ---- webhook bodies ------------------------------------------------------------------------------------

WEBHOOK_FORMATS = ("generic", "teams", "slack")


def webhook_body(notification: Mapping[str, Any], fmt: str) -> dict[str, Any]:
    """The JSON a webhook receives. `generic`: every field, plus `text` (what Slack and Teams' classic
    incoming webhooks render); `slack`: `text` only (Slack incoming webhooks); `teams`: an Adaptive Card
    message, what a Teams Workflows "when a webhook request is received" flow posts to a channel."""
    text = str(notification.get("text") or notification.get("title") or "")
    if fmt == "slack":
        return {"text": slack_escape(text)}
    if fmt == "teams":
        lines = text.splitlines() or [""]
        card = {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.4",
            "body": [{"type": "TextBlock", "text": lines[0], "weight": "Bolder", "wrap": True},
                     *({"type": "TextBlock", "text": line, "wrap": True} for line in lines[1:])],
        }
        # The shape Microsoft documents for an Adaptive Card to a Teams webhook, contentUrl null included; the
        # Workflows template ("Post to a channel when a webhook request is received") posts each attachment's
        # `content` as the card.
        return {"type": "message", "text": text,
                "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                                 "content": card}]}
    return {
        "idempotencyKey": notification.get("idempotencyKey"),
        "event": notification.get("event"),
        "time": notification.get("time"),
        "title": notification.get("title"),
        "text": text,
        "dimensions": dict(notification.get("dimensions") or {}),
        "measurements": dict(notification.get("measurements") or {}),
    }


def slack_escape(text: str) -> str:
    """Slack treats &, < and > as control characters (`<!channel>` notifies everyone, `<url|label>` is a link):
    its message-formatting guide says to send them as &amp; &lt; &gt;, and only them. A backend name, an ARM
    error message or a runbook line then shows as written and never pings a channel."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` HMAC of "<timestamp>.<body>": the timestamp is signed too, so a replayed body with a new
    timestamp does not verify."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()
