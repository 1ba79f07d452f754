"""Binding the deployment's parameter values to the template's declarations, with ARM's checks.

Values arrive in the REST shape {"name": {"value": ...}}. Unknown names, missing required values,
wrong JSON types and constraint violations (allowedValues, min/max value and length, and in
languageVersion 2.0 the user-defined types under "definitions") fail as ARM fails them: InvalidTemplate.
ARM's messages also carry "at line 'L' and column 'C'" of the declaration; the twin receives the template
as parsed JSON without positions, so those words are left out (TemplateError.target names the parameter).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import HELP_PARAMETERS, ExpressionError, TemplateError, validation_failed
from .evaluator import Frame, Scope
from .values import find_key, is_int, to_display_string, to_json_text, type_name

_PARAM_HELP = "Please see https://aka.ms/arm-template/#parameters for usage details."

# declared type (lower-cased) → (python check, name ARM uses in "Expected '…'")
_TYPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "string": (str, "String, Uri"),
    "securestring": (str, "String, Uri"),
    "int": (int, "Integer"),
    "bool": (bool, "Boolean"),
    "object": (dict, "Object"),
    "secureobject": (dict, "Object"),
    "array": (list, "Array"),
}


def _matches_type(declared: str, value: Any) -> bool:
    check = _TYPES[declared][0]
    if check is int:
        return is_int(value)
    return isinstance(value, check)


def supplied_values(template: Mapping[str, Any], supplied: Any) -> dict[str, Any]:
    """The supplied values by declared name; rejects unknown names, bad shapes and Key Vault references."""
    declared = template.get("parameters") or {}
    if supplied is None:
        return {}
    if not isinstance(supplied, dict):
        raise TemplateError(
            "InvalidTemplate",
            "Deployment template validation failed: 'The deployment parameters must be a JSON object of the "
            "form {\"name\": {\"value\": ...}}; a value of type "
            f"'{type_name(supplied)}' was provided. {HELP_PARAMETERS}'.",
            "properties.parameters",
        )
    unknown = [name for name in supplied if find_key(declared, name) is None]
    if unknown:
        raise validation_failed(
            f"The template parameters '{', '.join(unknown)}' in the parameters file are not valid; they are "
            "not present in the original template and can therefore not be provided at deployment time. The "
            f"only supported parameters for this template are '{', '.join(declared)}'. {HELP_PARAMETERS}",
            f"properties.parameters.{unknown[0]}",
        )
    values: dict[str, Any] = {}
    for name, entry in supplied.items():
        key = find_key(declared, name)
        assert key is not None
        if isinstance(entry, dict) and "reference" in entry:
            raise TemplateError(
                "InvalidTemplate",
                f"The value of the template parameter '{key}' is a Key Vault reference; Key Vault references "
                "are not supported by the twin. Pass the value itself in {\"value\": ...}.",
                f"properties.parameters.{name}",
            )
        if not isinstance(entry, dict) or "value" not in entry:
            # message not verified: ARM rejects a parameter entry without "value"/"reference"
            raise TemplateError(
                "InvalidTemplate",
                f"Deployment template validation failed: 'The value for the template parameter '{key}' must be "
                "given as {\"value\": ...} in the parameters. "
                f"{HELP_PARAMETERS}'.",
                f"properties.parameters.{name}",
            )
        values[key] = entry["value"]
    return values


class ParameterBinder:
    """Resolves each declared parameter once: the supplied value, else its default, then checks it."""

    def __init__(self, scope: Scope, supplied: dict[str, Any]) -> None:
        self.scope = scope
        self.supplied = supplied
        self.declared: dict[str, Any] = scope.template.get("parameters") or {}
        self.definitions: dict[str, Any] = scope.template.get("definitions") or {}
        self._in_progress: set[str] = set()

    def resolve_all(self) -> None:
        for name in self.declared:
            if name not in self.scope.parameter_values:
                self.resolve(name)

    def resolve(self, name: str) -> Any:
        if name in self.scope.parameter_values:
            return self.scope.parameter_values[name]
        if name in self._in_progress:
            raise validation_failed(
                f"The template parameter '{name}' has a default value that refers to itself.",
                f"parameters.{name}",
            )
        self._in_progress.add(name)
        try:
            declaration = self.declared[name]
            if not isinstance(declaration, dict):
                raise validation_failed(
                    f"The template parameter '{name}' is not valid: its declaration must be an object. "
                    f"{_PARAM_HELP}",
                    f"parameters.{name}",
                )
            schema = self._schema(declaration, name)
            if name in self.supplied:
                value = self.supplied[name]
            elif "defaultValue" in declaration:
                try:
                    value = self.scope.evaluate(declaration["defaultValue"], Frame(location=f"parameter {name}"))
                except ExpressionError as exc:
                    raise validation_failed(
                        f"The template parameter '{name}' is not valid: {exc.message}", f"parameters.{name}"
                    ) from exc
            elif schema.get("nullable") is True:
                value = None
            else:
                raise validation_failed(
                    f"The value for the template parameter '{name}' is not provided. Please see "
                    "https://aka.ms/arm-create-parameter-file for usage details.",
                    f"parameters.{name}",
                )
            self._check(name, schema, value, "")
            self.scope.parameter_values[name] = value
            return value
        finally:
            self._in_progress.discard(name)

    # ----- schemas (classic declarations and languageVersion 2.0 type definitions) -----

    def _schema(self, node: dict[str, Any], where: str) -> dict[str, Any]:
        """`node` with any "$ref" replaced by its definition (the node's own keys win, as ARM merges them)."""
        ref = node.get("$ref")
        if ref is None:
            return node
        prefix = "#/definitions/"
        if not isinstance(ref, str) or not ref.startswith(prefix):
            raise validation_failed(
                f"The type reference '{ref}' of '{where}' is not valid; only '#/definitions/<name>' is supported.",
                where,
            )
        target = self.definitions.get(ref[len(prefix) :])
        if not isinstance(target, dict):
            raise validation_failed(f"The type definition '{ref}' referenced by '{where}' is not defined.", where)
        merged = dict(self._schema(target, ref))
        merged.update({k: v for k, v in node.items() if k != "$ref"})
        return merged

    def _check(self, name: str, schema: dict[str, Any], value: Any, path: str) -> None:
        where = f"parameters.{name}{path}"
        if value is None and (schema.get("nullable") is True or (path == "" and "defaultValue" in schema)):
            return
        declared_type = schema.get("type")
        if isinstance(declared_type, str):
            lowered = declared_type.lower()
            if lowered not in _TYPES:
                raise validation_failed(
                    f"The template parameter '{name}' has the type '{declared_type}', which is not valid. The "
                    "supported types are 'string, securestring, int, bool, object, secureObject, array'. "
                    f"{_PARAM_HELP}",
                    where,
                )
            if not _matches_type(lowered, value):
                if path == "":
                    # ARM's words for a top-level JSON type mismatch (from its public error reports)
                    raise validation_failed(
                        f"Template parameter JToken type is not valid. Expected '{_TYPES[lowered][1]}'. Actual "
                        f"'{type_name(value)}'. Please see https://aka.ms/resource-manager-parameter-files for "
                        "usage details.",
                        where,
                    )
                # message not verified: ARM's wording for a type mismatch inside a user-defined type
                raise validation_failed(
                    f"The provided value for the template parameter '{name}' is not valid. Expected a value of "
                    f"type '{_TYPES[lowered][1]}' at '{path}' but the provided value is of type "
                    f"'{type_name(value)}'. {_PARAM_HELP}",
                    where,
                )
        self._check_constraints(name, schema, value, path, where)
        if isinstance(value, list) and isinstance(schema.get("items"), dict):
            item_schema = self._schema(schema["items"], where)
            for index, item in enumerate(value):
                self._check(name, item_schema, item, f"{path}[{index}]")
        if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
            self._check_object(name, schema, value, path, where)

    def _check_object(
        self, name: str, schema: dict[str, Any], value: dict[str, Any], path: str, where: str
    ) -> None:
        properties: dict[str, Any] = schema["properties"]
        for prop, prop_decl in properties.items():
            prop_schema = self._schema(prop_decl, f"{where}.{prop}") if isinstance(prop_decl, dict) else {}
            found = find_key(value, prop)
            if found is None:
                if prop_schema.get("nullable") is True:
                    continue
                # message not verified: ARM's wording for a missing required property of a user-defined type
                raise validation_failed(
                    f"The provided value for the template parameter '{name}' is not valid. The property "
                    f"'{prop}' is required at '{path or '.'}' but was not provided. {_PARAM_HELP}",
                    f"{where}.{prop}",
                )
            self._check(name, prop_schema, value[found], f"{path}.{prop}")
        extra = [key for key in value if find_key(properties, key) is None]
        additional = schema.get("additionalProperties")
        if extra and (schema.get("sealed") is True or additional is False):
            # message not verified: ARM's wording for a property a sealed type does not declare
            raise validation_failed(
                f"The provided value for the template parameter '{name}' is not valid. The property "
                f"'{extra[0]}' at '{path or '.'}' is not allowed; the type declares only "
                f"'{', '.join(properties)}'. {_PARAM_HELP}",
                f"{where}.{extra[0]}",
            )
        if extra and isinstance(additional, dict):
            extra_schema = self._schema(additional, where)
            for key in extra:
                self._check(name, extra_schema, value[key], f"{path}.{key}")

    def _check_constraints(self, name: str, schema: dict[str, Any], value: Any, path: str, where: str) -> None:
        at = f" at '{path}'" if path else ""
        allowed = schema.get("allowedValues")
        if isinstance(allowed, list):
            is_array = isinstance(value, list) and str(schema.get("type", "")).lower() == "array"
            candidates = value if is_array else [value]
            for candidate in candidates:
                if not any(_loose_equals(candidate, option) for option in allowed):
                    shown = ",".join(to_display_string(option) for option in allowed)
                    # a secure parameter's value never goes into a message
                    secure = str(schema.get("type", "")).lower().startswith("secure")
                    given = "***" if secure else _show(candidate)
                    raise validation_failed(
                        f"The provided value '{given}' for the template parameter '{name}'{at} is not "
                        f"valid. The parameter value is not part of the allowed value(s): '{shown}'. "
                        f"{_PARAM_HELP}",
                        where,
                    )
        if is_int(value):
            low = schema.get("minValue")
            high = schema.get("maxValue")
            # message not verified: ARM's wording for minValue/maxValue
            if is_int(low) and value < low:
                raise validation_failed(
                    f"The provided value for the template parameter '{name}'{at} is not valid. Value should be "
                    f"greater than or equal to '{low}'. The provided value is '{value}'. {_PARAM_HELP}",
                    where,
                )
            if is_int(high) and value > high:
                raise validation_failed(
                    f"The provided value for the template parameter '{name}'{at} is not valid. Value should be "
                    f"less than or equal to '{high}'. The provided value is '{value}'. {_PARAM_HELP}",
                    where,
                )
        if isinstance(value, str | list):
            low = schema.get("minLength")
            high = schema.get("maxLength")
            if is_int(low) and len(value) < low:
                raise validation_failed(
                    f"The provided value for the template parameter '{name}'{at} is not valid. Length of the value "
                    f"should be greater than or equal to '{low}'. {_PARAM_HELP}",
                    where,
                )
            if is_int(high) and len(value) > high:
                raise validation_failed(
                    f"The provided value for the template parameter '{name}'{at} is not valid. Length of the value "
                    f"should be less than or equal to '{high}'. {_PARAM_HELP}",
                    where,
                )


def _loose_equals(value: Any, option: Any) -> bool:
    # ARM compares allowed string values case-insensitively (e.g. sku names)
    if isinstance(value, str) and isinstance(option, str):
        return value.lower() == option.lower()
    return type(value) is type(option) and value == option


def _show(value: Any) -> str:
    return value if isinstance(value, str) else to_json_text(value)
