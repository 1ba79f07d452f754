"""The template functions the twin evaluates, by lower-cased name (ARM function names are case-insensitive).

Only what the committed templates call, plus what Bicep compiles its operators and literals into (so a
small edit to main.bicep still evaluates) and the usual naming helpers; tests/twin/test_template_eval.py
fails when a committed template calls anything else. `if`, `and` and `or` are special forms in
evaluator.py (their arguments are evaluated lazily). Any other name raises an error naming the function.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import ExpressionError
from .evaluator import Frame, FunctionImpl, Scope
from .hashing import arm_guid, unique_string
from .ids import provider_path, resource_group_id, type_segments
from .values import deep_equals, find_key, is_int, to_display_string, type_name

FUNCTIONS: dict[str, FunctionImpl] = {}


def _register(*names: str) -> Callable[[FunctionImpl], FunctionImpl]:
    def decorate(fn: FunctionImpl) -> FunctionImpl:
        for name in names:
            FUNCTIONS[name.lower()] = fn
        return fn

    return decorate


# ----- argument checks (messages in ARM's style; the exact ARM wording of arity errors is not verified) -----


def _arity(name: str, args: list[Any], low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if low <= len(args) <= (high if high >= 0 else len(args)):
        return
    if high == low:
        expected = f"exactly '{low}'"
    elif high < 0:
        expected = f"at least '{low}'"
    else:
        expected = f"between '{low}' and '{high}'"
    raise ExpressionError(
        f"Unable to evaluate template language function '{name}': function requires {expected} argument(s) "
        f"while '{len(args)}' were provided. Please see https://aka.ms/arm-functions for usage details."
    )


def _bad_type(name: str, expected: str, value: Any) -> ExpressionError:
    return ExpressionError(
        f"The template language function '{name}' expects its parameter to be {expected}. The provided value "
        f"is of type '{type_name(value)}'. Please see https://aka.ms/arm-functions for usage details."
    )


def _str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad_type(name, "of type 'String'", value)
    return value


def _int(name: str, value: Any) -> int:
    if not is_int(value):
        raise _bad_type(name, "of type 'Integer'", value)
    return int(value)


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad_type(name, "of type 'Boolean'", value)
    return value


# ----- deployment -----


@_register("parameters")
def _parameters(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("parameters", args, 1)
    return scope.parameter(_str("parameters", args[0]))


@_register("variables")
def _variables(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("variables", args, 1)
    return scope.variable(_str("variables", args[0]))


@_register("resourceGroup")
def _resource_group(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("resourceGroup", args, 0)
    return {
        "id": resource_group_id(scope.subscription_id, scope.resource_group),
        "name": scope.resource_group,
        "type": "Microsoft.Resources/resourceGroups",
        "location": scope.location,
        "properties": {"provisioningState": "Succeeded"},
    }


@_register("subscription")
def _subscription(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("subscription", args, 0)
    return {
        "id": f"/subscriptions/{scope.subscription_id}",
        "subscriptionId": scope.subscription_id,
        "displayName": scope.subscription_id,
    }


@_register("copyIndex")
def _copy_index(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("copyIndex", args, 0, 2)
    loop_name: str | None = None
    offset = 0
    if args and isinstance(args[0], str):
        loop_name = args[0]
        if len(args) == 2:
            offset = _int("copyIndex", args[1])
    elif args:
        if len(args) == 2:
            raise ExpressionError(
                "The template language function 'copyIndex' expects the loop name first and the offset second."
            )
        offset = _int("copyIndex", args[0])
    if loop_name is None:
        if frame.loop_index is None:
            raise ExpressionError(
                "The template function 'copyIndex' is not expected at this location. The function can only be "
                "used in a resource with copy specified. Please see https://aka.ms/arm-resource-iteration for "
                "usage details."
            )
        return frame.loop_index + offset
    index = frame.named_loops.get(loop_name.lower())
    if index is None:
        raise ExpressionError(
            f"The template function 'copyIndex' refers to the copy loop '{loop_name}', which is not an enclosing "
            "loop at this location. Please see https://aka.ms/arm-resource-iteration for usage details."
        )
    return index + offset


# ----- resource ids -----


def _split_scope_args(name: str, args: list[Any], max_prefix: int) -> tuple[list[str], str, list[str]]:
    """(prefix args, resource type, names): the type is the first argument containing '/'."""
    strings = [_str(name, a) if not is_int(a) else str(a) for a in args]
    for index, value in enumerate(strings[: max_prefix + 1]):
        if len(type_segments(value)) >= 2 and not value.startswith("/"):
            return strings[:index], value, strings[index + 1 :]
    raise ExpressionError(
        f"Unable to evaluate template language function '{name}': no resource type (a value like "
        "'Microsoft.Storage/storageAccounts') was found among its parameters. Please see "
        "https://aka.ms/arm-functions for usage details."
    )


@_register("resourceId")
def _resource_id(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("resourceId", args, 2, -1)
    prefix, resource_type, names = _split_scope_args("resourceId", args, 2)
    subscription_id = scope.subscription_id
    resource_group = scope.resource_group
    if len(prefix) == 2:
        subscription_id, resource_group = prefix
    elif len(prefix) == 1:
        resource_group = prefix[0]
    return f"{resource_group_id(subscription_id, resource_group)}/{provider_path(resource_type, names)}"


# ----- comparison and logic -----


@_register("equals")
def _equals(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("equals", args, 2)
    return deep_equals(args[0], args[1])


@_register("not")
def _not(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("not", args, 1)
    return not _bool("not", args[0])


@_register("true")
def _true(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("true", args, 0)
    return True


@_register("false")
def _false(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("false", args, 0)
    return False


@_register("null")
def _null(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("null", args, 0)
    return None


def _comparable(name: str, a: Any, b: Any) -> tuple[Any, Any]:
    if is_int(a) and is_int(b):
        return a, b
    if isinstance(a, str) and isinstance(b, str):
        # ARM compares strings ordinally, case-insensitively in greater/less (message: not verified)
        return a.lower(), b.lower()
    raise ExpressionError(
        f"The template language function '{name}' expects two integers or two strings. The provided values "
        f"are of type '{type_name(a)}' and '{type_name(b)}'."
    )


def _comparison(name: str, op: Callable[[Any, Any], bool]) -> FunctionImpl:
    def impl(scope: Scope, frame: Frame, args: list[Any]) -> Any:
        _arity(name, args, 2)
        a, b = _comparable(name, args[0], args[1])
        return op(a, b)

    return impl


FUNCTIONS["greater"] = _comparison("greater", lambda a, b: a > b)
FUNCTIONS["greaterorequals"] = _comparison("greaterOrEquals", lambda a, b: a >= b)
FUNCTIONS["less"] = _comparison("less", lambda a, b: a < b)
FUNCTIONS["lessorequals"] = _comparison("lessOrEquals", lambda a, b: a <= b)


@_register("coalesce")
def _coalesce(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("coalesce", args, 1, -1)
    return next((a for a in args if a is not None), None)


# ----- numbers -----


def _trunc_div(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient


def _arith(name: str, op: Callable[[int, int], int]) -> FunctionImpl:
    def impl(scope: Scope, frame: Frame, args: list[Any]) -> Any:
        _arity(name, args, 2)
        a = _int(name, args[0])
        b = _int(name, args[1])
        if name in ("div", "mod") and b == 0:
            raise ExpressionError(f"The template language function '{name}' cannot divide by zero.")
        return op(a, b)

    return impl


FUNCTIONS["add"] = _arith("add", lambda a, b: a + b)
FUNCTIONS["sub"] = _arith("sub", lambda a, b: a - b)
FUNCTIONS["mul"] = _arith("mul", lambda a, b: a * b)
# .NET integer division truncates toward zero and the remainder takes the dividend's sign
FUNCTIONS["div"] = _arith("div", _trunc_div)
FUNCTIONS["mod"] = _arith("mod", lambda a, b: a - b * _trunc_div(a, b))


def _min_max(name: str, pick: Callable[[list[int]], int]) -> FunctionImpl:
    def impl(scope: Scope, frame: Frame, args: list[Any]) -> Any:
        _arity(name, args, 1, -1)
        values = args[0] if len(args) == 1 and isinstance(args[0], list) else args
        if not values:
            raise ExpressionError(f"The template language function '{name}' needs at least one value.")
        return pick([_int(name, v) for v in values])

    return impl


FUNCTIONS["min"] = _min_max("min", min)
FUNCTIONS["max"] = _min_max("max", max)


# ----- strings -----


@_register("string")
def _string(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("string", args, 1)
    return to_display_string(args[0])


@_register("concat")
def _concat(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    if not args:
        return ""
    if all(isinstance(a, list) or a is None for a in args) and any(isinstance(a, list) for a in args):
        return [item for a in args if a is not None for item in a]
    if any(isinstance(a, list | dict) for a in args):
        raise ExpressionError(
            "The template language function 'concat' expects all its parameters to be arrays, or all to be "
            "strings, integers or booleans."
        )
    return "".join(to_display_string(a) for a in args)


_FORMAT_ITEM = re.compile(r"\{\{|\}\}|\{(\d+)(?:,(-?\d+))?(?::([^}]*))?\}")


def _format_value(value: Any, spec: str | None) -> str:
    if spec and is_int(value):
        kind = spec[0].upper()
        digits = int(spec[1:]) if spec[1:].isdigit() else None
        if kind == "D":
            text = str(abs(value)).zfill(digits or 0)
            return f"-{text}" if value < 0 else text
        if kind == "X":
            text = format(value, "x" if spec[0] == "x" else "X")
            return text.zfill(digits or 0)
        if kind == "N":
            return f"{value:,.{digits if digits is not None else 2}f}"
        if kind == "F":
            return f"{value:.{digits if digits is not None else 2}f}"
        raise ExpressionError(f"The format specifier '{spec}' is not supported by the twin's format().")
    if spec:
        raise ExpressionError(f"The format specifier '{spec}' is not supported by the twin's format().")
    return to_display_string(value)


@_register("format")
def _format(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("format", args, 1, -1)
    template = _str("format", args[0])
    values = args[1:]

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        index = int(match.group(1))
        if index >= len(values):
            raise ExpressionError(
                f"The template language function 'format' failed: the format string '{template}' refers to "
                f"argument '{index}' but only '{len(values)}' were provided."
            )
        text = _format_value(values[index], match.group(3))
        width = match.group(2)
        if width:
            w = int(width)
            text = text.rjust(w) if w > 0 else text.ljust(-w)
        return text

    return _FORMAT_ITEM.sub(substitute, template)


@_register("replace")
def _replace(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("replace", args, 3)
    original = _str("replace", args[0])
    old = _str("replace", args[1])
    if not old:
        raise ExpressionError("The template language function 'replace' expects a non-empty string to replace.")
    return original.replace(old, _str("replace", args[2]))


@_register("toLower")
def _to_lower(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("toLower", args, 1)
    return _str("toLower", args[0]).lower()


@_register("guid")
def _guid(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("guid", args, 1, -1)
    return arm_guid([_str("guid", a) for a in args])


@_register("uniqueString")
def _unique_string(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("uniqueString", args, 1, -1)
    return unique_string([_str("uniqueString", a) for a in args])


# ----- arrays, objects and strings alike -----


@_register("length")
def _length(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("length", args, 1)
    value = args[0]
    if isinstance(value, list | dict | str):
        return len(value)
    raise _bad_type("length", "an array, an object, or a string", value)


@_register("empty")
def _empty(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("empty", args, 1)
    value = args[0]
    if value is None:
        return True
    if isinstance(value, list | dict | str):
        return len(value) == 0
    raise _bad_type("empty", "an array, an object, a string or null", value)


@_register("contains")
def _contains(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("contains", args, 2)
    container, item = args
    if isinstance(container, dict):
        return isinstance(item, str) and find_key(container, item) is not None
    if isinstance(container, list):
        return any(deep_equals(x, item) for x in container)
    if isinstance(container, str):
        # contains() on strings is case-sensitive in ARM
        return to_display_string(item) in container
    raise _bad_type("contains", "an array, an object, or a string", container)


@_register("createArray")
def _create_array(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    return list(args)


@_register("createObject")
def _create_object(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    if len(args) % 2:
        raise ExpressionError(
            "The template language function 'createObject' must have an even number of parameters (key, value "
            "pairs)."
        )
    result: dict[str, Any] = {}
    for key, value in zip(args[::2], args[1::2], strict=True):
        result[_str("createObject", key)] = value
    return result


def _deep_merge(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in other.items():
        existing = find_key(merged, key)
        if existing is not None and isinstance(merged[existing], dict) and isinstance(value, dict):
            merged[existing] = _deep_merge(merged[existing], value)
        else:
            if existing is not None and existing != key:
                del merged[existing]
            merged[key] = value
    return merged


@_register("union")
def _union(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("union", args, 1, -1)
    if all(isinstance(a, dict) for a in args):
        # ARM merges nested objects recursively; arrays inside are replaced, not merged
        result: dict[str, Any] = {}
        for a in args:
            result = _deep_merge(result, a)
        return result
    if all(isinstance(a, list) for a in args):
        out: list[Any] = []
        for a in args:
            for item in a:
                if not any(deep_equals(item, x) for x in out):
                    out.append(item)
        return out
    raise ExpressionError(
        "The template language function 'union' expects all its parameters to be arrays or all to be objects."
    )


@_register("tryGet")
def _try_get(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("tryGet", args, 2, -1)
    value = args[0]
    for key in args[1:]:
        if isinstance(value, dict) and isinstance(key, str):
            found = find_key(value, key)
            value = value[found] if found is not None else None
        elif isinstance(value, list) and is_int(key):
            value = value[key] if 0 <= key < len(value) else None
        else:
            return None
    return value


# ----- lambdas -----
