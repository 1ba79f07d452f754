"""The committed gateway template (infra/gateway/main.json) deployed to the twin with the real
DeploymentsMgmtClient, then read back with the real ApiManagementClient, as a user checks a rollout."""

from __future__ import annotations

import copy
import datetime as dt
import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.apimanagement import ApiManagementClient
from azure.mgmt.resource.deployments import DeploymentsMgmtClient
from azure.mgmt.resource.deployments.models import (
    Deployment,
    DeploymentProperties,
    DeploymentWhatIf,
    DeploymentWhatIfProperties,
)

from tests.twin_instance import APIM, APIM_ID, RESOURCE_GROUP, SUBSCRIPTION

pytestmark = pytest.mark.twin

# Copied from tests/conftest.py (it is not importable).
MAIN_JSON = Path(__file__).resolve().parents[2] / "infra" / "gateway" / "main.json"
# The SDK speaks 2024-05-01, which has no failureResponse; the template writes the backends at this version.
PREVIEW = "2025-03-01-preview"

BACKENDS = [
    {"name": "aoai-eastus", "url": "https://aoai-eastus.openai.azure.com/openai", "priority": 1, "weight": 60},
    {"name": "aoai-westus", "url": "https://aoai-westus.openai.azure.com/openai", "priority": 1, "weight": 40},
    {"name": "aoai-sweden", "url": "https://aoai-sweden.openai.azure.com/openai", "priority": 2, "weight": 100},
]
BREAKER_RULE = {
    "name": "openai-breaker",
    "failureCount": 3,
    "interval": "PT1M",
    "statusCodeRanges": [{"min": 429, "max": 429}, {"min": 500, "max": 599}],
    "errorReasons": ["timeout"],
    "tripDuration": "PT30S",
    "acceptRetryAfter": True,
    "failureResponseStatusCode": 599,
}
POOL = "aoai-pool"
API = "azure-openai"
API_PATH = "openai"


def parameters(backends: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apimServiceName": {"value": APIM},
        "backends": {"value": backends},
        "breakerRule": {"value": BREAKER_RULE},
        "poolName": {"value": POOL},
        "apiName": {"value": API},
        "apiPath": {"value": API_PATH},
    }


def gateway_template() -> dict[str, Any]:
    return json.loads(MAIN_JSON.read_text())


def deploy(deployments: DeploymentsMgmtClient, name: str, backends: list[dict[str, Any]]) -> Any:
    body = Deployment(
        properties=DeploymentProperties(
            mode="Incremental", template=gateway_template(), parameters=parameters(backends)
        )
    )
    return deployments.deployments.begin_create_or_update(RESOURCE_GROUP, name, body).result()


def what_if(deployments: DeploymentsMgmtClient, name: str, backends: list[dict[str, Any]]) -> dict[str, Any]:
    """resource name (last id segment) → its WhatIfChange."""
    body = DeploymentWhatIf(
        properties=DeploymentWhatIfProperties(
            mode="Incremental", template=gateway_template(), parameters=parameters(backends)
        )
    )
    result = deployments.deployments.begin_what_if(RESOURCE_GROUP, name, body).result()
    assert result.status == "Succeeded"
    return {change.resource_id.removeprefix(APIM_ID): change for change in result.changes}


def raw_backend(apim: ApiManagementClient, name: str) -> dict[str, Any]:
    """The backend as APIM answers it at 2025-03-01-preview, unfiltered by the 2024-05-01 SDK models."""
    return apim.backend.get(
        RESOURCE_GROUP, APIM, name, api_version=PREVIEW, cls=lambda resp, obj, headers: resp.http_response.json()
    )


@pytest.fixture
def service(twin: Any) -> Any:
    """The twin, reset, with the existing APIM instance the template deploys into."""
    twin.apim.create_service(SUBSCRIPTION, RESOURCE_GROUP, APIM, "Developer")
    return twin


@pytest.fixture
def deployed(service: Any, deployments: DeploymentsMgmtClient) -> Any:
    result = deploy(deployments, "gateway-1", BACKENDS)
    assert result.properties.provisioning_state == "Succeeded"
    return result


def test_each_backend_reads_back_field_for_field(deployed: Any, apim: ApiManagementClient) -> None:
    for spec in BACKENDS:
        got = apim.backend.get(RESOURCE_GROUP, APIM, spec["name"])
        assert got.id == f"{APIM_ID}/backends/{spec['name']}"
        assert got.url == spec["url"]
        assert got.protocol == "http"
        assert got.type_properties_type == "Single"
        assert got.description == "Azure OpenAI endpoint, deployed by breakerpanel."
        [rule] = got.circuit_breaker.rules
        assert rule.name == "openai-breaker"
        assert rule.failure_condition.count == 3
        assert rule.failure_condition.percentage is None
        assert rule.failure_condition.interval == dt.timedelta(minutes=1)
        assert [(r.min, r.max) for r in rule.failure_condition.status_code_ranges] == [(429, 429), (500, 599)]
        assert rule.failure_condition.error_reasons == ["timeout"]
        assert rule.trip_duration == dt.timedelta(seconds=30)
        assert rule.accept_retry_after is True

        [raw_rule] = raw_backend(apim, spec["name"])["properties"]["circuitBreaker"]["rules"]
        assert raw_rule["failureCondition"]["interval"] == "PT1M"
        assert raw_rule["tripDuration"] == "PT30S"
        assert raw_rule["failureResponse"] == {"statusCode": 599}


def test_pool_lists_every_backend_with_its_priority_and_weight(deployed: Any, apim: ApiManagementClient) -> None:
    pool = apim.backend.get(RESOURCE_GROUP, APIM, POOL)

    assert pool.id == f"{APIM_ID}/backends/{POOL}"
    assert pool.type_properties_type == "Pool"
    assert pool.url is None
    assert pool.protocol is None
    assert pool.circuit_breaker is None
    assert [(m.id, m.priority, m.weight) for m in pool.pool.services] == [
        ("/backends/aoai-eastus", 1, 60),
        ("/backends/aoai-westus", 1, 40),
        ("/backends/aoai-sweden", 2, 100),
    ]
    listed = {b.name: b.type_properties_type for b in apim.backend.list_by_service(RESOURCE_GROUP, APIM)}
    assert listed == {"aoai-eastus": "Single", "aoai-westus": "Single", "aoai-sweden": "Single", POOL: "Pool"}


def test_api_and_its_policy_route_to_the_pool_and_retry_over_every_member(
    deployed: Any, apim: ApiManagementClient
) -> None:
    api = apim.api.get(RESOURCE_GROUP, APIM, API)
    assert api.path == API_PATH
    assert api.protocols == ["https"]
    assert api.subscription_required is True

    policy = apim.api_policy.get(RESOURCE_GROUP, APIM, API, "policy", format="rawxml")
    root = ElementTree.fromstring(policy.value)
    [set_backend] = root.iter("set-backend-service")
    assert set_backend.attrib == {"backend-id": POOL}
    [retry] = root.iter("retry")
    assert retry.attrib["count"] == str(len(BACKENDS) - 1)
    assert retry.attrib["condition"] == "@(context.Response.StatusCode == 429 || context.Response.StatusCode == 503)"
    [forward] = retry.iter("forward-request")
    assert forward.attrib["buffer-request-body"] == "true"

    outputs = deployed.properties.outputs
    assert outputs["poolId"]["value"] == f"{APIM_ID}/backends/{POOL}"
    assert outputs["retryCount"]["value"] == 2
    assert outputs["backendIds"]["value"] == [f"{APIM_ID}/backends/{b['name']}" for b in BACKENDS]


def test_one_backend_pool_still_retries_once(
    service: Any, deployments: DeploymentsMgmtClient, apim: ApiManagementClient
) -> None:
    deploy(deployments, "gateway-solo", BACKENDS[:1])

    policy = apim.api_policy.get(RESOURCE_GROUP, APIM, API, "policy", format="rawxml")
    [retry] = ElementTree.fromstring(policy.value).iter("retry")
    assert retry.attrib["count"] == "1"


def test_redeploying_the_same_parameters_succeeds_and_what_if_shows_no_change(
    deployed: Any, deployments: DeploymentsMgmtClient, apim: ApiManagementClient
) -> None:
    again = deploy(deployments, "gateway-2", BACKENDS)
    assert again.properties.provisioning_state == "Succeeded"

    changes = what_if(deployments, "gateway-3", BACKENDS)

    expected = [
        *(f"/backends/{b['name']}" for b in BACKENDS),
        f"/backends/{POOL}",
        f"/apis/{API}",
        f"/apis/{API}/operations/post-all",
        f"/apis/{API}/operations/get-all",
        f"/apis/{API}/policies/policy",
    ]
    assert sorted(changes) == sorted(expected)
    assert {name: change.change_type for name, change in changes.items()} == dict.fromkeys(expected, "NoChange")


def test_what_if_without_one_backend_shows_the_pool_modified(
    deployed: Any, deployments: DeploymentsMgmtClient, apim: ApiManagementClient
) -> None:
    fewer = copy.deepcopy(BACKENDS[:2])

    changes = what_if(deployments, "gateway-shrink", fewer)

    kinds = {name: change.change_type for name, change in changes.items()}
    assert kinds[f"/backends/{POOL}"] == "Modify"
    assert kinds["/backends/aoai-eastus"] == kinds["/backends/aoai-westus"] == "NoChange"
    # The policy's retry count follows the pool size (3 → 2 members: 2 → 1 retry).
    assert kinds[f"/apis/{API}/policies/policy"] == "Modify"
    # Incremental mode leaves the dropped backend alone: it is not in the template, so not in the changes.
    assert "/backends/aoai-sweden" not in kinds
    [services] = changes[f"/backends/{POOL}"].delta
    assert (services.path, services.property_change_type) == ("properties.pool.services", "Array")
    assert [(c.path, c.property_change_type, c.before) for c in services.children] == [
        ("2", "Delete", {"id": "/backends/aoai-sweden", "priority": 2, "weight": 100})
    ]
    # What-if writes nothing: the pool still has three members.
    assert len(apim.backend.get(RESOURCE_GROUP, APIM, POOL).pool.services) == 3

    deploy(deployments, "gateway-shrink", fewer)

    pool = apim.backend.get(RESOURCE_GROUP, APIM, POOL)
    assert [m.id for m in pool.pool.services] == ["/backends/aoai-eastus", "/backends/aoai-westus"]
    # Incremental: the dropped backend stays in APIM, out of the pool.
    assert apim.backend.get(RESOURCE_GROUP, APIM, "aoai-sweden").url == BACKENDS[2]["url"]


def test_a_rule_without_optional_members_is_sent_without_them_never_as_null(
    service: Any, deployments: DeploymentsMgmtClient, apim: ApiManagementClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    rule = {k: v for k, v in BREAKER_RULE.items() if k not in ("failureCount", "failureResponseStatusCode")}
    monkeypatch.setitem(globals(), "BREAKER_RULE", {**rule, "failurePercentage": 50})

    result = deploy(deployments, "gateway-percentage", BACKENDS[:1])

    assert result.properties.provisioning_state == "Succeeded"
    [raw_rule] = raw_backend(apim, BACKENDS[0]["name"])["properties"]["circuitBreaker"]["rules"]
    assert raw_rule["failureCondition"]["percentage"] == 50
    # Absent, not null: APIM validates a null count or failureResponse as a value.
    assert "count" not in raw_rule["failureCondition"]
    assert "failureResponse" not in raw_rule


# A Log Analytics workspace resource id: with it the template sends the gateway logs there and logs Retry-After.
WORKSPACE_ID = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
                "/providers/Microsoft.OperationalInsights/workspaces/law-gw")
DIAGNOSTIC = f"/apis/{API}/diagnostics/azuremonitor"
GATEWAY_LOGS = "/providers/Microsoft.Insights/diagnosticSettings/breakerpanel-gateway-logs"


def deploy_with_logs(deployments: DeploymentsMgmtClient, name: str) -> Any:
    body = Deployment(properties=DeploymentProperties(
        mode="Incremental", template=gateway_template(),
        parameters={**parameters(BACKENDS), "logAnalyticsWorkspaceId": {"value": WORKSPACE_ID}}))
    return deployments.deployments.begin_create_or_update(RESOURCE_GROUP, name, body).result()


def test_with_a_workspace_the_api_logs_the_backends_retry_after_and_nothing_else(
    service: Any, deployments: DeploymentsMgmtClient, apim: ApiManagementClient
) -> None:
    # ApiManagementGatewayLogs.BackendResponseHeaders holds only the headers the API's Azure Monitor diagnostic
    # names ("Headers to log ... Default: no headers are logged"): the watchdog's Retry-After needs this one.
    result = deploy_with_logs(deployments, "gateway-logs")
    assert result.properties.provisioning_state == "Succeeded"

    got = apim.api_diagnostic.get(RESOURCE_GROUP, APIM, API, "azuremonitor")

    assert got.id == f"{APIM_ID}{DIAGNOSTIC}"
    assert got.logger_id == f"{APIM_ID}/loggers/azuremonitor"
    assert (got.sampling.sampling_type, got.sampling.percentage) == ("fixed", 100)
    assert got.verbosity == "information"
    assert got.log_client_ip is False
    assert got.backend.response.headers == ["Retry-After", "retry-after"]
    # No payload and no other header, in either direction: keys and tokens are never logged.
    for message in (got.frontend.request, got.frontend.response, got.backend.request, got.backend.response):
        assert message.body.bytes == 0
    assert got.frontend.request.headers == got.frontend.response.headers == got.backend.request.headers == []
    raw = apim.api_diagnostic.get(RESOURCE_GROUP, APIM, API, "azuremonitor",
                                  cls=lambda resp, obj, headers: resp.http_response.json())
    assert set(raw["properties"]) == {"loggerId", "sampling", "verbosity", "logClientIp", "frontend", "backend"}


def test_with_a_workspace_redeploying_shows_no_change_for_the_diagnostic_either(
    service: Any, deployments: DeploymentsMgmtClient
) -> None:
    deploy_with_logs(deployments, "gateway-logs-1")
    assert deploy_with_logs(deployments, "gateway-logs-2").properties.provisioning_state == "Succeeded"

    body = DeploymentWhatIf(properties=DeploymentWhatIfProperties(
        mode="Incremental", template=gateway_template(),
        parameters={**parameters(BACKENDS), "logAnalyticsWorkspaceId": {"value": WORKSPACE_ID}}))
    result = deployments.deployments.begin_what_if(RESOURCE_GROUP, "gateway-logs-3", body).result()

    kinds = {change.resource_id.removeprefix(APIM_ID): change.change_type for change in result.changes}
    assert kinds[DIAGNOSTIC] == kinds[GATEWAY_LOGS] == "NoChange"
    assert set(kinds.values()) == {"NoChange"}


def test_without_a_workspace_no_api_diagnostic_is_deployed(deployed: Any, apim: ApiManagementClient) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    with pytest.raises(ResourceNotFoundError):
        apim.api_diagnostic.get(RESOURCE_GROUP, APIM, API, "azuremonitor")


def test_an_api_diagnostic_names_a_logger_of_the_instance(service: Any) -> None:
    api_id = f"{APIM_ID}/apis/{API}"
    service.apim.put_resource(api_id, {"properties": {"path": API_PATH}})
    good = {"properties": {"loggerId": f"{APIM_ID}/loggers/azuremonitor", "sampling": {"percentage": 100}}}
    _, created = service.apim.put_resource(f"{api_id}/diagnostics/azuremonitor", good)
    assert created

    from twin.errors import TwinError

    for properties, target in [
        ({}, "loggerId"),
        ({"loggerId": f"{APIM_ID}/loggers/my-app-insights"}, "loggerId"),
        ({"loggerId": "/loggers/azuremonitor", "sampling": {"percentage": 101}}, "sampling.percentage"),
        ({"loggerId": "/loggers/azuremonitor", "backend": {"response": {"body": {"bytes": 8193}}}},
         "backend.response.body.bytes"),
    ]:
        with pytest.raises(TwinError) as refused:
            service.apim.put_resource(f"{api_id}/diagnostics/azuremonitor", {"properties": properties})
        assert refused.value.status == 400
        assert [d["target"] for d in refused.value.envelope()["error"]["details"]] == [target]
    with pytest.raises(TwinError) as no_api:
        service.apim.put_resource(f"{APIM_ID}/apis/other/diagnostics/azuremonitor", good)
    assert no_api.value.status == 404
