"""The watchdog's judgement on aggregated bins: what a platform engineer expects to be told, and not told.

Bins are built as the gateway query answers them (one per backend × minute), so each test reads as a
minute-by-minute story of the gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from breakerpanel.core.watch.bins import Bin, Grid, by_backend
from breakerpanel.core.watch.breaker import breaker_timelines
from breakerpanel.core.watch.config import gateway_config
from breakerpanel.core.watch.detect import observe_gateway
from breakerpanel.core.watch.events import parse_breaker_event
from breakerpanel.core.watch.policy import WatchPolicy

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
RID = "/subscriptions/s/resourcegroups/rg/providers/microsoft.apimanagement/service/apim"
RULE = {
    "name": "openai-breaker",
    "failureCondition": {"count": 3, "interval": "PT1M",
                         "statusCodeRanges": [{"min": 429, "max": 429}, {"min": 500, "max": 599}]},
    "tripDuration": "PT1M",
    "acceptRetryAfter": True,
}
POLICY = WatchPolicy(ingestion_lag_seconds=0)


def _backend(name: str, rule: dict[str, Any] | None = RULE) -> dict[str, Any]:
    props: dict[str, Any] = {"url": f"https://{name}.openai.azure.com/openai", "protocol": "http"}
    if rule is not None:
        props["circuitBreaker"] = {"rules": [rule]}
    return {"name": name, "properties": props}


CONFIG = gateway_config([
    _backend("east"), _backend("west"), _backend("sweden"),
    {"name": "pool", "properties": {"type": "Pool", "pool": {"services": [
        {"id": "/backends/east", "priority": 1, "weight": 50},
        {"id": "/backends/west", "priority": 1, "weight": 50},
        {"id": "/backends/sweden", "priority": 2, "weight": 100},
    ]}}},
])

Minute = dict[str, int]  # requests, successes, counted, ignored, throttled, retry_after, gateway
Story = Callable[[int], dict[str, Minute]]  # minute index (0 = an hour ago) → backend → counts


def _bins(story: Story, minutes: int = 60) -> list[Bin]:
    out = []
    for minute in range(minutes):
        start = NOW - timedelta(minutes=minutes - minute)
        for backend, counts in story(minute).items():
            out.append(Bin(
                resource=RID, backend=backend, start=start, requests=counts.get("requests", 0),
                successes=counts.get("successes", 0), counted=counts.get("counted", 0),
                ignored=counts.get("ignored", 0), throttled=counts.get("throttled", 0),
                max_retry_after=counts.get("retry_after"), gateway_only=counts.get("gateway", 0),
                last_success=start if counts.get("successes") else None,
            ))
    return out


def _judge(story: Story, *, now: datetime = NOW, policy: WatchPolicy = POLICY, events: list[Any] | None = None,
           config: Any = CONFIG) -> dict[tuple[str, str], Any]:
    grid = Grid.ending_at(now, lookback_seconds=3600, step_seconds=60, lag_seconds=policy.ingestion_lag_seconds)
    series = by_backend(_bins(story), RID, grid)
    timelines = breaker_timelines(config, series, events or [], grid, now, policy)
    found = observe_gateway(config, series, timelines, grid, now, policy)
    return {(o.kind, o.subject): o for o in found}


def ok(n: int = 20) -> Minute:
    return {"requests": n, "successes": n}


def failing(n: int = 10) -> Minute:
    return {"requests": n, "counted": n}


def healthy(minute: int) -> dict[str, Minute]:
    return {"east": ok(), "west": ok()}


def active(judged: dict[tuple[str, str], Any]) -> set[tuple[str, str]]:
    return {key for key, o in judged.items() if o.state == "active"}


def test_a_healthy_gateway_has_no_incident() -> None:
    assert active(_judge(healthy)) == set()


def test_a_30_second_429_burst_that_trips_once_is_not_an_incident() -> None:
    def story(minute: int) -> dict[str, Minute]:
        if minute == 40:  # the burst: east trips, sweden takes the overflow for the trip
            return {"east": {"requests": 5, "counted": 5, "throttled": 5, "retry_after": 30}, "west": ok(),
                    "sweden": ok(3)}
        return healthy(minute)

    judged = _judge(story)
    assert active(judged) == set()
    assert judged[("BreakerStuckOpen", "east")].state in ("recovered", "quiet")


def test_a_region_down_with_5xx_is_stuck_after_the_threshold_and_not_before() -> None:
    def story(minute: int) -> dict[str, Minute]:
        return {"east": failing(5) if minute >= 30 else ok(), "west": ok()}

    # Down since 30 minutes before NOW: well past max(3 × 60 s, 5 min).
    stuck = _judge(story)[("BreakerStuckOpen", "east")]
    assert stuck.state == "active"
    assert stuck.since == NOW - timedelta(minutes=30)
    assert stuck.evidence["source"] == "logs"
    assert stuck.evidence["countedFailures"] > 0 and stuck.evidence["successes"] == 0
    # Four minutes in, it is not yet an incident.
    early = _judge(story, now=NOW - timedelta(minutes=26))[("BreakerStuckOpen", "east")]
    assert early.state == "pending"


def test_the_whole_top_group_open_with_traffic_on_the_fallback_is_pool_degraded() -> None:
    def story(minute: int) -> dict[str, Minute]:
        if minute < 20:
            return healthy(minute)
        # 429 with a 10-minute Retry-After on both regions: their breakers stay open, sweden serves.
        east = {"requests": 3, "counted": 3, "throttled": 3, "retry_after": 600} if minute % 10 == 0 else {}
        west = {"requests": 3, "counted": 3, "throttled": 3, "retry_after": 600} if minute % 10 == 0 else {}
        return {"east": east, "west": west, "sweden": ok(30)}

    judged = _judge(story)
    assert {("BreakerStuckOpen", "east"), ("BreakerStuckOpen", "west"), ("PoolDegraded", "pool")} <= active(judged)
    assert ("PoolExhausted", "pool") not in active(judged)
    assert judged[("BreakerStuckOpen", "east")].evidence["maxRetryAfterSeconds"] == 600


def test_every_member_open_and_gateway_answered_503s_is_pool_exhausted() -> None:
    def story(minute: int) -> dict[str, Minute]:
        if minute < 45:
            return healthy(minute)
        return {"pool": {"requests": 40, "gateway": 40}, "east": failing(3), "west": failing(3), "sweden": failing(3)}

    judged = _judge(story)
    exhausted = judged[("PoolExhausted", "pool")]
    assert exhausted.state == "active" and exhausted.severity == "critical"
    assert exhausted.evidence["gatewayAnswered"] > 0


def test_failures_the_rule_does_not_count_are_a_blind_spot() -> None:
    def story(minute: int) -> dict[str, Minute]:
        return {"east": {"requests": 10, "ignored": 10} if minute >= 40 else ok(10), "west": ok()}

    judged = _judge(story)
    blind = judged[("BreakerBlindSpot", "east")]
    assert blind.state == "active"
    assert 401 in blind.evidence["uncountedCodes"]
    assert ("BreakerStuckOpen", "east") not in active(judged)  # the breaker never trips: that is the problem


def test_flapping_with_successes_in_between_is_not_stuck() -> None:
    def story(minute: int) -> dict[str, Minute]:
        east = failing(4) if minute % 4 == 0 else ok(10)
        return {"east": east, "west": ok()}

    assert active(_judge(story)) == set()


def test_minutes_without_traffic_are_not_an_outage() -> None:
    def story(minute: int) -> dict[str, Minute]:
        if minute % 10 == 0:  # a request every ten minutes, each successful
            return {"east": ok(1)}
        return {}

    judged = _judge(story)
    assert active(judged) == set()


def test_silence_after_a_trip_is_quiet_not_recovered() -> None:
    """One failing burst, then no traffic at all: no incident, and nothing proves it healthy either."""

    def story(minute: int) -> dict[str, Minute]:
        return {"east": failing(5)} if minute == 30 else {}

    judged = _judge(story)
    assert judged[("BreakerStuckOpen", "east")].state == "quiet"


def test_recovery_needs_successes_for_the_recovery_period() -> None:
    def story(minute: int) -> dict[str, Minute]:
        if 10 <= minute < 50:
            return {"east": failing(5), "west": ok()}
        return healthy(minute)

    assert _judge(story)[("BreakerStuckOpen", "east")].state == "recovered"  # healthy for the last 10 minutes
    assert _judge(story, now=NOW - timedelta(minutes=7))[("BreakerStuckOpen", "east")].state == "quiet"


def test_bins_inside_the_ingestion_lag_are_not_taken_as_no_traffic() -> None:
    """The last minutes have no rows yet: a running outage stays running instead of ending as silence."""

    def story(minute: int) -> dict[str, Minute]:
        if minute >= 56:
            return {}  # not ingested yet
        return {"east": failing(5) if minute >= 30 else ok(), "west": ok()}

    lagging = WatchPolicy(ingestion_lag_seconds=300)
    assert _judge(story, policy=lagging)[("BreakerStuckOpen", "east")].state == "active"


def test_event_grid_transitions_are_the_state_when_present() -> None:
    """Events say east was open 11:10–11:40 although the logs show no failures at all (no traffic)."""

    def event(kind: str, at: datetime, event_id: str) -> Any:
        return parse_breaker_event({
            "id": event_id, "topic": RID, "subject": "/backends/east/circuit-breaker/rules/openai-breaker",
            "eventType": f"Microsoft.ApiManagement.CircuitBreaker.{kind}", "eventTime": at.isoformat(),
            "data": {"backendName": "east",
                     "circuitBreaker": {"rules": {"openai-breaker": {"tripDuration": "00:01:00"}}}},
        })

    events = [event("Closed", NOW - timedelta(minutes=20), "2"), event("Opened", NOW - timedelta(minutes=50), "1")]
    judged = _judge(lambda minute: {"west": ok()}, events=events)
    stuck = judged[("BreakerStuckOpen", "east")]
    assert stuck.evidence["source"] == "events"
    assert stuck.state in ("quiet", "recovered")  # closed 20 minutes ago
    still_open = _judge(lambda minute: {"west": ok()}, events=events[1:])[("BreakerStuckOpen", "east")]
    assert still_open.state == "active" and still_open.since == NOW - timedelta(minutes=50)


def test_a_member_skipped_while_the_fallback_serves_is_open_without_any_failure_in_the_logs() -> None:
    """Retries hide east's failures; only the routing shows it: sweden (priority 2) serves, east gets nothing."""

    def story(minute: int) -> dict[str, Minute]:
        if minute < 30:
            return healthy(minute)
        return {"sweden": ok(20)}

    judged = _judge(story)
    assert ("PoolDegraded", "pool") in active(judged)
    assert judged[("BreakerStuckOpen", "east")].evidence["skippedByPoolBins"] >= 25


@pytest.mark.parametrize("count", [3, "3"])
def test_rules_read_as_apim_returns_them(count: Any) -> None:
    config = gateway_config([
        {"name": "b", "properties": {"url": "https://b.example.com", "circuitBreaker": {"rules": [{
            "name": "r", "failureCondition": {"count": count, "interval": "00:01:00",
                                              "statusCodeRanges": [{"min": "500", "max": "599"}]},
            "tripDuration": "PT2M"}]}}},  # no acceptRetryAfter at all
        {"name": "p", "properties": {"type": "Pool", "pool": {"services": ["/backends/b"]}}},  # bare ids
    ])
    rule = config.backends[0].rule
    assert rule is not None
    assert (rule.count, rule.interval_seconds, rule.trip_seconds, rule.accept_retry_after) == (3, 60, 120, False)
    assert rule.status_ranges == ((500, 599),)
    assert [m.name for m in config.pools[0].members] == ["b"]


def test_query_rows_are_read_as_logs_rows_types_them() -> None:
    from breakerpanel.core.watch.bins import BinRowError, bins_from_rows

    at = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
    (item,) = bins_from_rows([{
        "Resource": RID.upper(), "Backend": "/backends/east", "Bin": at,
        "Requests": 12, "Successes": 10, "Counted": 2, "Ignored": 0, "Throttled": 2,
        "MaxRetryAfter": None, "GatewayOnly": 0, "LastSuccess": None,
    }])
    assert (item.resource, item.backend, item.requests, item.counted) == (RID, "east", 12, 2)
    assert item.start == at and item.max_retry_after is None
    # text is logs_rows' to read: a cell that reaches the core untyped is an error naming the column
    with pytest.raises(BinRowError, match="Requests='12' is not a count"):
        bins_from_rows([{"Resource": RID, "Backend": "east", "Bin": at, "Requests": "12"}])
    with pytest.raises(BinRowError, match="Bin='2026-12-03T11:00:00Z' is not a date-time"):
        bins_from_rows([{"Resource": RID, "Backend": "east", "Bin": "2026-12-03T11:00:00Z", "Requests": 1}])
    with pytest.raises(BinRowError, match="Throttled=True is not a count"):
        bins_from_rows([{"Resource": RID, "Backend": "east", "Bin": at, "Throttled": True}])


def test_a_weight_0_member_that_gets_no_traffic_is_not_taken_as_open() -> None:
    """A pool member's weight may be 0 (BackendPoolItem.weight: "Must be between 0 and 100"); the pool distributes
    "based on the relative weight of each backend" (backends.md), so a weight-0 member beside a weighted peer gets
    nothing while that peer serves. Its empty bins are its weight, not a breaker the pool routes around."""
    config = gateway_config([
        _backend("east"), _backend("west"), _backend("sweden"),
        {"name": "pool", "properties": {"type": "Pool", "pool": {"services": [
            {"id": "/backends/east", "priority": 1, "weight": 100},
            {"id": "/backends/west", "priority": 1, "weight": 0},
            {"id": "/backends/sweden", "priority": 2, "weight": 100},
        ]}}},
    ])

    def story(minute: int) -> dict[str, Minute]:
        return {"east": ok(2000)}

    judged = _judge(story, config=config)
    assert active(judged) == set()
    assert judged[("BreakerStuckOpen", "west")].evidence["skippedByPoolBins"] == 0


def test_a_rule_without_status_code_ranges_counts_no_status_code() -> None:
    """statusCodeRanges are "The status code ranges which are considered as failure" and errorReasons "The error
    reasons which are considered as failure" (CircuitBreakerFailureCondition); a rule naming only reasons counts
    no answered code, so a backend answering 500s never trips it: a blind spot, not a stuck breaker."""
    reasons_only = {**RULE, "failureCondition": {"count": 3, "interval": "PT1M", "errorReasons": ["Timeout"]}}
    config = gateway_config([_backend("solo", reasons_only)])
    rule = config.backends[0].rule
    assert rule is not None and rule.status_ranges == () and not rule.counts(500)

    def story(minute: int) -> dict[str, Minute]:
        return {"solo": {"requests": 20, "ignored": 20} if minute >= 20 else ok()}

    judged = _judge(story, config=config)
    assert active(judged) == {("BreakerBlindSpot", "solo")}
    assert 500 in judged[("BreakerBlindSpot", "solo")].evidence["uncountedCodes"]


def test_failures_further_apart_than_the_interval_do_not_trip_a_count_rule() -> None:
    """APIM trips on the count "within the interval" (CircuitBreakerFailureCondition.interval: "The interval during
    which the failures are counted"): one failure a minute never holds two in a PT1M window, so a count-2 rule
    never trips — the twin's breaker agrees (tests/twin: failures spread wider than the interval do not trip).
    Reading two one-minute bins as one window made it trip, and a lone failing backend "stuck open"."""
    rule = {**RULE, "failureCondition": {**RULE["failureCondition"], "count": 2}}
    config = gateway_config([_backend("solo", rule)])

    def story(minute: int) -> dict[str, Minute]:
        return {"solo": failing(1)}

    judged = _judge(story, config=config)
    assert judged[("BreakerStuckOpen", "solo")].evidence["trips"] == 0
    assert ("BreakerStuckOpen", "solo") not in active(judged)


def test_failures_that_tripped_a_breaker_are_not_counted_again_after_a_trip_shorter_than_a_bin() -> None:
    """APIM counts afresh after a trip; a Retry-After of 10 s (acceptRetryAfter) ends the trip inside its bin, and
    the same three failures must not re-trip the breaker in every later bin of a PT5M interval."""
    rule = {**RULE, "failureCondition": {**RULE["failureCondition"], "interval": "PT5M"}}
    config = gateway_config([_backend("solo", rule)])

    def story(minute: int) -> dict[str, Minute]:
        if minute == 30:
            return {"solo": {"requests": 3, "counted": 3, "throttled": 3, "retry_after": 10}}
        return {} if 30 < minute < 35 else {"solo": ok()}

    judged = _judge(story, config=config)
    assert judged[("BreakerStuckOpen", "solo")].evidence["trips"] == 1
