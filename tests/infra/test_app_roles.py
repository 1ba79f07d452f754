"""Least privilege you can prove: the custom roles infra/app grants hold exactly the operations the app performs.

The inventory is derived, not written down: every SDK call the app's code makes against ARM, APIM and Log
Analytics (found in its source), plus what the committed gateway template deploys (read from main.json), each
mapped to the RBAC action Microsoft names for it and the scope it is checked at. A new SDK call with no mapping
fails here; a role that lacks an action, or grants one nothing uses, fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from test_app_infra import _parse

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "infra" / "app"
MAIN_JSON = ROOT / "infra" / "gateway" / "main.json"
# Where the app talks to Azure's management and query planes (the CLI's demo included).
SOURCES = [*sorted((ROOT / "activities").glob("*.py")), *sorted((ROOT / "breakerpanel").rglob("*.py"))]

# SDK operation -> (scope it is authorized at, RBAC actions). Names from Microsoft's operation lists:
# https://learn.microsoft.com/azure/role-based-access-control/permissions/management-and-governance#microsoftresources
# https://learn.microsoft.com/azure/role-based-access-control/permissions/integration#microsoftapimanagement
POLL = "Microsoft.Resources/deployments/operationstatuses/read"  # the LRO status the SDK polls
SDK_ACTIONS: dict[tuple[str, str], tuple[str, frozenset[str]]] = {
    ("deployments", "get"): ("resourceGroup", frozenset({"Microsoft.Resources/deployments/read"})),
    ("deployments", "list_by_resource_group"): ("resourceGroup", frozenset({"Microsoft.Resources/deployments/read"})),
    ("deployments", "begin_create_or_update"): (
        "resourceGroup", frozenset({"Microsoft.Resources/deployments/write", POLL})),
    ("deployments", "begin_validate"): (
        "resourceGroup", frozenset({"Microsoft.Resources/deployments/validate/action", POLL})),
    ("deployments", "begin_what_if"): (
        "resourceGroup", frozenset({"Microsoft.Resources/deployments/whatIf/action", POLL})),
    ("deployments", "cancel"): ("resourceGroup", frozenset({"Microsoft.Resources/deployments/cancel/action"})),
    # POST /providers/Microsoft.Resources/calculateTemplateHash: a tenant-level operation on no resource, so no
    # role assignment (scoped to a group or a resource) can grant or withhold it.
    ("deployments", "calculate_template_hash"): (
        "tenant", frozenset({"Microsoft.Resources/calculateTemplateHash/action"})),
    ("deployment_operations", "list"): (
        "resourceGroup", frozenset({"Microsoft.Resources/deployments/operations/read"})),
    ("backend", "list_by_service"): ("apim", frozenset({"Microsoft.ApiManagement/service/backends/read"})),
    ("backend", "get"): ("apim", frozenset({"Microsoft.ApiManagement/service/backends/read"})),
    # The rollout's prerequisites (activities/prerequisites.py).
    ("api_management_service", "get"): ("apim", frozenset({"Microsoft.ApiManagement/service/read"})),
    ("diagnostic_settings", "list"): ("apim", frozenset({"Microsoft.Insights/diagnosticSettings/read"})),
    ("providers", "get"): ("subscription", frozenset({"Microsoft.Resources/subscriptions/providers/read"})),
    ("system_topics", "list_by_resource_group"): (
        "resourceGroup", frozenset({"Microsoft.EventGrid/systemTopics/read"})),
    # Read where an operator grants it (Reader on the subscription, say); no role here gives Microsoft.Authorization
    # actions, so by default the finding is "could not check" — a warning, never a block (infra/README.md).
    ("role_assignments", "list_for_subscription"): (
        "notGranted", frozenset({"Microsoft.Authorization/roleAssignments/read"})),
}
# Calls made only when the rollout wires breaker events (the system topic's reuse check).
EVENTS_ONLY = {("system_topics", "list_by_resource_group")}
# Log Analytics queries are granted by the built-in Log Analytics Reader (workspace, or the instance for a
# resource-centric query), checked separately below.
QUERY_METHODS = {"query_workspace", "query_resource"}
# A management client's operation group, called on a client object (`client.x.y(` or `_client(...).x.y(`).
SDK_CALL = re.compile(
    r"\b_?client(?:\([^)]*\))?\.(deployments|deployment_operations|backend|api|api_policy|api_operation|"
    r"diagnostic_settings|system_topics|system_topic_event_subscriptions|api_management_service|providers|"
    r"role_assignments)\.(\w+)\("
)

# The template's resource types -> the scope their RBAC check runs at.
# Where infra/app sets BREAKERPANEL_EVENTS_FUNCTION_ID (this app's own resource id), the rollout deploys the
# breaker-event subscription: the admission check below is given that setting, as the app gets it in Azure.
EVENTS_SITE = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-app"
               "/providers/Microsoft.Web/sites/f")
TEMPLATE_SCOPES = {
    "Microsoft.ApiManagement/": "apim",
    "Microsoft.Insights/diagnosticSettings": "apim",
    "Microsoft.EventGrid/": "resourceGroup",
}


def sdk_inventory() -> dict[str, set[str]]:
    inventory: dict[str, set[str]] = {}
    unmapped = []
    events_wired = _rollout_can_set("functionAppResourceId") or _rollout_can_set("eventGridEndpointUrl")
    for path in SOURCES:
        for group, method in SDK_CALL.findall(path.read_text(encoding="utf-8")):
            entry = SDK_ACTIONS.get((group, method))
            if entry is None:
                unmapped.append(f"{path.relative_to(ROOT)}: {group}.{method}")
                continue
            if (group, method) in EVENTS_ONLY and not events_wired:
                continue
            inventory.setdefault(entry[0], set()).update(entry[1])
    assert not unmapped, f"map these SDK calls to their RBAC actions in SDK_ACTIONS (and grant them): {unmapped}"
    return inventory


def _events_setting() -> str:
    """EVENTS_SITE when infra/app sets BREAKERPANEL_EVENTS_FUNCTION_ID, else empty."""
    text = (APP / "main.bicep").read_text(encoding="utf-8")
    return EVENTS_SITE if re.search(r"^\s*BREAKERPANEL_EVENTS_FUNCTION_ID\s*:\s*resourceId\('Microsoft\.Web/sites'",
                                    text, re.MULTILINE) else ""


def _rollout_can_set(parameter: str) -> bool:
    from breakerpanel.core import admission

    if parameter not in admission.GATEWAY_PARAMETERS:
        return False
    policy = {"targets": [{"subscriptionId": "00000000-0000-0000-0000-000000000001", "resourceGroup": "rg",
                           "apimName": "apim"}], "backendHosts": [], "eventsFunctionId": _events_setting()}
    values = {"apimServiceName": "apim", parameter: EVENTS_SITE}
    problems = admission.parameters_problems(values, policy["targets"][0], policy)
    return not any(p.field == f"parameters.{parameter}" for p in problems)


def template_inventory() -> dict[str, set[str]]:
    """What deploying main.json needs: write on what it declares, read on all of it (what-if compares, ARM
    reads an `existing` parent), and the diagnostic setting's linked check on its workspace."""
    template = json.loads(MAIN_JSON.read_text(encoding="utf-8"))
    events_wired = _rollout_can_set("functionAppResourceId") or _rollout_can_set("eventGridEndpointUrl")
    inventory: dict[str, set[str]] = {}
    for name, resource in template["resources"].items():
        rtype = resource["type"]
        if rtype.startswith("Microsoft.EventGrid/") and not events_wired:
            # Deployed only when functionAppResourceId or eventGridEndpointUrl is set, which the rollout never does.
            continue
        scope = next(s for prefix, s in TEMPLATE_SCOPES.items() if rtype.startswith(prefix))
        actions = inventory.setdefault(scope, set())
        actions.add(f"{rtype}/read")
        if not resource.get("existing"):
            actions.add(f"{rtype}/write")
        if rtype == "Microsoft.Insights/diagnosticSettings":
            assert "workspaceId" in resource["properties"], name
            # https://learn.microsoft.com/azure/azure-monitor/logs/manage-access#custom-role-examples
            inventory.setdefault("workspace", set()).update({
                "Microsoft.OperationalInsights/workspaces/read",
                "Microsoft.OperationalInsights/workspaces/sharedKeys/action",
            })
        if rtype.endswith("/eventSubscriptions") and "AzureFunction" in json.dumps(template["variables"]):
            # Event Grid's check on a non-WebHook destination: write on it, here <app>/functions/breaker_events.
            # https://learn.microsoft.com/azure/event-grid/security-authorization#permissions-for-event-subscriptions
            inventory.setdefault("functionApp", set()).add("Microsoft.Web/sites/functions/write")
    return inventory


def needed() -> dict[str, set[str]]:
    inventory = sdk_inventory()
    for scope, actions in template_inventory().items():
        inventory.setdefault(scope, set()).update(actions)
    return inventory


def config(entry: dict[str, Any]) -> dict[str, Any]:
    """A pycep resource's body; a conditional resource (`= if (...)`) nests it one level down."""
    body = entry["config"]
    return body["config"] if "condition" in body else body


def _scope_of(assignment: dict[str, Any], scopes: dict[str, str]) -> str:
    scope = config(assignment).get("scope")
    return scopes.get(scope, "resourceGroup") if scope else "resourceGroup"


def granted() -> dict[str, set[str]]:
    """The custom roles' actions, by the scope each is assigned at."""
    result: dict[str, set[str]] = {}
    modules = (("apim-access.bicep", {"apim": "apim"}), ("workspace-access.bicep", {"workspace": "workspace"}),
               ("subscription-access.bicep", {}), ("events-access.bicep", {"app": "functionApp"}))
    for module, scopes in modules:
        parsed = _parse(APP / "modules" / module)
        variables = {name: entry["value"] for name, entry in parsed["variables"].items()}
        resources = parsed["resources"]
        for entry in resources.values():
            if entry["type"] != "Microsoft.Authorization/roleAssignments":
                continue
            role_ref = config(entry)["properties"]["roleDefinitionId"]
            operator = role_ref.get("operator") if isinstance(role_ref, dict) else None
            if not operator:
                continue  # a built-in role, checked in test_watchdog_roles_*
            role = resources[operator["operands"]["operand_1"]]
            assert role["type"] == "Microsoft.Authorization/roleDefinitions"
            props = config(role)["properties"]
            assert props["type"] == "CustomRole"
            # Assignable only where it is defined: nobody can reuse it at a wider scope.
            defined_at = "subscription" if module == "subscription-access.bicep" else "resource_group"
            assert len(props["assignableScopes"]) == 1 and defined_at in json.dumps(props["assignableScopes"])
            [permission] = props["permissions"]
            assert permission["notActions"] == []
            actions = permission["actions"]
            actions = variables[actions] if isinstance(actions, str) else actions
            scope = "subscription" if module == "subscription-access.bicep" else _scope_of(entry, scopes)
            result.setdefault(scope, set()).update(actions)
    return result


def test_the_app_calls_only_mapped_operations_and_the_inventory_is_not_empty() -> None:
    inventory = needed()
    assert "Microsoft.Resources/deployments/whatIf/action" in inventory["resourceGroup"]
    assert "Microsoft.ApiManagement/service/backends/write" in inventory["apim"]
    assert "Microsoft.OperationalInsights/workspaces/sharedKeys/action" in inventory["workspace"]


def test_custom_roles_grant_exactly_what_the_app_performs() -> None:
    want = needed()
    # Tenant-level operations cannot be part of a role assigned to a group or a resource.
    want.pop("tenant", None)
    # Reads the app makes only where an operator has granted them (their absence is a could-not-check finding).
    want.pop("notGranted", None)
    got = granted()
    for scope in sorted(set(want) | set(got)):
        missing = sorted(want.get(scope, set()) - got.get(scope, set()))
        unused = sorted(got.get(scope, set()) - want.get(scope, set()))
        assert not missing, f"{scope}: the app performs {missing} but no role grants it"
        assert not unused, f"{scope}: a role grants {unused} but the app never performs it"


def test_no_wildcard_and_no_authorization_or_delete_action() -> None:
    for actions in granted().values():
        for action in actions:
            assert "*" not in action, action
            assert not action.startswith("Microsoft.Authorization/"), action
            assert not action.endswith("/delete"), action


LOG_ANALYTICS_READER = "73c42c96-874c-492b-b04d-ab87d138a893"


def test_watchdog_roles_match_the_readme() -> None:
    """README, "Roles the watchdog needs": Log Analytics Reader on each target workspace, or on the APIM instance
    when the logs are queried resource-centrically; deployments read on the group (the deployments role)."""
    main = _parse(APP / "main.bicep")
    # A target without a workspace is queried resource-centrically: the reader goes on its instance.
    assert "resourceCentricLogs" in json.dumps(main["modules"]["apimAccess"])
    # Every workspace resource id of the targets gets workspace-access (the variable it loops over).
    assert "gatewayWorkspaceIds" in json.dumps(main["modules"]["workspaceAccess"])
    assert "logAnalyticsWorkspaceId" in json.dumps(main["variables"]["gatewayWorkspaceIds"])

    apim = _parse(APP / "modules" / "apim-access.bicep")
    reader = apim["resources"]["resourceLogsReader"]
    assert reader["config"]["condition"] == "resourceCentricLogs"
    assert config(reader)["scope"] == "apim"
    assert apim["variables"]["logAnalyticsReader"]["value"] == LOG_ANALYTICS_READER

    workspace = _parse(APP / "modules" / "workspace-access.bicep")
    assert config(workspace["resources"]["workspaceReader"])["scope"] == "workspace"
    assert workspace["variables"]["logAnalyticsReader"]["value"] == LOG_ANALYTICS_READER

    deployments = granted()["resourceGroup"]
    assert {"Microsoft.Resources/deployments/read", "Microsoft.Resources/deployments/operations/read"} <= deployments


def test_the_rollout_wires_breaker_events_and_the_roles_follow() -> None:
    # infra/app sets BREAKERPANEL_EVENTS_FUNCTION_ID to the app itself: the rollout deploys the system topic and
    # its subscription (their actions are in the inventory above), only ever to this app, never to a webhook.
    assert _rollout_can_set("functionAppResourceId")
    assert not _rollout_can_set("eventGridEndpointUrl")
    inventory = needed()
    assert {"Microsoft.EventGrid/systemTopics/write", "Microsoft.EventGrid/systemTopics/eventSubscriptions/write",
            "Microsoft.EventGrid/systemTopics/read"} <= inventory["resourceGroup"]
    assert inventory["functionApp"] == {"Microsoft.Web/sites/functions/write"}
