"""The watchdog's one KQL query, run by the twin's KQL engine over rows as APIM writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from breakerpanel.core.watch.config import gateway_config
from breakerpanel.core.watch.kql import QueryTarget, gateway_query

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
RID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim"


def _config(reasons: list[str]) -> Any:
    return gateway_config([
        {"name": "east", "properties": {"url": "https://east.openai.azure.com/openai", "circuitBreaker": {"rules": [{
            "name": "r", "failureCondition": {"count": 3, "interval": "PT1M", "errorReasons": reasons,
                                              "statusCodeRanges": [{"min": 429, "max": 429}, {"min": 500, "max": 599}]},
            "tripDuration": "PT1M"}]}}},
        {"name": "pool", "properties": {"type": "Pool", "pool": {"services": [{"id": "/backends/east"}]}}},
    ])


def _rows() -> list[dict[str, Any]]:
    at = (NOW - timedelta(minutes=10)).isoformat()
    url = "https://east.openai.azure.com/openai/deployments/gpt/chat/completions"
    base = {"TimeGenerated": at, "_ResourceId": RID.lower(), "BackendId": "pool"}
    return [
        {**base, "BackendUrl": url, "ResponseCode": 200, "BackendResponseCode": 200},
        {**base, "BackendUrl": url, "ResponseCode": 429, "BackendResponseCode": 429,
         "BackendResponseHeaders": {"Retry-After": "42"}},
        {**base, "BackendUrl": url, "ResponseCode": 401, "BackendResponseCode": 401},
        # A timeout: the backend was called and never answered.
        {**base, "BackendUrl": url, "ResponseCode": 500, "BackendResponseCode": None, "LastErrorReason": "Timeout"},
        # The pool answering by itself: no backend call.
        {**base, "BackendUrl": None, "ResponseCode": 503, "BackendResponseCode": None},
    ]


@pytest.mark.parametrize(("reasons", "counted", "ignored"), [([], 1, 2), (["Timeout"], 2, 1)])
def test_each_request_lands_in_exactly_one_column(reasons: list[str], counted: int, ignored: int) -> None:
    from twin.log_analytics.engine import LogsEngine
    from twin.log_analytics.rows import prepare_rows

    engine = LogsEngine()
    engine.insert(prepare_rows(_rows()))
    text = gateway_query([QueryTarget(RID, _config(reasons))], NOW - timedelta(hours=1), NOW, 60)
    table = engine.run(text, now=NOW, bounds=None)
    names = [c["name"] for c in table["columns"]]
    rows = {r[names.index("Backend")]: dict(zip(names, r, strict=True)) for r in table["rows"]}
    east, pool = rows["east"], rows["pool"]
    assert (east["Requests"], east["Successes"], east["Counted"], east["Ignored"]) == (4, 1, counted, ignored)
    assert (east["Throttled"], east["MaxRetryAfter"], east["GatewayOnly"]) == (1, 42, 0)
    assert (pool["Requests"], pool["GatewayOnly"], pool["Counted"], pool["Ignored"]) == (1, 1, 0, 0)


@pytest.mark.parametrize("header", ["Retry-After", "retry-after"])
def test_the_retry_after_of_any_counted_failure_is_read_whatever_its_spelling(header: str) -> None:
    """backends.md: "If a Retry-After header is present in the response, the circuit breaker accepts the value" —
    the response that trips it, a 503 as much as a 429. Header names are case-insensitive (RFC 9110) and Azure
    OpenAI sends `retry-after`; a dynamic bag's keys are not, so both spellings are read."""
    from twin.log_analytics.engine import LogsEngine
    from twin.log_analytics.rows import prepare_rows

    at = (NOW - timedelta(minutes=10)).isoformat()
    url = "https://east.openai.azure.com/openai/deployments/gpt/chat/completions"
    base = {"TimeGenerated": at, "_ResourceId": RID.lower(), "BackendId": "east", "BackendUrl": url}
    engine = LogsEngine()
    engine.insert(prepare_rows([
        {**base, "ResponseCode": 503, "BackendResponseCode": 503, "BackendResponseHeaders": {header: "120"}},
        {**base, "ResponseCode": 429, "BackendResponseCode": 429, "BackendResponseHeaders": {header: "30"}},
        # Not a failure the rule counts: its header does not hold the breaker open.
        {**base, "ResponseCode": 401, "BackendResponseCode": 401, "BackendResponseHeaders": {header: "900"}},
    ]))
    text = gateway_query([QueryTarget(RID, _config([]))], NOW - timedelta(hours=1), NOW, 60)
    table = engine.run(text, now=NOW, bounds=None)
    names = [c["name"] for c in table["columns"]]
    [east] = [dict(zip(names, r, strict=True)) for r in table["rows"]]
    assert (east["Counted"], east["Throttled"], east["MaxRetryAfter"]) == (2, 1, 120)
