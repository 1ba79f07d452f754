"""HTTP handlers of the twin's APIM management API (Microsoft.ApiManagement, api-version 2024-05-01 as
azure-mgmt-apimanagement 5.0.0 sends it; backends accept any api-version from 2023-09-01-preview on)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from twin.apim import errors as e
from twin.errors import TwinError
from twin.http import Request, Response

if TYPE_CHECKING:
    from twin.app import Twin

_OLDEST_BACKEND_API_VERSION = "2023-09-01"
_API_VERSION = re.compile(r"^(\d{4}-\d{2}-\d{2})(-preview)?$", re.IGNORECASE)


def _service_path(request: Request) -> str:
    p = request.params
    return (
        f"/subscriptions/{p['subscriptionId']}/resourceGroups/{p['resourceGroupName']}"
        f"/providers/Microsoft.ApiManagement/service/{p['serviceName']}"
    )


def _require_service(twin: Twin, request: Request) -> None:
    p = request.params
    twin.apim.service(p["subscriptionId"], p["resourceGroupName"], p["serviceName"])


def _require_backend_api_version(request: Request) -> None:
    version = request.api_version or ""
    found = _API_VERSION.match(version)
    if found is None or found[1] < _OLDEST_BACKEND_API_VERSION:
        raise TwinError.of("UnsupportedApiVersionForTwin", api_version=version)


def _etag_headers(etag: str | None) -> dict[str, str]:
    return {} if etag is None else {"ETag": etag}


def _int_query(request: Request, name: str, low: int) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise e.validation_error([e.detail(name, e.NOT_AN_INTEGER.format(value=raw, field=name))]) from None
    if value < low:
        raise e.validation_error([e.detail(name, e.OUT_OF_RANGE.format(field=name, low=low, high=2**31 - 1))])
    return value


# -- service ------------------------------------------------------------------------------------------------------


def get_service(twin: Twin, request: Request) -> Response:
    p = request.params
    svc = twin.apim.service(p["subscriptionId"], p["resourceGroupName"], p["serviceName"])
    return Response(200, svc.body(), {"ETag": svc.etag})


def create_service_control(twin: Twin, request: Request) -> Response:
    """POST /_twin/apim/services {subscriptionId, resourceGroup, name, sku?, location?, identity?}: an APIM instance
    exists (identity: SystemAssigned by default, or UserAssigned, "SystemAssigned, UserAssigned", None)."""
    payload = request.json_object()
    fields: dict[str, str] = {}
    for key in ("subscriptionId", "resourceGroup", "name"):
        value = payload.get(key)
        if not isinstance(value, str) or not value:
            raise TwinError.of("InvalidControlRequest", detail=f"'{key}' must be a non-empty string")
        fields[key] = value
    sku = payload.get("sku", "Developer")
    location = payload.get("location", "eastus")
    identity = payload.get("identity", "SystemAssigned")
    if not isinstance(sku, str) or not isinstance(location, str) or not isinstance(identity, str):
        raise TwinError.of("InvalidControlRequest", detail="'sku', 'location' and 'identity' must be strings")
    existed = twin.apim.has_service(fields["subscriptionId"], fields["resourceGroup"], fields["name"])
    try:
        twin.apim.create_service(
            fields["subscriptionId"], fields["resourceGroup"], fields["name"], sku, location=location, identity=identity
        )
    except ValueError as exc:
        raise TwinError.of("InvalidControlRequest", detail=str(exc)) from None
    body = twin.apim.service_body(fields["subscriptionId"], fields["resourceGroup"], fields["name"])
    return Response(200 if existed else 201, body)


# -- backends -------------------------------------------------------------------------------------------------------


def _backend_id(request: Request) -> str:
    return f"{_service_path(request)}/backends/{request.params['backendId']}"


def list_backends(twin: Twin, request: Request) -> Response:
    _require_backend_api_version(request)
    if request.query.get("$filter"):
        # Twin limitation, said plainly rather than answering an unfiltered list.
        raise TwinError.of("InvalidRequestContent", detail="the twin does not evaluate $filter on backends")
    p = request.params
    skip = _int_query(request, "$skip", 0) or 0
    top = _int_query(request, "$top", 1)
    page, total, size = twin.apim.backend_page(
        p["subscriptionId"], p["resourceGroupName"], p["serviceName"], skip=skip, top=top
    )
    body: dict[str, Any] = {"value": page, "count": total}
    if skip + size < total:
        query = urlencode({"api-version": request.api_version, "$top": size, "$skip": skip + size}, safe="$")
        body["nextLink"] = f"{request.base_url}{request.path}?{query}"
    return Response(200, body)


def get_backend(twin: Twin, request: Request) -> Response:
    _require_backend_api_version(request)
    _require_service(twin, request)
    body = twin.apim.get_resource(_backend_id(request))
    if body is None:
        raise e.entity_not_found("Backend")
    return Response(200, body, _etag_headers(twin.apim.etag(_backend_id(request))))


def head_backend(twin: Twin, request: Request) -> Response:
    """Backend_GetEntityTag: the ETag header only."""
    _require_backend_api_version(request)
    _require_service(twin, request)
    etag = twin.apim.etag(_backend_id(request))
    if etag is None:
        raise e.entity_not_found("Backend")
    return Response(200, None, {"ETag": etag})


def put_backend(twin: Twin, request: Request) -> Response:
    _require_backend_api_version(request)
    body, created = twin.apim.put_resource(
        _backend_id(request), request.json_object(), if_match=request.headers.get("if-match")
    )
    return Response(201 if created else 200, body, _etag_headers(twin.apim.etag(_backend_id(request))))


def patch_backend(twin: Twin, request: Request) -> Response:
    _require_backend_api_version(request)
    body = twin.apim.patch_backend(_backend_id(request), request.json_object(), request.headers.get("if-match"))
    return Response(200, body, _etag_headers(twin.apim.etag(_backend_id(request))))


def delete_backend(twin: Twin, request: Request) -> Response:
    _require_backend_api_version(request)
    deleted = twin.apim.delete_resource(_backend_id(request), if_match=request.headers.get("if-match"))
    return Response(200 if deleted else 204)


# -- apis and their policy -------------------------------------------------------------------------------------------


def _api_id(request: Request) -> str:
    return f"{_service_path(request)}/apis/{request.params['apiId']}"


def get_api(twin: Twin, request: Request) -> Response:
    _require_service(twin, request)
    body = twin.apim.get_resource(_api_id(request))
    if body is None:
        raise e.entity_not_found("Api")
    return Response(200, body, _etag_headers(twin.apim.etag(_api_id(request))))


def put_api(twin: Twin, request: Request) -> Response:
    # Api_CreateOrUpdate is a long-running operation in the SDK; APIM answers 200/201 with the entity and no
    # polling header, and the poller settles on the body.
    body, created = twin.apim.put_resource(
        _api_id(request), request.json_object(), if_match=request.headers.get("if-match")
    )
    return Response(201 if created else 200, body, _etag_headers(twin.apim.etag(_api_id(request))))


def delete_api(twin: Twin, request: Request) -> Response:
    # azure-mgmt-apimanagement 5.0.0's begin_delete accepts 202 or 204 only.
    twin.apim.delete_resource(_api_id(request), if_match=request.headers.get("if-match"))
    return Response(204)


def _policy_id(request: Request) -> str:
    return f"{_api_id(request)}/policies/{request.params['policyId']}"


def _api_child(twin: Twin, request: Request, child_id: str, entity: str) -> dict[str, Any]:
    """A resource under an API, as APIM answers for it: the API missing is 404 Api, the child missing 404 <entity>."""
    _require_service(twin, request)
    if twin.apim.get_resource(_api_id(request)) is None:
        raise e.entity_not_found("Api")
    body = twin.apim.get_resource(child_id)
    if body is None:
        raise e.entity_not_found(entity)
    return body


def get_policy(twin: Twin, request: Request) -> Response:
    body = _api_child(twin, request, _policy_id(request), "Policy")
    requested = request.query.get("format") or "xml"
    if requested not in ("xml", "rawxml"):
        raise TwinError.of("UnsupportedPolicyFormatForTwin", format=requested)
    # The twin keeps the text as it was sent; APIM would escape expressions in 'xml' and not in 'rawxml'.
    body["properties"]["format"] = requested
    return Response(200, body, _etag_headers(twin.apim.etag(_policy_id(request))))


def _diagnostic_id(request: Request) -> str:
    return f"{_api_id(request)}/diagnostics/{request.params['diagnosticId']}"


def get_diagnostic(twin: Twin, request: Request) -> Response:
    """ApiDiagnostic_Get: the diagnostic as it was stored (a template deploys it; the app only reads it)."""
    body = _api_child(twin, request, _diagnostic_id(request), "Diagnostic")
    return Response(200, body, _etag_headers(twin.apim.etag(_diagnostic_id(request))))


def put_policy(twin: Twin, request: Request) -> Response:
    _require_service(twin, request)
    body, created = twin.apim.put_resource(
        _policy_id(request), request.json_object(), if_match=request.headers.get("if-match")
    )
    return Response(201 if created else 200, body, _etag_headers(twin.apim.etag(_policy_id(request))))


def delete_policy(twin: Twin, request: Request) -> Response:
    _require_service(twin, request)
    if twin.apim.get_resource(_api_id(request)) is None:
        raise e.entity_not_found("Api")
    deleted = twin.apim.delete_resource(_policy_id(request), if_match=request.headers.get("if-match"))
    return Response(200 if deleted else 204)

