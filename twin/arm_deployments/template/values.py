"""ARM's JSON value model as Python values: type names, case-insensitive property lookup, string forms.

ARM objects are case-insensitive dictionaries (`parameters('Foo')`, `obj.Name` and `obj.name` agree),
its integers are 64-bit and it has no floating point numbers in expressions.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import ExpressionError


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def type_name(value: Any) -> str:
    """The JToken type names ARM puts in its messages."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, dict):
        return "Object"
    return type(value).__name__


def find_key(obj: dict[str, Any], key: str) -> str | None:
    """The stored spelling of `key` in `obj`, compared case-insensitively as ARM does."""
    if key in obj:
        return key
    lowered = key.lower()
    for existing in obj:
        if existing.lower() == lowered:
            return existing
    return None


def get_property(value: Any, key: Any) -> Any:
    """`value.key` / `value[key]` with ARM's errors for a missing property or an index out of bounds."""
    if isinstance(value, dict):
        if not isinstance(key, str):
            raise ExpressionError(
                f"The language expression property '{key}' can't be evaluated, property name must be a string."
            )
        found = find_key(value, key)
        if found is None:
            available = ", ".join(value)
            raise ExpressionError(
                f"The language expression property '{key}' doesn't exist, available properties are "
                f"'{available}'."
            )
        return value[found]
    if isinstance(value, list):
        if not is_int(key):
            raise ExpressionError(
                f"The language expression property '{key}' can't be evaluated, property name must be an "
                "integer."
            )
        if key < 0 or key >= len(value):
            raise ExpressionError(f"The language expression property array index '{key}' is out of bounds.")
        return value[key]
    if value is None:
        # message not verified: ARM's text for a property read on null
        raise ExpressionError(
            f"The language expression property '{key}' can't be evaluated because the value is null."
        )
    raise ExpressionError(
        f"The language expression property '{key}' can't be evaluated on a value of type '{type_name(value)}'."
    )


def to_json_text(value: Any) -> str:
    """Compact JSON as ARM's string() gives for objects and arrays."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def to_display_string(value: Any) -> str:
    """How a value reads inside format()/string(): .NET's "True"/"False" for booleans, JSON for structures."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return to_json_text(value)


def deep_equals(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        if len(a) != len(b):
            return False
        for key, val in a.items():
            other = find_key(b, key)
            if other is None or not deep_equals(val, b[other]):
                return False
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(deep_equals(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b
