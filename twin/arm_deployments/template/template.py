"""evaluate_template: an ARM deployment template and its parameter values → resources in order + outputs."""

from __future__ import annotations

from typing import Any

from .errors import HELP_EXPRESSIONS, ExpressionError, TemplateError, validation_failed
from .evaluator import Frame, Scope
from .functions import FUNCTIONS
from .model import EvaluatedTemplate
from .parameters import ParameterBinder, supplied_values
from .resources import declarations, evaluate_bodies, expand, order, reject_duplicates, resolve_dependencies
from .values import type_name

_OUTPUT_TYPES = {
    "string": str,
    "securestring": str,
    "int": int,
    "bool": bool,
    "object": dict,
    "secureobject": dict,
    "array": list,
}


def evaluate_template(
    template: dict[str, Any],
    parameters: dict[str, Any],
    *,
    subscription_id: str,
    resource_group: str,
    deployment_name: str,
    location: str = "eastus",
) -> EvaluatedTemplate:
    """Evaluate `template` as ARM would for a resource-group deployment; TemplateError when ARM would refuse it."""
    if not isinstance(template, dict):
        raise TemplateError(
            "InvalidTemplate",
            f"Deployment template validation failed: 'The template must be a JSON object; it is of type "
            f"'{type_name(template)}'.'.",
            "properties.template",
        )
    language_version = template.get("languageVersion")
    symbolic = isinstance(language_version, str) and language_version.split("-")[0] in ("2.0", "2.1")
    if language_version is not None and not symbolic:
        raise validation_failed(
            f"The template language version '{language_version}' is not supported by the twin; it evaluates the "
            "classic form and languageVersion '2.0'.",
            "languageVersion",
        )
    scope = Scope(
        template=template,
        subscription_id=subscription_id,
        resource_group=resource_group,
        deployment_name=deployment_name,
        location=location,
        functions=FUNCTIONS,
    )
    _register_user_functions(scope, template)
    binder = ParameterBinder(scope, supplied_values(template, parameters))
    scope.parameter_resolver = binder.resolve
    binder.resolve_all()
    _check_variables(scope, template)

    decls = declarations(template, symbolic)
    instances = expand(scope, decls)
    resolve_dependencies(scope, instances, symbolic)
    resources = evaluate_bodies(scope, instances)
    reject_duplicates(resources)
    ordered = order(resources)
    outputs = _outputs(scope, template)
    return EvaluatedTemplate(resources=tuple(ordered), outputs=outputs)


def _register_user_functions(scope: Scope, template: dict[str, Any]) -> None:
    for namespace in template.get("functions") or []:
        if not isinstance(namespace, dict):
            continue
        prefix = str(namespace.get("namespace", ""))
        for name, definition in (namespace.get("members") or {}).items():
            if isinstance(definition, dict):
                scope.user_functions[f"{prefix}.{name}".lower()] = definition


def _check_variables(scope: Scope, template: dict[str, Any]) -> None:
    """ARM evaluates every variable, used or not: a bad one fails the deployment."""
    variables = template.get("variables") or {}
    if not isinstance(variables, dict):
        raise validation_failed("The template 'variables' must be an object.", "variables")
    names = [name for name in variables if name != "copy"]
    names += [str(loop.get("name")) for loop in variables.get("copy") or [] if isinstance(loop, dict)]
    for name in names:
        try:
            scope.variable(name)
        except ExpressionError as exc:
            message = exc.message.rstrip(".")
            help_text = "" if exc.unsupported else f" {HELP_EXPRESSIONS}"
            raise validation_failed(
                f"The template variable '{name}' is not valid: {message}.{help_text}", f"variables.{name}"
            ) from exc


def _outputs(scope: Scope, template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    declared = template.get("outputs") or {}
    result: dict[str, dict[str, Any]] = {}
    for name, output in declared.items():
        if not isinstance(output, dict):
            raise validation_failed(f"The template output '{name}' must be an object.", f"outputs.{name}")
        try:
            if "condition" in output and scope.evaluate(output["condition"], Frame()) is not True:
                continue
            copy = output.get("copy")
            if isinstance(copy, dict):
                count = scope.loop_count(copy, Frame(), f"output '{name}'")
                value: Any = [
                    scope.evaluate(copy.get("input"), Frame().with_loop(None, i, default=True)) for i in range(count)
                ]
            else:
                value = scope.evaluate(output.get("value"), Frame())
        except ExpressionError as exc:
            message = exc.message.rstrip(".")
            help_text = "" if exc.unsupported else f" {HELP_EXPRESSIONS}"
            raise validation_failed(
                f"The template output '{name}' is not valid: {message}.{help_text}", f"outputs.{name}"
            ) from exc
        declared_type = str(output.get("type", "")).lower()
        expected = _OUTPUT_TYPES.get(declared_type)
        wrong = expected is not None and value is not None and (
            not isinstance(value, expected) or (expected is int and isinstance(value, bool))
        )
        if wrong:
            # message not verified: ARM's wording when an output value does not match its declared type
            raise validation_failed(
                f"The template output '{name}' is not valid: the value is of type '{type_name(value)}' but the "
                f"output is declared as '{output.get('type')}'.",
                f"outputs.{name}",
            )
        result[name] = {"type": output.get("type"), "value": value}
    return result
