"""Evaluates language expressions and JSON trees in one deployment's scope.

`Scope` holds what is fixed for the whole deployment (parameters, lazily computed variables, where it
deploys); a `Frame` holds what changes while walking the template (copy-loop indices).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ExpressionError
from .expressions import Access, Call, Literal, Node, is_expression, parse_expression, unescape_literal
from .values import find_key, get_property, type_name


@dataclass(frozen=True)
class Frame:
    loop_index: int | None = None  # copyIndex() with no loop name
    loop_name: str | None = None  # the loop copyIndex() refers to, so copyIndex('thatName') works too
    named_loops: Mapping[str, int] = field(default_factory=dict)  # lower-cased loop name → index
    # where copyIndex() is not allowed (ARM: only inside copy loops), what to say about it
    location: str = "template"

    def with_loop(self, name: str | None, index: int, *, default: bool) -> Frame:
        named = dict(self.named_loops)
        if name:
            named[name.lower()] = index
        if default:
            return replace(self, loop_index=index, loop_name=name, named_loops=named)
        return replace(self, named_loops=named)


FunctionImpl = Callable[["Scope", Frame, list[Any]], Any]


class Scope:
    """One deployment: its parameters, variables, target and the functions it may call."""

    def __init__(
        self,
        *,
        template: dict[str, Any],
        subscription_id: str,
        resource_group: str,
        deployment_name: str,
        location: str,
        functions: Mapping[str, FunctionImpl],
    ) -> None:
        self.template = template
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.deployment_name = deployment_name
        self.location = location
        self.functions = functions
        self.parameter_values: dict[str, Any] = {}  # resolved values, keyed by declared name
        self.parameter_resolver: Callable[[str], Any] | None = None
        self._variables: dict[str, Any] = {}
        self._variables_in_progress: list[str] = []
        # languageVersion 2.0 symbolic names → resource ids (a list for a copy loop), for resourceInfo()
        self.symbolic_ids: dict[str, str | list[str]] = {}
        self.user_functions: dict[str, dict[str, Any]] = {}

    # ----- values of the template's declarations -----

    def parameter(self, name: str) -> Any:
        declared = self.template.get("parameters") or {}
        key = find_key(declared, name)
        if key is None:
            raise ExpressionError(
                f"The template parameter '{name}' is not found. Please see https://aka.ms/arm-create-parameter-file "
                "for usage details."
            )
        if key not in self.parameter_values and self.parameter_resolver is not None:
            self.parameter_resolver(key)
        return self.parameter_values[key]

    def variable(self, name: str) -> Any:
        declared = self.template.get("variables") or {}
        key = find_key(declared, name)
        if key is None or key == "copy":
            key = self._copy_variable_name(name)
            if key is None:
                raise ExpressionError(
                    f"The template variable '{name}' is not found. Please see https://aka.ms/arm-syntax-variables "
                    "for usage details."
                )
        if key in self._variables:
            return self._variables[key]
        if key in self._variables_in_progress:
            chain = " -> ".join([*self._variables_in_progress, key])
            # message not verified: ARM reports self-referencing variables as a circular reference
            raise ExpressionError(f"The template variable '{key}' references itself: {chain}.")
        self._variables_in_progress.append(key)
        try:
            if key in declared and key != "copy":
                value = self.evaluate(declared[key], Frame(location=f"variables('{key}')"))
            else:
                value = self._evaluate_copy_variable(key)
        finally:
            self._variables_in_progress.pop()
        self._variables[key] = value
        return value

    def _copy_variables(self) -> list[dict[str, Any]]:
        declared = self.template.get("variables") or {}
        copies = declared.get("copy") or []
        return [c for c in copies if isinstance(c, dict)]

    def _copy_variable_name(self, name: str) -> str | None:
        for loop in self._copy_variables():
            loop_name = loop.get("name")
            if isinstance(loop_name, str) and loop_name.lower() == name.lower():
                return loop_name
        return None

    def _evaluate_copy_variable(self, name: str) -> list[Any]:
        loop = next(c for c in self._copy_variables() if c.get("name") == name)
        count = self.loop_count(loop, Frame(), f"variables copy '{name}'")
        return [
            self.evaluate(loop.get("input"), Frame().with_loop(name, i, default=False)) for i in range(count)
        ]

    def loop_count(self, loop: Mapping[str, Any], frame: Frame, where: str) -> int:
        count = self.evaluate(loop.get("count"), frame)
        if isinstance(count, bool) or not isinstance(count, int):
            raise ExpressionError(
                f"The copy count of {where} must be an integer; the provided value is of type "
                f"'{type_name(count)}'."
            )
        if count < 0 or count > 800:
            raise ExpressionError(
                f"The copy count of {where} must be between 0 and 800; the provided value is '{count}'."
            )
        return count

    # ----- evaluation -----

    def evaluate(self, value: Any, frame: Frame) -> Any:
        """A JSON template fragment with every expression in it evaluated (property copy loops expanded)."""
        if isinstance(value, str):
            if is_expression(value):
                return self.evaluate_node(parse_expression(value[1:-1]), frame)
            return unescape_literal(value)
        if isinstance(value, list):
            return [self.evaluate(item, frame) for item in value]
        if isinstance(value, dict):
            result: dict[str, Any] = {}
            for key, item in value.items():
                if key == "copy" and _is_property_copy(item):
                    for loop in item:
                        loop_name = str(loop["name"])
                        count = self.loop_count(loop, frame, f"property '{loop_name}'")
                        result[loop_name] = [
                            self.evaluate(loop["input"], frame.with_loop(loop_name, i, default=False))
                            for i in range(count)
                        ]
                    continue
                evaluated_key = self.evaluate(key, frame) if is_expression(key) else unescape_literal(key)
                if not isinstance(evaluated_key, str):
                    raise ExpressionError(
                        f"The property name '{key}' must evaluate to a string; it is of type "
                        f"'{type_name(evaluated_key)}'."
                    )
                result[evaluated_key] = self.evaluate(item, frame)
            return result
        return value

    def evaluate_node(self, node: Node, frame: Frame) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Access):
            target = self.evaluate_node(node.target, frame)
            key = self.evaluate_node(node.key, frame)
            return get_property(target, key)
        return self.call(node, frame)

    def call(self, node: Call, frame: Frame) -> Any:
        name = node.name.lower()
        # special forms: their arguments are evaluated lazily
        if name == "if":
            if len(node.args) != 3:
                raise ExpressionError(
                    "The template language function 'if' expects three parameters: the condition, the "
                    f"true value and the false value. The function was invoked with '{len(node.args)}' "
                    "parameter(s)."
                )
            condition = self.evaluate_node(node.args[0], frame)
            if not isinstance(condition, bool):
                raise ExpressionError(
                    "The template language function 'if' expects its first parameter to be of type "
                    f"'Boolean'. The provided value is of type '{type_name(condition)}'."
                )
            return self.evaluate_node(node.args[1] if condition else node.args[2], frame)
        if name in ("and", "or"):
            if len(node.args) < 2:
                raise ExpressionError(
                    f"The template language function '{node.name}' must have at least two parameters."
                )
            for arg in node.args:
                value = self.evaluate_node(arg, frame)
                if not isinstance(value, bool):
                    raise ExpressionError(
                        f"The template language function '{node.name}' expects its parameters to be of type "
                        f"'Boolean'. The provided value is of type '{type_name(value)}'."
                    )
                if value is (name == "or"):
                    return value
            return name == "and"
        if "." in name:
            return self.call_user_function(node, frame)
        impl = self.functions.get(name)
        if impl is None:
            raise ExpressionError(_unknown_function_message(node.name), unsupported=True)
        args = [self.evaluate_node(arg, frame) for arg in node.args]
        return impl(self, frame, args)

    def call_user_function(self, node: Call, frame: Frame) -> Any:
        definition = self.user_functions.get(node.name.lower())
        if definition is None:
            raise ExpressionError(
                f"The template function '{node.name}' is not valid: no user-defined function of that name is "
                "declared in the template's 'functions'.",
                unsupported=True,
            )
        declared = definition.get("parameters") or []
        args = [self.evaluate_node(arg, frame) for arg in node.args]
        if len(args) != len(declared):
            raise ExpressionError(
                f"The template function '{node.name}' expects {len(declared)} parameter(s); "
                f"{len(args)} were given."
            )
        values = {str(p.get("name")): value for p, value in zip(declared, args, strict=True)}
        output = definition.get("output") or {}
        # a user-defined function sees only its own parameters (ARM forbids variables() and parameters())
        body_scope = _FunctionScope(self, values)
        return body_scope.evaluate(output.get("value"), Frame(location=f"function '{node.name}'"))


class _FunctionScope(Scope):
    """The scope inside a user-defined function: parameters() reads the function's arguments."""

    def __init__(self, outer: Scope, values: dict[str, Any]) -> None:
        super().__init__(
            template={"parameters": {key: {} for key in values}},
            subscription_id=outer.subscription_id,
            resource_group=outer.resource_group,
            deployment_name=outer.deployment_name,
            location=outer.location,
            functions=outer.functions,
        )
        self.parameter_values = dict(values)
        self.user_functions = outer.user_functions

    def variable(self, name: str) -> Any:
        raise ExpressionError(
            f"The template function 'variables' is not valid inside a user-defined function (variable '{name}')."
        )


def _is_property_copy(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(loop, dict) and "name" in loop and "count" in loop and "input" in loop for loop in value)
    )


# ARM functions the twin does not evaluate. Those that need live Azure state, a clock or randomness never can;
# the rest are left out because no committed template calls them (functions.py keeps what they do call).
NEEDS_AZURE = frozenset(
    {
        "reference", "references", "listkeys", "listsecrets", "listaccountsas", "listservicesas",
        "listcallbackurl", "pickzones", "providers", "environment", "managementgroup",
        "managementgroupresourceid", "tenant", "utcnow", "newguid", "datetimeadd", "datetimefromepoch",
        "datetimetoepoch", "getsecret",
    }
)
NOT_EVALUATED = frozenset(
    {
        "array", "base64", "base64tojson", "base64tostring", "bool", "cidrhost", "cidrsubnet", "datauri",
        "datauritostring", "deployment", "endswith", "extensionresourceid", "filter", "first", "flatten",
        "float", "groupby", "indexfromend", "indexof", "int", "intersection", "items", "join", "json",
        "lambda", "lambdavariables", "last", "lastindexof", "map", "mapvalues", "objectkeys", "padleft",
        "parsecidr", "range", "reduce", "shallowmerge", "skip", "sort", "split", "startswith",
        "subscriptionresourceid", "substring", "take", "tenantresourceid", "toobject", "toupper", "trim",
        "tryindexfromend", "uri", "uricomponent", "uricomponenttostring",
    }
)


def _unknown_function_message(name: str) -> str:
    lowered = name.lower()
    if lowered in NEEDS_AZURE or lowered.startswith("list"):
        return (
            f"The template function '{name}' is not supported by the twin: it needs live Azure state, the "
            "clock or randomness, which an offline evaluation does not have."
        )
    if lowered in NOT_EVALUATED:
        return (
            f"The template function '{name}' is not supported by the twin: ARM has it, but the twin evaluates "
            "only the functions the committed templates call (twin/arm_deployments/template/functions.py); "
            "add it there with a test if a template needs it."
        )
    # ARM's own text for a function name it does not know
    return f"The template function '{name}' is not valid. Please see https://aka.ms/arm-functions for usage details."
