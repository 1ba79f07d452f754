"""Routes of the twin's APIM management API. Paths match case-insensitively, as ARM's do."""

from __future__ import annotations

from twin.apim import handlers as h
from twin.http import route

_SERVICE = (
    "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"
    "/providers/Microsoft.ApiManagement/service/{serviceName}"
)
_BACKEND = _SERVICE + "/backends/{backendId}"
_API = _SERVICE + "/apis/{apiId}"
_POLICY = _API + "/policies/{policyId}"
_DIAGNOSTIC = _API + "/diagnostics/{diagnosticId}"

ROUTES = [
    route("apim.service.get", "GET", _SERVICE, h.get_service),
    route("apim.backends.list", "GET", _SERVICE + "/backends", h.list_backends),
    route("apim.backends.get", "GET", _BACKEND, h.get_backend),
    route("apim.backends.head", "HEAD", _BACKEND, h.head_backend),
    route("apim.backends.put", "PUT", _BACKEND, h.put_backend),
    route("apim.backends.update", "PATCH", _BACKEND, h.patch_backend),
    route("apim.backends.delete", "DELETE", _BACKEND, h.delete_backend),
    route("apim.apis.get", "GET", _API, h.get_api),
    route("apim.apis.put", "PUT", _API, h.put_api),
    route("apim.apis.delete", "DELETE", _API, h.delete_api),
    route("apim.apis.policies.get", "GET", _POLICY, h.get_policy),
    route("apim.apis.policies.put", "PUT", _POLICY, h.put_policy),
    route("apim.apis.policies.delete", "DELETE", _POLICY, h.delete_policy),
    route("apim.apis.diagnostics.get", "GET", _DIAGNOSTIC, h.get_diagnostic),
    route(
        "control.apim.services.create",
        "POST",
        "/_twin/apim/services",
        h.create_service_control,
        authenticated=False,
        needs_api_version=False,
    ),
]
