"""Each backend's breaker, reconstructed: when it was open, and on what evidence.

APIM exposes no breaker state. Where Event Grid delivered Opened/Closed transitions for a backend, they are
the state (exact). Otherwise it is inferred from the aggregated gateway logs with the backend's own rule, as
APIM documents it: the failure condition (count, or percentage, of the rule's status codes within its
interval) trips the breaker for tripDuration — or for the backend's Retry-After when acceptRetryAfter —
and while open the gateway does not call the backend. Three more signs say "open" with no rule arithmetic:
the gateway answering by itself (503 or the rule's failure response, no backend call) for that backend; a
pool member skipped while a lower-priority member of its pool is served (APIM only falls back when the whole
higher group is open); and a member that gets far less than its
weight's share of its group's requests (a binomial tail below 0.1 %): the policy's retries land on a peer and
only the last attempt is logged, so a member whose breaker keeps re-tripping shows as one the pool routes
around. Gateway instances do not share breaker state, so this is approximate, as APIM's
own tripping is ("circuit breaker tripping rules are approximate", backends.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from breakerpanel.core.watch.bins import Bin, Grid, Series
from breakerpanel.core.watch.config import Backend, GatewayConfig, Pool
from breakerpanel.core.watch.events import BreakerTransition
from breakerpanel.core.watch.policy import WatchPolicy

# A member that got so much less than its weight's share of its group's requests that chance would do this
# less often than this is taken as routed around by the pool, i.e. open for (part of) the bin.
_SKIP_PROBABILITY = 0.001


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k >= n:
        return 1.0
    if k < 0:
        return 0.0
    if p <= 0:
        return 1.0
    if p >= 1:
        return 0.0
    if n > 1000:  # normal approximation with continuity correction: exact sums get slow and underflow
        mean, sd = n * p, math.sqrt(n * p * (1 - p))
        return 0.5 * math.erfc(-((k + 0.5 - mean) / sd) / math.sqrt(2))
    return min(1.0, sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1)))


@dataclass
class BreakerTimeline:
    backend: str
    source: str  # "events" | "logs"
    open: list[bool]  # per grid bin
    trips: list[tuple[datetime, datetime]] = field(default_factory=list)  # inferred/evented open intervals
    skipped: list[bool] = field(default_factory=list)  # bins where the pool routed around it


def _covers(grid: Grid, index: int, start: datetime, end: datetime) -> bool:
    bin_start = grid.at(index)
    return start < bin_start + grid.step and end > bin_start


def _from_events(
    backend: str, transitions: list[BreakerTransition], grid: Grid, now: datetime
) -> list[tuple[datetime, datetime]]:
    ordered = sorted((t for t in transitions if t.at <= now), key=lambda t: (t.at, not t.opened))
    intervals: list[tuple[datetime, datetime]] = []
    opened_at: datetime | None = None
    for transition in ordered:
        if transition.opened and opened_at is None:
            opened_at = transition.at
        elif not transition.opened and opened_at is not None:
            intervals.append((opened_at, transition.at))
            opened_at = None
    if opened_at is not None:
        intervals.append((opened_at, now))
    return intervals


def _from_logs(backend: Backend, series: list[Bin | None], grid: Grid, now: datetime, policy: WatchPolicy
               ) -> list[tuple[datetime, datetime]]:
    rule = backend.rule
    if rule is None:
        return []
    # As many bins as the interval spans (bins are never wider than it): APIM counts failures within the interval,
    # so failures further apart than that never trip it. Failures of one interval that straddle a bin boundary
    # may be missed here; a failure that lasts trips within whole bins, and the pool's routing shows the rest.
    width = max(1, math.ceil(rule.interval_seconds / grid.step.total_seconds()))
    intervals: list[tuple[datetime, datetime]] = []
    window_from = 0
    for index in range(len(series)):
        if intervals and grid.at(index) < intervals[-1][1]:
            continue  # open: the gateway does not call it, and APIM counts afresh after the trip
        lo = max(window_from, index - width + 1)
        window = [b for b in series[lo : index + 1] if b is not None]
        counted = sum(b.counted for b in window)
        requests = sum(b.requests for b in window)
        if rule.count is not None:
            met = counted >= max(rule.count, 1)
        else:
            met = requests > 0 and counted > 0 and 100.0 * counted / requests >= (rule.percentage or 0)
        if not met:
            continue
        trip = rule.trip_seconds
        retry_after = max((b.max_retry_after or 0 for b in window), default=0)
        if rule.accept_retry_after and retry_after > 0:
            trip = min(float(retry_after), policy.max_retry_after_seconds)
        start = grid.at(index)
        end = start + timedelta(seconds=trip)
        intervals.append((start, min(end, now)))
        # APIM counts afresh after the trip: the failures that tripped it (this bin and before) are spent, even
        # when the trip (a short Retry-After) ends inside this bin.
        window_from = max(index + 1, grid.index(end)) if end < grid.end else len(series)
    return intervals


def _skipped_members(pool: Pool, series: Series, grid: Grid) -> dict[str, list[bool]]:
    """Bins in which the pool routed around a member: the evidence of an open breaker that needs no rule."""
    skipped = {m.name.lower(): [False] * len(grid) for m in pool.members}
    groups = pool.priority_groups()

    for index in range(len(grid)):
        if grid.incomplete(index):
            continue  # rows of one member may be ingested before another's
        for level_index, (_, members) in enumerate(groups):
            lower = [m for _, group in groups[level_index + 1 :] for m in group]
            fallback = sum(series.requests(m.name, index) for m in lower)
            group_total = sum(series.requests(m.name, index) for m in members)
            # Weights are relative (0..100): a weight-0 member beside weighted peers is sent nothing while they
            # serve, so its share is 0 and its empty bins say nothing; a group weighted 0 throughout is even.
            weighted = sum(max(m.weight, 0) for m in members) > 0
            total_weight = sum(max(m.weight, 0) for m in members) if weighted else len(members)
            for member in members:
                own = series.requests(member.name, index)
                # A lower priority served, so the whole group was open at some point of the bin; a member that
                # served no success in it was open throughout as far as the logs can tell.
                if fallback > 0 and not series.served([member.name], index):
                    skipped[member.name.lower()][index] = True
                    continue
                share = (max(member.weight, 0) if weighted else 1) / total_weight
                # The policy's retries land on a peer, and only the last attempt is logged: a member whose
                # breaker keeps re-tripping shows as one that gets far less than its share.
                if 0 < share < 1 and group_total > 0 and binomial_cdf(own, group_total, share) < _SKIP_PROBABILITY:
                    skipped[member.name.lower()][index] = True
    return skipped


def pool_gateway_answers(pool: Pool, config: GatewayConfig, series: Series, grid: Grid
                         ) -> list[int]:
    """Gateway-answered requests per bin that belong to this pool: BackendId the pool's name, or empty when
    the target has only this pool."""
    names = [pool.name.lower()] + ([""] if len(config.pools) == 1 else [])
    counts = [0] * len(grid)
    for name in names:
        for index, item in enumerate(series.bins(name)):
            if item is not None:
                counts[index] += item.gateway_only
    return counts


def _pool_refusals(config: GatewayConfig, series: Series, grid: Grid) -> dict[str, list[bool]]:
    """Bins in which a pool answered by itself with no member serving: APIM does that only when every member's
    breaker is open, so every member was open then."""
    refused: dict[str, list[bool]] = {}
    for pool in config.pools:
        answers = pool_gateway_answers(pool, config, series, grid)
        for index, count in enumerate(answers):
            if count > 0 and not series.served([m.name for m in pool.members], index):
                for member in pool.members:
                    refused.setdefault(member.name.lower(), [False] * len(grid))[index] = True
    return refused


def breaker_timelines(
    config: GatewayConfig,
    series: Series,
    transitions: list[BreakerTransition],
    grid: Grid,
    now: datetime,
    policy: WatchPolicy,
) -> dict[str, BreakerTimeline]:
    """Open/closed per bin for every Single backend of the target, keyed by lower-cased name."""
    skipped: dict[str, list[bool]] = {}
    for pool in config.pools:
        for name, flags in _skipped_members(pool, series, grid).items():
            merged = skipped.setdefault(name, [False] * len(grid))
            skipped[name] = [a or b for a, b in zip(merged, flags, strict=True)]
    refused = _pool_refusals(config, series, grid)
    timelines: dict[str, BreakerTimeline] = {}
    for backend in config.backends:
        key = backend.name.lower()
        own = [t for t in transitions if t.backend.lower() == key]
        bins = series.bins(key)
        if own:
            intervals, source = _from_events(backend.name, own, grid, now), "events"
        else:
            intervals, source = _from_logs(backend, bins, grid, now, policy), "logs"
        flags = [False] * len(grid)
        for index in range(len(grid)):
            if any(_covers(grid, index, a, b) for a, b in intervals):
                flags[index] = True
            item = bins[index]
            if item is not None and item.gateway_only > 0 and item.successes == 0:
                flags[index] = True
            # Events are exact; skip evidence is only an inference, for backends without events.
            inferred = skipped.get(key, [False] * len(grid))[index] or refused.get(key, [False] * len(grid))[index]
            if source == "logs" and inferred:
                flags[index] = True
        timelines[key] = BreakerTimeline(
            backend.name, source, flags, intervals, skipped.get(key, [False] * len(grid))
        )
    return timelines
