"""Handlers of the prerequisite reads, answered in the shapes of the REST specs' examples:
Providers_Get (GetProvider.json, 2025-04-01), SystemTopics_ListByResourceGroup (2025-02-15),
DiagnosticSettings_List (listDiagnosticSettings.json, 2021-05-01-preview), RoleAssignments_ListForSubscription
(2022-04-01), ApiManagementService_Get lives with APIM (twin/apim)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from twin.errors import TwinError
from twin.http import Request, Response
from twin.prerequisites import errors as _errors  # noqa: F401 - registers the catalogue entries

if TYPE_CHECKING:
    from twin.app import Twin

SYSTEM_TOPIC_TYPE = "Microsoft.EventGrid/systemTopics"
DIAGNOSTIC_SETTING_TYPE = "Microsoft.Insights/diagnosticSettings"
_PRINCIPAL_FILTER = re.compile(r"^\s*principalId\s+eq\s+'([0-9a-fA-F-]{36})'\s*$")


def get_provider(twin: Twin, request: Request) -> Response:
    p = request.params
    body = twin.prerequisites.provider(p["subscriptionId"], p["namespace"])
    if body is None:
        raise TwinError.of("InvalidResourceNamespace", namespace=p["namespace"])
    return Response(200, body)


def _system_topic(item: dict[str, Any]) -> dict[str, Any]:
    properties = dict(item.get("properties") or {})
    properties.setdefault("provisioningState", "Succeeded")
    properties.setdefault("metricResourceId", item["name"])
    return {"id": item["id"], "name": item["name"], "type": SYSTEM_TOPIC_TYPE, "location": item.get("location"),
            "tags": item.get("tags"), "properties": properties}


def list_system_topics(twin: Twin, request: Request) -> Response:
    p = request.params
    topics = [_system_topic(item) for item in twin.arm.resources.in_group(p["subscriptionId"], p["resourceGroupName"])
              if str(item.get("type")).lower() == SYSTEM_TOPIC_TYPE.lower()]
    return Response(200, {"value": topics})


def list_diagnostic_settings(twin: Twin, request: Request) -> Response:
    p = request.params
    service = twin.apim.service(p["subscriptionId"], p["resourceGroupName"], p["serviceName"])
    prefix = f"{service.id}/providers/{DIAGNOSTIC_SETTING_TYPE}/".lower()
    settings = [{"id": item["id"], "type": DIAGNOSTIC_SETTING_TYPE, "name": item["name"],
                 "properties": item.get("properties") or {}}
                for item in twin.arm.resources.all() if str(item["id"]).lower().startswith(prefix)]
    return Response(200, {"value": settings})


def list_role_assignments(twin: Twin, request: Request) -> Response:
    wanted = request.query.get("$filter")
    principal = None
    if wanted:
        found = _PRINCIPAL_FILTER.match(wanted)
        if found is None:
            raise TwinError.of("UnsupportedRoleAssignmentFilter", filter=wanted)
        principal = found[1]
    return Response(200, {"value": twin.prerequisites.assignments_in(request.params["subscriptionId"], principal)})


def _strings(payload: dict[str, Any], *keys: str) -> list[str]:
    values = []
    for key in keys:
        value = payload.get(key)
        if not isinstance(value, str) or not value:
            raise TwinError.of("InvalidControlRequest", detail=f"'{key}' must be a non-empty string")
        values.append(value)
    return values


def set_provider_control(twin: Twin, request: Request) -> Response:
    """PUT /_twin/arm/providers {subscriptionId, namespace, registrationState}."""
    subscription, namespace, state = _strings(request.json_object(), "subscriptionId", "namespace",
                                              "registrationState")
    try:
        twin.prerequisites.set_registration(subscription, namespace, state)
    except ValueError as exc:
        raise TwinError.of("InvalidControlRequest", detail=str(exc)) from None
    return Response(200, twin.prerequisites.provider(subscription, namespace))


def add_role_assignment_control(twin: Twin, request: Request) -> Response:
    """POST /_twin/arm/roleAssignments {scope, roleDefinitionId, principalId}."""
    scope, role, principal = _strings(request.json_object(), "scope", "roleDefinitionId", "principalId")
    return Response(201, twin.prerequisites.assign(scope, role, principal))


def add_resource_control(twin: Twin, request: Request) -> Response:
    """POST /_twin/arm/resources {id, type, location?, properties}: a resource that exists before any deployment
    (an instance's own system topic, a diagnostic setting someone else made)."""
    payload = request.json_object()
    resource_id, resource_type = _strings(payload, "id", "type")
    if not isinstance(payload.get("properties"), dict):
        raise TwinError.of("InvalidControlRequest", detail="'properties' must be an object")
    body = {"properties": payload["properties"]}
    if isinstance(payload.get("location"), str):
        body["location"] = payload["location"]
    return Response(201, twin.arm.resources.put_body(resource_id, resource_type, body))
