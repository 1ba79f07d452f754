"""Shared builders for the core unit tests: a valid request body and fixture loading."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from breakerpanel.core.model import Target

DATA = Path(__file__).parent / "data"
SUB = "00000000-0000-0000-0000-000000000000"
ALLOWED = [Target(SUB, "rg-gw", "apim-gw"), Target(SUB, "rg-gw2", "apim-gw2")]


def load(name: str) -> Any:
    """A published Microsoft payload copied into tests/unit/data (sources in its README.md)."""
    return json.loads((DATA / name).read_text())


VALID_BODY: dict[str, Any] = {
    "targets": [{"subscriptionId": SUB, "resourceGroup": "rg-gw", "apimName": "apim-gw", "wave": 1}],
    "backends": [
        {"name": "aoai-eastus", "url": "https://aoai-eastus.openai.azure.com/openai", "priority": 1, "weight": 50},
        {"name": "aoai-westus", "url": "https://aoai-westus.openai.azure.com/openai", "priority": 1, "weight": 50},
        {"name": "aoai-swedencentral", "url": "https://aoai-sc.openai.azure.com/openai", "priority": 2, "weight": 100},
    ],
    "breakerRule": {
        "name": "openai-breaker",
        "failureCount": 3,
        "failurePercentage": None,
        "interval": "PT1M",
        "statusCodeRanges": [{"min": 429, "max": 429}, {"min": 500, "max": 599}],
        "errorReasons": [],
        "tripDuration": "PT1M",
        "acceptRetryAfter": False,
        "failureResponseStatusCode": None,
    },
    "poolName": "aoai-pool",
    "approval": "onDestructive",
    "rollbackOnFailure": True,
}


def body(**changes: Any) -> dict[str, Any]:
    """A deep copy of VALID_BODY with top-level keys replaced."""
    result = copy.deepcopy(VALID_BODY)
    result.update(changes)
    return result


APIM_ID = f"/subscriptions/{SUB}/resourceGroups/rg-gw/providers/Microsoft.ApiManagement/service/apim-gw"
