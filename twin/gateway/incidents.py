"""The ground truth of a simulated run: the incidents a perfect watchdog would raise, read off what the
simulated gateway really did (its breakers' trips, its backends' answers), not off the scenario's intent.

Kinds (issue 7), and how each is read here:
- BreakerStuckOpen: a backend open, or re-tripping with no successful response in between, for longer than
  max(3 × its trip duration, 5 min). Trips separated by a closed spell with no success merge into one stretch;
  onset = when the stretch's first trip opened (a watchdog can only know it is "stuck" threshold later);
  end = when its last trip closed, None when still open at the end of the run.
- PoolExhausted: every member of the pool open at once (the gateway answers 503, or the failureResponse code,
  without a backend call). Spells merge across closed moments with no success from any member; onset = the
  first instant all were open, end = the end of the last such spell.
- PoolDegraded: the whole top-priority group open while a lower group can still take traffic. Spells merge
  across closed moments with no success from the top group. A pool is one incident at a time: a degraded
  stretch that overlaps an exhausted one is reported as PoolExhausted only. Needs at least two groups.
- BreakerBlindSpot: a backend failing with answers its rule does not count (401, 404, ... or a no-response
  reason it does not list) — the breaker will never trip. A stretch of at least 5 such failures with no
  success in between; onset = the first, end = the first success after the last (None if none came).
- ProvisioningFailed: a deployment that ended Failed; onset = when it ended; end None (nothing ends it but a
  later, different deployment).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from twin.gateway.breaker import Trip
from twin.gateway.config import PoolBackend, SingleBackend
from twin.gateway.simulation import SimulationResult
from twin.log_analytics.results import format_datetime

STUCK_FLOOR = timedelta(minutes=5)
BLIND_SPOT_MIN_FAILURES = 5


@dataclass(frozen=True)
class Incident:
    kind: str
    target: str  # apimName
    subject: str  # backend, pool or deployment name
    onset: datetime
    end: datetime | None

    def rest(self, start: datetime) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "subject": self.subject,
            "onset": format_datetime(self.onset),
            "end": None if self.end is None else format_datetime(self.end),
            "onsetOffsetSeconds": (self.onset - start).total_seconds(),
            "endOffsetSeconds": None if self.end is None else (self.end - start).total_seconds(),
        }


Span = tuple[datetime, datetime]


def _any_between(instants: list[datetime], after: datetime, before: datetime) -> bool:
    """Is there an instant in the sorted list with after <= instant < before?"""
    index = bisect.bisect_left(instants, after)
    return index < len(instants) and instants[index] < before


def merge_spans(spans: list[Span], successes: list[datetime]) -> list[Span]:
    """Join spans whose gap holds no success (a re-trip without a successful interval is the same outage)."""
    merged: list[Span] = []
    for begin, finish in sorted(spans):
        if merged and (begin <= merged[-1][1] or not _any_between(successes, merged[-1][1], begin)):
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
        else:
            merged.append((begin, finish))
    return merged


def _open_spans(trips: list[Trip]) -> list[Span]:
    return [(trip.opened, trip.closes) for trip in trips]


def _intersection(span_lists: list[list[Span]]) -> list[Span]:
    """The instants covered by a span of every list at once."""
    if not span_lists or any(not spans for spans in span_lists):
        return []
    current = sorted(span_lists[0])
    for other in span_lists[1:]:
        result: list[Span] = []
        for a0, a1 in current:
            for b0, b1 in sorted(other):
                lo, hi = max(a0, b0), min(a1, b1)
                if lo < hi:
                    result.append((lo, hi))
        current = sorted(result)
    return current


def _ending(finish: datetime, end: datetime) -> datetime | None:
    return None if finish >= end else finish


def derive(result: SimulationResult, backends: list[SingleBackend | PoolBackend], target: str) -> list[Incident]:
    """Every incident of one simulated gateway, in onset order."""
    timeline, apim, end = result.timeline, result.service.name, result.end
    incidents: list[Incident] = []
    singles = {b.name: b for b in backends if isinstance(b, SingleBackend)}
    successes = {name: sorted(times) for name, times in timeline.successes.items()}

    for name, backend in singles.items():
        if backend.rule is None:
            continue
        threshold = max(3 * backend.rule.trip_duration, STUCK_FLOOR)
        for begin, finish in merge_spans(_open_spans(timeline.trips.get(name, [])), successes.get(name, [])):
            if min(finish, end) - begin > threshold:
                incidents.append(Incident("BreakerStuckOpen", apim, name, begin, _ending(finish, end)))
        failures = sorted(timeline.uncounted_failures.get(name, []))
        incidents.extend(_blind_spots(apim, name, failures, successes.get(name, []), end))

    pool = next((b for b in backends if isinstance(b, PoolBackend) and b.name.lower() == target.lower()), None)
    if pool is not None:
        incidents.extend(_pool_incidents(apim, pool, timeline.trips, successes, end))
    return sorted(incidents, key=lambda i: (i.onset, i.kind, i.subject))


def _blind_spots(
    apim: str, name: str, failures: list[datetime], successes: list[datetime], end: datetime
) -> list[Incident]:
    found: list[Incident] = []
    group: list[datetime] = []

    def close(group: list[datetime]) -> None:
        if len(group) < BLIND_SPOT_MIN_FAILURES:
            return
        index = bisect.bisect_right(successes, group[-1])
        recovered = successes[index] if index < len(successes) else None
        # A success after the run's end (a request still in flight at the end) has not happened yet.
        found.append(Incident("BreakerBlindSpot", apim, name, group[0], _ending(recovered or end, end)))

    for moment in failures:
        if group and _any_between(successes, group[-1], moment):
            close(group)
            group = []
        group.append(moment)
    if group:
        close(group)
    return found


def _pool_incidents(
    apim: str,
    pool: PoolBackend,
    trips: dict[str, list[Trip]],
    successes: dict[str, list[datetime]],
    end: datetime,
) -> list[Incident]:
    members = [m.name for m in pool.members]
    every_success = sorted(t for m in members for t in successes.get(m, []))
    exhausted = merge_spans(_intersection([_open_spans(trips.get(m, [])) for m in members]), every_success)
    found = [Incident("PoolExhausted", apim, pool.name, b, _ending(f, end)) for b, f in exhausted]
    groups = pool.groups()
    if len(groups) > 1:
        top = [m.name for m in groups[0]]
        top_success = sorted(t for m in top for t in successes.get(m, []))
        degraded = merge_spans(_intersection([_open_spans(trips.get(m, [])) for m in top]), top_success)
        for begin, finish in degraded:
            if any(begin < f and b < finish for b, f in exhausted):
                continue  # the pool's incident is PoolExhausted
            found.append(Incident("PoolDegraded", apim, pool.name, begin, _ending(finish, end)))
    return found
