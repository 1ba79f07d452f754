"""The app identity's role assignments as infra/app would create them, read from its Bicep.

Each module that assigns roles (identity.bicep, apim-access.bicep, workspace-access.bicep) is parsed with
pycep, the parser checkov uses: its `Microsoft.Authorization/roleAssignments` give the role (a built-in GUID
through `subscriptionResourceId(...)`, or a custom `roleDefinitions` resource of the same module, whose actions
are a variable or a literal list), the scope (an `existing` resource of the module, or the module's resource
group when none is named) and the condition (a bool parameter). Built-in roles' actions come from
builtin_roles.json, copied from Microsoft's published definitions.

main.bicep's wiring is applied as main.bicep writes it (tests/infra/test_app_roles.py checks the same lines):
apim-access once per target in the target's group, `resourceCentricLogs` when the target names no workspace;
workspace-access once per distinct workspace *resource id* of the targets, in the workspace's group, with
`grantReader` false for the app's own workspace; subscription-access (when present) once per distinct target
subscription, at the subscription; events-access (when present) once, on the function app;
identity.bicep once, on the app's storage, Application Insights and workspace. A workspace named by GUID gets no
workspace-access, as in Azure (infra/README.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from twin.rbac.roles import Assignment, Permission, RoleDefinition

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / "infra" / "app" / "modules"
BUILTIN_ROLES = Path(__file__).with_name("builtin_roles.json")
# Deployed by main.bicep once per distinct target subscription, at the subscription (targetScope 'subscription').
SUBSCRIPTION_MODULE = "subscription-access.bicep"
# Deployed by main.bicep once, in the app's group, on the function app (the breaker-event destination).
EVENTS_MODULE = "events-access.bicep"
# Every module that assigns roles, and so must be placed by app_assignments (tests/rbac checks the list).
PLACED_MODULES = ("identity.bicep", "apim-access.bicep", "workspace-access.bicep", SUBSCRIPTION_MODULE,
                  EVENTS_MODULE)


@dataclass(frozen=True)
class Grant:
    """One roleAssignment of a module, before its scope is known."""

    module: str
    name: str  # the assignment's symbolic name
    role: RoleDefinition
    scope_symbol: str | None  # an `existing` resource of the module; None: the module's resource group
    condition: str | None  # the bool parameter it depends on (`= if (param)`), if any


@dataclass(frozen=True)
class AppInfra:
    """What infra/app is deployed with: the identity and the resources its modules take as parameters."""

    principal_id: str
    targets: Sequence[Mapping[str, str]]  # the `targets` parameter (BREAKERPANEL_TARGETS)
    app_workspace_id: str  # monitoring.bicep's workspace (resource id)
    app_insights_id: str  # monitoring.bicep's Application Insights component (resource id)
    storage_id: str  # storage.bicep's account (resource id)
    function_app_id: str = ""  # functionapp.bicep's app (resource id); events-access assigns on it


def _body(entry: Mapping[str, Any]) -> dict[str, Any]:
    body = entry["config"]
    return body["config"] if "condition" in body else body


@lru_cache(maxsize=1)
def _builtin_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(BUILTIN_ROLES.read_text(encoding="utf-8"))
    return data


def unmodelled_roles() -> dict[str, str]:
    """Built-in roles infra/app assigns on services the twin does not serve: GUID -> why they are left out."""
    unmodelled = _builtin_data()["unmodelled"]
    return {guid.lower(): f"{spec['roleName']}: {spec['reason']}" for guid, spec in unmodelled.items()}


@lru_cache(maxsize=1)
def builtin_roles() -> dict[str, RoleDefinition]:
    data = _builtin_data()
    return {
        role_id.lower(): RoleDefinition(role_id.lower(), spec["roleName"], tuple(_permission(p) for p in
                                                                               spec["permissions"]), True)
        for role_id, spec in data["roles"].items()
    }


def _permission(spec: Mapping[str, Any]) -> Permission:
    return Permission(
        tuple(spec.get("actions") or ()),
        tuple(spec.get("notActions") or ()),
        tuple(spec.get("dataActions") or ()),
        tuple(spec.get("notDataActions") or ()),
    )


def _actions(value: Any, variables: Mapping[str, Any]) -> tuple[str, ...]:
    resolved = variables[value] if isinstance(value, str) else value
    if not isinstance(resolved, list) or not all(isinstance(item, str) for item in resolved):
        raise ValueError(f"a custom role's actions must be a list of strings or a variable holding one: {value!r}")
    return tuple(resolved)


def _role(module: str, reference: Any, resources: Mapping[str, Any],
          variables: Mapping[str, Any]) -> RoleDefinition | None:
    """The role an assignment gives; None for a built-in role on a service the twin does not serve."""
    function = reference.get("function") if isinstance(reference, dict) else None
    if function and function["type"] == "subscription_resource_id":
        guid = variables[function["parameters"]["resource_name_1"]].lower()
        if guid in unmodelled_roles():
            return None
        known = builtin_roles()
        if guid not in known:
            raise ValueError(f"{module}: built-in role {guid} is not in {BUILTIN_ROLES.name}; add its published "
                             "definition (Actions/NotActions/DataActions) there with its source")
        return known[guid]
    operator = reference.get("operator") if isinstance(reference, dict) else None
    if not operator or operator["type"] != "property_accessor":
        raise ValueError(f"{module}: roleDefinitionId {reference!r} is neither subscriptionResourceId(...) nor "
                         "<customRole>.id")
    symbol = operator["operands"]["operand_1"]
    props = _body(resources[symbol])["properties"]
    permissions = tuple(
        Permission(_actions(p.get("actions", []), variables), _actions(p.get("notActions", []), variables),
                   _actions(p.get("dataActions", []), variables), _actions(p.get("notDataActions", []), variables))
        for p in props["permissions"]
    )
    name = props["roleName"].split(" (")[0]  # the tenant-unique suffix is an expression
    return RoleDefinition(symbol, name, permissions, False)


@lru_cache(maxsize=8)
def module_grants(module: str) -> tuple[Grant, ...]:
    from pycep import BicepParser

    parsed = BicepParser().parse(text=(MODULES / module).read_text(encoding="utf-8"))
    variables = {name: entry["value"] for name, entry in (parsed.get("variables") or {}).items()}
    resources = parsed["resources"]
    grants = []
    for name, entry in resources.items():
        if entry["type"] != "Microsoft.Authorization/roleAssignments":
            continue
        body = _body(entry)
        condition = entry["config"].get("condition")
        role = _role(module, body["properties"]["roleDefinitionId"], resources, variables)
        if role is not None:
            switch = condition if isinstance(condition, str) else None
            grants.append(Grant(module, name, role, body.get("scope"), switch))
    return tuple(grants)


def _group_of(resource_id: str) -> str:
    """The resource group of a resource id (ARM spells the segment either case)."""
    parts = resource_id.strip("/").split("/")
    return f"/subscriptions/{parts[1]}/resourceGroups/{parts[3]}"


def _assign(grants: Sequence[Grant], principal: str, group: str, scopes: Mapping[str, str],
            switches: Mapping[str, bool], label: str) -> list[Assignment]:
    found = []
    for grant in grants:
        if grant.condition is not None and not switches[grant.condition]:
            continue
        if grant.scope_symbol is not None and grant.scope_symbol not in scopes:
            raise ValueError(f"{grant.module}: {grant.name} is scoped to '{grant.scope_symbol}', which the twin "
                             f"cannot place; known: {sorted(scopes)}")
        scope = scopes[grant.scope_symbol] if grant.scope_symbol else group
        where = label if grant.scope_symbol else group.rsplit("/", 1)[-1]
        found.append(Assignment(principal, grant.role, scope, f"{grant.module}: {grant.name} ({where})"))
    return found


def app_assignments(infra: AppInfra) -> list[Assignment]:
    """Every role assignment infra/app creates for the app's identity, at its scope."""
    principal = infra.principal_id
    found = _assign(module_grants("identity.bicep"), principal, _group_of(infra.app_insights_id),
                    {"storage": infra.storage_id, "appInsights": infra.app_insights_id,
                     "workspace": infra.app_workspace_id}, {}, "app")
    workspaces: list[str] = []
    for target in infra.targets:
        group = f"/subscriptions/{target['subscriptionId']}/resourceGroups/{target['resourceGroup']}"
        apim = f"{group}/providers/Microsoft.ApiManagement/service/{target['apimName']}"
        workspace = str(target.get("logAnalyticsWorkspaceId") or "")
        found += _assign(module_grants("apim-access.bicep"), principal, group, {"apim": apim},
                         {"resourceCentricLogs": not workspace}, f"{target['resourceGroup']}/{target['apimName']}")
        if workspace.lower().startswith("/subscriptions/") and workspace.lower() not in workspaces:
            workspaces.append(workspace.lower())
    for workspace in workspaces:
        found += _assign(module_grants("workspace-access.bicep"), principal, _group_of(workspace),
                         {"workspace": workspace}, {"grantReader": workspace != infra.app_workspace_id.lower()},
                         workspace.rsplit("/", 1)[-1])
    if (MODULES / EVENTS_MODULE).exists():
        if not infra.function_app_id:
            raise ValueError(f"infra/app assigns {EVENTS_MODULE} on the function app: give its resource id "
                             "(AppInfra.function_app_id, the control API's infra.functionAppId)")
        found += _assign(module_grants(EVENTS_MODULE), principal, _group_of(infra.function_app_id),
                         {"app": infra.function_app_id}, {}, "app")
    if (MODULES / SUBSCRIPTION_MODULE).exists():
        subscriptions = sorted({str(t["subscriptionId"]).lower() for t in infra.targets})
        for subscription in subscriptions:
            found += _assign(module_grants(SUBSCRIPTION_MODULE), principal, f"/subscriptions/{subscription}", {},
                             {}, subscription)
    # Two targets in one group deploy the same guid()-named role and assignment there: one assignment in Azure.
    unique: dict[tuple[str, str], Assignment] = {}
    for assignment in found:
        unique.setdefault((assignment.role.role_id, assignment.scope.lower()), assignment)
    return list(unique.values())
