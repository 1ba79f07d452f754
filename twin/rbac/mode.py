"""RBAC mode: the twin refuses what the caller's role assignments do not allow, as Azure does.

Off by default (every token may do everything, as before). Turned on through the control API (PUT /_twin/rbac)
or `RbacMode.enable`, with:
- `principals`: bearer token -> object id. The twin issues no real tokens, so the test chooses which static
  token stands for which principal (Azure reads the token's `oid` claim); a token not listed is refused 401;
- `assignments`: the role assignments in force (twin/rbac/infra.py builds the app's from infra/app);
- `workspaces`: workspace customer id (the GUID the query API's path names) -> the workspace's resource id.

What is checked, besides each route's own operation (twin/rbac/operations.py):
- a deployment's validate and PUT: write on every resource its template declares (ARM's preflight: 400
  InvalidTemplateDeployment "Authorization failed for template resource ...");
- while the deployment runs, the linked checks of the resource providers (403 LinkedAuthorizationFailed on that
  resource's operation, so the deployment fails with DeploymentFailed): a diagnostic setting needs
  `workspaces/read` and `workspaces/sharedKeys/action` on its workspace (Microsoft's minimal "destination for
  diagnostic settings" role, https://learn.microsoft.com/azure/azure-monitor/logs/manage-access#custom-role-examples);
  an Event Grid subscription whose destination is not a WebHook needs write on that destination ("you need write
  access to that resource", https://learn.microsoft.com/azure/event-grid/security-authorization#permissions-for-event-subscriptions),
  i.e. `Microsoft.Web/sites/functions/write` on an Azure Function. The deployment runs as whoever PUT it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twin.errors import TwinError
from twin.rbac import errors as _errors  # noqa: F401 - registers the refusals
from twin.rbac.errors import InsufficientAccess, template_denied
from twin.rbac.operations import Check, checks_for
from twin.rbac.roles import Assignment

if TYPE_CHECKING:
    from twin.app import Twin
    from twin.arm_deployments.records import Deployment
    from twin.arm_deployments.template import EvaluatedResource
    from twin.http import Request

_TEMPLATE_ROUTES = {"arm.deployments.put", "arm.deployments.validate"}
_LOGS_ROUTES = {"logs.query", "logs.query.resource", "appinsights.query"}
DIAGNOSTIC_SETTINGS = "microsoft.insights/diagnosticsettings"
EVENT_SUBSCRIPTION_SUFFIX = "/eventsubscriptions"
DESTINATION_ACTIONS = (
    "Microsoft.OperationalInsights/workspaces/read",
    "Microsoft.OperationalInsights/workspaces/sharedKeys/action",
)


@dataclass
class RbacMode:
    enabled: bool = False
    principals: dict[str, str] = field(default_factory=dict)  # token -> object id
    assignments: list[Assignment] = field(default_factory=list)
    workspaces: dict[str, str] = field(default_factory=dict)  # customer id (lower) -> resource id
    _callers: dict[str, str] = field(default_factory=dict)  # deployment async id -> who PUT it

    def enable(self, principals: Mapping[str, str], assignments: Iterable[Assignment],
               workspaces: Mapping[str, str] | None = None) -> None:
        self.enabled = True
        self.principals = dict(principals)
        self.assignments = list(assignments)
        self.workspaces = {guid.lower(): rid for guid, rid in (workspaces or {}).items()}
        self._callers.clear()

    def disable(self) -> None:
        self.enabled = False
        self.principals.clear()
        self.assignments.clear()
        self.workspaces.clear()
        self._callers.clear()

    def describe(self) -> dict[str, Any]:
        """The mode as the control API shows it: principals by object id only, never their tokens."""
        return {
            "enabled": self.enabled,
            "principals": sorted(set(self.principals.values())),
            "assignments": [{"principalId": a.principal_id, "role": a.role.name, "scope": a.scope, "source": a.source}
                            for a in self.assignments],
            "workspaces": dict(self.workspaces),
        }

    # -- the decision ---------------------------------------------------------------------------------------------

    def allows(self, principal: str, check: Check) -> bool:
        return any(a.grants(principal, check.action, check.scope, data=check.data) for a in self.assignments)

    def workspace_resource(self, customer_id: str) -> str:
        """A workspace's resource id from its customer id; an unknown one cannot be in any assignment's scope."""
        return self.workspaces.get(customer_id.lower(), f"/workspaces/{customer_id}")

    def principal(self, request: Request) -> str:
        _, _, token = request.headers.get("authorization", "").partition(" ")
        found = self.principals.get(token.strip())
        if found is None:
            raise TwinError.of("InvalidAuthenticationToken",
                               headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return found

    # -- enforcement ----------------------------------------------------------------------------------------------

    def authorize(self, twin: Twin, route_name: str, request: Request) -> str | None:
        """Raise the refusal Azure gives for this request; return the caller's object id (None when off)."""
        if not self.enabled:
            return None
        principal = self.principal(request)
        for check in checks_for(twin, route_name, request):
            if self.allows(principal, check):
                continue
            if route_name in _LOGS_ROUTES:
                raise InsufficientAccess()
            raise TwinError.of("AuthorizationFailed", client=principal, action=check.action, scope=check.scope)
        if route_name in _TEMPLATE_ROUTES:
            self._preflight(principal, request)
        return principal

    def _preflight(self, principal: str, request: Request) -> None:
        from twin.arm_deployments.state import parse_request
        from twin.arm_deployments.template import TemplateError, evaluate_template

        p = request.params
        try:
            parsed = parse_request(request.json_object())
            evaluated = evaluate_template(parsed.template, parsed.parameters, subscription_id=p["subscription"],
                                          resource_group=p["group"], deployment_name=p["name"])
        except (TwinError, TemplateError):
            return  # the handler answers the bad request or template itself, as ARM validates before it authorizes
        denials = [
            {"name": resource.name, "type": resource.type, "client": principal, "action": f"{resource.type}/write",
             "scope": resource.id}
            for resource in evaluated.resources
            if not self.allows(principal, Check(f"{resource.type}/write", resource.id))
        ]
        if denials:
            raise template_denied(denials)

    def deployed_by(self, deployment: Deployment, principal: str | None) -> None:
        """Remember who PUT a deployment: its resources are written with that caller's rights."""
        if principal is not None:
            self._callers[deployment.async_id] = principal

    def linked(self, deployment: Deployment, resource: EvaluatedResource) -> None:
        """The resource provider's linked check for one resource of a running deployment (see the docstring)."""
        principal = self._callers.get(deployment.async_id) if self.enabled else None
        if principal is None:
            return
        for linked_action, linked_scope in linked_checks(resource):
            if not self.allows(principal, Check(linked_action, linked_scope)):
                raise TwinError.of("LinkedAuthorizationFailed", client=principal, action=f"{resource.type}/write",
                                   scope=resource.id, linked_action=linked_action, linked_scope=linked_scope)


def linked_checks(resource: EvaluatedResource) -> list[tuple[str, str]]:
    """(action, scope) pairs a write of `resource` is also checked for, on the resources it links to."""
    from twin.arm_deployments.records import resource_type_of

    properties = resource.properties if isinstance(resource.properties, dict) else {}
    kind = resource.type.lower()
    if kind == DIAGNOSTIC_SETTINGS:
        workspace = properties.get("workspaceId")
        if isinstance(workspace, str) and workspace:
            return [(action, workspace) for action in DESTINATION_ACTIONS]
    if kind.startswith("microsoft.eventgrid/") and kind.endswith(EVENT_SUBSCRIPTION_SUFFIX):
        destination = properties.get("destination")
        if isinstance(destination, dict) and str(destination.get("endpointType", "")).lower() != "webhook":
            target = (destination.get("properties") or {}).get("resourceId")
            if isinstance(target, str) and target:
                return [(f"{resource_type_of(target)}/write", target)]
    return []
