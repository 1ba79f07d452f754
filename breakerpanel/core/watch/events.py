"""Event Grid circuit-breaker events: Microsoft.ApiManagement.CircuitBreaker.Opened / .Closed.

Both delivery schemas are read (MicrosoftDocs azure-docs, event-schema-api-management.md):
  Event Grid  {id, topic, subject, eventType, eventTime, data, dataVersion, metadataVersion}
  CloudEvents {id, source, subject, type, time, data, specversion}
subject is "/backends/{backend}/circuit-breaker/rules/{rule}", the topic/source the APIM instance's ARM id,
data.circuitBreaker.rules.{rule}.tripDuration a TimeSpan ("00:00:01"). Delivery is at least once and out of
order, so a transition is identified by the event id and ordered by its own time, never by arrival.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from breakerpanel.core.durations import DurationError, parse_duration
from breakerpanel.core.instants import format_instant, parse_instant

OPENED = "Microsoft.ApiManagement.CircuitBreaker.Opened"
CLOSED = "Microsoft.ApiManagement.CircuitBreaker.Closed"
_SUBJECT = re.compile(r"^/?backends/(?P<backend>[^/]+)/circuit-breaker/rules/(?P<rule>[^/]+)/?$", re.IGNORECASE)


class BreakerEventError(ValueError):
    """Not a circuit-breaker event this app can store; the message names the field."""


@dataclass(frozen=True)
class BreakerTransition:
    event_id: str
    resource_id: str  # the APIM instance, lower-cased
    backend: str
    rule: str
    opened: bool
    at: datetime
    trip_seconds: float | None

    def to_dict(self) -> dict[str, object]:
        return {
            "eventId": self.event_id,
            "resourceId": self.resource_id,
            "backend": self.backend,
            "rule": self.rule,
            "state": "opened" if self.opened else "closed",
            "at": format_instant(self.at),
            "tripSeconds": self.trip_seconds,
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, object]) -> BreakerTransition:
        return cls(
            event_id=str(value["eventId"]),
            resource_id=str(value["resourceId"]),
            backend=str(value["backend"]),
            rule=str(value["rule"]),
            opened=value["state"] == "opened",
            at=_instant(value["at"], "at"),
            trip_seconds=float(value["tripSeconds"]) if isinstance(value.get("tripSeconds"), int | float) else None,
        )


def _instant(value: object, field: str) -> datetime:
    if not isinstance(value, datetime | str) or not str(value).strip():
        raise BreakerEventError(f"{field} is missing or not a date-time")
    moment = parse_instant(value)
    if moment is None:
        raise BreakerEventError(f"{field} {value!r} is not an ISO 8601 date-time")
    return moment


def parse_breaker_event(event: Mapping[str, object]) -> BreakerTransition:
    """One event in either schema → a transition. Raises BreakerEventError for anything else."""
    kind = event.get("eventType", event.get("type"))
    if kind not in (OPENED, CLOSED):
        raise BreakerEventError(f"eventType/type {kind!r} is not {OPENED} or {CLOSED}")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id.strip():
        raise BreakerEventError("id is missing")
    source = event.get("topic", event.get("source"))
    if not isinstance(source, str) or "/providers/microsoft.apimanagement/service/" not in source.lower():
        raise BreakerEventError("topic/source is not an API Management instance's resource id")
    subject = event.get("subject")
    found = _SUBJECT.match(subject) if isinstance(subject, str) else None
    if found is None:
        raise BreakerEventError(f"subject {subject!r} is not /backends/{{backend}}/circuit-breaker/rules/{{rule}}")
    at = _instant(event.get("eventTime", event.get("time")), "eventTime/time")
    data = event.get("data")
    trip: float | None = None
    if isinstance(data, Mapping):
        rules = data.get("circuitBreaker")
        rules = rules.get("rules") if isinstance(rules, Mapping) else None
        rule = rules.get(found["rule"]) if isinstance(rules, Mapping) else None
        if isinstance(rule, Mapping) and rule.get("tripDuration") is not None:
            try:
                trip = parse_duration(rule["tripDuration"])  # type: ignore[arg-type]
            except (DurationError, TypeError):
                trip = None
    backend = found["backend"]
    if isinstance(data, Mapping) and isinstance(data.get("backendName"), str) and data["backendName"]:
        backend = str(data["backendName"])
    return BreakerTransition(
        event_id=event_id.strip(),
        resource_id=source.rstrip("/").lower(),
        backend=backend,
        rule=found["rule"],
        opened=kind == OPENED,
        at=at,
        trip_seconds=trip,
    )
