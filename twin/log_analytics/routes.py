"""Routes of the twin's Log Analytics: the v1 query API azure-monitor-query's LogsQueryClient calls.

LogsQueryClient.query_workspace POSTs {endpoint}/v1/workspaces/{workspaceId}/query with JSON
{"query", "timespan", "workspaces"} (null when not given), a bearer token, and `Prefer` when asked for a
server timeout, statistics or visualization. There is no api-version query parameter: the version is the
path's "v1". LogsQueryClient.query_resource POSTs the same body to {endpoint}/v1{resourceId}/query.
"""

from __future__ import annotations

from twin.http import route
from twin.log_analytics import handlers

ROUTES = [
    route(
        "logs.query",
        "POST",
        "/v1/workspaces/{workspaceId}/query",
        handlers.query,
        authenticated=True,
        needs_api_version=False,
    ),
    route(
        "logs.query.resource",
        "POST",
        "/v1/subscriptions/{subscription}/resourceGroups/{group}/providers/{namespace}/{rtype}/{name}/query",
        handlers.query_resource,
        authenticated=True,
        needs_api_version=False,
    ),
    route(
        "control.logs.clock",
        "PUT",
        "/_twin/logs/clock",
        handlers.set_clock,
        authenticated=False,
        needs_api_version=False,
    ),
    route(
        "control.logs.clock.get",
        "GET",
        "/_twin/logs/clock",
        handlers.get_clock,
        authenticated=False,
        needs_api_version=False,
    ),
    route(
        "control.logs.ingestion",
        "PUT",
        "/_twin/logs/ingestion",
        handlers.set_ingestion,
        authenticated=False,
        needs_api_version=False,
    ),
    route(
        "control.logs.access",
        "PUT",
        "/_twin/logs/access",
        handlers.set_access,
        authenticated=False,
        needs_api_version=False,
    ),
    route(
        "control.logs.access.get",
        "GET",
        "/_twin/logs/access",
        handlers.get_access,
        authenticated=False,
        needs_api_version=False,
    ),
    route(
        "control.logs.tables",
        "PUT",
        "/_twin/logs/tables",
        handlers.set_tables,
        authenticated=False,
        needs_api_version=False,
    ),
    route(
        "control.logs.tables.get",
        "GET",
        "/_twin/logs/tables",
        handlers.get_tables,
        authenticated=False,
        needs_api_version=False,
    ),
    route(
        "control.logs.limits",
        "PUT",
        "/_twin/logs/limits",
        handlers.set_limits,
        authenticated=False,
        needs_api_version=False,
    ),
    route(
        "control.logs.limits.get",
        "GET",
        "/_twin/logs/limits",
        handlers.get_limits,
        authenticated=False,
        needs_api_version=False,
    ),
    route(
        "control.logs.ingestion.get",
        "GET",
        "/_twin/logs/ingestion",
        handlers.get_ingestion,
        authenticated=False,
        needs_api_version=False,
    ),
]
