"""The twin takes Microsoft's published APIM request bodies as they are and answers in their response shapes.

Fixtures (copied unchanged from ../shared/fixtures into tests/unit/data, read as they are):
- apim_2023-09-01-preview_ApiManagementCreateBackendWithWeightedLoadBalancer.json (REST spec example: a Pool)
- apim_2024-05-01_ApiManagementCreateBackendProxyBackend.json (REST spec example: a Single with proxy, tls, credentials)
- apim_docs_backends_md_ARM_circuitBreaker_snippet.json (docs' ARM snippet: count/min/max written as strings)
- apim_2025-03-01-preview_swagger_TRIMMED_backend_defs.json (the definitions every answer must conform to)
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.mgmt.apimanagement import ApiManagementClient

from breakerpanel.azure.clients import apim_client
from breakerpanel.settings import Settings

pytestmark = pytest.mark.twin

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "data"
POOL_EXAMPLE = "apim_2023-09-01-preview_ApiManagementCreateBackendWithWeightedLoadBalancer.json"
PROXY_EXAMPLE = "apim_2024-05-01_ApiManagementCreateBackendProxyBackend.json"
DOCS_SNIPPET = "apim_docs_backends_md_ARM_circuitBreaker_snippet.json"
SWAGGER = "apim_2025-03-01-preview_swagger_TRIMMED_backend_defs.json"


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def assert_same_shape(actual: Any, expected: Any, path: str = "$") -> None:
    """Same keys, same value types (null as null, bool apart from int), same nesting and list lengths."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        assert set(actual) == set(expected), f"{path}: keys {sorted(actual)} != {sorted(expected)}"
        for key, value in expected.items():
            assert_same_shape(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected an array, got {actual!r}"
        assert len(actual) == len(expected), f"{path}: {len(actual)} items != {len(expected)}"
        for index, (item, expected_item) in enumerate(zip(actual, expected, strict=True)):
            assert_same_shape(item, expected_item, f"{path}[{index}]")
    else:
        assert type(actual) is type(expected), f"{path}: {type(actual).__name__} != {type(expected).__name__}"


def _properties_of(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    merged = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        merged.update(_properties_of(_resolve(part, definitions), definitions))
    return merged


def _resolve(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    if ref.startswith("#/definitions/"):
        return definitions[ref.removeprefix("#/definitions/")]
    return {} if ref else schema  # a common-types reference (ProxyResource) is not in the trimmed file


def assert_conforms(value: Any, schema: dict[str, Any], definitions: dict[str, Any], path: str = "$") -> None:
    """The value fits the swagger schema: types, no key the schema does not define. Nulls pass (APIM sends them)."""
    schema = _resolve(schema, definitions)
    if value is None or not schema:
        return
    properties = _properties_of(schema, definitions)
    kind = schema.get("type", "object" if properties else None)
    if kind == "object":
        assert isinstance(value, dict), f"{path}: expected an object"
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if isinstance(extra, dict):
                assert_conforms(item, extra, definitions, f"{path}.{key}")
            else:
                assert key in properties, f"{path}: '{key}' is not in the schema"
                assert_conforms(item, properties[key], definitions, f"{path}.{key}")
    elif kind == "array":
        assert isinstance(value, list), f"{path}: expected an array"
        for index, item in enumerate(value):
            assert_conforms(item, schema["items"], definitions, f"{path}[{index}]")
    elif kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: {value!r} is not an integer"
    elif kind == "string":
        assert isinstance(value, str), f"{path}: {value!r} is not a string"
    elif kind == "boolean":
        assert isinstance(value, bool), f"{path}: {value!r} is not a boolean"


def assert_backend_contract(answer: dict[str, Any]) -> None:
    definitions = load_fixture(SWAGGER)["definitions"]
    assert set(answer) == {"id", "type", "name", "properties"}
    assert answer["type"] == "Microsoft.ApiManagement/service/backends"
    assert_conforms(answer["properties"], {"$ref": "#/definitions/BackendContractProperties"}, definitions)


def create_service(twin_server: Any, subscription_id: str, resource_group: str, name: str) -> None:
    answer = requests.post(
        f"{twin_server.url}/_twin/apim/services",
        json={"subscriptionId": subscription_id, "resourceGroup": resource_group, "name": name},
        verify=str(twin_server.ca_path),
        timeout=10,
    )
    assert answer.status_code == 201, answer.text


def raw_put(client: ApiManagementClient, example: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
    """PUT the body byte for byte with the example's api-version; the answer's status and JSON."""
    p = example["parameters"]
    return client.backend.create_or_update(
        p["resourceGroupName"],
        p["serviceName"],
        p["backendId"],
        io.BytesIO(json.dumps(body).encode()),
        api_version=p["api-version"],
        cls=lambda response, _model, _headers: (response.http_response.status_code, response.http_response.json()),
    )


@pytest.fixture
def example_client(twin: Any, twin_server: Any, settings: Settings) -> ApiManagementClient:
    """A client for the examples' subscription, with the examples' service created."""
    example = load_fixture(POOL_EXAMPLE)["parameters"]
    create_service(twin_server, example["subscriptionId"], example["resourceGroupName"], example["serviceName"])
    return apim_client(settings, example["subscriptionId"])


def test_weighted_pool_example_is_answered_as_published(example_client: ApiManagementClient) -> None:
    example = load_fixture(POOL_EXAMPLE)
    p = example["parameters"]
    for member in ("backend-1", "backend-2"):
        example_client.backend.create_or_update(
            p["resourceGroupName"],
            p["serviceName"],
            member,
            io.BytesIO(json.dumps({"properties": {"url": f"https://{member}.example/", "protocol": "http"}}).encode()),
        )

    status, created = raw_put(example_client, example, p["parameters"])
    assert status == 201
    assert_same_shape(created, example["responses"]["201"]["body"])
    assert created == example["responses"]["201"]["body"]
    assert_backend_contract(created)

    status, updated = raw_put(example_client, example, p["parameters"])
    assert status == 200
    assert updated == example["responses"]["200"]["body"]


def test_proxy_backend_example_is_answered_in_its_shape(example_client: ApiManagementClient) -> None:
    example = load_fixture(PROXY_EXAMPLE)
    status, created = raw_put(example_client, example, example["parameters"]["parameters"])
    assert status == 201
    published = example["responses"]["201"]["body"]
    assert_same_shape(created, published)
    assert_backend_contract(created)
    # The published example answers tls false/false to a request that sent true/true; the twin stores what was sent.
    assert created["properties"]["tls"] == example["parameters"]["parameters"]["properties"]["tls"]
    without_tls = {k: v for k, v in created["properties"].items() if k != "tls"}
    assert without_tls == {k: v for k, v in published["properties"].items() if k != "tls"}


def test_docs_arm_snippet_with_string_numbers_is_stored_with_numbers(example_client: ApiManagementClient) -> None:
    snippet = load_fixture(DOCS_SNIPPET)
    p = load_fixture(POOL_EXAMPLE)["parameters"]
    example = {"parameters": {**p, "api-version": snippet["apiVersion"], "backendId": "myBackend"}}
    status, created = raw_put(example_client, example, {"properties": snippet["properties"]})
    assert status == 201

    expected = copy.deepcopy(snippet["properties"])
    condition = expected["circuitBreaker"]["rules"][0]["failureCondition"]
    condition["count"] = int(condition["count"])
    for code_range in condition["statusCodeRanges"]:
        code_range["min"], code_range["max"] = int(code_range["min"]), int(code_range["max"])
    assert_same_shape(created["properties"], expected)
    assert created["properties"] == expected
    assert_backend_contract(created)

    got = example_client.backend.get(p["resourceGroupName"], p["serviceName"], "myBackend")
    rule = got.circuit_breaker.rules[0]
    assert (rule.failure_condition.count, rule.failure_condition.status_code_ranges[0].min) == (3, 500)


def test_docs_arm_snippet_deploys_through_the_state_interface(twin: Any) -> None:
    # As the ARM helper materializes it: name "myAPIM/myBackend" at a resource group.
    snippet = load_fixture(DOCS_SNIPPET)
    service, backend = snippet["name"].split("/")
    twin.apim.create_service("00000000-0000-0000-0000-000000000009", "rg-docs", service)
    resource_id = (
        "/subscriptions/00000000-0000-0000-0000-000000000009/resourceGroups/rg-docs/providers/"
        f"{snippet['type'].replace('/backends', '')}/{service}/backends/{backend}"
    )
    assert twin.apim.supports(snippet["type"])
    stored, created = twin.apim.put_resource(resource_id, {"properties": snippet["properties"]})
    assert created
    assert stored["properties"]["circuitBreaker"]["rules"][0]["failureCondition"]["count"] == 3
    assert_backend_contract(stored)
