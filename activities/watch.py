"""Watchdog activities: which target groups to check, and one group's check. Failures come back as data."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from breakerpanel.alerts.dispatch import after_check
from breakerpanel.core.instants import parse_instant
from breakerpanel.core.watch.run import target_key
from breakerpanel.settings import load_settings
from breakerpanel.store.factory import open_store
from breakerpanel.targets import AllowedTarget, load_targets
from breakerpanel.watchdog.check import check_group, group_targets
from breakerpanel.watchdog.collect import target_of
from breakerpanel.watchdog.errors import problem

bp = df.Blueprint()


def _keys(group: list[AllowedTarget]) -> list[str]:
    return [target_key(target_of(allowed)) for allowed in group]


@bp.activity_trigger(input_name="payload")
def watch_plan(payload: dict[str, Any] | None) -> dict[str, Any]:
    """The groups of BREAKERPANEL_TARGETS, by target key: targets sharing a workspace share one query."""
    try:
        return {"groups": [_keys(group) for group in group_targets(load_targets())]}
    except Exception as exc:  # a wrong setting is reported, not raised into the orchestration
        return {"groups": [], "problem": problem("settings", exc)}


@bp.activity_trigger(input_name="payload")
def watch_check(payload: dict[str, Any]) -> dict[str, Any]:
    """Check one group as of payload["at"]. Targets are looked up in the allowlist again here: the
    orchestration input names them, it does not define them."""
    at = parse_instant(payload["at"])
    assert at is not None  # the orchestrator passes its own current_utc_datetime
    wanted = [str(key) for key in payload.get("group", [])]
    try:
        from breakerpanel.watchdog.settings import load_watch_settings

        settings, watch = load_settings(), load_watch_settings()
        allowed = {target_key(target_of(a)): a for a in load_targets()}
        group = [allowed[key] for key in wanted if key in allowed]
        store = open_store()
    except Exception as exc:
        return {"results": [], "problem": problem("settings", exc), "group": wanted}
    results = check_group(settings, watch, group, store, at)
    # This group's outbox records only: the groups' activities run in parallel, each delivering its own.
    return {"results": results, "group": wanted, "alerts": after_check(settings, store, results, at)}
