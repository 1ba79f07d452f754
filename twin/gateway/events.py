"""Event Grid circuit-breaker events as APIM publishes them, and their CloudEvents form.

Shapes: MicrosoftDocs/azure-docs articles/event-grid/event-schema-api-management.md (the project's shared
fixtures eventgrid_apim_CircuitBreakerOpened_{eventgrid,cloudevent}-schema.json): keys in the same order,
`topic`/`source` the APIM resource id, `subject` /backends/{backend}/circuit-breaker/rules/{rule},
`data.circuitBreaker.rules.{rule}.tripDuration` as .NET's "hh:mm:ss". Closed has the same shape.

Choice (the docs show the field, not what it holds when Retry-After was accepted): tripDuration is how long this
trip keeps the breaker open — the rule's tripDuration, or the Retry-After it accepted.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from twin.log_analytics.results import format_timespan

OPENED = "Microsoft.ApiManagement.CircuitBreaker.Opened"
CLOSED = "Microsoft.ApiManagement.CircuitBreaker.Closed"


def event_time(moment: datetime) -> str:
    """Event Grid writes seven fractional digits ("2025-04-02T00:47:48.8269769Z")."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0Z"


def seeded_guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def breaker_event(
    kind: str, *, topic: str, backend: str, rule: str, trip_duration: timedelta, moment: datetime, event_id: str
) -> dict[str, Any]:
    """One event in the Event Grid schema."""
    return {
        "id": event_id,
        "topic": topic,
        "subject": f"/backends/{backend}/circuit-breaker/rules/{rule}",
        "data": {
            "backendName": backend,
            "circuitBreaker": {"rules": {rule: {"tripDuration": format_timespan(trip_duration)}}},
        },
        "eventType": kind,
        "dataVersion": "1",
        "metadataVersion": "1",
        "eventTime": event_time(moment),
    }


def to_cloudevent(event: dict[str, Any]) -> dict[str, Any]:
    """The same event in the CloudEvents 1.0 schema, as an Event Grid subscription with that schema delivers it."""
    return {
        "source": event["topic"],
        "subject": event["subject"],
        "type": event["eventType"],
        "time": event["eventTime"],
        "id": event["id"],
        "data": event["data"],
        "specVersion": "1.0",
    }
