"""Which of infra/app's role assignments grants an RBAC operation, so a 403 says what to grant and where.

The table mirrors infra/app (infra/README.md, "Role assignments"); tests/rbac proves each row against the twin's
RBAC mode, which reads the same Bicep: removing the assignment a row names makes the product fail with the
operation that row matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Grant:
    role: str
    scope: str
    module: str


DEPLOYMENTS = Grant("breakerpanel deployments (custom)", "the target's resource group",
                    "infra/app/modules/apim-access.bicep")
GATEWAY = Grant("breakerpanel gateway (custom)", "the target APIM instance", "infra/app/modules/apim-access.bicep")
DESTINATION = Grant("breakerpanel gateway logs destination (custom)", "the Log Analytics workspace the gateway "
                    "logs go to (the target's logAnalyticsWorkspaceId)", "infra/app/modules/workspace-access.bicep")
WORKSPACE_READER = Grant("Log Analytics Reader", "the workspace the target's logs are queried in",
                         "infra/app/modules/workspace-access.bicep (identity.bicep for the app's own workspace)")
RESOURCE_READER = Grant("Log Analytics Reader", "the target APIM instance (its logs are queried resource-centrically: "
                        "the target names no workspace)", "infra/app/modules/apim-access.bicep")
PUBLISHER = Grant("Monitoring Metrics Publisher", "the app's Application Insights component",
                  "infra/app/modules/identity.bicep")
PREREQUISITES = Grant("breakerpanel prerequisites (custom)", "the target's subscription",
                      "infra/app/modules/subscription-access.bicep")
EVENTS_DESTINATION = Grant("breakerpanel breaker events destination (custom)",
                           "this function app (BREAKERPANEL_EVENTS_FUNCTION_ID: its breaker_events function is the "
                           "Event Grid destination)", "infra/app/modules/events-access.bicep")

# First match wins: the workspace's own destination actions before any other workspace operation.
_TABLE: tuple[tuple[re.Pattern[str], Grant], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), grant)
    for pattern, grant in (
        (r"^Microsoft\.Resources/deployments(/|$)", DEPLOYMENTS),
        # The breaker-event system topic and its subscription are deployed (and listed) under the group's role.
        (r"^Microsoft\.EventGrid/systemTopics(/|$)", DEPLOYMENTS),
        (r"^Microsoft\.ApiManagement/service(/|$)", GATEWAY),
        (r"^Microsoft\.Insights/diagnosticSettings(/|$)", GATEWAY),
        (r"^Microsoft\.OperationalInsights/workspaces/(read|sharedKeys/action)$", DESTINATION),
        (r"^Microsoft\.OperationalInsights/workspaces/(query|analytics|search)(/|$)", WORKSPACE_READER),
        (r"^Microsoft\.Insights/logs/", RESOURCE_READER),
        (r"^Microsoft\.Insights/Telemetry/Write$", PUBLISHER),
        (r"^Microsoft\.Resources/subscriptions/providers/read$", PREREQUISITES),
        (r"^Microsoft\.Web/sites/functions/write$", EVENTS_DESTINATION),
    )
)
_LINKED = re.compile(r"perform action '(?P<action>[^']+)' on the linked scope", re.IGNORECASE)
_ACTION = re.compile(r"perform action '(?P<action>[^']+)'", re.IGNORECASE)


def refused_action(message: str) -> str | None:
    """The operation a 403's message says was refused (for a linked failure: the linked one)."""
    found = _LINKED.search(message) or _ACTION.search(message)
    return found["action"] if found else None


def grant_for(action: str | None, code: str = "") -> Grant | None:
    if action:
        for pattern, grant in _TABLE:
            if pattern.search(action):
                return grant
    if code == "InsufficientAccessError":  # Log Analytics names no operation
        return WORKSPACE_READER
    return None


def grant_fix(code: str, message: str) -> str:
    """What to grant for an authorization failure, in words."""
    action = refused_action(message)
    grant = grant_for(action, code)
    missing = f"'{action}'" if action else "the operation"
    if grant is None:
        return (f"the app's managed identity may not perform {missing} (403): deploy infra/app with this target "
                "in `targets` so the identity holds the roles infra/README.md lists (Role assignments), then retry")
    return (f"the app's managed identity may not perform {missing} (403): grant it '{grant.role}' on {grant.scope} "
            f"({grant.module}; deploying infra/app with this target in `targets` creates it), then retry")
