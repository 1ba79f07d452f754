"""Handlers of the Log Analytics query API (workspace and resource-centric) and of the twin's Log Analytics
controls (clock, ingestion delay)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from twin.errors import TwinError
from twin.http import Request, Response
from twin.log_analytics.engine import QueryRejected
from twin.log_analytics.errors import LogAnalyticsError
from twin.log_analytics.results import format_datetime
from twin.log_analytics.state import WORKSPACE_RESOURCE_PREFIX
from twin.log_analytics.timespan import TimespanError, parse_instant

if TYPE_CHECKING:
    from twin.app import Twin


def _body(request: Request) -> dict[str, Any]:
    try:
        return request.json_object()
    except TwinError as exc:
        raise LogAnalyticsError.invalid_request(exc.message) from None


def _prefers(request: Request, preference: str) -> bool:
    """Whether the Prefer header (RFC 7240: comma-separated, names case-insensitive) holds `preference`."""
    wanted = preference.replace(" ", "").lower()
    return any(part.replace(" ", "").lower() == wanted for part in request.headers.get("prefer", "").split(","))


def _run(twin: Twin, request: Request, *, workspace_id: str | None, resource_id: str | None) -> Response:
    body = _body(request)
    kql = body.get("query")
    if not isinstance(kql, str) or not kql.strip():
        raise LogAnalyticsError.invalid_request("'query' is required: the KQL text to run, as a string")
    timespan = body.get("timespan")
    if timespan is not None and not isinstance(timespan, str):
        raise LogAnalyticsError.invalid_request("'timespan' must be an ISO-8601 interval string, or null")
    workspaces = body.get("workspaces")
    if workspaces is not None and (
        not isinstance(workspaces, list) or not all(isinstance(item, str) for item in workspaces)
    ):
        raise LogAnalyticsError.invalid_request("'workspaces' must be a list of workspace ids, or null")
    try:
        answer = twin.logs.query(kql, timespan, workspace_id=workspace_id, resource_id=resource_id,
                                 include_permissions=_prefers(request, "include-permissions=true"))
    except TimespanError as exc:
        raise LogAnalyticsError.invalid_request(str(exc)) from None
    except QueryRejected as exc:
        raise LogAnalyticsError.rejected(exc) from None
    return Response(200, answer)


def query(twin: Twin, request: Request) -> Response:
    """POST /v1/workspaces/{workspaceId}/query {"query", "timespan"?, "workspaces"?}.

    The `Prefer` header (wait=, include-statistics=, include-render=) is accepted and ignored: the twin
    answers at once and sends no `statistics` or `render`; include-permissions=true is honoured on
    resource-centric queries (query_resource). `workspaces` is checked and ignored: a query sees
    the path's workspace only (twin/log_analytics/state.py: named and default workspaces).
    """
    from twin.app_insights import handlers as app_insights

    if app_insights.is_app_events_query(request):
        # A workspace-based component's events: held by the twin's App Insights (same KQL engine).
        return app_insights.query_workspace_events(twin, request)
    return _run(twin, request, workspace_id=request.params["workspaceId"], resource_id=None)


def query_resource(twin: Twin, request: Request) -> Response:
    """POST /v1/subscriptions/{s}/resourceGroups/{g}/providers/{namespace}/{type}/{name}/query — what
    LogsQueryClient.query_resource sends (azure-monitor-query builds "/{resourceId}/query" under "/v1",
    the id's leading slash not doubled). Answers from the rows whose _ResourceId is that id, ignoring case; for
    a Log Analytics workspace's id, from that workspace."""
    p = request.params
    resource_id = (
        f"/subscriptions/{p['subscription']}/resourceGroups/{p['group']}/providers/{p['namespace']}"
        f"/{p['rtype']}/{p['name']}"
    )
    from twin.app_insights import handlers as app_insights

    if app_insights.is_component(p["namespace"], p["rtype"]):
        # A component's Logs: its customEvents, as the Portal's Logs blade and its alert rules query them.
        return app_insights.query_component(twin, request, resource_id)
    if f"{p['namespace']}/{p['rtype']}".lower() == "microsoft.operationalinsights/workspaces":
        # A workspace named by its resource id is queried as that workspace (its whole data, workspace context),
        # not as a resource whose own _ResourceId rows are sought.
        return _run(twin, request, workspace_id=_workspace_of(twin, resource_id, p["name"]), resource_id=None)
    return _run(twin, request, workspace_id=None, resource_id=resource_id)


def _workspace_of(twin: Twin, resource_id: str, name: str) -> str:
    """The customer id of the workspace `resource_id`: from RBAC mode's map (customer id -> resource id), the
    id `permissions` names a workspace by, or else its name (an unknown one answers from the default workspace)."""
    wanted = resource_id.lower()
    for customer_id, known in twin.rbac.workspaces.items():
        if known.lower() == wanted:
            return customer_id
    if wanted.startswith(WORKSPACE_RESOURCE_PREFIX.lower()):
        return resource_id[len(WORKSPACE_RESOURCE_PREFIX):]
    return name


def _clock(twin: Twin) -> dict[str, Any]:
    pinned = twin.logs.pinned_now
    return {"now": format_datetime(twin.logs.now()), "pinned": pinned is not None}


def get_clock(twin: Twin, request: Request) -> Response:
    return Response(200, _clock(twin))


def set_clock(twin: Twin, request: Request) -> Response:
    """PUT /_twin/logs/clock {"now": "2024-05-01T10:00:00Z"} pins the clock; {"now": null} frees it."""
    payload = request.json_object()
    if "now" not in payload:
        raise TwinError.of(
            "InvalidControlRequest", detail='body must be {"now": "<ISO-8601 UTC>"} or {"now": null}'
        )
    raw = payload["now"]
    if raw is None:
        twin.logs.set_now(None)
    elif isinstance(raw, str):
        try:
            twin.logs.set_now(parse_instant(raw))
        except TimespanError as exc:
            raise TwinError.of("InvalidControlRequest", detail=f"now: {exc}") from None
    else:
        raise TwinError.of("InvalidControlRequest", detail="now must be an ISO-8601 string or null")
    return Response(200, _clock(twin))


def _access(twin: Twin) -> dict[str, Any]:
    return {"hiddenWorkspaces": twin.logs.hidden_workspaces}


def get_access(twin: Twin, request: Request) -> Response:
    return Response(200, _access(twin))


def set_access(twin: Twin, request: Request) -> Response:
    """PUT /_twin/logs/access {"hiddenWorkspaces": [workspace id, ...]}: the named workspaces the caller may not
    read; a resource-centric query leaves their rows out without an error, as Log Analytics does."""
    payload = request.json_object()
    hidden = payload.get("hiddenWorkspaces")
    if not isinstance(hidden, list) or not all(isinstance(item, str) and item.strip() for item in hidden):
        raise TwinError.of(
            "InvalidControlRequest", detail='body must be {"hiddenWorkspaces": ["<workspace id>", ...]}'
        )
    twin.logs.set_hidden_workspaces([item.strip() for item in hidden])
    return Response(200, _access(twin))


def _limits(twin: Twin) -> dict[str, Any]:
    return {"maxRecords": twin.logs.max_records}


def get_limits(twin: Twin, request: Request) -> Response:
    return Response(200, _limits(twin))


def set_limits(twin: Twin, request: Request) -> Response:
    """PUT /_twin/logs/limits {"maxRecords": N}: a bigger result is answered partially (200 + error PartialError)."""
    payload = request.json_object()
    limit = payload.get("maxRecords")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise TwinError.of("InvalidControlRequest", detail='body must be {"maxRecords": N} with N a whole number >= 1')
    twin.logs.set_max_records(limit)
    return Response(200, _limits(twin))


def _tables(twin: Twin) -> dict[str, Any]:
    return {"workspacesWithoutTable": twin.logs.workspaces_without_table}


def get_tables(twin: Twin, request: Request) -> Response:
    return Response(200, _tables(twin))


def set_tables(twin: Twin, request: Request) -> Response:
    """PUT /_twin/logs/tables {"workspacesWithoutTable": [workspace id, ...]}: named workspaces with no
    ApiManagementGatewayLogs table; a query naming it there is refused 400 SemanticError, as Log Analytics does."""
    payload = request.json_object()
    absent = payload.get("workspacesWithoutTable")
    if not isinstance(absent, list) or not all(isinstance(item, str) and item.strip() for item in absent):
        raise TwinError.of(
            "InvalidControlRequest", detail='body must be {"workspacesWithoutTable": ["<workspace id>", ...]}'
        )
    twin.logs.set_workspaces_without_table([item.strip() for item in absent])
    return Response(200, _tables(twin))


def _ingestion(twin: Twin) -> dict[str, Any]:
    return {"delaySeconds": twin.logs.ingestion_delay.total_seconds()}


def get_ingestion(twin: Twin, request: Request) -> Response:
    return Response(200, _ingestion(twin))


def set_ingestion(twin: Twin, request: Request) -> Response:
    """PUT /_twin/logs/ingestion {"delaySeconds": N}: a row is visible once now >= TimeGenerated + N s."""
    payload = request.json_object()
    delay = payload.get("delaySeconds")
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0:
        raise TwinError.of(
            "InvalidControlRequest", detail='body must be {"delaySeconds": N} with N a number of seconds >= 0'
        )
    twin.logs.set_ingestion_delay(timedelta(seconds=delay))
    return Response(200, _ingestion(twin))
