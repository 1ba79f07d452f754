"""Routes of the gateway control API, under /_twin/ (unauthenticated, never faulted)."""

from __future__ import annotations

from twin.gateway import handlers
from twin.http import Handler, Route, route


def _control(name: str, method: str, path: str, handler: Handler) -> Route:
    return route(f"control.{name}", method, path, handler, authenticated=False, needs_api_version=False)


ROUTES = [
    _control("gateway.scenario", "POST", "/_twin/gateway/scenario", handlers.load),
    _control("gateway.scenarios", "GET", "/_twin/gateway/scenarios", handlers.list_scenarios),
    _control("gateway.events", "GET", "/_twin/gateway/events", handlers.events),
]
