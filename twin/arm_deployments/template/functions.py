"""The template functions the twin evaluates, by lower-cased name (ARM function names are case-insensitive).

`if`, `and`, `or` and `lambda` are special forms in evaluator.py (their arguments are evaluated lazily).
Anything not in FUNCTIONS raises an error naming the function: never a silent skip.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

from .errors import ExpressionError
from .evaluator import Frame, FunctionImpl, Scope
from .hashing import arm_guid, unique_string
from .ids import extension_resource_id, provider_path, resource_group_id, type_segments
from .values import deep_equals, find_key, is_int, to_display_string, to_json_text, type_name

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


def _array(name: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise _bad_type(name, "of type 'Array'", value)
    return value


def _object(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad_type(name, "of type 'Object'", value)
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


@_register("deployment")
def _deployment(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("deployment", args, 0)
    return {
        "name": scope.deployment_name,
        "properties": {
            "templateHash": unique_string([to_json_text(scope.template)]),
            "mode": "Incremental",
            "provisioningState": "Accepted",
        },
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


@_register("lambdaVariables")
def _lambda_variables(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("lambdaVariables", args, 1)
    name = _str("lambdaVariables", args[0])
    if name.lower() not in frame.lambda_vars:
        raise ExpressionError(f"The lambda variable '{name}' is not defined at this location.")
    return frame.lambda_vars[name.lower()]


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


@_register("subscriptionResourceId")
def _subscription_resource_id(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("subscriptionResourceId", args, 2, -1)
    prefix, resource_type, names = _split_scope_args("subscriptionResourceId", args, 1)
    subscription_id = prefix[0] if prefix else scope.subscription_id
    return f"/subscriptions/{subscription_id}/{provider_path(resource_type, names, 'subscriptionResourceId')}"


@_register("tenantResourceId")
def _tenant_resource_id(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("tenantResourceId", args, 2, -1)
    _prefix, resource_type, names = _split_scope_args("tenantResourceId", args, 0)
    return "/" + provider_path(resource_type, names, "tenantResourceId")


@_register("extensionResourceId")
def _extension_resource_id(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("extensionResourceId", args, 3, -1)
    base = _str("extensionResourceId", args[0])
    strings = [_str("extensionResourceId", a) for a in args[1:]]
    return extension_resource_id(base, strings[0], strings[1:])


@_register("resourceInfo")
def _resource_info(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("resourceInfo", args, 1)
    symbolic = _str("resourceInfo", args[0])
    found = find_key(scope.symbolic_ids, symbolic)
    if found is None:
        raise ExpressionError(f"The resource '{symbolic}' is not defined in the template.")
    value = scope.symbolic_ids[found]
    if isinstance(value, list):
        raise ExpressionError(
            f"The resource '{symbolic}' is a copy loop; resourceInfo() needs one of its instances."
        )
    return {"id": value}


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


@_register("int")
def _to_int(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("int", args, 1)
    value = args[0]
    if is_int(value):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise ExpressionError(
        f"The template language function 'int' cannot convert the value '{to_display_string(value)}' of type "
        f"'{type_name(value)}' to an integer."
    )


@_register("bool")
def _to_bool(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("bool", args, 1)
    value = args[0]
    if isinstance(value, bool):
        return value
    if is_int(value):
        return value != 0
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ExpressionError(
        f"The template language function 'bool' cannot convert the value '{to_display_string(value)}' of type "
        f"'{type_name(value)}' to a boolean."
    )


@_register("range")
def _range(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("range", args, 2)
    start = _int("range", args[0])
    count = _int("range", args[1])
    if count < 0 or count > 10000:
        raise ExpressionError("The template language function 'range' expects a count between 0 and 10000.")
    return list(range(start, start + count))


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


@_register("toUpper")
def _to_upper(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("toUpper", args, 1)
    return _str("toUpper", args[0]).upper()


@_register("trim")
def _trim(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("trim", args, 1)
    return _str("trim", args[0]).strip()


@_register("startsWith")
def _starts_with(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("startsWith", args, 2)
    # ARM documents startsWith/endsWith/indexOf on strings as case-insensitive
    return _str("startsWith", args[0]).lower().startswith(_str("startsWith", args[1]).lower())


@_register("endsWith")
def _ends_with(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("endsWith", args, 2)
    return _str("endsWith", args[0]).lower().endswith(_str("endsWith", args[1]).lower())


@_register("indexOf")
def _index_of(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("indexOf", args, 2)
    if isinstance(args[0], list):
        return next((i for i, item in enumerate(args[0]) if deep_equals(item, args[1])), -1)
    return _str("indexOf", args[0]).lower().find(_str("indexOf", args[1]).lower())


@_register("lastIndexOf")
def _last_index_of(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("lastIndexOf", args, 2)
    if isinstance(args[0], list):
        matches = [i for i, item in enumerate(args[0]) if deep_equals(item, args[1])]
        return matches[-1] if matches else -1
    return _str("lastIndexOf", args[0]).lower().rfind(_str("lastIndexOf", args[1]).lower())


@_register("split")
def _split(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("split", args, 2)
    text = _str("split", args[0])
    delimiters = args[1] if isinstance(args[1], list) else [args[1]]
    pattern = "|".join(re.escape(_str("split", d)) for d in delimiters)
    return re.split(pattern, text) if pattern else [text]


@_register("join")
def _join(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("join", args, 2)
    items = _array("join", args[0])
    return _str("join", args[1]).join(to_display_string(item) for item in items)


@_register("substring")
def _substring(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("substring", args, 1, 3)
    text = _str("substring", args[0])
    start = _int("substring", args[1]) if len(args) > 1 else 0
    length = _int("substring", args[2]) if len(args) > 2 else len(text) - start
    if start < 0 or length < 0 or start + length > len(text):
        raise ExpressionError(
            "The index and length parameters must refer to a location within the string. The index parameter: "
            f"'{start}', the length parameter: '{length}', the length of the string parameter: '{len(text)}'. "
            "Please see https://aka.ms/arm-functions for usage details."
        )
    return text[start : start + length]


@_register("padLeft")
def _pad_left(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("padLeft", args, 2, 3)
    value = args[0] if isinstance(args[0], str) else str(_int("padLeft", args[0]))
    pad = _str("padLeft", args[2]) if len(args) == 3 else " "
    if len(pad) != 1:
        raise ExpressionError("The template language function 'padLeft' expects a single padding character.")
    return value.rjust(_int("padLeft", args[1]), pad)


@_register("guid")
def _guid(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("guid", args, 1, -1)
    return arm_guid([_str("guid", a) for a in args])


@_register("uniqueString")
def _unique_string(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("uniqueString", args, 1, -1)
    return unique_string([_str("uniqueString", a) for a in args])


@_register("base64")
def _base64(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("base64", args, 1)
    return base64.b64encode(_str("base64", args[0]).encode("utf-8")).decode("ascii")


@_register("base64ToString")
def _base64_to_string(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("base64ToString", args, 1)
    return base64.b64decode(_str("base64ToString", args[0])).decode("utf-8")


@_register("uriComponent")
def _uri_component(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("uriComponent", args, 1)
    return urllib.parse.quote(_str("uriComponent", args[0]), safe="-_.~")


@_register("uriComponentToString")
def _uri_component_to_string(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("uriComponentToString", args, 1)
    return urllib.parse.unquote(_str("uriComponentToString", args[0]))


@_register("uri")
def _uri(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("uri", args, 2)
    return urllib.parse.urljoin(_str("uri", args[0]), _str("uri", args[1]))


@_register("json")
def _json(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("json", args, 1)
    text = _str("json", args[0])
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ExpressionError(
            f"The template language function 'json' expects a valid JSON string; '{text}' is not valid: {exc}."
        ) from exc


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


@_register("first")
def _first(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("first", args, 1)
    value = args[0]
    if isinstance(value, str):
        return value[:1]
    items = _array("first", value)
    return items[0] if items else None


@_register("last")
def _last(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("last", args, 1)
    value = args[0]
    if isinstance(value, str):
        return value[-1:]
    items = _array("last", value)
    return items[-1] if items else None


@_register("take")
def _take(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("take", args, 2)
    count = max(_int("take", args[1]), 0)
    value = args[0]
    if isinstance(value, str):
        return value[:count]
    return _array("take", value)[:count]


@_register("skip")
def _skip(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("skip", args, 2)
    count = max(_int("skip", args[1]), 0)
    value = args[0]
    if isinstance(value, str):
        return value[count:]
    return _array("skip", value)[count:]


@_register("array")
def _to_array(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("array", args, 1)
    return args[0] if isinstance(args[0], list) else [args[0]]


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


@_register("intersection")
def _intersection(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("intersection", args, 2, -1)
    if all(isinstance(a, dict) for a in args):
        first = args[0]
        return {
            k: v
            for k, v in first.items()
            if all((o := find_key(other, k)) is not None and deep_equals(other[o], v) for other in args[1:])
        }
    if all(isinstance(a, list) for a in args):
        out: list[Any] = []
        for item in args[0]:
            if all(any(deep_equals(item, x) for x in other) for other in args[1:]) and not any(
                deep_equals(item, x) for x in out
            ):
                out.append(item)
        return out
    raise ExpressionError(
        "The template language function 'intersection' expects all its parameters to be arrays or all to be "
        "objects."
    )


@_register("shallowMerge")
def _shallow_merge(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("shallowMerge", args, 1)
    result: dict[str, Any] = {}
    for item in _array("shallowMerge", args[0]):
        result.update(_object("shallowMerge", item))
    return result


@_register("flatten")
def _flatten(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("flatten", args, 1)
    return [item for inner in _array("flatten", args[0]) for item in _array("flatten", inner)]


@_register("items")
def _items(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("items", args, 1)
    obj = _object("items", args[0])
    # ARM returns the entries sorted by key
    return [{"key": k, "value": obj[k]} for k in sorted(obj, key=str.lower)]


@_register("objectKeys")
def _object_keys(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("objectKeys", args, 1)
    return list(_object("objectKeys", args[0]))


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


@_register("map")
def _map(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("map", args, 2)
    items = _array("map", args[0])
    takes_index = len(getattr(args[1], "names", ())) == 2
    return [
        scope.invoke_lambda(args[1], [item, i] if takes_index else [item], "map") for i, item in enumerate(items)
    ]


@_register("filter")
def _filter(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("filter", args, 2)
    items = _array("filter", args[0])
    takes_index = len(getattr(args[1], "names", ())) == 2
    kept = []
    for i, item in enumerate(items):
        verdict = scope.invoke_lambda(args[1], [item, i] if takes_index else [item], "filter")
        if _bool("filter", verdict):
            kept.append(item)
    return kept


@_register("sort")
def _sort(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("sort", args, 2)
    items = list(_array("sort", args[0]))
    # insertion sort with the lambda as "a comes before b", as ARM's sort() takes a less-than lambda
    ordered: list[Any] = []
    for item in items:
        position = len(ordered)
        for i, existing in enumerate(ordered):
            if _bool("sort", scope.invoke_lambda(args[1], [item, existing], "sort")):
                position = i
                break
        ordered.insert(position, item)
    return ordered


@_register("reduce")
def _reduce(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("reduce", args, 3)
    accumulator = args[1]
    takes_index = len(getattr(args[2], "names", ())) == 3
    for i, item in enumerate(_array("reduce", args[0])):
        call_args = [accumulator, item, i] if takes_index else [accumulator, item]
        accumulator = scope.invoke_lambda(args[2], call_args, "reduce")
    return accumulator


@_register("toObject")
def _to_object(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("toObject", args, 2, 3)
    result: dict[str, Any] = {}
    for item in _array("toObject", args[0]):
        key = _str("toObject", scope.invoke_lambda(args[1], [item], "toObject"))
        result[key] = scope.invoke_lambda(args[2], [item], "toObject") if len(args) == 3 else item
    return result


@_register("mapValues")
def _map_values(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("mapValues", args, 2)
    obj = _object("mapValues", args[0])
    return {k: scope.invoke_lambda(args[1], [v], "mapValues") for k, v in obj.items()}


@_register("groupBy")
def _group_by(scope: Scope, frame: Frame, args: list[Any]) -> Any:
    _arity("groupBy", args, 2)
    groups: dict[str, list[Any]] = {}
    for item in _array("groupBy", args[0]):
        key = _str("groupBy", scope.invoke_lambda(args[1], [item], "groupBy"))
        groups.setdefault(key, []).append(item)
    return groups
