"""The committed gateway ARM JSON (what the rollout deploys) must say what the Bicep source says."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bicep_drift_check import compare_bicep_to_json

GATEWAY = Path(__file__).resolve().parents[2] / "infra" / "gateway"
README = Path(__file__).resolve().parents[2] / "infra" / "README.md"


def _functions_used(template: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(template, dict):
        for value in template.values():
            found |= _functions_used(value)
    elif isinstance(template, list):
        for value in template:
            found |= _functions_used(value)
    elif isinstance(template, str) and template.startswith("[") and not template.startswith("[["):
        without_literals = re.sub(r"'(?:[^']|'')*'", "''", template)
        found |= set(re.findall(r"([A-Za-z][A-Za-z0-9]*)\(", without_literals))
    return found


def _copy_gateway(tmp_path: Path) -> Path:
    for source in GATEWAY.iterdir():
        shutil.copy(source, tmp_path / source.name)
    return tmp_path


def test_committed_json_matches_bicep() -> None:
    assert compare_bicep_to_json(GATEWAY / "main.bicep", GATEWAY / "main.json") == []


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(template: dict[str, Any]) -> None:
        node: Any = template
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _drop(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(template: dict[str, Any]) -> None:
        node: Any = template
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def _edit(path: list[Any], old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def mutate(template: dict[str, Any]) -> None:
        node: Any = template
        for key in path[:-1]:
            node = node[key]
        assert old in node[path[-1]]
        node[path[-1]] = node[path[-1]].replace(old, new)

    return mutate


JSON_CHANGES = {
    "api version": (_set(["resources", "pool", "apiVersion"], "2024-05-01"), "resources.pool.apiVersion"),
    "literal property": (
        _set(["resources", "aoaiBackends", "properties", "protocol"], "soap"),
        "resources.aoaiBackends.properties.protocol",
    ),
    "parameter default": (_set(["parameters", "apiPath", "defaultValue"], "oai"), "parameters.apiPath"),
    "parameter type": (
        _set(["parameters", "eventGridEndpointUrl", "type"], "string"),
        "parameters.eventGridEndpointUrl",
    ),
    "type constraint": (
        _set(["definitions", "backendType", "properties", "weight", "maxValue"], 1000),
        "definitions.backendType",
    ),
    "dependency": (_drop(["resources", "pool", "dependsOn"]), "resources.pool.dependsOn"),
    "condition": (_drop(["resources", "gatewayDiagnostics", "condition"]), "resources.gatewayDiagnostics.condition"),
    "logged header": (
        _set(["resources", "apiDiagnostics", "properties", "backend", "request", "headers"], ["Authorization"]),
        "resources.apiDiagnostics.properties.backend.request.headers",
    ),
    "loop member read": (
        _set(
            ["resources", "pool", "properties", "pool", "copy", 0, "input", "weight"],
            "[parameters('backends')[copyIndex('services')].priority]",
        ),
        "resources.pool.properties.pool.services.weight",
    ),
    "rule field": (
        _edit(["variables", "circuitBreakerRule"], "variables('failureThreshold')", "createObject()"),
        "variables.circuitBreakerRule",
    ),
    "extra resource": (
        _set(["resources", "stray"], {"type": "Microsoft.ApiManagement/service/backends", "apiVersion": "x"}),
        "resources:",
    ),
}


@pytest.mark.parametrize("change", sorted(JSON_CHANGES))
def test_a_change_to_the_json_alone_is_reported(tmp_path: Path, change: str) -> None:
    mutate, expected_path = JSON_CHANGES[change]
    folder = _copy_gateway(tmp_path)
    template = json.loads((folder / "main.json").read_text(encoding="utf-8"))
    mutate(template)
    (folder / "main.json").write_text(json.dumps(template), encoding="utf-8")

    diffs = compare_bicep_to_json(folder / "main.bicep", folder / "main.json")

    assert diffs, f"changing the {change} in main.json alone went unnoticed"
    assert any(d.startswith(expected_path) for d in diffs), diffs


BICEP_CHANGES = {
    "literal": (
        "main.bicep",
        ("eventDeliverySchema: 'EventGridSchema'", "eventDeliverySchema: 'CloudEventSchemaV1_0'"),
        "resources.breakerEvents.properties.eventDeliverySchema",
    ),
    "api version": (
        "main.bicep",
        ("apis/policies@2024-05-01", "apis/policies@2023-09-01-preview"),
        "resources.apiPolicy.apiVersion",
    ),
    "nullability": (
        "types.bicep",
        ("  failureResponseStatusCode: int?", "  failureResponseStatusCode: int"),
        "definitions.breakerRuleType",
    ),
    "interpolation": (
        "main.bicep",
        ("'/backends/${backend.name}'", "'/backend/${backend.name}'"),
        "resources.pool.properties.pool",
    ),
    "new parameter": (
        "main.bicep",
        ("param apiPath string = 'openai'", "param apiPath string = 'openai'\nparam extra string = ''"),
        "parameters:",
    ),
    "decorator": (
        "main.bicep",
        ("@maxLength(80)\nparam poolName", "@maxLength(50)\nparam poolName"),
        "parameters.poolName",
    ),
    "type decorator": (
        "types.bicep",
        ("@maxValue(100)\n  weight: int", "@maxValue(1000)\n  weight: int"),
        "definitions.backendType",
    ),
}


@pytest.mark.parametrize("change", sorted(BICEP_CHANGES))
def test_a_change_to_the_bicep_alone_is_reported(tmp_path: Path, change: str) -> None:
    file_name, (old, new), expected_path = BICEP_CHANGES[change]
    folder = _copy_gateway(tmp_path)
    source = (folder / file_name).read_text(encoding="utf-8")
    assert old in source, f"the test's anchor {old!r} is gone from {file_name}; update the test"
    (folder / file_name).write_text(source.replace(old, new, 1), encoding="utf-8")

    diffs = compare_bicep_to_json(folder / "main.bicep", folder / "main.json")

    assert any(d.startswith(expected_path) for d in diffs), diffs


def test_an_edit_of_the_policy_file_without_recompiling_is_reported(tmp_path: Path) -> None:
    folder = _copy_gateway(tmp_path)
    policy = (folder / "policy.xml").read_text(encoding="utf-8")
    (folder / "policy.xml").write_text(policy.replace('interval="1"', 'interval="2"'), encoding="utf-8")

    diffs = compare_bicep_to_json(folder / "main.bicep", folder / "main.json")

    assert diffs == ["variables.policyXml: the JSON does not hold the current text of policy.xml"]


def test_json_is_what_bicep_emits_for_user_defined_types() -> None:
    template = json.loads((GATEWAY / "main.json").read_text(encoding="utf-8"))
    # Bicep compiles templates with `type` declarations to languageVersion 2.0: symbolic-name resources.
    assert template["languageVersion"] == "2.0"
    assert isinstance(template["resources"], dict)
    assert template["metadata"]["_generator"]["name"] == "bicep"
    assert template["resources"]["apim"]["existing"] is True


def test_json_uses_only_the_functions_the_readme_promises() -> None:
    template = json.loads((GATEWAY / "main.json").read_text(encoding="utf-8"))
    used = _functions_used(template)
    section = README.read_text(encoding="utf-8").split("## ARM template functions used by `gateway/main.json`")[1]
    promised = set(re.findall(r"`(\w+)`", section.split("\n\n")[0]))
    assert used == promised
    assert not {name for name in used if name == "reference" or name.startswith("list")}


@pytest.mark.skipif(shutil.which("bicep") is None, reason="the Bicep CLI is not on PATH, so main.bicep cannot be built")
def test_bicep_build_equals_committed_json(tmp_path: Path) -> None:
    built = subprocess.run(
        ["bicep", "build", str(GATEWAY / "main.bicep"), "--stdout"], check=True, capture_output=True, text=True
    ).stdout
    fresh = json.loads(built)
    committed = json.loads((GATEWAY / "main.json").read_text(encoding="utf-8"))
    # The generator block carries the CLI version and a hash of Bicep's own making.
    fresh["metadata"].pop("_generator")
    committed["metadata"].pop("_generator")
    assert fresh == committed
