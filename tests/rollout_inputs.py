"""The rollout the app-level tests start from: three Azure OpenAI backends behind one pool, one breaker rule.

One copy for the orchestration, HTTP, app-client and reliability tests, so a change to the request shape is
made once. Tests that need other values (the template deploy test's weights, the core tests' VALID_BODY)
keep their own on purpose.
"""

from __future__ import annotations

import copy
from typing import Any

BACKENDS: list[dict[str, Any]] = [
    {"name": "aoai-eastus", "url": "https://aoai-eastus.openai.azure.com/openai", "priority": 1, "weight": 50},
    {"name": "aoai-westus", "url": "https://aoai-westus.openai.azure.com/openai", "priority": 1, "weight": 50},
    {"name": "aoai-sweden", "url": "https://aoai-sweden.openai.azure.com/openai", "priority": 2, "weight": 100},
]
BREAKER: dict[str, Any] = {
    "name": "openai-breaker",
    "failureCount": 3,
    "interval": "PT1M",
    "statusCodeRanges": [{"min": 429, "max": 429}, {"min": 500, "max": 599}],
    "tripDuration": "PT1M",
    "acceptRetryAfter": False,
}
POOL = "aoai-pool"


def target(subscription_id: str, resource_group: str, apim: str, wave: int = 1) -> dict[str, Any]:
    return {"subscriptionId": subscription_id, "resourceGroup": resource_group, "apimName": apim, "wave": wave}


def rollout_request(
    targets: list[dict[str, Any]],
    *,
    approval: str = "none",
    backends: list[dict[str, Any]] | None = None,
    rollback: bool = True,
) -> dict[str, Any]:
    """A POST /api/rollouts body; every call gets its own copies, so a test may change what it got."""
    return {
        "targets": copy.deepcopy(targets),
        "backends": copy.deepcopy(backends or BACKENDS),
        "breakerRule": copy.deepcopy(BREAKER),
        "poolName": POOL,
        "approval": approval,
        "rollbackOnFailure": rollback,
    }
