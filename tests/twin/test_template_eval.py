"""The twin's pure ARM template evaluator: what a deployment PUT would create, or the error ARM gives."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from twin.arm_deployments.template import EvaluatedTemplate, TemplateError, evaluate_template
from twin.arm_deployments.template.expressions import Access, Call, Node, is_expression, parse_expression
from twin.arm_deployments.template.functions import FUNCTIONS

SUB = "00000000-0000-0000-0000-000000000001"
RG = "rg-gateway"
RG_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}"
REPO = Path(__file__).resolve().parents[2]
MAIN_JSON = REPO / "infra" / "gateway" / "main.json"
# evaluated in evaluator.py, lazily, rather than looked up in FUNCTIONS
SPECIAL_FORMS = {"if", "and", "or"}


def run(template: dict[str, Any], parameters: dict[str, Any] | None = None, **kw: Any) -> EvaluatedTemplate:
    return evaluate_template(
        template, parameters or {}, subscription_id=SUB, resource_group=RG, deployment_name="dep1", **kw
    )


def classic(
    resources: list[dict[str, Any]] | None = None,
    parameters: dict[str, Any] | None = None,
    variables: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": parameters or {},
        "variables": variables or {},
        "resources": resources or [],
        "outputs": outputs or {},
    }


def expr(expression: str, parameters: dict[str, Any] | None = None, supplied: dict[str, Any] | None = None,
         variables: dict[str, Any] | None = None) -> Any:
    """The value of one expression, read back through an output."""
    t = classic(parameters=parameters, variables=variables, outputs={"o": {"type": "object", "value": None}})
    t["outputs"]["o"] = {"type": "", "value": expression}
    return run(t, supplied).outputs["o"]["value"]


def backend(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "Microsoft.ApiManagement/service/backends",
        "apiVersion": "2024-05-01",
        "name": name,
        "properties": {"url": "https://example.test"},
        **extra,
    }


def ids(result: EvaluatedTemplate) -> list[str]:
    return [r.id.removeprefix(RG_ID) for r in result.resources]


# ----- expressions: literals, escaping, access -----


def test_literals_escapes_property_access_and_indexing() -> None:
    assert expr("[[not an expression]") == "[not an expression]"
    assert expr("plain") == "plain"
    assert expr("['it''s']") == "it's"
    assert expr("[createObject('a', createArray(1, 2, createObject('b', true))).a[2].b]") is True
    assert expr("[createObject('Key', 5).key]") == 5  # ARM property names are case-insensitive
    assert expr("[createArray('x', 'y')[sub(2, 1)]]") == "y"
    assert expr("[null()]") is None
    assert expr("[-3]") == -3


def test_missing_property_and_index_out_of_bounds_name_the_property() -> None:
    with pytest.raises(TemplateError) as exc:
        expr("[createObject('a', 1).b]")
    assert exc.value.code == "InvalidTemplate"
    assert "The language expression property 'b' doesn't exist, available properties are 'a'" in exc.value.message
    with pytest.raises(TemplateError) as exc:
        expr("[createArray(1)[3]]")
    assert "array index '3' is out of bounds" in exc.value.message


# ----- functions -----

FUNCTION_CASES: list[tuple[str, Any]] = [
    ("[concat('a', 'b', 1, true())]", "ab1True"),
    ("[concat(createArray(1), createArray(2, 3))]", [1, 2, 3]),
    ("[format('{0}/{1}-{2:D3}', 'apim', true(), 7)]", "apim/True-007"),
    ("[format('{{literal}} {0}', 'x')]", "{literal} x"),
    ("[length('abc')]", 3),
    ("[length(createArray(1, 2))]", 2),
    ("[length(createObject('a', 1))]", 1),
    ("[replace('a-b-c', '-', '/')]", "a/b/c"),
    ("[string(createObject('a', createArray(1, 'x')))]", '{"a":[1,"x"]}'),
    ("[string(false())]", "False"),
    ("[sub(10, 4)]", 6),
    ("[add(10, 4)]", 14),
    ("[mul(10, 4)]", 40),
    ("[div(-7, 2)]", -3),
    ("[mod(-7, 2)]", -1),
    ("[min(3, 1, 2)]", 1),
    ("[max(createArray(3, 9, 2))]", 9),
    ("[empty('')]", True),
    ("[empty(createObject())]", True),
    ("[not(empty(createArray(1)))]", True),
    ("[and(true(), equals(1, 1))]", True),
    ("[or(false(), false())]", False),
    ("[if(equals('a', 'A'), 'same', 'different')]", "different"),
    ("[equals(createObject('a', createArray(1)), createObject('a', createArray(1)))]", True),
    ("[greater(3, 2)]", True),
    ("[greaterOrEquals(2, 2)]", True),
    ("[less('a', 'b')]", True),
    ("[lessOrEquals(3, 2)]", False),
    ("[contains('abc', 'b')]", True),
    ("[contains(createObject('Name', 1), 'name')]", True),
    ("[contains(createArray(1, 2), 3)]", False),
    ("[union(createObject('a', createObject('x', 1)), createObject('a', createObject('y', 2)))]",
     {"a": {"x": 1, "y": 2}}),
    ("[union(createArray(1, 2), createArray(2, 3))]", [1, 2, 3]),
    ("[toLower('AbC')]", "abc"),
    ("[coalesce(null(), null(), 'x')]", "x"),
    ("[tryGet(createObject('a', 1), 'b')]", None),
    ("[resourceGroup().name]", RG),
    ("[resourceGroup().id]", RG_ID),
    ("[subscription().subscriptionId]", SUB),
    ("[subscription().id]", f"/subscriptions/{SUB}"),
    ("[resourceId('Microsoft.ApiManagement/service/backends', 'apim', 'b1')]",
     f"{RG_ID}/providers/Microsoft.ApiManagement/service/apim/backends/b1"),
    ("[resourceId('other-rg', 'Microsoft.Storage/storageAccounts', 'st')]",
     f"/subscriptions/{SUB}/resourceGroups/other-rg/providers/Microsoft.Storage/storageAccounts/st"),
    ("[resourceId('sub2', 'other-rg', 'Microsoft.Storage/storageAccounts', 'st')]",
     "/subscriptions/sub2/resourceGroups/other-rg/providers/Microsoft.Storage/storageAccounts/st"),
    ("[resourceGroup().location]", "eastus"),
]


@pytest.mark.parametrize(("expression", "expected"), FUNCTION_CASES, ids=[c[0][:60] for c in FUNCTION_CASES])
def test_function_values(expression: str, expected: Any) -> None:
    assert expr(expression) == expected


def test_guid_and_unique_string_are_arms_hashes() -> None:
    # uniqueString vectors: the values a public reimplementation states it verified against Bicep's output
    # (gist "uniquestring.sh": test, hello-world, abc); guid is a UUID v5 in ARM's fixed namespace.
    assert expr("[uniqueString('test')]") == "rbgf3xv4ufgzg"
    assert expr("[uniqueString('hello', 'world')]") == "a7wkljktk6wne"
    assert expr("[uniqueString('abc')]") == "cgtzqvhu4i23s"
    value = expr("[guid('a', 'b')]")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", value)
    assert value == expr("[guid('a', 'b')]") != expr("[guid('a', 'c')]")
    assert value == expr("[guid('a-b')]")  # ARM joins the arguments with '-'


def test_copy_index_outside_a_loop_is_an_error() -> None:
    with pytest.raises(TemplateError, match="copyIndex' is not expected at this location"):
        expr("[copyIndex()]")


@pytest.mark.parametrize("function", ["reference", "listKeys", "utcNow", "newGuid", "environment"])
def test_functions_needing_azure_fail_naming_the_function(function: str) -> None:
    with pytest.raises(TemplateError) as exc:
        expr(f"[{function}('x')]")
    assert exc.value.code == "InvalidTemplate"
    assert f"The template function '{function}' is not supported by the twin" in exc.value.message


@pytest.mark.parametrize("function", ["split", "map", "json", "deployment"])
def test_functions_the_twin_leaves_out_fail_naming_the_function(function: str) -> None:
    with pytest.raises(TemplateError) as exc:
        run(classic([backend(f"[{function}('apim/b')]")]))
    assert exc.value.code == "InvalidTemplate"
    assert f"The template function '{function}' is not supported by the twin: ARM has it" in exc.value.message
    assert exc.value.target == "resources[0]"


def _called_functions(value: Any) -> set[str]:
    names: set[str] = set()

    def walk_node(node: Node) -> None:
        if isinstance(node, Call):
            names.add(node.name.lower())
            for arg in node.args:
                walk_node(arg)
        elif isinstance(node, Access):
            walk_node(node.target)
            walk_node(node.key)

    def walk(item: Any) -> None:
        if isinstance(item, str) and is_expression(item):
            walk_node(parse_expression(item[1:-1]))
        elif isinstance(item, list):
            for child in item:
                walk(child)
        elif isinstance(item, dict):
            for key, child in item.items():
                walk(key)
                walk(child)

    walk(value)
    return names


def test_committed_templates_call_only_functions_the_twin_evaluates() -> None:
    templates = [
        path for path in sorted(REPO.glob("infra/**/*.json"))
        if "deploymentTemplate.json" in path.read_text()[:400]
    ]
    assert MAIN_JSON in templates
    for path in templates:
        called = _called_functions(json.loads(path.read_text()))
        # "ns.name" is a user-defined function the template declares itself
        missing = {name for name in called if "." not in name} - set(FUNCTIONS) - SPECIAL_FORMS
        assert not missing, f"{path.relative_to(REPO)} calls {sorted(missing)}: add them to template/functions.py"


def test_unknown_function_fails_with_arms_message() -> None:
    with pytest.raises(TemplateError) as exc:
        run(classic([backend("[fooBar('apim/b')]")]))
    assert "The template function 'fooBar' is not valid" in exc.value.message
    assert exc.value.target == "resources[0]"


def test_expression_syntax_error() -> None:
    with pytest.raises(TemplateError, match="is not valid"):
        expr("[concat('a', ]")


# ----- parameters -----

PARAMS = {
    "name": {"type": "string", "minLength": 3, "maxLength": 8},
    "count": {"type": "int", "defaultValue": 2, "minValue": 1, "maxValue": 5},
    "sku": {"type": "string", "defaultValue": "Developer", "allowedValues": ["Developer", "Premium"]},
    "enabled": {"type": "bool", "defaultValue": True},
    "tags": {"type": "object", "defaultValue": {}},
    "zones": {"type": "array", "defaultValue": []},
    "secret": {"type": "securestring", "defaultValue": ""},
    "derived": {"type": "string", "defaultValue": "[format('{0}-{1}', parameters('name'), parameters('sku'))]"},
}


def param_value(supplied: dict[str, Any], name: str) -> Any:
    t = classic(parameters=PARAMS, outputs={"v": {"type": "", "value": f"[parameters('{name}')]"}})
    return run(t, supplied).outputs["v"]["value"]


def test_supplied_values_and_defaults_including_expressions() -> None:
    supplied = {"name": {"value": "apim1"}, "sku": {"value": "Premium"}}
    assert param_value(supplied, "name") == "apim1"
    assert param_value(supplied, "count") == 2
    assert param_value(supplied, "derived") == "apim1-Premium"
    assert param_value(supplied, "Enabled") is True


def test_missing_required_parameter() -> None:
    with pytest.raises(TemplateError) as exc:
        param_value({}, "count")
    assert exc.value.code == "InvalidTemplate"
    assert exc.value.message == (
        "Deployment template validation failed: 'The value for the template parameter 'name' is not provided. "
        "Please see https://aka.ms/arm-create-parameter-file for usage details.'."
    )


def test_unknown_supplied_parameter_uses_arms_message() -> None:
    with pytest.raises(TemplateError) as exc:
        param_value({"name": {"value": "apim1"}, "colour": {"value": "red"}}, "name")
    assert exc.value.code == "InvalidTemplate"
    assert exc.value.message.startswith(
        "Deployment template validation failed: 'The template parameters 'colour' in the parameters file are not "
        "valid; they are not present in the original template and can therefore not be provided at deployment "
        "time. The only supported parameters for this template are 'name, count, sku, enabled, tags, zones, "
        "secret, derived'."
    )


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("count", "3", "Template parameter JToken type is not valid. Expected 'Integer'. Actual 'String'."),
        ("enabled", "yes", "Expected 'Boolean'. Actual 'String'."),
        ("tags", [], "Expected 'Object'. Actual 'Array'."),
        ("zones", {}, "Expected 'Array'. Actual 'Object'."),
        ("name", 5, "Expected 'String, Uri'. Actual 'Integer'."),
        ("count", True, "Expected 'Integer'. Actual 'Boolean'."),
    ],
)
def test_wrong_type(name: str, value: Any, expected: str) -> None:
    supplied = {"name": {"value": "apim1"}, name: {"value": value}} if name != "name" else {"name": {"value": value}}
    with pytest.raises(TemplateError) as exc:
        param_value(supplied, "name")
    assert expected in exc.value.message
    assert exc.value.target == f"parameters.{name}"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("sku", "Basic", "The provided value 'Basic' for the template parameter 'sku' is not valid. The parameter "
                         "value is not part of the allowed value(s): 'Developer,Premium'."),
        ("count", 0, "Value should be greater than or equal to '1'"),
        ("count", 6, "Value should be less than or equal to '5'"),
        ("name", "ab", "Length of the value should be greater than or equal to '3'"),
        ("name", "abcdefghi", "Length of the value should be less than or equal to '8'"),
    ],
)
def test_constraints(name: str, value: Any, expected: str) -> None:
    supplied = {"name": {"value": "apim1"}, name: {"value": value}}
    with pytest.raises(TemplateError) as exc:
        param_value(supplied, "name")
    assert expected in exc.value.message


def test_allowed_values_are_case_insensitive() -> None:
    assert param_value({"name": {"value": "apim1"}, "sku": {"value": "premium"}}, "sku") == "premium"


def test_key_vault_reference_is_refused_clearly() -> None:
    supplied = {"name": {"value": "apim1"},
                "secret": {"reference": {"keyVault": {"id": "/subscriptions/x"}, "secretName": "s"}}}
    with pytest.raises(TemplateError, match="not supported by the twin"):
        param_value(supplied, "name")


def test_secure_value_never_echoed() -> None:
    t = classic(parameters={"pw": {"type": "securestring", "allowedValues": ["a"]}})
    with pytest.raises(TemplateError) as exc:
        run(t, {"pw": {"value": "hunter2"}})
    assert "hunter2" not in exc.value.message


# ----- variables -----


def test_variables_reference_each_other_and_copy_variables() -> None:
    variables = {
        "prefix": "[toLower(parameters('p'))]",
        "full": "[concat(variables('prefix'), '-x')]",
        "copy": [{"name": "disks", "count": 3, "input": {"lun": "[copyIndex('disks', 10)]"}}],
    }
    t = classic(parameters={"p": {"type": "string"}}, variables=variables,
                outputs={"full": {"type": "string", "value": "[variables('full')]"},
                         "disks": {"type": "array", "value": "[variables('disks')]"}})
    out = run(t, {"p": {"value": "AB"}}).outputs
    assert out["full"]["value"] == "ab-x"
    assert out["disks"]["value"] == [{"lun": 10}, {"lun": 11}, {"lun": 12}]


def test_a_bad_variable_fails_even_if_unused() -> None:
    with pytest.raises(TemplateError) as exc:
        run(classic(variables={"v": "[variables('nope')]"}))
    assert "The template variable 'v' is not valid" in exc.value.message
    assert "'nope' is not found" in exc.value.message


# ----- resources: ids, loops, conditions, ordering -----


def test_resource_id_from_type_and_nested_name_and_evaluated_body() -> None:
    t = classic([{
        "type": "Microsoft.ApiManagement/service/backends",
        "apiVersion": "2024-05-01",
        "name": "[concat(parameters('apim'), '/', 'b1')]",
        "properties": {"url": "[format('https://{0}.test', 'b1')]", "protocol": "http"},
    }], parameters={"apim": {"type": "string"}})
    [resource] = run(t, {"apim": {"value": "apim-gw"}}).resources
    assert resource.id == f"{RG_ID}/providers/Microsoft.ApiManagement/service/apim-gw/backends/b1"
    assert resource.name == "apim-gw/b1"
    assert resource.type == "Microsoft.ApiManagement/service/backends"
    assert resource.api_version == "2024-05-01"
    assert resource.properties == {"url": "https://b1.test", "protocol": "http"}
    assert resource.body["name"] == "apim-gw/b1"
    assert resource.symbolic_name is None


def test_name_segments_must_match_type() -> None:
    with pytest.raises(TemplateError, match="has incorrect segment lengths"):
        run(classic([backend("only-one-segment")]))


def test_copy_loop_with_offset_serial_mode_and_property_copy() -> None:
    t = classic([{
        **backend("[format('apim/b{0}', copyIndex(1))]"),
        "copy": {"name": "loop", "count": 3, "mode": "Serial", "batchSize": 1},
        "properties": {"copy": [{"name": "items", "count": "[copyIndex(1)]",
                                 "input": "[concat(string(copyIndex()), ':', string(copyIndex('items')))]"}]},
    }])
    result = run(t)
    assert ids(result) == [f"/providers/Microsoft.ApiManagement/service/apim/backends/b{i}" for i in (1, 2, 3)]
    assert [r.properties["items"] for r in result.resources] == [["0:0"], ["1:0", "1:1"], ["2:0", "2:1", "2:2"]]


def test_bad_copy_mode_is_rejected() -> None:
    with pytest.raises(TemplateError, match="copy mode 'Sometimes'"):
        run(classic([{**backend("apim/b"), "copy": {"name": "l", "count": 1, "mode": "Sometimes"}}]))


def test_condition_false_omits_resource_and_drops_dependencies_on_it() -> None:
    t = classic([
        {**backend("apim/maybe"), "condition": "[equals(parameters('on'), 'yes')]"},
        {**backend("apim/after"),
         "dependsOn": ["[resourceId('Microsoft.ApiManagement/service/backends', 'apim', 'maybe')]"]},
    ], parameters={"on": {"type": "string"}})
    off = run(t, {"on": {"value": "no"}})
    assert ids(off) == ["/providers/Microsoft.ApiManagement/service/apim/backends/after"]
    assert off.resources[0].depends_on == ()
    on = run(t, {"on": {"value": "yes"}})
    assert [r.name for r in on.resources] == ["apim/maybe", "apim/after"]
    assert on.resources[1].depends_on == (on.resources[0].id,)


def test_depends_on_by_id_name_and_loop_orders_dependencies_first() -> None:
    t = classic([
        {**backend("apim/pool"), "dependsOn": ["members"]},
        {**backend("apim/last"), "dependsOn": ["apim/pool"]},
        {**backend("[format('apim/m{0}', copyIndex())]"), "copy": {"name": "members", "count": 2},
         "dependsOn": ["[resourceId('Microsoft.ApiManagement/service/backends', 'apim', 'first')]"]},
        backend("apim/first"),
    ])
    result = run(t)
    assert [r.name for r in result.resources] == ["apim/first", "apim/m0", "apim/m1", "apim/pool", "apim/last"]
    pool = result.resources[3]
    assert [d.rsplit("/", 1)[-1] for d in pool.depends_on] == ["m0", "m1"]


def test_depends_on_unknown_resource() -> None:
    with pytest.raises(TemplateError) as exc:
        run(classic([{**backend("apim/a"), "dependsOn": ["apim/ghost"]}]))
    assert "The resource 'apim/ghost' is not defined in the template." in exc.value.message


def test_circular_dependency_uses_arms_message() -> None:
    t = classic([
        {**backend("apim/a"), "dependsOn": ["apim/b"]},
        {**backend("apim/b"), "dependsOn": ["apim/a"]},
        backend("apim/free"),
    ])
    with pytest.raises(TemplateError) as exc:
        run(t)
    assert exc.value.code == "InvalidTemplate"
    assert exc.value.message == (
        "Deployment template validation failed: 'Circular dependency detected on resource: "
        f"'{RG_ID}/providers/Microsoft.ApiManagement/service/apim/backends/a'. "
        "Please see https://aka.ms/arm-syntax-resources for usage details.'."
    )


def test_nested_child_resources_are_flattened() -> None:
    t = classic([{
        "type": "Microsoft.ApiManagement/service/apis",
        "apiVersion": "2024-05-01",
        "name": "apim/api1",
        "properties": {"path": "x"},
        "resources": [{
            "type": "policies",
            "apiVersion": "2024-05-01",
            "name": "policy",
            "dependsOn": ["api1"],
            "properties": {"value": "<policies/>"},
        }],
    }])
    result = run(t)
    assert ids(result) == [
        "/providers/Microsoft.ApiManagement/service/apim/apis/api1",
        "/providers/Microsoft.ApiManagement/service/apim/apis/api1/policies/policy",
    ]
    child = result.resources[1]
    assert child.type == "Microsoft.ApiManagement/service/apis/policies"
    assert child.name == "apim/api1/policy"
    assert child.depends_on == (result.resources[0].id,)


def test_extension_resource_with_scope() -> None:
    t = classic([{
        "type": "Microsoft.Insights/diagnosticSettings",
        "apiVersion": "2021-05-01-preview",
        "scope": "[format('Microsoft.ApiManagement/service/{0}', 'apim')]",
        "name": "logs",
        "properties": {"workspaceId": "w"},
    }])
    [resource] = run(t).resources
    assert resource.id == (
        f"{RG_ID}/providers/Microsoft.ApiManagement/service/apim/providers/Microsoft.Insights/diagnosticSettings/logs"
    )
    assert resource.body["scope"] == f"{RG_ID}/providers/Microsoft.ApiManagement/service/apim"


def test_duplicate_resources_are_rejected() -> None:
    with pytest.raises(TemplateError, match="is defined multiple times"):
        run(classic([backend("apim/a"), backend("apim/A")]))


def test_outputs_with_copy_and_condition() -> None:
    t = classic(outputs={
        "names": {"type": "array", "copy": {"count": 2, "input": "[format('b{0}', copyIndex())]"}},
        "skipped": {"type": "string", "condition": "[false()]", "value": "x"},
        "typed": {"type": "int", "value": 3},
    })
    out = run(t).outputs
    assert out == {"names": {"type": "array", "value": ["b0", "b1"]}, "typed": {"type": "int", "value": 3}}


def test_output_of_the_wrong_type() -> None:
    with pytest.raises(TemplateError, match="The template output 'o' is not valid"):
        run(classic(outputs={"o": {"type": "int", "value": "three"}}))


# ----- languageVersion 2.0 -----


def symbolic_template() -> dict[str, Any]:
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "languageVersion": "2.0",
        "contentVersion": "1.0.0.0",
        "definitions": {
            "member": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": 10},
                    "weight": {"type": "int", "minValue": 1, "nullable": True},
                },
            },
        },
        "parameters": {"members": {"type": "array", "items": {"$ref": "#/definitions/member"}}},
        "resources": {
            "apim": {"existing": True, "type": "Microsoft.ApiManagement/service", "apiVersion": "2024-05-01",
                     "name": "apim"},
            "pool": {**backend("apim/pool"), "dependsOn": ["members", "apim"]},
            "members": {**backend("[format('apim/{0}', parameters('members')[copyIndex()].name)]"),
                        "copy": {"name": "members", "count": "[length(parameters('members'))]"},
                        "properties": {
                            "weight": "[coalesce(tryGet(parameters('members')[copyIndex()], 'weight'), 1)]"}},
        },
    }


def test_symbolic_names_existing_resources_and_user_defined_types() -> None:
    result = run(symbolic_template(), {"members": {"value": [{"name": "m1", "weight": 5}, {"name": "m2"}]}})
    assert [(r.symbolic_name, r.name) for r in result.resources] == [
        ("members", "apim/m1"), ("members", "apim/m2"), ("pool", "apim/pool")]
    assert [r.properties["weight"] for r in result.resources[:2]] == [5, 1]
    # the existing APIM is resolvable but not deployed, and a dependency on it is not a deployment dependency
    assert len(result.resources[2].depends_on) == 2


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ([{"weight": 1}], "The property 'name' is required at '[0]'"),
        ([{"name": 7}], "Expected a value of type 'String, Uri' at '[0].name'"),
        ([{"name": "m", "weight": 0}], "Value should be greater than or equal to '1'"),
        ([{"name": "much-too-long-name"}], "Length of the value should be less than or equal to '10'"),
        ([{"name": "m", "weight": None}], None),
    ],
)
def test_user_defined_type_validation(members: list[dict[str, Any]], expected: str | None) -> None:
    if expected is None:
        assert len(run(symbolic_template(), {"members": {"value": members}}).resources) == 2
        return
    with pytest.raises(TemplateError) as exc:
        run(symbolic_template(), {"members": {"value": members}})
    assert exc.value.code == "InvalidTemplate"
    assert expected in exc.value.message
    assert "parameter 'members'" in exc.value.message


def test_symbolic_circular_dependency() -> None:
    t = symbolic_template()
    t["resources"]["members"]["dependsOn"] = ["pool"]
    with pytest.raises(TemplateError, match="Circular dependency detected on resource"):
        run(t, {"members": {"value": [{"name": "m1"}]}})


def test_user_defined_functions() -> None:
    t = classic(outputs={"o": {"type": "string", "value": "[__bicep.greet('x')]"}})
    t["functions"] = [{"namespace": "__bicep", "members": {"greet": {
        "parameters": [{"name": "who", "type": "string"}],
        "output": {"type": "string", "value": "[format('hi {0}', parameters('who'))]"}}}}]
    assert run(t).outputs["o"]["value"] == "hi x"


# ----- the gateway template the product deploys -----

GATEWAY_PARAMETERS: dict[str, Any] = {
    "apimServiceName": {"value": "apim-gateway"},
    "backends": {"value": [
        {"name": "aoai-eastus", "url": "https://aoai-eastus.openai.azure.com/openai", "priority": 1, "weight": 50},
        {"name": "aoai-westus", "url": "https://aoai-westus.openai.azure.com/openai", "priority": 1, "weight": 50},
        {"name": "aoai-sweden", "url": "https://aoai-sweden.openai.azure.com/openai", "priority": 2, "weight": 100},
    ]},
    "breakerRule": {"value": {
        "name": "openai-breaker", "failureCount": 3, "failurePercentage": None, "interval": "PT1M",
        "statusCodeRanges": [{"min": 429, "max": 429}, {"min": 500, "max": 599}], "errorReasons": [],
        "tripDuration": "PT1M", "acceptRetryAfter": True, "failureResponseStatusCode": None}},
    "poolName": {"value": "aoai-pool"},
}


def gateway() -> dict[str, Any]:
    if not MAIN_JSON.exists():
        pytest.skip("infra/gateway/main.json is not in the tree yet (the infra part writes it)")
    return json.loads(MAIN_JSON.read_text())


def test_gateway_template_backends_pool_and_policy() -> None:
    result = run(gateway(), GATEWAY_PARAMETERS)
    by_name = {r.name: r for r in result.resources}
    backend_names = ["apim-gateway/aoai-eastus", "apim-gateway/aoai-westus", "apim-gateway/aoai-sweden"]
    for name in backend_names:
        single = by_name[name]
        assert single.type == "Microsoft.ApiManagement/service/backends"
        assert single.properties["type"] == "Single"
        assert single.properties["url"] == f"https://{name.split('/')[1]}.openai.azure.com/openai"
        [rule] = single.properties["circuitBreaker"]["rules"]
        assert rule["name"] == "openai-breaker"
        assert rule["failureCondition"]["count"] == 3
        assert rule["failureCondition"]["statusCodeRanges"] == [{"min": 429, "max": 429}, {"min": 500, "max": 599}]
        assert rule["acceptRetryAfter"] is True
    pool = by_name["apim-gateway/aoai-pool"]
    assert pool.id == f"{RG_ID}/providers/Microsoft.ApiManagement/service/apim-gateway/backends/aoai-pool"
    assert pool.properties["type"] == "Pool"
    assert "url" not in pool.properties
    assert pool.properties["pool"]["services"] == [
        {"id": "/backends/aoai-eastus", "priority": 1, "weight": 50},
        {"id": "/backends/aoai-westus", "priority": 1, "weight": 50},
        {"id": "/backends/aoai-sweden", "priority": 2, "weight": 100},
    ]
    # the pool comes after all its members, the policy after the pool
    order = [r.name for r in result.resources]
    assert max(order.index(n) for n in backend_names) < order.index(pool.name)
    policy = next(r for r in result.resources if r.type.endswith("/apis/policies"))
    assert order.index(pool.name) < order.index(policy.name)
    xml = policy.properties["value"]
    assert '<set-backend-service backend-id="aoai-pool" />' in xml
    assert re.search(r'<retry [^>]*count="2"', xml)
    assert "__RETRY_COUNT__" not in xml and "__POOL_NAME__" not in xml
    # optional parts are off with their parameters empty
    assert not any(r.type.startswith(("Microsoft.Insights", "Microsoft.EventGrid")) for r in result.resources)
    assert result.outputs["retryCount"]["value"] == 2
    assert result.outputs["poolId"]["value"] == pool.id
    assert result.outputs["backendIds"]["value"] == [by_name[n].id for n in backend_names]


def test_gateway_template_optional_parts_and_single_backend_retry() -> None:
    params = dict(GATEWAY_PARAMETERS)
    params["backends"] = {"value": GATEWAY_PARAMETERS["backends"]["value"][:1]}
    params["logAnalyticsWorkspaceId"] = {"value": "/subscriptions/s/resourceGroups/rg/providers/"
                                                  "Microsoft.OperationalInsights/workspaces/law"}
    params["eventGridEndpointUrl"] = {"value": "https://hooks.test/api/breaker?code=secret"}
    result = run(gateway(), params)
    diagnostics = next(r for r in result.resources if r.type == "Microsoft.Insights/diagnosticSettings")
    assert diagnostics.id == (f"{RG_ID}/providers/Microsoft.ApiManagement/service/apim-gateway/providers/"
                              "Microsoft.Insights/diagnosticSettings/breakerpanel-gateway-logs")
    subscription = next(r for r in result.resources if r.type.endswith("/eventSubscriptions"))
    assert subscription.properties["destination"]["endpointType"] == "WebHook"
    topic = next(r for r in result.resources if r.type == "Microsoft.EventGrid/systemTopics")
    assert subscription.depends_on == (topic.id,)
    assert topic.body["location"] == "eastus"
    policy = next(r for r in result.resources if r.type.endswith("/apis/policies"))
    assert re.search(r'<retry [^>]*count="1"', policy.properties["value"])


def test_gateway_template_rejects_a_bad_backend() -> None:
    params = dict(GATEWAY_PARAMETERS)
    params["backends"] = {"value": [{"name": "aoai", "url": "https://x", "priority": 1}]}
    with pytest.raises(TemplateError) as exc:
        run(gateway(), params)
    assert "The property 'weight' is required" in exc.value.message


def test_nested_deployment_with_inner_scope_keeps_its_template_unevaluated() -> None:
    inner = {"resources": [backend("[parameters('innerName')]")]}
    t = classic([{
        "type": "Microsoft.Resources/deployments",
        "apiVersion": "2022-09-01",
        "name": "[format('nested-{0}', 'dep1')]",
        "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
                       "parameters": {"innerName": {"value": "[concat('apim', '/b')]"}}, "template": inner},
    }])
    [resource] = run(t).resources
    assert resource.name == "nested-dep1"
    assert resource.properties["template"] == inner
    assert resource.properties["parameters"] == {"innerName": {"value": "apim/b"}}
