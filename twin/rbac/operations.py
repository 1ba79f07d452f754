"""Which RBAC operation Azure checks for each route the twin serves, at which scope.

Operation names are Microsoft's (az provider operation show; the "Azure permissions" pages):
https://learn.microsoft.com/azure/role-based-access-control/permissions/management-and-governance#microsoftresources
https://learn.microsoft.com/azure/role-based-access-control/permissions/integration#microsoftapimanagement
https://learn.microsoft.com/azure/role-based-access-control/permissions/monitor (Microsoft.Insights,
Microsoft.OperationalInsights). ARM checks `<resource type>/read|write|delete` for GET|PUT|DELETE of a resource
and `<type>/<action>/action` for a POST action, at the resource's id; a list is checked at the collection's
parent. Log Analytics checks table-level reads: `Microsoft.OperationalInsights/workspaces/query/<Table>/read` on
the workspace for a workspace query, `Microsoft.Insights/logs/<Table>/read` on the resource for a
resource-centric one (https://learn.microsoft.com/azure/azure-monitor/logs/manage-access#set-table-level-read-access,
https://learn.microsoft.com/azure/azure-monitor/logs/api/azure-resource-queries#table-access-and-rbac).
Application Insights ingestion with Entra auth checks the data action `Microsoft.Insights/Telemetry/Write` on
the component (Monitoring Metrics Publisher carries it).

Routes that no role assignment governs, and why:
- `arm.templatehash`: POST /providers/Microsoft.Resources/calculateTemplateHash is a tenant-level operation on no
  resource (tests/infra/test_app_roles.py, SDK_ACTIONS): any signed-in caller may run it;
- `arm.deployments.whatif.result`: the Location the what-if answered, polled for its result. The twin checks
  the what-if when it starts (whatIf/action on the deployment), not the poll: the result's permission on ARM's
  subscription-level operationResults is not documented for deployments.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from twin.errors import TwinError
from twin.http import Request
from twin.rbac import errors as _errors  # noqa: F401 - registers RbacRouteUnmapped

if TYPE_CHECKING:
    from twin.app import Twin

DEPLOYMENTS = "Microsoft.Resources/deployments"
APIM = "Microsoft.ApiManagement/service"


@dataclass(frozen=True)
class Check:
    action: str
    scope: str
    data: bool = False  # a data action (dataActions), not a control-plane action


def _group(request: Request) -> str:
    p = request.params
    return f"/subscriptions/{p['subscription']}/resourceGroups/{p['group']}"


def _deployment(request: Request) -> str:
    return f"{_group(request)}/providers/{DEPLOYMENTS}/{request.params['name']}"


def _service(request: Request) -> str:
    p = request.params
    return (f"/subscriptions/{p['subscriptionId']}/resourceGroups/{p['resourceGroupName']}/providers/{APIM}/"
            f"{p['serviceName']}")


def _deployments(action: str, where: Callable[[Request], str] = _deployment) -> Callable[[Twin, Request], list[Check]]:
    return lambda twin, request: [Check(f"{DEPLOYMENTS}/{action}", where(request))]


def _apim(action: str, child: str = "") -> Callable[[Twin, Request], list[Check]]:
    def checks(twin: Twin, request: Request) -> list[Check]:
        scope = _service(request)
        p = request.params
        if "apiId" in p:
            scope += f"/apis/{p['apiId']}"
        if "policyId" in p:
            scope += f"/policies/{p['policyId']}"
        if "diagnosticId" in p:
            scope += f"/diagnostics/{p['diagnosticId']}"
        if "backendId" in p:
            scope += f"/backends/{p['backendId']}"
        elif child:
            scope += f"/{child}"
        return [Check(f"{APIM}/{action}", scope)]
    return checks


def query_tables(twin: Twin, kql: str) -> list[str]:
    """The tables a query reads: every table the twin holds whose name appears in it as a word."""
    from twin.app_insights.schema import TABLES as APP_TABLES
    from twin.log_analytics.schema import TABLE

    return [name for name in (TABLE, *APP_TABLES) if re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", kql)]


def _kql(request: Request) -> str:
    try:
        body = request.json()
    except TwinError:  # a body the handler refuses with its own error; no table is read
        return ""
    query = body.get("query") if isinstance(body, dict) else None
    return query if isinstance(query, str) else ""


def _workspace_checks(twin: Twin, workspace_id: str, request: Request) -> list[Check]:
    tables = query_tables(twin, _kql(request)) or ["*"]
    return [Check(f"Microsoft.OperationalInsights/workspaces/query/{table}/read", workspace_id) for table in tables]


def _logs_query(twin: Twin, request: Request) -> list[Check]:
    guid = request.params["workspaceId"]
    # The path names the workspace by its customer id; RBAC holds its resource id (RbacMode.workspaces).
    workspace = twin.rbac.workspace_resource(guid)
    return _workspace_checks(twin, workspace, request)


def _logs_query_resource(twin: Twin, request: Request) -> list[Check]:
    p = request.params
    resource = (f"/subscriptions/{p['subscription']}/resourceGroups/{p['group']}/providers/{p['namespace']}/"
                f"{p['rtype']}/{p['name']}")
    if f"{p['namespace']}/{p['rtype']}".lower() == "microsoft.operationalinsights/workspaces":
        return _workspace_checks(twin, resource, request)
    tables = query_tables(twin, _kql(request)) or ["*"]
    return [Check(f"Microsoft.Insights/logs/{table}/read", resource) for table in tables]


def _track(twin: Twin, request: Request) -> list[Check]:
    try:
        payload = request.json()
    except TwinError:  # the handler answers the unreadable body itself
        return []
    envelopes = payload if isinstance(payload, list) else [payload]
    components = []
    for envelope in envelopes:
        ikey = str(envelope.get("iKey") or "").lower() if isinstance(envelope, dict) else ""
        component = twin.app_insights.components.get(ikey)
        if component is not None and component.resource_id not in components:
            components.append(component.resource_id)
    return [Check("Microsoft.Insights/Telemetry/Write", resource, data=True) for resource in components]


def _app_query(twin: Twin, request: Request) -> list[Check]:
    app_id = request.params["appId"].lower()
    component = next((c for c in twin.app_insights.components.values() if c.app_id == app_id), None)
    return [] if component is None else [Check("Microsoft.Insights/components/query/read", component.resource_id)]


def _none(twin: Twin, request: Request) -> list[Check]:
    return []


def _subscription(action: str) -> Callable[[Twin, Request], list[Check]]:
    return lambda twin, request: [Check(action, f"/subscriptions/{request.params['subscriptionId']}")]


def _group_level(action: str) -> Callable[[Twin, Request], list[Check]]:
    def checks(twin: Twin, request: Request) -> list[Check]:
        p = request.params
        return [Check(action, f"/subscriptions/{p['subscriptionId']}/resourceGroups/{p['resourceGroupName']}")]
    return checks


def _service_level(action: str) -> Callable[[Twin, Request], list[Check]]:
    return lambda twin, request: [Check(action, _service(request))]


CHECKS: dict[str, Callable[[Twin, Request], list[Check]]] = {
    "arm.deployments.list": _deployments("read", _group),
    "arm.deployments.put": _deployments("write"),
    "arm.deployments.get": _deployments("read"),
    "arm.deployments.head": _deployments("read"),
    "arm.deployments.delete": _deployments("delete"),
    "arm.deployments.validate": _deployments("validate/action"),
    "arm.deployments.whatif": _deployments("whatIf/action"),
    "arm.deployments.cancel": _deployments("cancel/action"),
    "arm.deployments.exporttemplate": _deployments("exportTemplate/action"),
    "arm.asyncoperation.get": _deployments("operationstatuses/read"),
    "arm.operations.list": _deployments("operations/read"),
    "arm.operations.get": _deployments("operations/read"),
    "arm.templatehash": _none,
    "arm.deployments.whatif.result": _none,
    "apim.service.get": _apim("read"),
    "apim.backends.list": _apim("backends/read", "backends"),
    "apim.backends.get": _apim("backends/read"),
    "apim.backends.head": _apim("backends/read"),
    "apim.backends.put": _apim("backends/write"),
    "apim.backends.update": _apim("backends/write"),
    "apim.backends.delete": _apim("backends/delete"),
    "apim.apis.get": _apim("apis/read"),
    "apim.apis.put": _apim("apis/write"),
    "apim.apis.delete": _apim("apis/delete"),
    "apim.apis.policies.get": _apim("apis/policies/read"),
    "apim.apis.policies.put": _apim("apis/policies/write"),
    "apim.apis.policies.delete": _apim("apis/policies/delete"),
    "apim.apis.diagnostics.get": _apim("apis/diagnostics/read"),
    # The preflight's reads (twin/prerequisites): a provider's registration is read at the subscription.
    "arm.providers.get": _subscription("Microsoft.Resources/subscriptions/providers/read"),
    "authorization.roleAssignments.list": _subscription("Microsoft.Authorization/roleAssignments/read"),
    "eventgrid.systemTopics.list": _group_level("Microsoft.EventGrid/systemTopics/read"),
    "insights.diagnosticSettings.list": _service_level("Microsoft.Insights/diagnosticSettings/read"),
    "logs.query": _logs_query,
    "logs.query.resource": _logs_query_resource,
    "appinsights.track": _track,
    "appinsights.query": _app_query,
}


def checks_for(twin: Twin, route_name: str, request: Request) -> list[Check]:
    """The checks for one request. A route missing here is a twin bug: RBAC mode refuses to guess."""
    builder = CHECKS.get(route_name)
    if builder is None:
        raise TwinError.of("RbacRouteUnmapped", route=route_name)
    return builder(twin, request)
