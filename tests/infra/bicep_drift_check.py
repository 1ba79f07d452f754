"""Compare a Bicep file with the ARM JSON committed beside it, without the Bicep CLI.

The committed `main.json` is what the rollout sends to ARM, while `main.bicep` is what people edit; this
module reports every place where the two disagree, so a change made on one side only is caught.

Bicep is parsed with pycep-parser. pycep 0.7.1 cannot parse decorators on the properties of a `type`
declaration nor `T[]` inside one, and it gets operator precedence wrong (`a.?b == null ? x : y`), so:
- `type` blocks are lifted out and read by `_split_types` below (one property per line, as written here);
- expressions are compared by what they reference (parameters, variables, loop items) and by their literal
  text, never by their shape. Literals, keys, types, api versions, names, decorators and structure
  (loops, conditions, dependencies) are compared exactly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycep import BicepParser

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
INTERP = re.compile(r"\$\{([^}]*)\}")
IMPORT = re.compile(r"^import \{([^}]*)\} from '([^']+)'", re.MULTILINE)
SIMPLE_TYPES = {"string", "int", "bool", "object", "array"}
DECORATOR_KEYS = {
    "minLength": "minLength",
    "maxLength": "maxLength",
    "minValue": "minValue",
    "maxValue": "maxValue",
    "min_length": "minLength",
    "max_length": "maxLength",
    "min_value": "minValue",
    "max_value": "maxValue",
}


@dataclass(frozen=True)
class TypeProperty:
    name: str
    type_expr: str
    nullable: bool
    decorators: dict[str, Any]


@dataclass(frozen=True)
class TypeDecl:
    name: str
    description: str | None
    properties: tuple[TypeProperty, ...]


@dataclass
class _Names:
    params: set[str] = field(default_factory=set)
    variables: set[str] = field(default_factory=set)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)


def _unescape(text: str) -> str:
    return text.replace("\\'", "'").replace("\\\\", "\\")


def _decorator(line: str) -> tuple[str, Any]:
    match = re.match(r"^@(?:sys\.)?(\w+)\((.*)\)\s*$", line.strip())
    if not match:
        raise ValueError(f"cannot read decorator line {line!r}")
    name, raw = match.groups()
    raw = raw.strip()
    if raw.startswith("'") and raw.endswith("'"):
        return name, _unescape(raw[1:-1])
    if re.fullmatch(r"-?\d+", raw):
        return name, int(raw)
    return name, raw


def _split_types(text: str) -> tuple[str, list[TypeDecl]]:
    """Remove `type X = { ... }` blocks (and their decorators) from `text` and read them."""
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    types: list[TypeDecl] = []
    pending: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("@"):
            pending.append(line)
            i += 1
            continue
        header = re.match(r"^type (\w+) = \{\s*$", line)
        if not header:
            kept.extend(pending)
            pending = []
            kept.append(line)
            i += 1
            continue
        description = None
        for deco in pending:
            name, arg = _decorator(deco)
            if name == "description":
                description = arg
        pending = []
        props: list[TypeProperty] = []
        prop_decos: dict[str, Any] = {}
        i += 1
        while not lines[i].startswith("}"):
            body = lines[i].strip()
            i += 1
            if not body or body.startswith("//"):
                continue
            if body.startswith("@"):
                name, arg = _decorator(body)
                prop_decos[name] = arg
                continue
            prop = re.match(r"^(\w+):\s*([\w\[\]]+)(\?)?$", body)
            if not prop:
                raise ValueError(f"cannot read type property line {body!r} in type {header.group(1)}")
            props.append(TypeProperty(prop.group(1), prop.group(2), prop.group(3) == "?", prop_decos))
            prop_decos = {}
        i += 1
        types.append(TypeDecl(header.group(1), description, tuple(props)))
    kept.extend(pending)
    return "".join(kept), types


def _schema_for(type_expr: str) -> dict[str, Any]:
    if type_expr.endswith("[]"):
        return {"type": "array", "items": _schema_for(type_expr[:-2])}
    if type_expr in SIMPLE_TYPES:
        return {"type": type_expr}
    return {"$ref": f"#/definitions/{type_expr}"}


def _pycep_type(value: Any) -> str:
    if isinstance(value, dict) and value.get("type") == "array" and "item_type" in value:
        return f"{_pycep_type(value['item_type'])}[]"
    return str(value)


def _expected_schema(type_expr: str, decorators: dict[str, Any], nullable: bool = False) -> dict[str, Any]:
    schema = _schema_for(type_expr)
    if decorators.get("secure") is not None and schema.get("type") == "string":
        schema["type"] = "securestring"
    if decorators.get("secure") is not None and schema.get("type") == "object":
        schema["type"] = "secureObject"
    for key, value in decorators.items():
        if key in DECORATOR_KEYS:
            schema[DECORATOR_KEYS[key]] = value
        elif key == "allowed":
            schema["allowedValues"] = value
    if nullable:
        schema["nullable"] = True
    if "description" in decorators:
        schema["metadata"] = {"description": decorators["description"]}
    return schema


def _strip_for_compare(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in ("defaultValue",)}


def _pycep_decorators(decorators: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for deco in decorators:
        kind = deco["type"]
        if kind == "secure":
            out["secure"] = True
        elif kind == "description":
            out["description"] = _unescape(str(deco["argument"]))
        elif kind == "allowed":
            out["allowed"] = deco["argument"]
        elif kind in DECORATOR_KEYS:
            out[kind] = deco["argument"]
    return out


def _is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("[") and not value.startswith("[[")


def _identifiers(tree: Any) -> set[str]:
    """Every bare name a pycep expression tree mentions (operands, function arguments)."""
    found: set[str] = set()
    if isinstance(tree, dict):
        operator = tree.get("operator")
        if isinstance(operator, dict) and operator.get("type") == "property_accessor":
            # `x.name`: only x is a name in scope; `name` is a member (handled by _Comparer.members).
            operands = operator["operands"]
            found |= _identifiers(operands["operand_1"])
            if not isinstance(operands["operand_2"], str):
                found |= _identifiers(operands["operand_2"])
            return found
        for value in tree.values():
            found |= _identifiers(value)
    elif isinstance(tree, list):
        for value in tree:
            found |= _identifiers(value)
    elif isinstance(tree, str):
        if IDENT.match(tree):
            found.add(tree)
        for inner in INTERP.findall(tree):
            found |= set(re.findall(r"(?<![.\w])([A-Za-z_]\w*)", inner))
    return found


class _Comparer:
    def __init__(self, names: _Names, loops: dict[str, str] | None = None) -> None:
        self.names = names
        self.loops = loops or {}
        self.diffs: list[str] = []

    def with_loop(self, item: str, array: str) -> _Comparer:
        child = _Comparer(self.names, {**self.loops, item: array})
        child.diffs = self.diffs
        return child

    def reference_text(self, name: str) -> str | None:
        """How ARM JSON spells a reference to the Bicep name `name`, or None if not a known name."""
        if name in self.loops:
            array = self.loops[name]
            return f"parameters('{array}')" if array in self.names.params else f"variables('{array}')"
        if name in self.names.params:
            return f"parameters('{name}')"
        if name in self.names.variables:
            return f"variables('{name}')"
        return None

    def members(self, tree: Any) -> set[str]:
        """Properties read off parameters, variables or loop items (`backend.weight` -> 'weight')."""
        found: set[str] = set()
        if isinstance(tree, dict):
            operator = tree.get("operator")
            if isinstance(operator, dict) and operator.get("type") == "property_accessor":
                operands = operator["operands"]
                root = operands["operand_1"]
                while isinstance(root, dict) and isinstance(root.get("operator"), dict):
                    root = root["operator"].get("operands", {}).get("operand_1")
                member = operands["operand_2"]
                is_resource = isinstance(root, str) and root in self.names.resources
                if isinstance(member, str) and IDENT.match(member) and not is_resource:
                    found.add(member)
            for value in tree.values():
                found |= self.members(value)
        elif isinstance(tree, list):
            for value in tree:
                found |= self.members(value)
        elif isinstance(tree, str):
            for inner in INTERP.findall(tree):
                root = inner.split(".")[0].strip()
                if root not in self.names.resources:
                    found |= set(re.findall(r"\.\??(\w+)", inner))
        return found

    def expect_references(self, where: str, bicep: Any, json_value: str) -> None:
        for name in sorted(_identifiers(bicep)):
            text = self.reference_text(name)
            if text is not None and text not in json_value:
                self.diffs.append(f"{where}: Bicep uses {name!r} but the JSON expression lacks {text}")
        for member in sorted(self.members(bicep)):
            if f".{member}" not in json_value and f"'{member}'" not in json_value:
                self.diffs.append(f"{where}: Bicep reads .{member} but the JSON expression does not")

    def value(self, where: str, bicep: Any, json_value: Any) -> None:
        if isinstance(bicep, dict) and ("function" in bicep or "operator" in bicep):
            if not _is_expression(json_value):
                self.diffs.append(f"{where}: Bicep has an expression, JSON has the literal {json_value!r}")
                return
            self.expect_references(where, bicep, json_value)
            if "function" in bicep and bicep["function"].get("type") != "load_text_content":
                fname = str(bicep["function"].get("type", ""))
                camel = re.sub(r"_(\w)", lambda m: m.group(1).upper(), fname)
                if camel.lower() not in json_value.lower():
                    self.diffs.append(f"{where}: Bicep calls {camel}() but the JSON expression does not")
            return
        if isinstance(bicep, dict):
            if not isinstance(json_value, dict):
                self.diffs.append(f"{where}: Bicep has an object, JSON has {json_value!r}")
                return
            self.obj(where, bicep, json_value)
            return
        if isinstance(bicep, list):
            if not isinstance(json_value, list) or len(json_value) != len(bicep):
                self.diffs.append(f"{where}: Bicep has a list of {len(bicep)}, JSON has {json_value!r}")
                return
            for index, (b_item, j_item) in enumerate(zip(bicep, json_value, strict=True)):
                self.value(f"{where}[{index}]", b_item, j_item)
            return
        if isinstance(bicep, str) and (self.reference_text(bicep) is not None or bicep in self.names.resources):
            if not _is_expression(json_value):
                self.diffs.append(f"{where}: Bicep refers to {bicep!r}, JSON has the literal {json_value!r}")
            else:
                self.expect_references(where, bicep, json_value)
            return
        if isinstance(bicep, str) and INTERP.search(bicep):
            if not _is_expression(json_value):
                self.diffs.append(f"{where}: Bicep interpolates {bicep!r}, JSON has the literal {json_value!r}")
                return
            self.expect_references(where, bicep, json_value)
            for part in INTERP.split(bicep)[::2]:
                if part and part.replace("'", "''") not in json_value:
                    self.diffs.append(f"{where}: literal text {part!r} of {bicep!r} is missing from the JSON")
            return
        if isinstance(bicep, str):
            bicep = _unescape(bicep)
        if bicep != json_value or type(bicep) is not type(json_value):
            self.diffs.append(f"{where}: Bicep has {bicep!r}, JSON has {json_value!r}")

    def obj(self, where: str, bicep: dict[str, Any], json_obj: dict[str, Any]) -> None:
        json_copies = {c["name"]: c for c in json_obj.get("copy", [])} if isinstance(json_obj.get("copy"), list) else {}
        for key, b_value in bicep.items():
            if isinstance(b_value, dict) and "loop_type" in b_value:
                copy = json_copies.pop(key, None)
                if copy is None:
                    self.diffs.append(f"{where}.{key}: Bicep loops, JSON has no property copy named {key!r}")
                    continue
                self.loop(f"{where}.{key}", b_value, copy.get("count", ""), copy.get("input"))
                continue
            if key not in json_obj:
                self.diffs.append(f"{where}.{key}: in Bicep, missing from JSON")
                continue
            self.value(f"{where}.{key}", b_value, json_obj[key])
        for key in json_obj:
            if key == "copy" and isinstance(json_obj["copy"], list):
                continue
            if key not in bicep:
                self.diffs.append(f"{where}.{key}: in JSON, missing from Bicep")
        for name in json_copies:
            self.diffs.append(f"{where}.{name}: JSON has a property copy, Bicep no loop")

    def loop(self, where: str, bicep_loop: dict[str, Any], count: str, json_input: Any) -> None:
        detail = bicep_loop["loop_type"]["detail"]
        array = detail["array_name"]
        ref = self.reference_text(array) if isinstance(array, str) else None
        if ref is None or f"length({ref})" not in count:
            self.diffs.append(f"{where}: Bicep loops over {array!r}, JSON copy count is {count!r}")
        self.with_loop(detail["item_name"], array).value(where, bicep_loop["config"], json_input)


def _unwrap_resource(entry: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None, Any]:
    """pycep resource config -> (body, loop, condition)."""
    config = entry["config"]
    if "loop_type" in config:
        return config["config"], config, config.get("condition")
    if "condition" in config and "config" in config:
        return config["config"], None, config["condition"]
    return config, None, None


def compare_bicep_to_json(bicep_path: Path, json_path: Path) -> list[str]:
    """Every disagreement between a Bicep file and its committed ARM JSON; empty when they agree."""
    text_without_types, types = _split_types(bicep_path.read_text(encoding="utf-8"))
    imported_from: dict[str, str] = {}
    for names_text, source in IMPORT.findall(text_without_types):
        wanted = {name.strip() for name in names_text.split(",")}
        _, source_types = _split_types((bicep_path.parent / source).read_text(encoding="utf-8"))
        for decl in source_types:
            if decl.name in wanted:
                types.append(decl)
                imported_from[decl.name] = source
    bicep = BicepParser().parse(text=text_without_types)
    template = json.loads(json_path.read_text(encoding="utf-8"))
    diffs: list[str] = []

    metadata = template.get("metadata", {})
    for key, entry in bicep.get("metadata", {}).items():
        if metadata.get(key) != _unescape(entry["value"]):
            diffs.append(f"metadata.{key}: Bicep has {entry['value']!r}, JSON has {metadata.get(key)!r}")

    definitions = template.get("definitions", {})
    if types and template.get("languageVersion") != "2.0":
        diffs.append("languageVersion: Bicep declares types, so the JSON must be languageVersion 2.0")
    if {t.name for t in types} != set(definitions):
        diffs.append(f"definitions: Bicep types {sorted(t.name for t in types)}, JSON {sorted(definitions)}")
    for decl in types:
        json_type = definitions.get(decl.name)
        if json_type is None:
            continue
        expected_props = {
            p.name: _expected_schema(p.type_expr, p.decorators, p.nullable) for p in decl.properties
        }
        expected: dict[str, Any] = {"type": "object", "properties": expected_props}
        metadata: dict[str, Any] = {}
        if decl.name in imported_from:
            metadata["__bicep_imported_from!"] = {"sourceTemplate": imported_from[decl.name]}
        if decl.description is not None:
            metadata["description"] = decl.description
        if metadata:
            expected["metadata"] = metadata
        if expected != json_type:
            diffs.append(f"definitions.{decl.name}: Bicep {json.dumps(expected)} != JSON {json.dumps(json_type)}")

    names = _Names(
        params=set(bicep.get("parameters", {})),
        variables=set(bicep.get("variables", {})),
        resources=bicep.get("resources", {}),
    )

    json_params = template.get("parameters", {})
    if set(names.params) != set(json_params):
        diffs.append(f"parameters: Bicep {sorted(names.params)}, JSON {sorted(json_params)}")
    for name, entry in bicep.get("parameters", {}).items():
        if name not in json_params:
            continue
        decorators = _pycep_decorators(entry.get("decorators", []))
        expected = _expected_schema(_pycep_type(entry["type"]), decorators)
        actual = _strip_for_compare(json_params[name])
        if expected != actual:
            diffs.append(f"parameters.{name}: Bicep {json.dumps(expected)} != JSON {json.dumps(actual)}")
        default = entry.get("default")
        has_default = "defaultValue" in json_params[name]
        if (default is not None) != has_default:
            diffs.append(f"parameters.{name}: default present in one side only")
        elif default is not None:
            comparer = _Comparer(names)
            comparer.value(f"parameters.{name}.defaultValue", default, json_params[name]["defaultValue"])
            diffs.extend(comparer.diffs)

    json_vars = template.get("variables", {})
    if set(names.variables) != set(json_vars):
        diffs.append(f"variables: Bicep {sorted(names.variables)}, JSON {sorted(json_vars)}")
    for name, entry in bicep.get("variables", {}).items():
        if name in json_vars:
            comparer = _Comparer(names)
            comparer.value(f"variables.{name}", entry["value"], json_vars[name])
            diffs.extend(comparer.diffs)
            diffs.extend(_loaded_files(bicep_path, f"variables.{name}", entry["value"], json_vars[name]))

    diffs.extend(_compare_resources(names, template.get("resources", {})))
    diffs.extend(_compare_outputs(names, bicep.get("outputs", {}), template.get("outputs", {})))
    return diffs


def _loaded_files(bicep_path: Path, where: str, tree: Any, json_value: Any) -> list[str]:
    """Each loadTextContent(file) must appear in the JSON as the file's text, quoted as an ARM literal."""
    diffs: list[str] = []
    if isinstance(tree, dict):
        function = tree.get("function")
        if isinstance(function, dict) and function.get("type") == "load_text_content":
            file_path = bicep_path.parent / function["parameters"]["file_path"]
            literal = "'" + file_path.read_text(encoding="utf-8").replace("'", "''") + "'"
            if not isinstance(json_value, str) or literal not in json_value:
                diffs.append(f"{where}: the JSON does not hold the current text of {file_path.name}")
        for value in tree.values():
            diffs.extend(_loaded_files(bicep_path, where, value, json_value))
    elif isinstance(tree, list):
        for value in tree:
            diffs.extend(_loaded_files(bicep_path, where, value, json_value))
    return diffs


def _compare_resources(names: _Names, json_resources: dict[str, Any]) -> list[str]:
    diffs: list[str] = []
    if not isinstance(json_resources, dict):
        return ["resources: JSON resources must be an object keyed by symbolic name (languageVersion 2.0)"]
    if set(names.resources) != set(json_resources):
        diffs.append(f"resources: Bicep {sorted(names.resources)}, JSON {sorted(json_resources)}")
    for symbol, entry in names.resources.items():
        resource = json_resources.get(symbol)
        if resource is None:
            continue
        where = f"resources.{symbol}"
        for b_key, j_key in (("type", "type"), ("api_version", "apiVersion")):
            if entry[b_key] != resource.get(j_key):
                diffs.append(f"{where}.{j_key}: Bicep {entry[b_key]!r}, JSON {resource.get(j_key)!r}")
        if bool(entry.get("existing")) != bool(resource.get("existing")):
            diffs.append(f"{where}.existing: Bicep {entry.get('existing')}, JSON {resource.get('existing')}")
        body, loop, condition = _unwrap_resource(entry)
        comparer = _Comparer(names)
        if loop is not None:
            copy = resource.get("copy")
            if not isinstance(copy, dict) or copy.get("name") != symbol:
                diffs.append(f"{where}: Bicep loops, JSON has no resource copy named {symbol!r}")
            else:
                detail = loop["loop_type"]["detail"]
                ref = comparer.reference_text(detail["array_name"])
                if ref is None or f"length({ref})" not in copy.get("count", ""):
                    diffs.append(f"{where}.copy.count: {copy.get('count')!r} does not loop over {ref}")
                comparer = comparer.with_loop(detail["item_name"], detail["array_name"])
        elif "copy" in resource:
            diffs.append(f"{where}: JSON has a resource copy, Bicep no loop")
        if (condition is not None) != ("condition" in resource):
            diffs.append(f"{where}.condition: present in one side only")
        elif condition is not None:
            comparer.value(f"{where}.condition", condition, resource["condition"])

        parent = body.get("parent")
        name = body.get("name")
        json_name = resource.get("name", "")
        if isinstance(name, str) and not INTERP.search(name) and comparer.reference_text(name) is None:
            quoted = "'" + name.replace("'", "''") + "'"
            if json_name != name and quoted not in json_name:
                diffs.append(f"{where}.name: Bicep {name!r}, JSON {json_name!r}")
        else:
            if not _is_expression(json_name):
                diffs.append(f"{where}.name: Bicep has an expression, JSON has {json_name!r}")
            else:
                comparer.expect_references(f"{where}.name", name, json_name)
        if parent is not None:
            parent_entry = names.resources.get(parent, {})
            if not str(entry["type"]).startswith(f"{parent_entry.get('type')}/"):
                diffs.append(f"{where}: type {entry['type']} is not a child of parent {parent!r}")
            if not json_name.startswith("[format('{0}/{1}"):
                diffs.append(f"{where}.name: a child resource's JSON name must join the parent's: {json_name!r}")
        if ("scope" in body) != ("scope" in resource):
            diffs.append(f"{where}.scope: present in one side only")

        expected_deps = set(body.get("dependsOn", []) or [])
        referenced = _identifiers({k: v for k, v in body.items() if k not in ("dependsOn", "scope", "name")})
        if condition is not None:
            referenced |= _identifiers(condition)
        for other in referenced | ({parent} if parent else set()):
            other_entry = names.resources.get(other)
            if other != symbol and other_entry is not None and not other_entry.get("existing"):
                expected_deps.add(other)
        actual_deps = set(resource.get("dependsOn", []))
        if expected_deps != actual_deps:
            diffs.append(f"{where}.dependsOn: Bicep implies {sorted(expected_deps)}, JSON {sorted(actual_deps)}")

        skip_bicep = {"parent", "name", "dependsOn", "scope"}
        skip_json = {"type", "apiVersion", "name", "dependsOn", "scope", "copy", "condition", "existing"}
        comparer.obj(
            where,
            {k: v for k, v in body.items() if k not in skip_bicep},
            {k: v for k, v in resource.items() if k not in skip_json},
        )
        diffs.extend(comparer.diffs)
    return diffs


def _compare_outputs(names: _Names, outputs: dict[str, Any], json_outputs: dict[str, Any]) -> list[str]:
    diffs: list[str] = []
    if set(outputs) != set(json_outputs):
        diffs.append(f"outputs: Bicep {sorted(outputs)}, JSON {sorted(json_outputs)}")
    for name, entry in outputs.items():
        output = json_outputs.get(name)
        if output is None:
            continue
        where = f"outputs.{name}"
        decorators = _pycep_decorators(entry.get("decorators", []))
        expected = _expected_schema(_pycep_type(entry["type"]), decorators)
        actual = {k: v for k, v in output.items() if k not in ("value", "copy")}
        if expected != actual:
            diffs.append(f"{where}: Bicep {json.dumps(expected)} != JSON {json.dumps(actual)}")
        comparer = _Comparer(names)
        value = entry["value"]
        if isinstance(value, dict) and "loop_type" in value:
            copy = output.get("copy", {})
            comparer.loop(where, value, copy.get("count", ""), copy.get("input"))
        elif "value" not in output:
            diffs.append(f"{where}: JSON has no value")
        else:
            comparer.value(where, value, output["value"])
        diffs.extend(comparer.diffs)
    return diffs
