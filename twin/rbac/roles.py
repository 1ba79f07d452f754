"""Role definitions, role assignments and the check Azure RBAC makes: may this principal perform this action here?

How Azure evaluates it (https://learn.microsoft.com/azure/role-based-access-control/role-definitions,
"Actions", "NotActions", "DataActions" and "Wildcard"):
- an assignment applies to its scope and everything beneath it (a resource group's assignment reaches every
  resource in it; an instance's reaches its backends);
- a role's permission allows an action when one of its `actions` matches it and none of its `notActions` does
  (NotActions subtract, they do not deny: another assignment may still grant the action);
- data-plane operations (telemetry ingestion, blob reads) are matched against `dataActions`/`notDataActions`
  only, never against `actions`;
- operation strings compare case-insensitively, and `*` stands for any run of characters, slashes included
  (`*/read` is every read, `Microsoft.Insights/logs/*/read` every table's read).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@lru_cache(maxsize=1024)
def _pattern(expression: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in expression.split("*")), re.IGNORECASE)


def action_matches(expression: str, action: str) -> bool:
    return _pattern(expression).fullmatch(action) is not None


def scope_covers(assigned: str, requested: str) -> bool:
    """An assignment at `assigned` reaches `requested` when it is that scope or an ancestor of it."""
    outer = assigned.rstrip("/").lower()
    inner = requested.rstrip("/").lower()
    return outer == "" or inner == outer or inner.startswith(outer + "/")


@dataclass(frozen=True)
class Permission:
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()

    def allows(self, action: str, *, data: bool = False) -> bool:
        allowed, excluded = (self.data_actions, self.not_data_actions) if data else (self.actions, self.not_actions)
        return any(action_matches(a, action) for a in allowed) and not any(
            action_matches(n, action) for n in excluded
        )


@dataclass(frozen=True)
class RoleDefinition:
    role_id: str  # a built-in role's GUID, or the custom role's symbolic name in its Bicep module
    name: str
    permissions: tuple[Permission, ...]
    builtin: bool

    def allows(self, action: str, *, data: bool = False) -> bool:
        return any(permission.allows(action, data=data) for permission in self.permissions)


@dataclass(frozen=True)
class Assignment:
    principal_id: str
    role: RoleDefinition
    scope: str
    source: str  # where infra/app declares it, e.g. "modules/apim-access.bicep: gatewayAssignment"

    def grants(self, principal_id: str, action: str, scope: str, *, data: bool = False) -> bool:
        return (
            self.principal_id.lower() == principal_id.lower()
            and scope_covers(self.scope, scope)
            and self.role.allows(action, data=data)
        )
