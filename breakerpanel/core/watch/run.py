"""One target's evaluation: fetched data in, the incident writes and a readable status out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from breakerpanel.core.instants import format_instant
from breakerpanel.core.watch.bins import Bin, Grid, by_backend
from breakerpanel.core.watch.breaker import BreakerTimeline, breaker_timelines
from breakerpanel.core.watch.config import GatewayConfig, gateway_config
from breakerpanel.core.watch.detect import Observation, observe_deployments, observe_gateway
from breakerpanel.core.watch.events import BreakerTransition
from breakerpanel.core.watch.incidents import Transition, advance
from breakerpanel.core.watch.policy import WatchPolicy

Status = Literal["ok", "warning", "critical", "unknown"]
EXIT_CODES: dict[Status, int] = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}
# Worst first: a known critical outranks not knowing; not knowing outranks a known warning.
_STATUS_RANK: dict[Status, int] = {"ok": 0, "warning": 1, "unknown": 2, "critical": 3}


@dataclass(frozen=True)
class TargetData:
    target: Mapping[str, str]  # subscriptionId, resourceGroup, apimName
    resource_id: str
    backends: Sequence[Mapping[str, Any]] | None  # None: APIM could not be read
    bins: Sequence[Bin] | None  # None: the gateway-log query failed or came back partial
    transitions: Sequence[BreakerTransition]
    deployments: Sequence[Mapping[str, Any]] | None  # None: ARM could not be read
    failed_operations: Mapping[str, list[Mapping[str, Any]]]
    problems: Sequence[Mapping[str, Any]] = ()  # {source, code, message} for every source that failed


@dataclass(frozen=True)
class TargetEvaluation:
    target_key: str
    status: Status
    transitions: list[Transition]
    breakers: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, bool] = field(default_factory=dict)


def target_key(target: Mapping[str, str]) -> str:
    return "/".join(str(target[k]).lower() for k in ("subscriptionId", "resourceGroup", "apimName"))


def worst(statuses: Sequence[Status]) -> Status:
    return max(statuses, key=_STATUS_RANK.__getitem__, default="ok")


def _breaker_summary(config: GatewayConfig, timelines: dict[str, BreakerTimeline], grid: Grid
                     ) -> list[dict[str, Any]]:
    last_complete = max((i for i in range(len(grid)) if not grid.incomplete(i)), default=len(grid) - 1)
    summary = []
    for backend in config.backends:
        timeline = timelines[backend.name.lower()]
        summary.append({
            "backend": backend.name,
            "state": "open" if timeline.open[-1] or timeline.open[last_complete] else "closed",
            "source": timeline.source,
            "openMinutes": round(sum(timeline.open) * grid.step.total_seconds() / 60, 1),
            "trips": [[format_instant(a), format_instant(b)] for a, b in timeline.trips],
        })
    return summary


def evaluate_target(
    data: TargetData,
    previous: Mapping[str, tuple[dict[str, Any], str]],
    *,
    grid: Grid,
    now: datetime,
    policy: WatchPolicy,
) -> TargetEvaluation:
    key = target_key(data.target)
    logs_known = data.backends is not None and data.bins is not None
    deployments_known = data.deployments is not None
    observations: list[Observation] = []
    breakers: list[dict[str, Any]] = []
    if logs_known:
        assert data.backends is not None and data.bins is not None
        config = gateway_config(data.backends)
        series = by_backend(data.bins, data.resource_id, grid)
        known_transitions = [t for t in data.transitions if t.at <= now]
        timelines = breaker_timelines(config, series, known_transitions, grid, now, policy)
        observations += observe_gateway(config, series, timelines, grid, now, policy)
        breakers = _breaker_summary(config, timelines, grid)
    if deployments_known:
        assert data.deployments is not None
        open_deployments = [
            (str(record.get("subject")), str(record.get("discriminator")),
             [str(op.get("resourceId") or "") for op in (record.get("evidence") or {}).get("failedOperations", [])])
            for record, _ in previous.values()
            if record.get("kind") == "ProvisioningFailed" and record.get("state") == "open"
        ]
        observations += observe_deployments(data.deployments, data.failed_operations, open_deployments, now)
    transitions = advance(
        data.target, key, observations, previous, now=now, logs_known=logs_known, deployments_known=deployments_known
    )
    return TargetEvaluation(
        target_key=key,
        status=status_of(transitions, previous, logs_known and deployments_known),
        transitions=transitions,
        breakers=breakers,
        sources={"gatewayLogs": data.bins is not None, "backends": data.backends is not None,
                 "deployments": deployments_known},
    )


def current_incidents(
    previous: Mapping[str, tuple[dict[str, Any], str]], transitions: Sequence[Transition]
) -> dict[str, dict[str, Any]]:
    """Every incident record of the target once `transitions` are applied, by key."""
    current = {key: record for key, (record, _) in previous.items()}
    for transition in transitions:
        current[transition.key] = transition.value
    return current


def status_of(
    transitions: Sequence[Transition], previous: Mapping[str, tuple[dict[str, Any], str]], complete: bool
) -> Status:
    current = current_incidents(previous, transitions)
    open_severities = {r.get("severity") for r in current.values() if r.get("state") == "open"}
    statuses: list[Status] = ["ok"]
    if "critical" in open_severities:
        statuses.append("critical")
    if "warning" in open_severities:
        statuses.append("warning")
    if not complete:
        statuses.append("unknown")
    return worst(statuses)


def incident_view(record: Mapping[str, Any], change: str) -> dict[str, Any]:
    """An incident as `watch --json` and the health API show it."""
    target = record.get("target") or {}
    view: dict[str, Any] = {
        "kind": record.get("kind"),
        "state": change,
        "severity": record.get("severity"),
        "target": target.get("apimName"),
        "subscriptionId": target.get("subscriptionId"),
        "resourceGroup": target.get("resourceGroup"),
        str(record.get("subjectType")): record.get("subject"),
        "since": record.get("since"),
        "openedAt": record.get("openedAt"),
        "resolvedAt": record.get("resolvedAt"),
        "id": record.get("id"),
        "key": record.get("key"),
        "evidence": record.get("evidence"),
        "runbook": record.get("runbook"),
    }
    if record.get("dataUnknown"):
        view["dataUnknown"] = True
    return view
