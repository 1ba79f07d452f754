"""The breaker report's content for one target over a window: what a person reads, as plain data.

Built from what a watchdog pass reads (the aggregated gateway-log bins, the configured backends, the stored
breaker events, the store's incidents, ARM's deployments) through the watchdog's own core — the same bins,
the same breaker timelines, the same diagnosis — so the report never tells a different story from the alerts.
Time is passed in; nothing here does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from breakerpanel.core.diagnosis import diagnose_error, diagnose_operations
from breakerpanel.core.instants import format_instant, parse_instant
from breakerpanel.core.watch.bins import Bin, Grid, by_backend
from breakerpanel.core.watch.breaker import breaker_timelines
from breakerpanel.core.watch.config import gateway_config
from breakerpanel.core.watch.detect import deployment_time
from breakerpanel.core.watch.events import BreakerTransition
from breakerpanel.core.watch.policy import WatchPolicy

# An evidence value longer than this is cut: the page is for reading, `watch --json` has the full record.
_EVIDENCE_CHARS = 240


@dataclass(frozen=True)
class BackendTimeline:
    name: str
    rule: str  # the rule as configured, in words
    source: str  # "events" (Event Grid transitions) or "logs" (reconstructed with the rule)
    pools: tuple[str, ...]
    starts: tuple[datetime, ...]  # bin starts
    step: timedelta
    requests: tuple[int, ...]
    successes: tuple[int, ...]
    counted: tuple[int, ...]  # failures the rule counts
    ignored: tuple[int, ...]  # failures the rule cannot see
    throttled: tuple[int, ...]  # 429s (a subset of counted or ignored, by the rule)
    gateway_only: tuple[int, ...]  # the gateway answered by itself for this backend
    retry_after: tuple[int | None, ...]  # the largest Retry-After (s) per bin
    open_intervals: tuple[tuple[datetime, datetime], ...]

    @property
    def open_minutes(self) -> float:
        return sum((b - a).total_seconds() for a, b in self.open_intervals) / 60


@dataclass(frozen=True)
class IncidentEntry:
    kind: str
    severity: str
    state: str  # "open" | "resolved"
    subject: str  # "backend aoai-eastus", "pool aoai-pool", "deployment bp-…"
    since: str
    opened_at: str
    resolved_at: str | None
    evidence: tuple[tuple[str, str], ...]
    runbook: str


@dataclass(frozen=True)
class FailedOperation:
    resource: str
    code: str
    message: str
    cause: str
    fix: str
    tracking_id: str


@dataclass(frozen=True)
class DeploymentEntry:
    name: str
    state: str
    at: str
    duration: str
    made_by: str  # "breakerpanel rollout", "breakerpanel rollback", or "someone else"
    failed: tuple[FailedOperation, ...]


@dataclass(frozen=True)
class TargetReport:
    apim_name: str
    resource_group: str
    subscription_id: str
    start: datetime
    end: datetime
    backends: tuple[BackendTimeline, ...]
    pools: tuple[tuple[str, str], ...]  # (name, members in words)
    incidents: tuple[IncidentEntry, ...]
    deployments: tuple[DeploymentEntry, ...]
    problems: tuple[str, ...]  # sources that could not be read: the page says what it does not know


@dataclass(frozen=True)
class TargetInputs:
    target: Mapping[str, str]  # subscriptionId, resourceGroup, apimName
    resource_id: str
    backends: Sequence[Mapping[str, Any]] | None  # None: APIM could not be read
    bins: Sequence[Bin] | None  # None: the gateway-log query failed
    transitions: Sequence[BreakerTransition]
    incidents: Sequence[Mapping[str, Any]] | None  # store records; None: the store could not be read
    deployments: Sequence[Mapping[str, Any]] | None  # None: ARM could not be read
    failed_operations: Mapping[str, Sequence[Mapping[str, Any]]]
    problems: Sequence[Mapping[str, Any]] = ()


def open_runs(flags: Sequence[bool], grid: Grid, end: datetime) -> tuple[tuple[datetime, datetime], ...]:
    """Consecutive open bins as intervals, the last one cut at `end`."""
    runs: list[tuple[datetime, datetime]] = []
    first: int | None = None
    for index, flag in enumerate([*flags, False]):
        if flag and first is None:
            first = index
        elif not flag and first is not None:
            runs.append((grid.at(first), min(grid.at(index), end)))
            first = None
    return tuple(runs)


def _evidence(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        return ()
    out = []
    for key, item in value.items():
        text = item if isinstance(item, str) else json.dumps(item, default=str, sort_keys=True)
        out.append((str(key), text if len(text) <= _EVIDENCE_CHARS else text[: _EVIDENCE_CHARS - 1] + "…"))
    return tuple(out)


def incidents_in_window(records: Sequence[Mapping[str, Any]], start: datetime, end: datetime
                        ) -> tuple[IncidentEntry, ...]:
    """Incidents that were open at some point of [start, end], oldest first."""
    entries = []
    for record in records:
        since = parse_instant(record.get("since"))
        resolved = parse_instant(record.get("resolvedAt"))
        if since is None or since > end or (resolved is not None and resolved < start):
            continue
        entries.append((since, IncidentEntry(
            kind=str(record.get("kind") or ""), severity=str(record.get("severity") or ""),
            state=str(record.get("state") or ""),
            subject=f"{record.get('subjectType')} {record.get('subject')}",
            since=format_instant(since), opened_at=str(record.get("openedAt") or ""),
            resolved_at=format_instant(resolved) if resolved is not None else None,
            evidence=_evidence(record.get("evidence")), runbook=str(record.get("runbook") or ""),
        )))
    return tuple(entry for _, entry in sorted(entries, key=lambda pair: pair[0]))


def _made_by(name: str) -> str:
    # The rollout names its deployments 'bp-<rollout>-<apim>-<hash>' and their rollbacks '<that>-rb'
    # (core/naming.py); anything else is someone else's deployment into the group.
    if not name.startswith("bp-"):
        return "someone else"
    return "breakerpanel rollback" if name.endswith("-rb") else "breakerpanel rollout"


def deployments_in_window(
    deployments: Sequence[Mapping[str, Any]], failed_operations: Mapping[str, Sequence[Mapping[str, Any]]],
    start: datetime, end: datetime,
) -> tuple[DeploymentEntry, ...]:
    entries = []
    for deployment in deployments:
        when = deployment_time(deployment)
        if when is None or not start <= when <= end:
            continue
        props = deployment.get("properties") if isinstance(deployment.get("properties"), Mapping) else {}
        assert isinstance(props, Mapping)
        name = str(deployment.get("name") or "")
        state = str(props.get("provisioningState") or "")
        failed: tuple[FailedOperation, ...] = ()
        if state.lower() == "failed":
            diagnoses = diagnose_operations(failed_operations.get(name.lower(), [])) or diagnose_error(
                props.get("error"), fallback_code="DeploymentFailed")
            failed = tuple(FailedOperation(d.resource_name or d.resource_id, d.code, d.message, d.cause, d.fix,
                                           d.tracking_id) for d in diagnoses)
        entries.append((when, DeploymentEntry(name, state, format_instant(when), str(props.get("duration") or ""),
                                              _made_by(name), failed)))
    return tuple(entry for _, entry in sorted(entries, key=lambda pair: pair[0]))


def _problem_text(found: Mapping[str, Any]) -> str:
    return f"{found.get('source')}: {found.get('code')} — {found.get('message')}"


def build_target_report(inputs: TargetInputs, *, grid: Grid, start: datetime, end: datetime,
                        policy: WatchPolicy) -> TargetReport:
    """One target's report over [start, end] on `grid` (the watchdog's bins for its rules)."""
    target = inputs.target
    problems = [_problem_text(p) for p in inputs.problems]
    timelines: list[BackendTimeline] = []
    pools: list[tuple[str, str]] = []
    if inputs.backends is not None:
        config = gateway_config(inputs.backends)
        pools = [(p.name, ", ".join(f"{m.name} (priority {m.priority}, weight {m.weight})" for m in p.members))
                 for p in config.pools]
        series = by_backend(inputs.bins or [], inputs.resource_id, grid)
        breakers = breaker_timelines(config, series, [t for t in inputs.transitions if t.at <= end], grid, end,
                                     policy) if inputs.bins is not None else {}
        starts = tuple(grid.at(i) for i in range(len(grid)))
        for backend in config.backends:
            bins = series.bins(backend.name)
            breaker = breakers.get(backend.name.lower())

            def column(field: str, bins: list[Bin | None] = bins) -> tuple[int, ...]:
                return tuple(int(getattr(b, field)) if b is not None else 0 for b in bins)

            timelines.append(BackendTimeline(
                name=backend.name,
                rule=backend.rule.describe() if backend.rule is not None else "no breaker rule: it never trips",
                source=breaker.source if breaker is not None else "unknown",
                pools=tuple(p.name for p in config.pools_of(backend.name)),
                starts=starts, step=grid.step,
                requests=column("requests"), successes=column("successes"), counted=column("counted"),
                ignored=column("ignored"), throttled=column("throttled"), gateway_only=column("gateway_only"),
                retry_after=tuple(b.max_retry_after if b is not None else None for b in bins),
                open_intervals=open_runs(breaker.open, grid, end) if breaker is not None else (),
            ))
    if inputs.incidents is None:
        problems.append("store: the incidents could not be read")
    return TargetReport(
        apim_name=str(target.get("apimName")), resource_group=str(target.get("resourceGroup")),
        subscription_id=str(target.get("subscriptionId")), start=start, end=end,
        backends=tuple(timelines), pools=tuple(pools),
        incidents=incidents_in_window(inputs.incidents or [], start, end),
        deployments=deployments_in_window(inputs.deployments or [], inputs.failed_operations, start, end),
        problems=tuple(problems),
    )
