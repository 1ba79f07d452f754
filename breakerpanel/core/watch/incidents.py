"""The incident state machine: opened → ongoing (updated, no new alert) → resolved, once per incident.

An incident is identified by its dedupe key: the target, the kind and the subject (plus, for a deployment,
the failed deployment's time). The store holds one record per key — the current incident, or the last
resolved one — so a condition that returns after a resolve opens a new incident with a new id.

Missing or partial data never resolves an incident and never opens a breaker one: the caller passes which
sources it could read, and incidents fed by an unread source stay as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from breakerpanel.core.instants import format_instant
from breakerpanel.core.watch.detect import BREAKER_KINDS, RUNBOOK, Observation

Change = Literal["opened", "ongoing", "resolved"]
_SEVERITY_ORDER = {"warning": 1, "critical": 2}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else format_instant(moment)


def incident_key(target_key: str, observation_key: str) -> str:
    return f"{target_key}|{observation_key}"


@dataclass(frozen=True)
class Transition:
    change: Change
    key: str
    value: dict[str, Any]  # the incident record to store
    previous_etag: str | None  # what the store must still hold for the write to count (None: insert)


def _subject(observation: Observation) -> dict[str, str]:
    return {"kind": observation.kind, "subjectType": observation.subject_type, "subject": observation.subject,
            "discriminator": observation.discriminator}


def advance(
    target: Mapping[str, str],
    target_key: str,
    observations: Iterable[Observation],
    previous: Mapping[str, tuple[dict[str, Any], str]],
    *,
    now: datetime,
    logs_known: bool,
    deployments_known: bool,
) -> list[Transition]:
    """The writes this run makes. `previous` maps incident key → (stored record, etag)."""
    at = _iso(now)
    transitions: list[Transition] = []
    seen: set[str] = set()
    for observation in observations:
        key = incident_key(target_key, observation.subject_key)
        seen.add(key)
        stored = previous.get(key)
        record, etag = stored if stored is not None else (None, None)
        is_open = record is not None and record.get("state") == "open"
        if observation.state == "active":
            if is_open:
                assert record is not None
                severity = max(record.get("severity", "warning"), observation.severity, key=_SEVERITY_ORDER.get)
                value = {**record, "lastSeen": at, "evidence": observation.evidence, "severity": severity,
                         "updates": int(record.get("updates", 0)) + 1, "dataUnknown": False}
                transitions.append(Transition("ongoing", key, value, etag))
            else:
                since = _iso(observation.since) or at
                value = {
                    "id": f"{key}#{since}",
                    "key": key,
                    "target": dict(target),
                    **_subject(observation),
                    "severity": observation.severity,
                    "state": "open",
                    "since": since,
                    "openedAt": at,
                    "lastSeen": at,
                    "resolvedAt": None,
                    "evidence": observation.evidence,
                    "runbook": RUNBOOK[observation.kind],
                    "updates": 0,
                    "dataUnknown": False,
                }
                transitions.append(Transition("opened", key, value, etag))
        elif is_open:
            assert record is not None
            if observation.state == "recovered":
                value = {**record, "state": "resolved", "resolvedAt": at,
                         "evidence": {**record.get("evidence", {}), "recovery": observation.evidence}}
                transitions.append(Transition("resolved", key, value, etag))
            else:
                # Pending or quiet: still open, no new alert; the evidence says what is seen now.
                value = {**record, "updates": int(record.get("updates", 0)) + 1,
                         "evidence": {**record.get("evidence", {}), "now": {"state": observation.state,
                                                                          **observation.evidence}}}
                transitions.append(Transition("ongoing", key, value, etag))
    for key, (record, etag) in previous.items():
        if key in seen or record.get("state") != "open":
            continue
        known = deployments_known if record.get("kind") == "ProvisioningFailed" else logs_known
        if known and is_breaker_kind(str(record.get("kind"))):
            # Read completely, and the subject is no longer configured (backend or pool deleted): nothing is
            # left to be stuck.
            value = {**record, "state": "resolved", "resolvedAt": at,
                     "evidence": {**record.get("evidence", {}), "recovery": {"reason": "no longer configured"}}}
            transitions.append(Transition("resolved", key, value, etag))
            continue
        value = {**record, "updates": int(record.get("updates", 0)) + 1, "dataUnknown": not known}
        transitions.append(Transition("ongoing", key, value, etag))
    return transitions


def is_breaker_kind(kind: str) -> bool:
    return kind in BREAKER_KINDS
