"""Each backend's breaker, reconstructed: when it was open, and on what evidence.

APIM exposes no breaker state. Where Event Grid delivered Opened/Closed transitions for a backend, they are
the state (exact). Otherwise it is inferred from the aggregated gateway logs with the backend's own rule, as
APIM documents it: the failure condition (count, or percentage, of the rule's status codes within its
interval) trips the breaker for tripDuration — or for the backend's Retry-After when acceptRetryAfter —
and while open the gateway does not call the backend. Three more signs say "open" with no rule arithmetic:
the gateway answering by itself (503 or the rule's failure response, no backend call) for that backend; a
pool member skipped while a lower-priority member of its pool is served (APIM only falls back when the whole
higher group is open); and a member that gets nothing while its group peers get so much that its weight
makes silence improbable. Gateway instances do not share breaker state, so this is approximate, as APIM's
own tripping is ("circuit breaker tripping rules are approximate", backends.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from breakerpanel.core.watch.bins import Bin, Grid
from breakerpanel.core.watch.config import Backend, GatewayConfig, Pool
from breakerpanel.core.watch.events import BreakerTransition
from breakerpanel.core.watch.policy import WatchPolicy

# A member silent while its group peers served enough requests that this would happen by chance less than
# this often (given its weight share) is taken as skipped by the pool, i.e. open.
_SILENCE_PROBABILITY = 0.01


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
        intervals.append((start, min(start + timedelta(seconds=trip), now)))
        window_from = grid.index(start + timedelta(seconds=trip)) if start + timedelta(seconds=trip) < grid.end else (
            len(series)
        )
    return intervals


def _skipped_members(pool: Pool, series: dict[str, list[Bin | None]], grid: Grid) -> dict[str, list[bool]]:
    """Bins in which the pool routed around a member: the evidence of an open breaker that needs no rule."""
    skipped = {m.name.lower(): [False] * len(grid) for m in pool.members}
    groups = pool.priority_groups()

    def requests(name: str, index: int) -> int:
        item = series.get(name.lower(), [None] * len(grid))[index]
        return item.requests if item is not None else 0

    for index in range(len(grid)):
        if grid.incomplete(index):
            continue  # rows of one member may be ingested before another's
        for level_index, (_, members) in enumerate(groups):
            lower = [m for _, group in groups[level_index + 1 :] for m in group]
            fallback = sum(requests(m.name, index) for m in lower)
            peers_total = sum(requests(m.name, index) for m in members)
            total_weight = sum(max(m.weight, 0) for m in members) or len(members)
            for member in members:
                if requests(member.name, index) > 0:
                    continue
                if fallback > 0:
                    skipped[member.name.lower()][index] = True
                    continue
                share = (max(member.weight, 0) or 1) / total_weight
                others = peers_total
                if share < 1 and others > 0 and (1 - share) ** others < _SILENCE_PROBABILITY:
                    skipped[member.name.lower()][index] = True
    return skipped


def breaker_timelines(
    config: GatewayConfig,
    series: dict[str, list[Bin | None]],
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
    timelines: dict[str, BreakerTimeline] = {}
    for backend in config.backends:
        key = backend.name.lower()
        own = [t for t in transitions if t.backend.lower() == key]
        bins = series.get(key, [None] * len(grid))
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
            if source == "logs" and skipped.get(key, [False] * len(grid))[index]:
                flags[index] = True
        timelines[key] = BreakerTimeline(
            backend.name, source, flags, intervals, skipped.get(key, [False] * len(grid))
        )
    return timelines
