"""The watchdog's own query (breakerpanel/core/watch/kql.py) through Microsoft's Kusto language service, against
the ApiManagementGatewayLogs schema Log Analytics defines — for a fleet as the product meets it: two APIM
instances in one workspace, several pools, count and percentage rules, error reasons, failure responses, a
backend without a rule and names that need escaping. The twin's engine runs this text too
(tests/watch/test_watch_query.py); this proves Log Analytics itself would accept it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from breakerpanel.core.watch.config import gateway_config
from breakerpanel.core.watch.kql import QueryTarget, bin_seconds_for, gateway_query
from tests.alerts.test_portal_kql import kusto_errors

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
EAST = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-east/providers/" \
       "Microsoft.ApiManagement/service/apim-east"
WEST = "/subscriptions/00000000-0000-0000-0000-000000000002/resourceGroups/rg-west/providers/" \
       "Microsoft.ApiManagement/service/apim-west"


def _single(name: str, url: str | None, rule: dict[str, Any] | None) -> dict[str, Any]:
    props: dict[str, Any] = {"url": url, "protocol": "http"} if url else {"protocol": "http"}
    if rule is not None:
        props["circuitBreaker"] = {"rules": [rule]}
    return {"name": name, "properties": props}


def _pool(name: str, members: list[tuple[str, int, int]], failure_code: int | None = None) -> dict[str, Any]:
    pool: dict[str, Any] = {"services": [{"id": f"/backends/{m}", "priority": p, "weight": w} for m, p, w in members]}
    if failure_code is not None:
        pool["failureResponse"] = {"statusCode": failure_code}
    return {"name": name, "properties": {"type": "Pool", "pool": pool}}


def _count_rule(count: int, interval: str, ranges: list[tuple[int, int]], reasons: list[str] | None = None,
                failure_code: int | None = None) -> dict[str, Any]:
    condition: dict[str, Any] = {"count": count, "interval": interval,
                                 "statusCodeRanges": [{"min": a, "max": b} for a, b in ranges]}
    if reasons:
        condition["errorReasons"] = reasons
    rule: dict[str, Any] = {"name": "breaker", "failureCondition": condition, "tripDuration": "PT1M",
                            "acceptRetryAfter": True}
    if failure_code is not None:
        rule["failureResponse"] = {"statusCode": failure_code}
    return rule


def _fleet() -> list[QueryTarget]:
    east = gateway_config([
        _single("aoai-eastus", "https://aoai-eastus.openai.azure.com/openai",
                _count_rule(3, "PT1M", [(429, 429), (500, 599)], ["Timeout", "BackendConnectionFailure"], 599)),
        _single("aoai-eastus2", "https://aoai-eastus.openai.azure.com/openai/v2",  # extends another's URL
                _count_rule(5, "PT30S", [(429, 429), (502, 504)])),
        _single("aoai-sweden", "https://aoai-sweden.openai.azure.com/openai",
                {"name": "pct", "failureCondition": {"percentage": 50, "interval": "PT5M",
                                                     "statusCodeRanges": [{"min": 500, "max": 599}]},
                 "tripDuration": "PT10M"}),
        _single("legacy-\"quoted\"\\name", "https://legacy.openai.azure.com/openai", None),  # no rule
        _pool("aoai-pool", [("aoai-eastus", 1, 50), ("aoai-eastus2", 1, 50), ("aoai-sweden", 2, 100)], 598),
        _pool("aoai-pool-batch", [("aoai-sweden", 1, 100), ("aoai-eastus", 2, 1)]),
    ])
    west = gateway_config([
        _single("aoai-westus", "https://aoai-westus.openai.azure.com/openai",
                _count_rule(10, "PT2M", [(500, 599)], ["OperationCanceled"])),
        _single("aoai-westus3", "https://aoai-westus3.openai.azure.com/openai", _count_rule(3, "PT1M", [(429, 429)])),
        _pool("west-pool", [("aoai-westus", 1, 1), ("aoai-westus3", 1, 3)]),
    ])
    return [QueryTarget(EAST, east), QueryTarget(WEST, west)]


def _query() -> str:
    targets = _fleet()
    step = bin_seconds_for([t.config for t in targets])
    return gateway_query(targets, NOW - timedelta(hours=3), NOW, step)


def test_the_fleet_config_reaches_every_branch_of_the_query() -> None:
    text = _query()
    # The realistic config really exercises what the check below is about: URL cases, rule cases with codes
    # and error reasons, a rule-less backend, every failure-response code, both instances, escaped names.
    assert text.count("BackendUrl startswith") == 6 and "LastErrorReason in~" in text
    assert "ResponseCode in (503, 598, 599)" in text and text.count("Resource == ") == 12
    assert '\\"quoted\\"\\\\name' in text and "bin(TimeGenerated, 30s)" in text


def test_the_watchdog_query_passes_the_kusto_language_service() -> None:
    assert kusto_errors({"watchdog": _query()}) == {"watchdog": []}


def test_a_broken_watchdog_query_would_be_caught() -> None:
    text = _query()
    broken = {
        "misspelt column": text.replace("BackendResponseCode between (200", "BackendResponseCodes between (200"),
        "a number where a bool belongs": text.replace("Throttled = countif(BackendResponseCode == 429)",
                                                      "Throttled = countif(BackendResponseCode)"),
        "unknown function": text.replace("countif(IsGatewayOnly)", "countiff(IsGatewayOnly)"),
    }
    assert all(broken[name] != text for name in broken)
    found = kusto_errors(broken)
    assert all(found[name] for name in broken), found
