"""HTTP handlers of ARM's deployments API at resource-group scope (the paths azure-mgmt-resource-deployments 2.0
calls; any api-version is accepted)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from twin.arm_deployments.failures import parse_failure
from twin.arm_deployments.records import Deployment, template_hash
from twin.errors import TwinError
from twin.http import Request, Response

if TYPE_CHECKING:
    from twin.app import Twin

_FILTER = re.compile(r"^\s*provisioningState\s+eq\s+'(?P<state>[A-Za-z]+)'\s*$", re.IGNORECASE)


def _where(request: Request) -> tuple[str, str, str]:
    params = request.params
    return params["subscription"], params["group"], params.get("name", "")


def _api_version(request: Request) -> str:
    return request.api_version or ""


def _deployment_url(request: Request, deployment: Deployment) -> str:
    return f"{request.base_url}{deployment.id}"


def _async_url(request: Request, deployment: Deployment) -> str:
    return (
        f"{request.base_url}{deployment.id}/operationStatuses/{deployment.async_id}"
        f"?api-version={quote(_api_version(request))}"
    )


def put_deployment(twin: Twin, request: Request) -> Response:
    subscription, group, name = _where(request)
    deployment, created = twin.arm.start(subscription, group, name, request.json_object())
    headers = {
        "Azure-AsyncOperation": _async_url(request, deployment),
        "Location": f"{_deployment_url(request, deployment)}?api-version={quote(_api_version(request))}",
    }
    return Response(201 if created else 200, deployment.rest(), headers)


def get_deployment(twin: Twin, request: Request) -> Response:
    deployment = twin.arm.get(*_where(request))
    twin.arm.observe(deployment)
    return Response(200, deployment.rest())


def head_deployment(twin: Twin, request: Request) -> Response:
    found = twin.arm.find(*_where(request))
    return Response(204 if found is not None else 404)


def delete_deployment(twin: Twin, request: Request) -> Response:
    twin.arm.delete(*_where(request))
    return Response(204)


def list_deployments(twin: Twin, request: Request) -> Response:
    subscription, group, _ = _where(request)
    deployments = twin.arm.in_group(subscription, group)
    wanted_filter = request.query.get("$filter")
    if wanted_filter:
        found = _FILTER.match(wanted_filter)
        if found is None:
            raise TwinError.of("InvalidFilter", filter=wanted_filter)
        deployments = [dep for dep in deployments if dep.state.lower() == found["state"].lower()]
    top = _whole_number(request, "$top")
    if top is not None:
        deployments = deployments[:top]
    return _page(twin, request, [dep.rest() for dep in deployments])


def _whole_number(request: Request, key: str) -> int | None:
    raw = request.query.get(key)
    if raw is None:
        return None
    if not raw.isdigit():
        raise TwinError.of("InvalidDeploymentRequest", detail=f"'{key}' must be a whole number, not {raw!r}.")
    return int(raw)


def _page(twin: Twin, request: Request, items: list[dict[str, Any]]) -> Response:
    """One page of at most TwinConfig.page_size items; nextLink carries $skiptoken for the rest."""
    size = max(1, twin.config.page_size)
    skip = _whole_number(request, "$skiptoken") or 0
    page = items[skip : skip + size]
    body: dict[str, Any] = {"value": page}
    if skip + size < len(items):
        query = "&".join(f"{quote(key)}={quote(value)}" for key, value in request.query.items() if key != "$skiptoken")
        body["nextLink"] = f"{request.base_url}{request.path}?{query}&$skiptoken={skip + size}"
    return Response(200, body)


def cancel_deployment(twin: Twin, request: Request) -> Response:
    twin.arm.cancel(twin.arm.get(*_where(request)))
    return Response(204)


def validate_deployment(twin: Twin, request: Request) -> Response:
    if twin.arm.validate_mode.asynchronous:
        subscription, group, name = _where(request)
        token = twin.arm.start_validation(subscription, group, name, request.json_object())
        # Relative, as the published 2025-04-01 example's Location is: clients resolve it against the endpoint.
        location = f"/subscriptions/{subscription}/operationResults/{token}?api-version={quote(_api_version(request))}"
        return Response(202, None, {"Location": location, "Retry-After": "0"})
    return Response(*twin.arm.validation_answer(*_where(request), request.json_object()))


def what_if(twin: Twin, request: Request) -> Response:
    subscription, group, name = _where(request)
    token = twin.arm.start_what_if(subscription, group, name, request.json_object())
    return Response(202, None, {"Location": _what_if_url(request, subscription, token), "Retry-After": "0"})


def _what_if_url(request: Request, subscription: str, token: str) -> str:
    version = quote(_api_version(request))
    return f"{request.base_url}/subscriptions/{subscription}/operationResults/{token}?api-version={version}"


def what_if_result(twin: Twin, request: Request) -> Response:
    subscription, token = request.params["subscription"], request.params["token"]
    run = twin.arm.poll_what_if(subscription, token)
    if run is None:
        return Response(202, None, {"Location": _what_if_url(request, subscription, token), "Retry-After": "0"})
    return Response(run.status, run.result)


def async_operation(twin: Twin, request: Request) -> Response:
    subscription, group, name = _where(request)
    deployment = twin.arm.by_async_id(request.params["operation"])
    if (
        deployment is None
        or deployment.subscription_id.lower() != subscription.lower()
        or deployment.resource_group.lower() != group.lower()
        or deployment.name.lower() != name.lower()
    ):
        raise TwinError.of("DeploymentNotFound", name=name)
    twin.arm.observe(deployment)
    body: dict[str, Any] = {"status": deployment.state}
    if deployment.error is not None:
        body["error"] = deployment.error
    return Response(200, body)


def list_operations(twin: Twin, request: Request) -> Response:
    deployment = twin.arm.get(*_where(request))
    operations = [operation.rest(deployment.id) for operation in deployment.operations]
    top = _whole_number(request, "$top")
    if top is not None:
        operations = operations[:top]
    return _page(twin, request, operations)


def get_operation(twin: Twin, request: Request) -> Response:
    deployment = twin.arm.get(*_where(request))
    wanted = request.params["operation"].lower()
    for operation in deployment.operations:
        if operation.operation_id.lower() == wanted:
            return Response(200, operation.rest(deployment.id))
    raise TwinError.of("DeploymentOperationNotFound", operation_id=request.params["operation"], name=deployment.name)


def control_resources(twin: Twin, request: Request) -> Response:
    """GET /_twin/arm/resources: the resources ARM's own store holds (types no twin service owns)."""
    return Response(200, {"value": twin.arm.resources.all()})


def control_settle(twin: Twin, request: Request) -> Response:
    """POST /_twin/arm/settle: run every active deployment to its end now, whatever the poll steps."""
    settled = []
    for deployment in list(twin.arm.all_active()):
        twin.arm.settle(deployment)
        settled.append({"id": deployment.id, "provisioningState": deployment.state})
    return Response(200, {"value": settled})


def export_template(twin: Twin, request: Request) -> Response:
    """POST .../deployments/{name}/exportTemplate: the template the deployment ran (DeploymentExportResult)."""
    deployment = twin.arm.get(*_where(request))
    return Response(200, {"template": deployment.template})


def calculate_template_hash(twin: Twin, request: Request) -> Response:
    """POST /providers/Microsoft.Resources/calculateTemplateHash: the hash a deployment of this template
    reports as properties.templateHash (TemplateHashResult)."""
    template = request.json_object()
    return Response(200, {"minifiedTemplate": "", "templateHash": template_hash(template)})


def control_validate_mode(twin: Twin, request: Request) -> Response:
    """POST /_twin/arm/validateMode {"async": bool, "failureStatus": 400|200}: which documented form validate
    answers in (see ValidateMode); a reset restores the synchronous 200/400."""
    from twin.arm_deployments.state import ValidateMode

    body = request.json_object()
    asynchronous, failure_status = body.get("async", False), body.get("failureStatus", 400)
    if not isinstance(asynchronous, bool) or failure_status not in (200, 400):
        raise TwinError.of("InvalidControlRequest", detail='expected {"async": true|false, "failureStatus": 400|200}')
    twin.arm.validate_mode = ValidateMode(asynchronous, failure_status)
    return Response(200, {"async": asynchronous, "failureStatus": failure_status})


def control_failures(twin: Twin, request: Request) -> Response:
    """GET /_twin/arm/failures: the injected provisioning failures and how often each fired."""
    return Response(200, {"value": twin.arm.failures.describe()})


def control_add_failure(twin: Twin, request: Request) -> Response:
    """POST /_twin/arm/failures: make a resource provider refuse matching resources when deployed."""
    try:
        rule = parse_failure(request.json())
    except ValueError as exc:
        raise TwinError.of("InvalidControlRequest", detail=str(exc)) from None
    twin.arm.failures.add(rule)
    return Response(201, rule.describe())
