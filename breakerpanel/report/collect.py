"""The report's reads: the watchdog's own readers, over the report's window, writing nothing.

Targets sharing a Log Analytics workspace share ONE query, as in a watchdog pass; every reader returns its
failure as data, so a source that cannot be read becomes a line on the page, never a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from breakerpanel.core.report_model import TargetInputs, TargetReport, build_target_report
from breakerpanel.core.watch.bins import Grid
from breakerpanel.core.watch.kql import bin_seconds_for
from breakerpanel.core.watch.run import target_key
from breakerpanel.settings import Settings
from breakerpanel.store.base import INCIDENT, Store
from breakerpanel.targets import AllowedTarget
from breakerpanel.watchdog.check import group_targets, query_group, read_group_backends
from breakerpanel.watchdog.collect import (
    read_deployments,
    read_transitions,
    target_of,
)
from breakerpanel.watchdog.errors import problem
from breakerpanel.watchdog.settings import WatchSettings


def _stored(store: Store, allowed: AllowedTarget, key: str, problems: list[dict[str, Any]]
            ) -> tuple[list[Any], list[dict[str, Any]] | None]:
    try:
        transitions = read_transitions(store, allowed.target.apim_resource_id)
        incidents = [r.value for r in store.list(INCIDENT, prefix=key + "|")]
    except Exception as exc:  # the store's failure is a line on the page
        problems.append(problem("store", exc))
        return [], None
    return transitions, incidents


def collect_group(settings: Settings, watch: WatchSettings, group: Sequence[AllowedTarget], store: Store,
                  start: datetime, end: datetime) -> list[TargetReport]:
    policy = watch.policy
    backends, configs, problems = read_group_backends(settings, group)
    step = bin_seconds_for(list(configs.values()))
    grid = Grid.ending_at(end, lookback_seconds=(end - start).total_seconds(), step_seconds=step,
                          lag_seconds=policy.ingestion_lag_seconds)
    bins, _ = query_group(settings, group, configs, problems, grid.start, end, step)
    reports = []
    for index, allowed in enumerate(group):
        target = target_of(allowed)
        deployments, found = read_deployments(settings, allowed, start, end)
        if found:
            problems[index].append(found)
        transitions, incidents = _stored(store, allowed, target_key(target), problems[index])
        inputs = TargetInputs(
            target=target, resource_id=allowed.target.apim_resource_id, backends=backends[index],
            bins=bins if index in configs else None, transitions=transitions, incidents=incidents,
            deployments=deployments[0] if deployments else None,
            failed_operations=deployments[1] if deployments else {}, problems=problems[index],
        )
        reports.append(build_target_report(inputs, grid=grid, start=start, end=end, policy=policy))
    return reports


def collect(settings: Settings, watch: WatchSettings, targets: Sequence[AllowedTarget], store: Store,
            start: datetime, end: datetime) -> list[TargetReport]:
    """One report per target, in the order BREAKERPANEL_TARGETS lists them."""
    order = {id(t): i for i, t in enumerate(targets)}
    found: list[tuple[int, TargetReport]] = []
    for group in group_targets(targets):
        for allowed, report in zip(group, collect_group(settings, watch, group, store, start, end), strict=True):
            found.append((order[id(allowed)], report))
    return [report for _, report in sorted(found, key=lambda pair: pair[0])]
