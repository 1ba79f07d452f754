"""The gateway control API: load a scenario, list the scenarios, read the breaker events it emitted."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from twin.errors import TwinError
from twin.gateway import scenarios
from twin.gateway.events import to_cloudevent
from twin.gateway.loader import load_scenario
from twin.http import Request, Response
from twin.log_analytics.timespan import TimespanError, parse_instant

if TYPE_CHECKING:
    from twin.app import Twin


def _bad(detail: str) -> TwinError:
    return TwinError.of("InvalidControlRequest", detail=detail)


def load(twin: Twin, request: Request) -> Response:
    """POST /_twin/gateway/scenario {"name", "start", "seed"?, "durationMinutes"?}."""
    payload = request.json_object()
    name = payload.get("name")
    if not isinstance(name, str) or name not in scenarios.SCENARIOS:
        raise _bad(f"name must be one of {sorted(scenarios.SCENARIOS)}")
    raw_start = payload.get("start")
    if not isinstance(raw_start, str):
        raise _bad("start is required: the ISO-8601 instant the scenario begins, e.g. '2024-05-01T10:00:00Z'")
    try:
        start = parse_instant(raw_start)
    except TimespanError as exc:
        raise _bad(f"start: {exc}") from None
    seed = payload.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise _bad("seed must be a whole number")
    minutes = payload.get("durationMinutes")
    if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or minutes <= 0):
        raise _bad("durationMinutes must be a positive number, or absent for the scenario's default")
    duration = None if minutes is None else timedelta(minutes=minutes)
    loaded = load_scenario(twin, name, start=start, seed=seed, duration=duration)
    return Response(200, loaded.rest())


def list_scenarios(twin: Twin, request: Request) -> Response:
    """GET /_twin/gateway/scenarios: [{name, description, defaultDurationMinutes, intent}]."""
    return Response(200, {"value": [s.describe() for s in scenarios.SCENARIOS.values()]})


def events(twin: Twin, request: Request) -> Response:
    """GET /_twin/gateway/events[?schema=cloudevents]: every breaker event of the loaded scenarios, as an Event
    Grid delivery carries them (a JSON array)."""
    schema = request.query.get("schema", "eventgrid").lower()
    if schema not in ("eventgrid", "cloudevents"):
        raise _bad("schema must be 'eventgrid' (default) or 'cloudevents'")
    found = twin.gateway.events
    return Response(200, [to_cloudevent(e) for e in found] if schema == "cloudevents" else found)
