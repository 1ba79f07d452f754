"""How the twin's RBAC mode evaluates roles, and that it reads infra/app's roles as the infra tests do."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_app_roles import granted

from twin.rbac.infra import MODULES, PLACED_MODULES, AppInfra, app_assignments, builtin_roles, module_grants
from twin.rbac.operations import CHECKS
from twin.rbac.roles import Permission, RoleDefinition, action_matches, scope_covers

LOG_ANALYTICS_READER = "73c42c96-874c-492b-b04d-ab87d138a893"
SUB = "/subscriptions/00000000-0000-0000-0000-0000000000aa"
WORKSPACE = f"{SUB}/resourceGroups/rg-logs/providers/Microsoft.OperationalInsights/workspaces/log-gateway"


@pytest.mark.parametrize(("expression", "action", "matches"), [
    ("*/read", "Microsoft.OperationalInsights/workspaces/query/ApiManagementGatewayLogs/read", True),
    ("*/read", "Microsoft.OperationalInsights/workspaces/sharedKeys/action", False),
    ("Microsoft.Insights/logs/*/read", "microsoft.insights/LOGS/ApiManagementGatewayLogs/read", True),
    ("Microsoft.Support/*", "Microsoft.Support/supportTickets/write", True),
    ("Microsoft.Resources/deployments/read", "Microsoft.Resources/deployments/readx", False),
    ("Microsoft.Resources/deployments/read", "microsoft.resources/DEPLOYMENTS/read", True),
    ("Microsoft.Resources/deployments/*", "Microsoft.Resources/deploymentScripts/write", False),
])
def test_wildcards_and_case_match_as_azure_does(expression: str, action: str, matches: bool) -> None:
    assert action_matches(expression, action) is matches


def test_an_assignment_reaches_its_scope_and_below_only() -> None:
    group = f"{SUB}/resourceGroups/rg-gw"
    assert scope_covers(group, f"{SUB}/resourcegroups/RG-GW/providers/Microsoft.Resources/deployments/d")
    assert not scope_covers(group, f"{SUB}/resourceGroups/rg-gw2/providers/Microsoft.Resources/deployments/d")
    assert not scope_covers(group, SUB)


def test_log_analytics_reader_is_microsofts_definition_and_its_not_actions_subtract() -> None:
    reader = builtin_roles()[LOG_ANALYTICS_READER]
    assert reader.name == "Log Analytics Reader"
    assert reader.allows("Microsoft.OperationalInsights/workspaces/query/ApiManagementGatewayLogs/read")
    assert reader.allows("Microsoft.Insights/logs/ApiManagementGatewayLogs/read")
    # */read would reach the shared keys; the role's NotActions takes them out, and sharedKeys/action is no read.
    assert not reader.allows("Microsoft.OperationalInsights/workspaces/sharedKeys/read")
    assert not reader.allows("Microsoft.OperationalInsights/workspaces/sharedKeys/action")
    # Data actions are matched only against dataActions: */read grants no data-plane read.
    assert not reader.allows("Microsoft.OperationalInsights/workspaces/tables/data/read", data=True)


def test_a_not_action_subtracts_within_its_permission_but_another_permission_may_grant() -> None:
    role = RoleDefinition("r", "r", (Permission(("Microsoft.X/*",), ("Microsoft.X/keys/action",)),
                                     Permission(("Microsoft.X/keys/action",))), False)
    assert role.allows("Microsoft.X/keys/action")
    single = RoleDefinition("s", "s", (Permission(("Microsoft.X/*",), ("Microsoft.X/keys/action",)),), False)
    assert not single.allows("Microsoft.X/keys/action") and single.allows("Microsoft.X/read")


def test_the_twin_reads_the_same_custom_roles_the_infra_tests_prove() -> None:
    """test_app_roles.granted() (the inventory's side) and the twin's loader see the same actions per scope."""
    app = f"{SUB}/resourceGroups/rg-app/providers"
    infra = AppInfra("p", [{"subscriptionId": "s", "resourceGroup": "rg", "apimName": "a",
                            "logAnalyticsWorkspaceId": WORKSPACE}],
                     f"{app}/Microsoft.OperationalInsights/workspaces/w", f"{app}/Microsoft.Insights/components/ai",
                     f"{app}/Microsoft.Storage/storageAccounts/st", f"{app}/Microsoft.Web/sites/func")
    seen: dict[str, set[str]] = {}
    for assignment in app_assignments(infra):
        if assignment.role.builtin:
            continue
        kinds = {"/service/": "apim", "/workspaces/": "workspace", "/sites/": "functionApp",
                 "/resourceGroups/": "resourceGroup"}
        scope = next((kind for part, kind in kinds.items() if part in assignment.scope), "subscription")
        for permission in assignment.role.permissions:
            seen.setdefault(scope, set()).update(permission.actions)
    assert seen == granted()


def test_every_module_that_assigns_roles_is_placed_by_the_loader() -> None:
    assigning = sorted(p.name for p in MODULES.glob("*.bicep") if "Microsoft.Authorization/roleAssignments"
                       in p.read_text(encoding="utf-8"))
    assert set(assigning) <= set(PLACED_MODULES), "place the new module in twin/rbac/infra.py app_assignments"
    for module in assigning:
        assert module_grants(module), module


def test_every_authenticated_route_the_twin_serves_has_its_rbac_operation() -> None:
    from twin.app import Twin

    routes = Twin()._router._routes
    unmapped = sorted({r.name for r in routes if r.authenticated} - set(CHECKS))
    assert not unmapped, f"map these routes to the operation Azure checks in twin/rbac/operations.py: {unmapped}"


def test_the_builtin_roles_file_names_its_source() -> None:
    import json

    data = json.loads((Path(__file__).resolve().parents[2] / "twin" / "rbac" / "builtin_roles.json").read_text())
    assert data["source"].startswith("https://learn.microsoft.com/")
