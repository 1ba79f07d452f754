"""APIM's validation rules as a user meets them: through an ARM deployment, with the real DeploymentsMgmtClient.

Each bad template fails the deployment with `DeploymentFailed`; the APIM refusal (code, message, and the field
detail a user reads) is in the failed operation's statusMessage.error, as `az deployment operation group list`
shows it. The expected texts are written out literally: they are what the user sees (see twin/apim/errors.py
for which of them are copied from real APIM answers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resource.deployments import DeploymentsMgmtClient
from azure.mgmt.resource.deployments.models import Deployment, DeploymentProperties

from tests.twin_instance import APIM, APIM_ID, RESOURCE_GROUP, SUBSCRIPTION

pytestmark = pytest.mark.twin

# Copied from tests/conftest.py (it is not importable).
BACKEND_TYPE = "Microsoft.ApiManagement/service/backends"
BACKEND_API_VERSION = "2025-03-01-preview"
API_TYPE = "Microsoft.ApiManagement/service/apis"
POLICY_TYPE = "Microsoft.ApiManagement/service/apis/policies"
VALIDATION_ENVELOPE = "One or more fields contain incorrect values:"
DEPLOYMENT_FAILED = (
    "At least one resource deployment operation failed. Please list deployment operations for details. "
    "Please see https://aka.ms/arm-deployment-operations for usage details."
)


# -- templates ------------------------------------------------------------------------------------------------------


def rule(**changes: Any) -> dict[str, Any]:
    """A valid breaker rule; `changes` replace rule keys, `failureCondition` keys with a `fc_` prefix."""
    condition: dict[str, Any] = {
        "count": 3,
        "interval": "PT1M",
        "statusCodeRanges": [{"min": 429, "max": 429}, {"min": 500, "max": 599}],
    }
    body: dict[str, Any] = {"name": "openai-breaker", "tripDuration": "PT1M", "acceptRetryAfter": True}
    for key, value in changes.items():
        if key.startswith("fc_"):
            condition[key.removeprefix("fc_")] = value
        else:
            body[key] = value
    body["failureCondition"] = {k: v for k, v in condition.items() if v is not None}
    return {k: v for k, v in body.items() if v is not None}


def single(name: str, *, rules: list[dict[str, Any]] | None = None, **changes: Any) -> dict[str, Any]:
    """A Single backend with one breaker rule; a change set to None removes that property."""
    properties: dict[str, Any] = {
        "type": "Single",
        "protocol": "http",
        "url": f"https://{name}.openai.azure.com/openai",
        "circuitBreaker": {"rules": [rule()] if rules is None else rules},
        **changes,
    }
    return {
        "type": BACKEND_TYPE,
        "apiVersion": BACKEND_API_VERSION,
        "name": f"[format('{{0}}/{name}', parameters('apim'))]",
        "properties": {k: v for k, v in properties.items() if v is not None},
    }


def member(name: str, priority: Any = 1, weight: Any = 1) -> dict[str, Any]:
    return {"id": f"/backends/{name}", "priority": priority, "weight": weight}


def pool(name: str, members: list[dict[str, Any]], *, depends_on: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    return {
        "type": BACKEND_TYPE,
        "apiVersion": BACKEND_API_VERSION,
        "name": f"[format('{{0}}/{name}', parameters('apim'))]",
        "dependsOn": [f"[resourceId('{BACKEND_TYPE}', parameters('apim'), '{d}')]" for d in depends_on],
        "properties": {"type": "Pool", "pool": {"services": members}, **extra},
    }


def api(name: str = "azure-openai", **properties: Any) -> dict[str, Any]:
    return {
        "type": API_TYPE,
        "apiVersion": "2024-05-01",
        "name": f"[format('{{0}}/{name}', parameters('apim'))]",
        "properties": {"displayName": "Azure OpenAI", "protocols": ["https"], **properties},
    }


def policy(
    xml: str,
    *,
    api_name: str = "azure-openai",
    policy_format: str = "rawxml",
    depends_on: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    depends = (api_name,) if depends_on is None else depends_on
    return {
        "type": POLICY_TYPE,
        "apiVersion": "2024-05-01",
        "name": f"[format('{{0}}/{api_name}/policy', parameters('apim'))]",
        "dependsOn": [f"[resourceId('{API_TYPE}', parameters('apim'), '{d}')]" for d in depends],
        "properties": {"format": policy_format, "value": xml},
    }


def template(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"apim": {"type": "string"}},
        "resources": list(resources),
    }


POLICY_TO_NOPE = """<policies>
  <inbound>
    <set-backend-service backend-id="nope" />
  </inbound>
  <backend><forward-request /></backend>
</policies>"""


# -- the rules ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad template and the refusal the failed operation carries."""

    resources: tuple[dict[str, Any], ...]
    failed: str  # the refused resource, as `targetResource.resourceName` names it
    details: list[tuple[str, str]] = field(default_factory=list)  # ValidationError details: (target, message)
    sku: str = "Developer"
    status_code: str = "BadRequest"
    code: str = "ValidationError"
    message: str = VALIDATION_ENVELOPE
    service: str = APIM


CASES = {
    "pool-with-url": Case(
        (single("b1"), pool("aoai-pool", [member("b1")], depends_on=("b1",), url="https://pool.example")),
        "aoai-pool",
        [("url", "Url is not supported for backend pool.")],
    ),
    "pool-with-protocol": Case(
        (single("b1"), pool("aoai-pool", [member("b1")], depends_on=("b1",), protocol="http")),
        "aoai-pool",
        [("protocol", "Protocol is not supported for backend pool.")],
    ),
    "pool-member-not-found": Case(
        (pool("aoai-pool", [member("aoai-x")]),),
        "aoai-pool",
        [("pool", "Backend Entity 'aoai-x' not found.")],
    ),
    "pool-member-by-full-id-not-found": Case(
        (pool("aoai-pool", [{"id": f"{APIM_ID}/backends/aoai-y", "priority": 1, "weight": 1}]),),
        "aoai-pool",
        [("pool", "Backend Entity 'aoai-y' not found.")],
    ),
    "pool-inside-a-pool": Case(
        (
            single("b1"),
            pool("inner-pool", [member("b1")], depends_on=("b1",)),
            pool("outer-pool", [member("inner-pool")], depends_on=("inner-pool",)),
        ),
        "outer-pool",
        [("pool", "Backend Entity 'inner-pool' is a backend pool; a pool can only contain backends of type Single.")],
    ),
    "pool-without-members": Case(
        (pool("aoai-pool", []),),
        "aoai-pool",
        [("pool", "Backend pool must contain at least one backend.")],
    ),
    "two-breaker-rules": Case(
        (single("b1", rules=[rule(), rule(name="second")]),),
        "b1",
        [("circuitBreaker", "Only one rule can be configured for a backend circuit breaker; 2 were sent.")],
    ),
    "protocol-https": Case(
        (single("b1", protocol="https"),),
        "b1",
        [("protocol", "Protocol 'https' is not supported. Supported values are 'http' and 'soap'.")],
    ),
    "priority-above-100": Case(
        (single("b1"), pool("aoai-pool", [member("b1", priority=101)], depends_on=("b1",))),
        "aoai-pool",
        [("priority", "The field Priority must be between 0 and 100.")],
    ),
    "priority-negative": Case(
        (single("b1"), pool("aoai-pool", [member("b1", priority=-1)], depends_on=("b1",))),
        "aoai-pool",
        [("priority", "The field Priority must be between 0 and 100.")],
    ),
    "weight-above-100": Case(
        (single("b1"), pool("aoai-pool", [member("b1", weight=1000)], depends_on=("b1",))),
        "aoai-pool",
        [("weight", "The field Weight must be between 0 and 100.")],
    ),
    "status-codes-outside-200-599": Case(
        (single("b1", rules=[rule(fc_statusCodeRanges=[{"min": 100, "max": 600}])]),),
        "b1",
        [("min", "The field Min must be between 200 and 599."), ("max", "The field Max must be between 200 and 599.")],
    ),
    "status-code-range-reversed": Case(
        (single("b1", rules=[rule(fc_statusCodeRanges=[{"min": 599, "max": 500}])]),),
        "b1",
        [("statusCodeRanges", "The status code range min 599 is greater than max 500.")],
    ),
    "eleven-status-code-ranges": Case(
        (single("b1", rules=[rule(fc_statusCodeRanges=[{"min": c, "max": c} for c in range(500, 511)])]),),
        "b1",
        [("statusCodeRanges", "statusCodeRanges can contain at most 10 items; 11 were sent.")],
    ),
    "eleven-error-reasons": Case(
        (single("b1", rules=[rule(fc_errorReasons=[f"reason{i}" for i in range(11)])]),),
        "b1",
        [("errorReasons", "errorReasons can contain at most 10 items; 11 were sent.")],
    ),
    "error-reason-too-long": Case(
        (single("b1", rules=[rule(fc_errorReasons=["x" * 201])]),),
        "b1",
        [("errorReasons", "errorReasons[] can be at most 200 characters long.")],
    ),
    "interval-not-iso-8601": Case(
        (single("b1", rules=[rule(fc_interval="1 minute")]),),
        "b1",
        [("interval", "The value '1 minute' of interval is not a valid ISO 8601 duration such as 'PT1M'.")],
    ),
    "trip-duration-as-event-grid-writes-it": Case(
        (single("b1", rules=[rule(tripDuration="00:01:00")]),),
        "b1",
        [("tripDuration", "The value '00:01:00' of tripDuration is not a valid ISO 8601 duration such as 'PT1M'.")],
    ),
    "trip-duration-missing": Case(
        (single("b1", rules=[rule(tripDuration=None)]),),
        "b1",
        [("tripDuration", "tripDuration is required.")],
    ),
    "neither-count-nor-percentage": Case(
        (single("b1", rules=[rule(fc_count=None)]),),
        "b1",
        [("failureCondition", "A failure condition needs 'count' or 'percentage'.")],
    ),
    "percentage-above-100": Case(
        (single("b1", rules=[rule(fc_count=None, fc_percentage=150)]),),
        "b1",
        [("percentage", "The field Percentage must be between 1 and 100.")],
    ),
    "failure-response-status-outside-100-599": Case(
        (single("b1", rules=[rule(failureResponse={"statusCode": 600})]),),
        "b1",
        [("statusCode", "The field StatusCode must be between 100 and 599.")],
    ),
    "single-without-url": Case(
        (single("b1", url=None),),
        "b1",
        [("url", "Url is required.")],
    ),
    "single-with-relative-url": Case(
        (single("b1", url="aoai.openai.azure.com"),),
        "b1",
        [("url", "Url 'aoai.openai.azure.com' is not a valid absolute URL.")],
    ),
    "unknown-backend-type": Case(
        (single("b1", type="Multi"),),
        "b1",
        [("type", "Backend type 'Multi' is not supported. Supported values are 'Single' and 'Pool'.")],
    ),
    "policy-names-unknown-backend": Case(
        (api(path="openai"), policy(POLICY_TO_NOPE)),
        "azure-openai/policy",
        [
            (
                "set-backend-service",
                "Error in element 'set-backend-service' on line 3, column 6: "
                "Backend with id 'nope' could not be found.",
            )
        ],
    ),
    "policy-xml-not-well-formed": Case(
        (api(path="openai"), policy("<policies><inbound></policies>", policy_format="xml")),
        "azure-openai/policy",
        [("representation", "The policy document is not well-formed XML: mismatched tag: line 1, column 21")],
    ),
    "policy-of-an-api-not-deployed": Case(
        (policy(POLICY_TO_NOPE, depends_on=()),),
        "azure-openai/policy",
        status_code="NotFound",
        code="ResourceNotFound",
        message="Api not found.",
    ),
    "api-without-path": Case(
        (api(),),
        "azure-openai",
        [("path", "API path is required.")],
    ),
    "consumption-tier-refuses-a-pool": Case(
        (single("b1", circuitBreaker=None), pool("aoai-pool", [member("b1")], depends_on=("b1",))),
        "aoai-pool",
        [("type", "A backend pool is not supported in the Consumption tier of API Management.")],
        sku="Consumption",
    ),
    "consumption-tier-refuses-a-circuit-breaker": Case(
        (single("b1"),),
        "b1",
        [("circuitBreaker", "The backend circuit breaker is not supported in the Consumption tier of API Management.")],
        sku="Consumption",
    ),
    "apim-instance-missing": Case(
        (single("b1"),),
        "b1",
        status_code="NotFound",
        code="ResourceNotFound",
        message=(
            "The Resource 'Microsoft.ApiManagement/service/apim-elsewhere' under resource group 'rg-gateway' was not "
            "found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        ),
        service="apim-elsewhere",
    ),
}


def deploy(deployments: DeploymentsMgmtClient, name: str, resources: tuple[dict[str, Any], ...], service: str) -> Any:
    body = Deployment(
        properties=DeploymentProperties(
            mode="Incremental", template=template(*resources), parameters={"apim": {"value": service}}
        )
    )
    return deployments.deployments.begin_create_or_update(RESOURCE_GROUP, name, body).result()


def failed_operations(deployments: DeploymentsMgmtClient, name: str) -> list[Any]:
    operations = deployments.deployment_operations.list(RESOURCE_GROUP, name)
    return [op for op in operations if op.properties.provisioning_state == "Failed"]


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_rule_fails_the_deployment_and_the_operation_carries_apims_message(
    case: Case, twin: Any, deployments: DeploymentsMgmtClient
) -> None:
    twin.apim.create_service(SUBSCRIPTION, RESOURCE_GROUP, APIM, case.sku)

    with pytest.raises(HttpResponseError) as raised:
        deploy(deployments, "bad-gateway", case.resources, case.service)

    assert raised.value.error.code == "DeploymentFailed"
    assert raised.value.error.message == DEPLOYMENT_FAILED
    [failed] = failed_operations(deployments, "bad-gateway")
    op = failed.properties
    assert op.target_resource.resource_name == f"{case.service}/{case.failed}"
    assert op.status_code == case.status_code
    error = op.status_message.error
    assert (error.code, error.message) == (case.code, case.message)
    assert [(d.code, d.target, d.message) for d in error.details or []] == [
        ("ValidationError", target, message) for target, message in case.details
    ]
    # The deployment's own error repeats the refusal, so `az deployment group create` shows it too.
    [summary] = raised.value.error.details
    assert (summary.code, summary.target, summary.message) == (case.code, op.target_resource.id, case.message)
    assert [d.message for d in summary.details or []] == [message for _, message in case.details]


def test_failed_operations_carry_tracking_ids_and_the_deployment_lists_each_of_them(
    twin: Any, deployments: DeploymentsMgmtClient
) -> None:
    twin.apim.create_service(SUBSCRIPTION, RESOURCE_GROUP, APIM)
    resources = (
        single("aoai-eastus"),
        single("aoai-westus", protocol="https"),
        pool("aoai-pool", [member("aoai-eastus")], depends_on=("aoai-eastus",), url="https://pool.example"),
    )

    with pytest.raises(HttpResponseError) as raised:
        deploy(deployments, "two-bad", resources, APIM)

    operations = list(deployments.deployment_operations.list(RESOURCE_GROUP, "two-bad"))
    by_name = {op.properties.target_resource.resource_name: op for op in operations}
    assert {name: op.properties.provisioning_state for name, op in by_name.items()} == {
        f"{APIM}/aoai-eastus": "Succeeded",
        f"{APIM}/aoai-westus": "Failed",
        f"{APIM}/aoai-pool": "Failed",
    }
    failed = [by_name[f"{APIM}/aoai-westus"], by_name[f"{APIM}/aoai-pool"]]
    for op in failed:
        assert op.properties["trackingId"]  # not in the SDK model; real operations carry it
        assert op.properties.status_code == "BadRequest"
        assert op.properties.status_message.status == "Failed"
        assert op.properties.target_resource.resource_type == BACKEND_TYPE
    assert len({op.properties["trackingId"] for op in failed}) == 2

    deployment = deployments.deployments.get(RESOURCE_GROUP, "two-bad").properties
    assert deployment.provisioning_state == "Failed"
    assert deployment.error.code == "DeploymentFailed"
    listed = [(d.code, d.target, [inner.message for inner in d.details]) for d in deployment.error.details]
    assert listed == [
        (
            "ValidationError",
            f"{APIM_ID}/backends/aoai-westus",
            ["Protocol 'https' is not supported. Supported values are 'http' and 'soap'."],
        ),
        ("ValidationError", f"{APIM_ID}/backends/aoai-pool", ["Url is not supported for backend pool."]),
    ]
    assert [d.target for d in raised.value.error.details] == [d[1] for d in listed]
