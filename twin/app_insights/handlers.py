"""Handlers: ingestion (`POST /v2.1/track`), the App Insights query API (`POST /v1/apps/{appId}/query`), and
the resource-centric Log Analytics query on a component (customEvents) or the workspace's AppEvents."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from twin.app_insights.schema import APP_EVENTS, CUSTOM_EVENTS
from twin.errors import TwinError
from twin.http import Request, Response
from twin.log_analytics.engine import QueryRejected
from twin.log_analytics.errors import LogAnalyticsError
from twin.log_analytics.timespan import TimespanError

if TYPE_CHECKING:
    from twin.app import Twin

_APP_EVENTS_QUERY = re.compile(r"^\s*(?://[^\n]*\n\s*)*AppEvents\b")


def track(twin: Twin, request: Request) -> Response:
    """The exporter's POST: a JSON array of envelopes (a single object is taken as one, as Breeze does).
    Authentication is Entra-only (infra/app turns local auth off), so a request without a bearer token got
    a 401 before this handler."""
    try:
        payload = request.json()
    except TwinError:
        return Response(400, {"itemsReceived": 0, "itemsAccepted": 0,
                              "errors": [{"index": 0, "statusCode": 400, "message": "Invalid JSON"}]})
    envelopes = payload if isinstance(payload, list) else [payload]
    answer = twin.app_insights.track(envelopes)
    # 206 when some items were refused: the exporter then retries only the retryable ones.
    return Response(200 if not answer["errors"] else 206, answer)


def _run(twin: Twin, request: Request, **scope: Any) -> Response:
    try:
        body = request.json_object()
    except TwinError as exc:
        raise LogAnalyticsError.invalid_request(exc.message) from None
    kql = body.get("query")
    if not isinstance(kql, str) or not kql.strip():
        raise LogAnalyticsError.invalid_request("'query' is required: the KQL text to run, as a string")
    try:
        return Response(200, twin.app_insights.query(kql, body.get("timespan"), **scope))
    except TimespanError as exc:
        raise LogAnalyticsError.invalid_request(str(exc)) from None
    except QueryRejected as exc:
        raise LogAnalyticsError.rejected(exc) from None


def query_app(twin: Twin, request: Request) -> Response:
    app_id = request.params["appId"].lower()
    component = next((c for c in twin.app_insights.components.values() if c.app_id == app_id), None)
    if component is None:
        raise TwinError.of("InvalidResourceType", path=request.path)
    return _run(twin, request, table=CUSTOM_EVENTS, resource_id=component.resource_id)


def query_component(twin: Twin, request: Request, resource_id: str) -> Response:
    return _run(twin, request, table=CUSTOM_EVENTS, resource_id=resource_id)


def is_component(namespace: str, rtype: str) -> bool:
    return namespace.lower() == "microsoft.insights" and rtype.lower() == "components"


def is_app_events_query(request: Request) -> bool:
    """A workspace query over AppEvents: the rows live with the twin's App Insights, not its gateway logs."""
    try:
        body = request.json_object()
    except TwinError:
        return False
    return isinstance(body.get("query"), str) and bool(_APP_EVENTS_QUERY.match(body["query"]))


def query_workspace_events(twin: Twin, request: Request) -> Response:
    return _run(twin, request, table=APP_EVENTS, workspace_id=request.params["workspaceId"])
