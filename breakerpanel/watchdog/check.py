"""One watchdog pass over a group of targets that share a Log Analytics workspace (one query for all)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from breakerpanel.alerts.dispatch import sink_names
from breakerpanel.alerts.outbox import stage_incident
from breakerpanel.core.instants import format_instant, parse_instant
from breakerpanel.core.watch.bins import Grid
from breakerpanel.core.watch.config import GatewayConfig, gateway_config
from breakerpanel.core.watch.events import BreakerEventError, BreakerTransition, parse_breaker_event
from breakerpanel.core.watch.incidents import Transition
from breakerpanel.core.watch.kql import QueryTarget, bin_seconds_for
from breakerpanel.core.watch.run import TargetData, current_incidents, evaluate_target, incident_view, target_key
from breakerpanel.settings import Settings
from breakerpanel.store.base import (
    BREAKER_EVENT,
    INCIDENT,
    RESULT,
    WATERMARK,
    ConflictError,
    Store,
    StoreUnavailableError,
)
from breakerpanel.targets import AllowedTarget
from breakerpanel.watchdog.collect import (
    event_key,
    query_gateway_logs,
    read_backends,
    read_deployments,
    read_transitions,
    target_of,
    workspace_kind,
)
from breakerpanel.watchdog.errors import problem
from breakerpanel.watchdog.settings import WatchSettings

# Breaker transitions are kept this much longer than the lookback, then pruned by the runs.
_EVENT_RETENTION = timedelta(days=2)


def group_targets(targets: Sequence[AllowedTarget]) -> list[list[AllowedTarget]]:
    """Targets that share a workspace go in one group (one query); resource-centric ones stand alone."""
    groups: dict[str, list[AllowedTarget]] = {}
    for allowed in targets:
        workspace = allowed.log_analytics_workspace_id
        key = (
            f"resource:{allowed.target.apim_resource_id.lower()}"
            if workspace_kind(workspace) == "resource"
            else f"workspace:{(workspace or '').strip().lower()}"
        )
        groups.setdefault(key, []).append(allowed)
    return list(groups.values())


def _since(store: Store, key: str, now: datetime, watch: WatchSettings) -> datetime:
    policy = watch.policy
    record = store.get(WATERMARK, key)
    first = now - timedelta(seconds=policy.deployment_first_lookback_seconds)
    if record is None:
        return first
    mark = parse_instant(record.value.get("deploymentsUntil"))
    if mark is None:
        return first
    # Replaying an earlier instant (`--at`) reads from before it, not from the later watermark.
    return min(mark, now) - timedelta(seconds=policy.deployment_overlap_seconds)


def _advance_watermark(store: Store, key: str, now: datetime) -> None:
    value = {"deploymentsUntil": format_instant(now)}
    record = store.get(WATERMARK, key)
    try:
        if record is None:
            store.insert(WATERMARK, key, value)
        elif str(record.value.get("deploymentsUntil", "")) < value["deploymentsUntil"]:
            store.replace(WATERMARK, key, value, record.etag)
    except ConflictError:
        pass  # an overlapping run moved it; either value is a safe place to restart from


def _write(store: Store, transition: Transition) -> bool:
    """Apply one incident write; False when another run changed the record first (it then alerted)."""
    try:
        if transition.previous_etag is None:
            store.insert(INCIDENT, transition.key, transition.value)
        else:
            store.replace(INCIDENT, transition.key, transition.value, transition.previous_etag)
    except ConflictError:
        return False
    return True


def _stage_alert(store: Store, view: dict[str, Any], sinks: list[str], problems: list[dict[str, Any]]) -> None:
    """Put the transition's notification in the outbox in the step that wrote it. If this write fails, the
    reconciliation after the check (breakerpanel.alerts.dispatch) stages it from the incident record."""
    try:
        stage_incident(store, view, sinks, datetime.now(UTC))
    except Exception as exc:
        problems.append(problem("alerts", exc))


def _unknown_result(allowed: AllowedTarget, now: datetime, problems: list[dict[str, Any]]) -> dict[str, Any]:
    return {"target": dict(target_of(allowed)), "at": format_instant(now), "status": "unknown",
            "sources": {"gatewayLogs": False, "backends": False, "deployments": False},
            "problems": problems, "breakers": [], "incidents": [], "open": []}


def read_group_backends(
    settings: Settings, group: Sequence[AllowedTarget]
) -> tuple[dict[int, list[dict[str, Any]] | None], dict[int, GatewayConfig], dict[int, list[dict[str, Any]]]]:
    """Each target's backend bodies (None: unreadable), its breaker config where read, and its problems so far,
    keyed by the target's index in `group`."""
    backends: dict[int, list[dict[str, Any]] | None] = {}
    problems: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(group))}
    for index, allowed in enumerate(group):
        bodies, found = read_backends(settings, allowed)
        backends[index] = bodies
        if found:
            problems[index].append(found)
    configs = {i: gateway_config(b) for i, b in backends.items() if b is not None}
    return backends, configs, problems


def query_group(
    settings: Settings, group: Sequence[AllowedTarget], configs: dict[int, GatewayConfig],
    problems: dict[int, list[dict[str, Any]]], start: datetime, end: datetime, step: int,
) -> tuple[Any, dict[str, Any]]:
    """The group's one gateway-log query (its workspace, every target whose config was read): the bins and the
    query's statistics; a failure is added to each queried target's problems."""
    queried = [(group[i], QueryTarget(group[i].target.apim_resource_id, c)) for i, c in configs.items()]
    if not queried:
        return None, {}
    bins, found, stats = query_gateway_logs(settings, group[0].log_analytics_workspace_id, queried, start, end, step)
    if found:
        for index in configs:
            problems[index].append(found)
    return bins, stats


def check_group(
    settings: Settings, watch: WatchSettings, group: Sequence[AllowedTarget], store: Store, now: datetime
) -> list[dict[str, Any]]:
    """Read, judge and record every target of `group` as of `now`; one result per target. Never raises."""
    policy = watch.policy
    backends, configs, problems = read_group_backends(settings, group)
    step = bin_seconds_for(list(configs.values()))
    trips = [b.rule.trip_seconds for c in configs.values() for b in c.backends if b.rule is not None]
    grid = Grid.ending_at(now, lookback_seconds=policy.lookback_for(trips), step_seconds=step,
                          lag_seconds=policy.ingestion_lag_seconds)
    bins, query_stats = query_group(settings, group, configs, problems, grid.start, now, step)
    results = []
    for index, allowed in enumerate(group):
        try:
            results.append(_check_target(settings, watch, allowed, store, now, grid, backends[index],
                                         bins if index in configs else None, problems[index], query_stats))
        except StoreUnavailableError as exc:
            results.append(_unknown_result(allowed, now, [*problems[index], problem("store", exc)]))
        except Exception as exc:  # a defect must not hide the other targets' results
            results.append(_unknown_result(allowed, now, [*problems[index], problem("watchdog", exc)]))
    return results


def _check_target(
    settings: Settings, watch: WatchSettings, allowed: AllowedTarget, store: Store, now: datetime, grid: Grid,
    backends: list[dict[str, Any]] | None, bins: Any, problems: list[dict[str, Any]], query_stats: dict[str, Any],
) -> dict[str, Any]:
    policy = watch.policy
    target = target_of(allowed)
    key = target_key(target)
    since = _since(store, key, now, watch)
    deployments, found = read_deployments(settings, allowed, since, now)
    if found:
        problems.append(found)
    resource_id = allowed.target.apim_resource_id
    stored_events = read_transitions(store, resource_id)
    earliest = grid.start - timedelta(seconds=policy.max_retry_after_seconds)
    transitions = [t for t in stored_events if t.at >= earliest]
    previous = {r.key: (r.value, r.etag) for r in store.list(INCIDENT, prefix=key + "|")}
    data = TargetData(
        target=target, resource_id=resource_id, backends=backends, bins=bins, transitions=transitions,
        deployments=deployments[0] if deployments else None,
        failed_operations=deployments[1] if deployments else {}, problems=problems,
    )
    evaluation = evaluate_target(data, previous, grid=grid, now=now, policy=policy)
    changes: list[dict[str, Any]] = []
    written: list[Transition] = []
    sinks = sink_names()
    for transition in evaluation.transitions:
        if not _write(store, transition):
            continue  # an overlapping run wrote it first and reported it; reporting it here would repeat it
        written.append(transition)
        if transition.change != "ongoing" or transition.value.get("state") == "open":
            changes.append(incident_view(transition.value, transition.change))
        if transition.change != "ongoing":
            _stage_alert(store, changes[-1], sinks, problems)
    if deployments is not None:
        _advance_watermark(store, key, now)
    _prune_events(store, stored_events, now, policy.lookback_seconds)
    current = current_incidents(previous, written)
    open_now = [incident_view(current[k], "ongoing") for k in sorted(current) if current[k].get("state") == "open"]
    result = {
        "target": dict(target), "at": format_instant(now), "status": evaluation.status, "sources": evaluation.sources,
        "problems": problems, "breakers": evaluation.breakers, "incidents": changes,
        "open": [{k: v for k, v in o.items() if k not in ("evidence", "runbook")} for o in open_now],
        "query": query_stats,
    }
    _save_result(store, key, result)
    return result


def _save_result(store: Store, key: str, result: Mapping[str, Any]) -> None:
    summary = {k: v for k, v in result.items() if k != "incidents"}
    record = store.get(RESULT, key)
    try:
        if record is None:
            store.insert(RESULT, key, summary)
        elif str(record.value.get("at", "")) <= str(summary["at"]):
            store.replace(RESULT, key, summary, record.etag)
    except ConflictError:
        pass  # the overlapping run's result is as current as this one


def _prune_events(store: Store, stored: Sequence[BreakerTransition], now: datetime, lookback_seconds: float) -> None:
    oldest = now - timedelta(seconds=lookback_seconds) - _EVENT_RETENTION
    for transition in stored:
        if transition.at < oldest:
            store.delete(BREAKER_EVENT, event_key(transition))


def record_breaker_event(store: Store, event: Mapping[str, Any]) -> str:
    """Store one delivered event: "stored", "duplicate" (seen before: at-least-once delivery), or raises
    BreakerEventError for an event that is not a circuit-breaker transition."""
    transition = parse_breaker_event(event)
    try:
        store.insert(BREAKER_EVENT, event_key(transition), transition.to_dict())
    except ConflictError:
        return "duplicate"
    return "stored"


__all__ = ["BreakerEventError", "check_group", "group_targets", "record_breaker_event"]
