"""One replay as the extension frames it: the context JSON it sends, and the determinism check on the answer."""

from __future__ import annotations

import json
from typing import Any

from . import history as h
from .actions import describe, signature
from .instances import Instance

# What the extension sends in the context (OrchestrationTriggerAttributeBindingProvider): schema V2 in
# `upperSchemaVersion` for old SDKs, V3 in `upperSchemaVersionNew`, and the Azure Storage provider's
# timer limits, above which the SDK splits a timer into a chain of shorter ones.
_UPPER_SCHEMA_VERSION = 1
_UPPER_SCHEMA_VERSION_NEW = 2
_MAXIMUM_SHORT_TIMER_DURATION = "6.00:00:00"
_LONG_RUNNING_TIMER_INTERVAL = "3.00:00:00"
_HTTP_ASYNC_SLEEP_MS = 30000


def context_json(instance: Instance, new_events: list[h.HistoryEvent]) -> str:
    history_json = ",".join([*instance.played_json, *(json.dumps(event) for event in new_events)])
    fields = {
        "input": instance.context_input,
        "instanceId": instance.instance_id,
        "isReplaying": bool(instance.played_json),
        "parentInstanceId": instance.parent_instance_id,
        "upperSchemaVersion": _UPPER_SCHEMA_VERSION,
        "upperSchemaVersionNew": _UPPER_SCHEMA_VERSION_NEW,
        "longRunningTimerIntervalDuration": _LONG_RUNNING_TIMER_INTERVAL,
        "maximumShortTimerDuration": _MAXIMUM_SHORT_TIMER_DURATION,
        "defaultHttpAsyncRequestSleepTimeMillseconds": _HTTP_ASYNC_SLEEP_MS,
    }
    return '{"history":[' + history_json + "]," + json.dumps(fields)[1:]


def nondeterminism(instance: Instance, actions: list[dict[str, Any]]) -> str | None:
    """The extension's complaint when this replay did not reproduce the actions recorded before, else None."""
    replayed = [signature(action) for action in actions]
    for position, expected in enumerate(instance.recorded):
        got = replayed[position] if position < len(replayed) else None
        if got == expected:
            continue
        event_id = instance.recorded_ids[position]
        where = f"action #{position + 1}" + (f" (history event id {event_id})" if event_id is not None else "")
        replay_part = (
            f"the replay scheduled {describe(got)} instead" if got is not None else "the replay no longer schedules it"
        )
        return (
            f"Non-Deterministic workflow detected: orchestrator '{instance.name}' (instance "
            f"'{instance.instance_id}') recorded {describe(expected)} as {where}, but {replay_part}. "
            f"Orchestrators must make the same calls in the same order on every replay: move I/O, "
            f"randomness and clock reads into activities or use context.current_utc_datetime / "
            f"context.new_uuid()."
        )
    return None
