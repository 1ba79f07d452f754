"""Routes of ARM's deployments API at resource-group scope. Paths match case-insensitively (the SDK sends
`resourcegroups`, the REST reference writes `resourceGroups`).

Deployment operations are served both where azure-mgmt-resource-deployments 2.0 calls them
(`.../resourcegroups/{rg}/deployments/{name}/operations`, no provider segment) and where the REST reference puts
them (`.../providers/Microsoft.Resources/deployments/{name}/operations`).
"""

from __future__ import annotations

from twin.arm_deployments import handlers as h
from twin.http import Handler, Route, route

_GROUP = "/subscriptions/{subscription}/resourcegroups/{group}"
_DEPLOYMENTS = _GROUP + "/providers/Microsoft.Resources/deployments"
_DEPLOYMENT = _DEPLOYMENTS + "/{name}"


def _control(name: str, method: str, path: str, handler: Handler) -> Route:
    return route(f"control.{name}", method, path, handler, authenticated=False, needs_api_version=False)


ROUTES = [
    route("arm.deployments.list", "GET", _DEPLOYMENTS, h.list_deployments),
    route("arm.deployments.put", "PUT", _DEPLOYMENT, h.put_deployment),
    route("arm.deployments.get", "GET", _DEPLOYMENT, h.get_deployment),
    route("arm.deployments.head", "HEAD", _DEPLOYMENT, h.head_deployment),
    route("arm.deployments.delete", "DELETE", _DEPLOYMENT, h.delete_deployment),
    route("arm.deployments.validate", "POST", _DEPLOYMENT + "/validate", h.validate_deployment),
    route("arm.deployments.whatif", "POST", _DEPLOYMENT + "/whatIf", h.what_if),
    route("arm.deployments.cancel", "POST", _DEPLOYMENT + "/cancel", h.cancel_deployment),
    route("arm.deployments.exporttemplate", "POST", _DEPLOYMENT + "/exportTemplate", h.export_template),
    route("arm.asyncoperation.get", "GET", _DEPLOYMENT + "/operationStatuses/{operation}", h.async_operation),
    route("arm.operations.list", "GET", _GROUP + "/deployments/{name}/operations", h.list_operations),
    route("arm.operations.list", "GET", _DEPLOYMENT + "/operations", h.list_operations),
    route("arm.operations.get", "GET", _GROUP + "/deployments/{name}/operations/{operation}", h.get_operation),
    route("arm.operations.get", "GET", _DEPLOYMENT + "/operations/{operation}", h.get_operation),
    route(
        "arm.templatehash", "POST", "/providers/Microsoft.Resources/calculateTemplateHash", h.calculate_template_hash
    ),
    route(
        "arm.deployments.whatif.result",
        "GET",
        "/subscriptions/{subscription}/operationResults/{token}",
        h.what_if_result,
    ),
    _control("arm.resources", "GET", "/_twin/arm/resources", h.control_resources),
    _control("arm.settle", "POST", "/_twin/arm/settle", h.control_settle),
    _control("arm.validatemode", "POST", "/_twin/arm/validateMode", h.control_validate_mode),
    _control("arm.failures", "GET", "/_twin/arm/failures", h.control_failures),
    _control("arm.failures.add", "POST", "/_twin/arm/failures", h.control_add_failure),
]
