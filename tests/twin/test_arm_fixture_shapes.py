"""The twin's ARM deployment bodies have the shape of Microsoft's published examples (keys, value types, nesting).

Fixtures (tests/unit/data, copied from ../shared/fixtures; Azure/azure-rest-api-specs Microsoft.Resources
deployments 2025-04-01):
PutDeploymentResourceGroup, PostDeploymentValidateOnResourceGroup, PostDeploymentWhatIfOnResourceGroup, and the
trimmed swagger definitions for DeploymentOperation (which has no published example).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from azure.core.rest import HttpRequest

from tests.twin_instance import GROUP_ID, RESOURCE_GROUP, SUBSCRIPTION

pytestmark = pytest.mark.twin

DEPLOYMENTS = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Resources/deployments"

# The examples deploy from a templateLink; the twin takes templates inline only, so it never echoes one.
NO_TEMPLATE_LINK = ("properties.templateLink",)


FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "data"


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def assert_same_shape(actual: Any, expected: Any, ignore: Iterable[str] = (), path: str = "") -> None:
    """`actual` has `expected`'s shape: the same keys at every level (but the `ignore` paths, dotted, with `[]`
    for list items), values of the same JSON kind, lists whose items have the shape of the expected items
    (item by item when both lists have the same length, else each against the first expected item)."""
    ignored = set(ignore)
    where = path or "<root>"
    assert _kind(actual) == _kind(expected), f"{where}: {_kind(actual)} where the example has {_kind(expected)}"
    if isinstance(expected, dict):
        keys = {k for k in expected if _join(path, k) not in ignored}
        got = {k for k in actual if _join(path, k) not in ignored}
        assert got == keys, f"{where}: keys {sorted(got)} where the example has {sorted(keys)}"
        for key in keys:
            assert_same_shape(actual[key], expected[key], ignored, _join(path, key))
    elif isinstance(expected, list) and expected:
        assert actual, f"{where}: empty where the example has items"
        pairs = (
            zip(actual, expected, strict=True) if len(actual) == len(expected) else ((a, expected[0]) for a in actual)
        )
        for item, model in pairs:
            assert_same_shape(item, model, ignored, f"{path}[]")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def test_assert_same_shape_catches_a_missing_key_and_a_wrong_type() -> None:
    with pytest.raises(AssertionError, match="keys"):
        assert_same_shape({"a": 1}, {"a": 1, "b": 2})
    with pytest.raises(AssertionError, match="string where the example has number"):
        assert_same_shape({"a": [{"b": "x"}]}, {"a": [{"b": 1}]})
    assert_same_shape({"a": 1, "b": 2}, {"a": 3}, ignore=["b"])


def _send(client: Any, method: str, path: str, body: Any = None) -> Any:
    return client.send_request(HttpRequest(method, f"{path}?api-version={client._config.api_version}", json=body))


def _storage_template(tags: dict[str, str] | None = None, *, name: str = "mystorageaccount") -> dict[str, Any]:
    """Like the examples: one top-level resource with a location (a type no twin service owns)."""
    resource: dict[str, Any] = {
        "type": "Microsoft.Storage/storageAccounts",
        "apiVersion": "2023-05-01",
        "name": name,
        "location": "eastus",
        "properties": {},
    }
    if tags is not None:
        resource["tags"] = tags
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [resource],
    }


def _request(template: dict[str, Any], mode: str = "Incremental") -> dict[str, Any]:
    return {"properties": {"mode": mode, "template": template, "parameters": {}}}


def test_put_answers_have_the_published_201_and_200_shapes(twin: Any, deployments: Any) -> None:
    example = load_fixture("resources_2025-04-01_PutDeploymentResourceGroup.json")["responses"]

    accepted = _send(deployments, "PUT", f"{DEPLOYMENTS}/shape-put", _request(_storage_template()))
    assert accepted.status_code == 201
    assert_same_shape(accepted.json(), example["201"]["body"], ignore=NO_TEMPLATE_LINK)

    twin.arm.settle(twin.arm.get(SUBSCRIPTION, RESOURCE_GROUP, "shape-put"))
    done = _send(deployments, "GET", f"{DEPLOYMENTS}/shape-put")
    assert done.json()["properties"]["provisioningState"] == "Succeeded"
    assert_same_shape(done.json(), example["200"]["body"], ignore=NO_TEMPLATE_LINK)

    again = _send(deployments, "PUT", f"{DEPLOYMENTS}/shape-put", _request(_storage_template()))
    assert again.status_code == 200  # a finished name is replaced by a new run


def test_validate_answers_have_the_published_200_shape(twin: Any, deployments: Any) -> None:
    example = load_fixture("resources_2025-04-01_PostDeploymentValidateOnResourceGroup.json")["responses"]

    valid = _send(deployments, "POST", f"{DEPLOYMENTS}/shape-validate/validate", _request(_storage_template()))

    assert valid.status_code == 200
    # `diagnostics` are warnings about nested deployments, which the twin has none of.
    assert_same_shape(valid.json(), example["200"]["body"], ignore=(*NO_TEMPLATE_LINK, "properties.diagnostics"))


def test_validate_refusal_has_the_published_400_envelope(twin: Any, deployments: Any) -> None:
    example = load_fixture("resources_2025-04-01_PostDeploymentValidateOnResourceGroup.json")["responses"]
    broken = _storage_template()
    broken["resources"][0]["location"] = "[parameters('nowhere')]"

    refused = _send(deployments, "POST", f"{DEPLOYMENTS}/shape-validate/validate", _request(broken))

    assert refused.status_code == 400
    # A template error is ARM's InvalidTemplate, without the preflight details of the example's
    # InvalidTemplateDeployment (the twin runs no provider preflight; see the report).
    assert refused.json()["error"]["code"] == "InvalidTemplate"
    assert_same_shape(refused.json(), example["400"]["body"], ignore=["error.details"])


def test_what_if_result_has_the_published_shape(twin: Any, deployments: Any) -> None:
    example = load_fixture("resources_2025-04-01_PostDeploymentWhatIfOnResourceGroup.json")["responses"]
    _send(deployments, "PUT", f"{DEPLOYMENTS}/base", _request(_storage_template(name="existing")))
    twin.arm.settle(twin.arm.get(SUBSCRIPTION, RESOURCE_GROUP, "base"))
    proposed = _storage_template({"myNewTag": "my tag value"}, name="existing")
    proposed["resources"].append(
        _storage_template({"myOtherNewTag": "another new tag value"}, name="fresh")["resources"][0]
    )

    started = _send(deployments, "POST", f"{DEPLOYMENTS}/shape-whatif/whatIf", _request(proposed))
    assert started.status_code == 202 and started.headers["Retry-After"] == "0"
    location = started.headers["Location"]
    assert deployments.send_request(HttpRequest("GET", location)).status_code == 202  # whatif_poll_steps = 1
    result = deployments.send_request(HttpRequest("GET", location))

    assert result.status_code == 200
    changes = result.json()["properties"]["changes"]
    assert [change["changeType"] for change in changes] == ["Modify", "Create"]
    assert changes[0]["delta"] == [{"path": "tags.myNewTag", "propertyChangeType": "Create", "after": "my tag value"}]
    # The twin's after/before bodies carry `properties` too (the example's identities have none).
    assert_same_shape(
        result.json(),
        example["200"]["body"],
        ignore=["properties.changes[].before.properties", "properties.changes[].after.properties"],
    )


def _swagger_shape(definitions: dict[str, Any], name: str) -> dict[str, Any]:
    return definitions[name]["properties"]


_JSON_KINDS = {"string": "string", "object": "object", "array": "array", "integer": "number", "boolean": "boolean"}


def _conforms(actual: dict[str, Any], definitions: dict[str, Any], name: str, extra: tuple[str, ...] = ()) -> None:
    """Every key of `actual` is a property of swagger definition `name` (or in `extra`), of the declared kind."""
    declared = _swagger_shape(definitions, name)
    for key, value in actual.items():
        if key in extra:
            continue
        assert key in declared, f"{name}.{key} is not in the swagger definition"
        spec = declared[key]
        ref = spec.get("$ref", "")
        if ref.startswith("#/definitions/") and isinstance(value, dict):
            target = ref.rsplit("/", 1)[-1]
            if "properties" in definitions.get(target, {}):
                _conforms(value, definitions, target, extra)
        elif "type" in spec:
            assert _kind(value) == _JSON_KINDS[spec["type"]], f"{name}.{key}: {_kind(value)} vs {spec['type']}"


def test_deployment_operations_conform_to_the_swagger_definition(twin: Any, deployments: Any) -> None:
    definitions = load_fixture("resources_2025-04-01_swagger_TRIMMED_deployment_operation_defs.json")["definitions"]
    twin.apim.create_service(SUBSCRIPTION, RESOURCE_GROUP, "apim-gateway")
    template = _storage_template()
    template["resources"].append(
        {
            "type": "Microsoft.ApiManagement/service/backends",
            "apiVersion": "2024-05-01",
            "name": "apim-gateway/pool",
            "properties": {"type": "Pool", "url": "https://refused.example", "pool": {"services": []}},
        }
    )
    _send(deployments, "PUT", f"{DEPLOYMENTS}/shape-ops", _request(template))
    twin.arm.settle(twin.arm.get(SUBSCRIPTION, RESOURCE_GROUP, "shape-ops"))

    listed = deployments.send_request(
        HttpRequest("GET", f"{GROUP_ID}/deployments/shape-ops/operations?api-version={deployments._config.api_version}")
    ).json()

    assert set(listed) == {"value"}
    states = sorted(op["properties"]["provisioningState"] for op in listed["value"])
    assert states == ["Failed", "Succeeded"]
    for operation in listed["value"]:
        # trackingId is not in the swagger, but real operations carry it (fixtures README).
        _conforms(operation, definitions, "DeploymentOperation", extra=("trackingId",))
        _conforms(operation["properties"]["targetResource"], definitions, "TargetResource")
    failed = next(op for op in listed["value"] if op["properties"]["provisioningState"] == "Failed")
    message = failed["properties"]["statusMessage"]
    assert set(message) == {"status", "error"} and {"code", "message"} <= set(message["error"])
