"""The twin's control API, under /_twin/ — a path no Azure API uses. Unauthenticated, never faulted.

POST   /_twin/reset                   forget every deployment, backend, log row, fault and captured request
GET    /_twin/requests?route=GLOB     captured requests (no headers, so no tokens), oldest first
DELETE /_twin/requests                forget captured requests
GET    /_twin/faults                  the fault rules with how often each was seen and fired
POST   /_twin/faults                  add one rule (twin/faults.py documents the fields)
PUT    /_twin/faults                  replace all rules with the posted list
DELETE /_twin/faults                  remove all rules
POST   /_twin/logs/rows               append ApiManagementGatewayLogs rows: {"rows": [{column: value}], "workspaceId"?}
                                      (without workspaceId: the default workspace, which answers every id with no
                                      rows of its own — twin/log_analytics/state.py)
PUT    /_twin/logs/clock              pin Log Analytics' "now" (ago(), timespans): {"now": iso} or {"now": null}
GET    /_twin/logs/clock              the pinned "now", if any
PUT    /_twin/logs/ingestion          ingestion delay {"delaySeconds": N}: rows queryable once now >= TimeGenerated+N
PUT    /_twin/logs/access             {"hiddenWorkspaces": [id]}: left out of resource-centric answers (no error)
PUT    /_twin/logs/tables             {"workspacesWithoutTable": [id]}: a query naming the gateway table there is 400
PUT    /_twin/logs/limits             {"maxRecords": N}: a bigger answer is 200 with the rows cut and PartialError
GET    /_twin/logs/ingestion          the ingestion delay
POST   /_twin/gateway/scenario        load a traffic scenario: {"name", "start", "seed"?, "durationMinutes"?}
                                      -> {targets, rows (per workspace), events, expected} (twin/gateway/)
GET    /_twin/gateway/scenarios       the scenarios: [{name, description, defaultDurationMinutes, intent}]
GET    /_twin/gateway/events          the Event Grid breaker events the loaded scenarios emitted (?schema=cloudevents)
GET    /_twin/arm/resources           resources ARM holds for services the twin does not model
POST   /_twin/arm/resources           a resource that existed before any deployment: {id, type, location?, properties}
                                      (an instance's own system topic, someone else's diagnostic setting)
PUT    /_twin/arm/providers           a provider's registration: {subscriptionId, namespace, registrationState}
                                      (every known provider is Registered until set otherwise)
POST   /_twin/arm/roleAssignments     a role assignment the prerequisites list: {scope, roleDefinitionId, principalId}
POST   /_twin/arm/settle              run every active deployment to its end now
GET    /_twin/arm/failures            injected provisioning failures
POST   /_twin/arm/failures            fail a resource when deployed: {resource (id glob), status, code, message, count?}
POST   /_twin/arm/validateMode        validate's documented forms: {async (202 + Location), failureStatus 400|200}
POST   /_twin/apim/services           create an APIM instance: {subscriptionId, resourceGroup, name, sku?, location?,
                                      identity? (SystemAssigned by default, UserAssigned, None)}
PUT    /_twin/rbac                    RBAC mode on: callers may do only what their role assignments allow
GET    /_twin/rbac                    the mode;  DELETE /_twin/rbac: off (twin/rbac/control.py documents the fields)
GET    /_twin/health                  liveness
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twin.errors import TwinError
from twin.faults import parse_rule
from twin.http import Handler, Request, Response, Route, route
from twin.rbac import control as rbac

if TYPE_CHECKING:
    from twin.app import Twin


def _reset(twin: Twin, request: Request) -> Response:
    twin.reset()
    return Response(204)


def _requests(twin: Twin, request: Request) -> Response:
    return Response(200, {"value": twin.captured(request.query.get("route", "*"))})


def _clear_requests(twin: Twin, request: Request) -> Response:
    twin.clear_captured()
    return Response(204)


def _faults(twin: Twin, request: Request) -> Response:
    return Response(200, {"value": twin.faults.describe()})


def _add_fault(twin: Twin, request: Request) -> Response:
    try:
        rule = parse_rule(request.json())
    except ValueError as exc:
        raise TwinError.of("InvalidControlRequest", detail=str(exc)) from None
    twin.faults.add(rule)
    return Response(201, rule.describe())


def _set_faults(twin: Twin, request: Request) -> Response:
    payload = request.json()
    if not isinstance(payload, list):
        raise TwinError.of("InvalidControlRequest", detail="PUT /_twin/faults takes a JSON list of rules")
    try:
        rules = [parse_rule(spec) for spec in payload]
    except ValueError as exc:
        raise TwinError.of("InvalidControlRequest", detail=str(exc)) from None
    twin.faults.set(rules)
    return Response(200, {"value": twin.faults.describe()})


def _clear_faults(twin: Twin, request: Request) -> Response:
    twin.faults.clear()
    return Response(204)


def _seed_rows(twin: Twin, request: Request) -> Response:
    payload = request.json_object()
    rows = payload.get("rows")
    if not isinstance(rows, list):
        raise TwinError.of("InvalidControlRequest", detail="body must be {\"rows\": [ {column: value}, ... ]}")
    workspace = payload.get("workspaceId")
    if workspace is not None and (not isinstance(workspace, str) or not workspace.strip()):
        raise TwinError.of("InvalidControlRequest", detail="workspaceId must be the workspace GUID, or absent")
    try:
        added = twin.logs.append_rows(rows, workspace)
    except ValueError as exc:
        raise TwinError.of("InvalidControlRequest", detail=str(exc)) from None
    return Response(200, {"added": added})


def _health(twin: Twin, request: Request) -> Response:
    return Response(200, {"status": "ok"})


def _control(name: str, method: str, path: str, handler: Handler) -> Route:
    return route(f"control.{name}", method, path, handler, authenticated=False, needs_api_version=False)


ROUTES = [
    _control("reset", "POST", "/_twin/reset", _reset),
    _control("requests", "GET", "/_twin/requests", _requests),
    _control("requests.clear", "DELETE", "/_twin/requests", _clear_requests),
    _control("faults", "GET", "/_twin/faults", _faults),
    _control("faults.add", "POST", "/_twin/faults", _add_fault),
    _control("faults.set", "PUT", "/_twin/faults", _set_faults),
    _control("faults.clear", "DELETE", "/_twin/faults", _clear_faults),
    _control("logs.rows", "POST", "/_twin/logs/rows", _seed_rows),
    _control("rbac.put", "PUT", "/_twin/rbac", rbac.put_rbac),
    _control("rbac.get", "GET", "/_twin/rbac", rbac.get_rbac),
    _control("rbac.delete", "DELETE", "/_twin/rbac", rbac.delete_rbac),
    _control("health", "GET", "/_twin/health", _health),
]
