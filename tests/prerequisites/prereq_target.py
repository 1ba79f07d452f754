"""The target of the prerequisite tests: an allowlisted APIM instance on the twin, a gateway-logs workspace, and
the rollout call its preflight would send."""

from __future__ import annotations

from typing import Any

from breakerpanel.core.gateway_parameters import gateway_parameters
from breakerpanel.core.model import Target
from breakerpanel.core.request import check_rollout_request

SUB = "00000000-0000-0000-0000-0000000000cc"
GROUP = "rg-prereq"
APIM = "apim-prereq"
WORKSPACE = f"/subscriptions/{SUB}/resourceGroups/rg-logs/providers/Microsoft.OperationalInsights/workspaces/logs"
APIM_ID = f"/subscriptions/{SUB}/resourceGroups/{GROUP}/providers/Microsoft.ApiManagement/service/{APIM}"
OPENAI_USER = (f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/"
               "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd")
REQUEST = {
    "targets": [{"subscriptionId": SUB, "resourceGroup": GROUP, "apimName": APIM}],
    "backends": [
        {"name": "aoai-eastus", "url": "https://aoai-eastus.openai.azure.com/openai", "priority": 1, "weight": 50},
        {"name": "aoai-westus", "url": "https://aoai-westus.openai.azure.com/openai", "priority": 2, "weight": 50},
    ],
    "breakerRule": {"name": "openai-breaker", "failureCount": 3, "interval": "PT1M",
                    "statusCodeRanges": [{"min": 429, "max": 429}], "tripDuration": "PT1M", "acceptRetryAfter": False},
    "poolName": "aoai-pool",
    "approval": "none",
    "rollbackOnFailure": False,
}


def account_id(name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/{name}"


def rollout_call(**extra: str) -> dict[str, Any]:
    target = Target(SUB, GROUP, APIM)
    check = check_rollout_request(REQUEST, [target])
    assert check.request is not None
    return {"target": {"subscriptionId": SUB, "resourceGroup": GROUP, "apimName": APIM},
            "deploymentName": "breakerpanel-prereq",
            "parameters": gateway_parameters(check.request, target, log_analytics_workspace_id=WORKSPACE, **extra)}


def by_check(outcome: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for finding in outcome["findings"]:
        found.setdefault(finding["check"], []).append(finding)
    return found
