"""Expanding a template's resources: nested children, copy loops, conditions, ids and dependsOn order.

Phase one computes every instance's type, name and id (condition-false ones included) so that dependsOn
can be resolved the way ARM resolves it: by symbolic name (languageVersion 2.0), by copy loop name, by
resource id, or by resource name; a dependency on a condition-false resource is dropped. Phase two
evaluates the bodies of the resources that deploy, and a topological sort orders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import HELP_EXPRESSIONS, HELP_RESOURCES, ExpressionError, TemplateError, validation_failed
from .evaluator import Frame, Scope
from .ids import extension_resource_id, name_segments, resource_group_id, type_segments
from .model import EvaluatedResource
from .values import type_name

# keys of a resource declaration that steer the deployment instead of being sent to the provider
_CONTROL_KEYS = frozenset({"copy", "condition", "dependsOn", "resources", "existing", "comments"})


@dataclass
class Declaration:
    """One resource declaration, nested children flattened into it with their parent's type/name."""

    symbolic_name: str | None
    raw: dict[str, Any]
    path: str  # where it is in the template, e.g. "resources[2]" or "resources.pool"
    parent: Declaration | None = None
    existing: bool = False


@dataclass
class Instance:
    declaration: Declaration
    frame: Frame
    type: str
    api_version: str
    name: str
    id: str
    condition: bool
    copy_name: str | None
    depends_on: list[str] = field(default_factory=list)  # resolved ids
    label: str = ""  # how ARM names the resource in messages


def declarations(template: dict[str, Any], symbolic: bool) -> list[Declaration]:
    raw = template.get("resources")
    if raw is None:
        return []
    found: list[Declaration] = []
    if symbolic:
        if not isinstance(raw, dict):
            raise validation_failed(
                "The template 'resources' must be an object keyed by symbolic name in languageVersion '2.0'. "
                f"{HELP_RESOURCES}",
                "resources",
            )
        for name, decl in raw.items():
            found.extend(_flatten(name, decl, f"resources.{name}", None))
    else:
        if not isinstance(raw, list):
            raise validation_failed(
                "The template 'resources' must be an array (or an object keyed by symbolic name with "
                f"languageVersion '2.0'). {HELP_RESOURCES}",
                "resources",
            )
        for index, decl in enumerate(raw):
            found.extend(_flatten(None, decl, f"resources[{index}]", None))
    return found


def _flatten(symbolic: str | None, decl: Any, path: str, parent: Declaration | None) -> list[Declaration]:
    if not isinstance(decl, dict):
        raise validation_failed(f"The template resource at '{path}' must be an object. {HELP_RESOURCES}", path)
    this = Declaration(symbolic, decl, path, parent, existing=decl.get("existing") is True)
    result = [this]
    children = decl.get("resources") or []
    if isinstance(children, list):
        for index, child in enumerate(children):
            result.extend(_flatten(None, child, f"{path}.resources[{index}]", this))
    return result


def _expression_error(label: str, exc: ExpressionError, path: str) -> TemplateError:
    message = exc.message.rstrip(".")
    if exc.unsupported:
        # the twin's own limits: name the function plainly, where it is
        return TemplateError(
            "InvalidTemplate",
            f"Deployment template validation failed: 'The template resource '{label}' is not valid: {message}.'.",
            path,
        )
    return validation_failed(f"The template resource '{label}' is not valid: {message}. {HELP_EXPRESSIONS}", path)


def _string(scope: Scope, value: Any, frame: Frame, what: str, label: str, path: str) -> str:
    evaluated = scope.evaluate(value, frame)
    if not isinstance(evaluated, str) or not evaluated:
        raise validation_failed(
            f"The template resource '{label}' is not valid: its '{what}' must be a non-empty string; it is of "
            f"type '{type_name(evaluated)}'. {HELP_RESOURCES}",
            f"{path}.{what}",
        )
    return evaluated


def expand(scope: Scope, decls: list[Declaration]) -> list[Instance]:
    """Every instance of every declaration, with type, name, id and condition evaluated."""
    instances: list[Instance] = []
    by_decl: dict[int, list[Instance]] = {}
    for decl in decls:
        parents = by_decl.get(id(decl.parent), []) if decl.parent else [None]
        made: list[Instance] = []
        for parent in parents:
            base_frame = parent.frame if parent is not None else Frame()
            made.extend(_instances_of(scope, decl, parent, base_frame))
        by_decl[id(decl)] = made
        instances.extend(made)
        if decl.symbolic_name is not None:
            loop = isinstance(decl.raw.get("copy"), dict)
            scope.symbolic_ids[decl.symbolic_name] = [i.id for i in made] if loop else (made[0].id if made else "")
    return instances


def _instances_of(scope: Scope, decl: Declaration, parent: Instance | None, base: Frame) -> list[Instance]:
    raw = decl.raw
    label = str(raw.get("name", decl.symbolic_name or decl.path))
    copy = raw.get("copy")
    copy_name: str | None = None
    frames: list[Frame]
    if copy is None:
        frames = [base]
    else:
        if not isinstance(copy, dict):
            raise validation_failed(
                f"The template resource '{label}' is not valid: 'copy' must be an object with 'name' and 'count'. "
                f"{HELP_RESOURCES}",
                f"{decl.path}.copy",
            )
        copy_name = copy.get("name") if isinstance(copy.get("name"), str) else decl.symbolic_name
        if not copy_name:
            raise validation_failed(
                f"The template resource '{label}' is not valid: its copy loop needs a 'name'. {HELP_RESOURCES}",
                f"{decl.path}.copy.name",
            )
        mode = copy.get("mode", "Parallel")
        if not isinstance(mode, str) or mode.lower() not in ("parallel", "serial"):
            raise validation_failed(
                f"The template resource '{label}' is not valid: the copy mode '{mode}' must be 'Parallel' or "
                f"'Serial'. {HELP_RESOURCES}",
                f"{decl.path}.copy.mode",
            )
        batch = copy.get("batchSize")
        if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
            raise validation_failed(
                f"The template resource '{label}' is not valid: the copy batchSize must be a positive integer. "
                f"{HELP_RESOURCES}",
                f"{decl.path}.copy.batchSize",
            )
        try:
            count = scope.loop_count(copy, base, f"resource '{label}'")
        except ExpressionError as exc:
            raise _expression_error(label, exc, f"{decl.path}.copy.count") from exc
        frames = [base.with_loop(copy_name, i, default=True) for i in range(count)]
    made: list[Instance] = []
    for frame in frames:
        try:
            made.append(_instance(scope, decl, parent, frame, copy_name, label))
        except ExpressionError as exc:
            raise _expression_error(label, exc, decl.path) from exc
    return made


def _instance(
    scope: Scope, decl: Declaration, parent: Instance | None, frame: Frame, copy_name: str | None, label: str
) -> Instance:
    raw = decl.raw
    resource_type = _string(scope, raw.get("type"), frame, "type", label, decl.path)
    name = _string(scope, raw.get("name"), frame, "name", label, decl.path)
    if parent is not None:
        if "/" not in resource_type:
            resource_type = f"{parent.type}/{resource_type}"
            name = f"{parent.name}/{name}"
        elif len(name_segments(name)) < len(type_segments(resource_type)) - 1:
            name = f"{parent.name}/{name}"
    label = name
    api_version = raw.get("apiVersion")
    if not isinstance(api_version, str) and not decl.existing:
        raise validation_failed(
            f"The template resource '{label}' is not valid: 'apiVersion' is required. {HELP_RESOURCES}",
            f"{decl.path}.apiVersion",
        )
    types = type_segments(resource_type)
    names = name_segments(name)
    if len(types) < 2 or len(names) != len(types) - 1:
        raise validation_failed(
            f"The template resource '{name}' for type '{resource_type}' has incorrect segment lengths. A nested "
            "resource type must have identical number of segments as its resource name. A root resource type "
            f"must have segment length one greater than its resource name. {HELP_RESOURCES}",
            decl.path,
        )
    scope_id = resource_group_id(scope.subscription_id, scope.resource_group)
    if "scope" in raw:
        scope_id = _scope_id(scope, scope.evaluate(raw["scope"], frame), label, decl.path)
    resource_id = extension_resource_id(scope_id, resource_type, names)
    condition: Any = True
    if "condition" in raw:
        condition = scope.evaluate(raw["condition"], frame)
        if not isinstance(condition, bool):
            raise validation_failed(
                f"The template resource '{label}' is not valid: its 'condition' must evaluate to a boolean; it is "
                f"of type '{type_name(condition)}'. {HELP_RESOURCES}",
                f"{decl.path}.condition",
            )
    if parent is not None and not parent.condition:
        condition = False
    return Instance(
        declaration=decl,
        frame=frame,
        type=resource_type,
        api_version=str(api_version or ""),
        name=name,
        id=resource_id,
        condition=bool(condition),
        copy_name=copy_name,
        label=label,
    )


def _scope_id(scope: Scope, value: Any, label: str, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise validation_failed(
            f"The template resource '{label}' is not valid: its 'scope' must be a resource id. {HELP_RESOURCES}",
            f"{path}.scope",
        )
    if value.startswith("/"):
        return value.rstrip("/")
    symbolic = scope.symbolic_ids.get(value)
    if isinstance(symbolic, str) and symbolic:
        return symbolic
    # "Ns/type/name" relative to the deployment's resource group, as Bicep compiles `scope: apim`
    parts = [p for p in value.split("/") if p]
    if len(parts) >= 3 and len(parts) % 2 == 1:
        resource_type = "/".join([parts[0], *parts[1::2]])
        names = parts[2::2]
        return extension_resource_id(
            resource_group_id(scope.subscription_id, scope.resource_group), resource_type, names
        )
    raise validation_failed(
        f"The template resource '{label}' is not valid: the scope '{value}' is neither a resource id nor "
        f"'<namespace>/<type>/<name>'. {HELP_RESOURCES}",
        f"{path}.scope",
    )


def resolve_dependencies(scope: Scope, instances: list[Instance], symbolic: bool) -> None:
    """Fill each deployed instance's depends_on with the ids it waits for, as ARM resolves them."""
    by_symbol: dict[str, list[Instance]] = {}
    by_loop: dict[str, list[Instance]] = {}
    by_id: dict[str, list[Instance]] = {}
    by_name: dict[str, list[Instance]] = {}
    for inst in instances:
        if inst.declaration.symbolic_name:
            by_symbol.setdefault(inst.declaration.symbolic_name.lower(), []).append(inst)
        if inst.copy_name:
            by_loop.setdefault(inst.copy_name.lower(), []).append(inst)
        by_id.setdefault(inst.id.lower(), []).append(inst)
        by_name.setdefault(inst.name.lower(), []).append(inst)
        by_name.setdefault(name_segments(inst.name)[-1].lower(), []).append(inst)
    rg = resource_group_id(scope.subscription_id, scope.resource_group)
    for inst in instances:
        if not inst.condition or inst.declaration.existing:
            continue
        raw = inst.declaration.raw.get("dependsOn") or []
        if not isinstance(raw, list):
            raise validation_failed(
                f"The template resource '{inst.label}' is not valid: 'dependsOn' must be an array. {HELP_RESOURCES}",
                f"{inst.declaration.path}.dependsOn",
            )
        resolved: list[str] = []
        for index, entry in enumerate(raw):
            try:
                value = scope.evaluate(entry, inst.frame)
            except ExpressionError as exc:
                raise _expression_error(inst.label, exc, f"{inst.declaration.path}.dependsOn[{index}]") from exc
            if not isinstance(value, str):
                raise validation_failed(
                    f"The template resource '{inst.label}' is not valid: each 'dependsOn' entry must be a string. "
                    f"{HELP_RESOURCES}",
                    f"{inst.declaration.path}.dependsOn[{index}]",
                )
            targets = _lookup(value, symbolic, rg, by_symbol, by_loop, by_id, by_name)
            if targets is None:
                raise validation_failed(
                    f"The resource '{value}' is not defined in the template. Please see "
                    "https://aka.ms/arm-template for usage details.",
                    f"{inst.declaration.path}.dependsOn[{index}]",
                )
            for target in targets:
                # ARM drops dependencies on condition-false resources; existing ones are not deployed
                if target is inst or not target.condition or target.declaration.existing:
                    continue
                if target.id not in resolved:
                    resolved.append(target.id)
        inst.depends_on = resolved


def _lookup(
    value: str,
    symbolic: bool,
    rg: str,
    by_symbol: dict[str, list[Instance]],
    by_loop: dict[str, list[Instance]],
    by_id: dict[str, list[Instance]],
    by_name: dict[str, list[Instance]],
) -> list[Instance] | None:
    key = value.lower()
    if symbolic:
        if key in by_symbol:
            return by_symbol[key]
        if key.endswith("]") and "[" in key:
            base, _, index = key[:-1].partition("[")
            if base in by_symbol and index.isdigit() and int(index) < len(by_symbol[base]):
                return [by_symbol[base][int(index)]]
    if key in by_loop:
        return by_loop[key]
    if key in by_id:
        return by_id[key]
    if not key.startswith("/"):
        parts = [p for p in value.split("/") if p]
        if len(parts) >= 3 and len(parts) % 2 == 1 and "." in parts[0]:
            relative = extension_resource_id(rg, "/".join([parts[0], *parts[1::2]]), parts[2::2]).lower()
            if relative in by_id:
                return by_id[relative]
        if key in by_name:
            return by_name[key]
    return None


def evaluate_bodies(scope: Scope, instances: list[Instance]) -> list[EvaluatedResource]:
    evaluated: list[EvaluatedResource] = []
    for inst in instances:
        if not inst.condition or inst.declaration.existing:
            continue
        body_raw = {k: v for k, v in inst.declaration.raw.items() if k not in _CONTROL_KEYS}
        inner_template = _inner_scope_template(inst.type, body_raw)
        try:
            body = scope.evaluate(body_raw, inst.frame)
        except ExpressionError as exc:
            raise _expression_error(inst.label, exc, inst.declaration.path) from exc
        if inner_template is not None:
            body["properties"]["template"] = inner_template
        body["type"] = inst.type
        body["name"] = inst.name
        if "scope" in body:
            body["scope"] = inst.id.rsplit("/providers/", 1)[0]
        properties = body.get("properties")
        if properties is None:
            properties = {}
        if not isinstance(properties, dict):
            raise validation_failed(
                f"The template resource '{inst.label}' is not valid: 'properties' must be an object; it is of "
                f"type '{type_name(properties)}'. {HELP_RESOURCES}",
                f"{inst.declaration.path}.properties",
            )
        evaluated.append(
            EvaluatedResource(
                symbolic_name=inst.declaration.symbolic_name,
                type=inst.type,
                api_version=inst.api_version,
                name=inst.name,
                id=inst.id,
                properties=properties,
                depends_on=tuple(inst.depends_on),
                body=body,
            )
        )
    return evaluated


def _inner_scope_template(resource_type: str, body_raw: dict[str, Any]) -> Any:
    """A nested deployment with inner expression scope: its template is evaluated by that deployment, not here.

    The template is taken out of `body_raw` (and returned) so the outer evaluation leaves it as written.
    """
    if resource_type.lower() != "microsoft.resources/deployments":
        return None
    properties = body_raw.get("properties")
    if not isinstance(properties, dict) or "template" not in properties:
        return None
    options = properties.get("expressionEvaluationOptions")
    if not isinstance(options, dict) or str(options.get("scope", "")).lower() != "inner":
        return None
    body_raw["properties"] = {k: v for k, v in properties.items() if k != "template"}
    return properties["template"]


def order(resources: list[EvaluatedResource]) -> list[EvaluatedResource]:
    """Dependencies first, otherwise template order; a cycle fails as ARM fails it."""
    by_id = {r.id.lower(): r for r in resources}
    placed: set[str] = set()
    result: list[EvaluatedResource] = []
    remaining = list(resources)
    while remaining:
        progress = False
        for resource in list(remaining):
            waits = [d.lower() for d in resource.depends_on if d.lower() in by_id]
            if all(w in placed for w in waits):
                result.append(resource)
                placed.add(resource.id.lower())
                remaining.remove(resource)
                progress = True
                break
        if not progress:
            culprit = _in_cycle(remaining, by_id) or remaining[0]
            raise validation_failed(
                f"Circular dependency detected on resource: '{culprit.id}'. {HELP_RESOURCES}", culprit.id
            )
    return result


def _in_cycle(
    remaining: list[EvaluatedResource], by_id: dict[str, EvaluatedResource]
) -> EvaluatedResource | None:
    """A resource that is on a cycle (not merely waiting behind one)."""
    for start in remaining:
        seen: set[str] = set()
        stack = [d.lower() for d in start.depends_on]
        while stack:
            current = stack.pop()
            if current == start.id.lower():
                return start
            if current in seen or current not in by_id:
                continue
            seen.add(current)
            stack.extend(d.lower() for d in by_id[current].depends_on)
    return None


def reject_duplicates(resources: list[EvaluatedResource]) -> None:
    seen: dict[str, EvaluatedResource] = {}
    for resource in resources:
        key = resource.id.lower()
        if key in seen:
            # ARM's text for two declarations that produce one resource id
            raise TemplateError(
                "InvalidTemplate",
                f"Deployment template validation failed: 'The resource '{resource.id}' is defined multiple times "
                f"in a template. {HELP_RESOURCES}'.",
                resource.id,
            )
        seen[key] = resource
