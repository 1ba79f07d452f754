"""The actions an orchestrator's replay answers with, read the way the Durable extension reads them."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from .errors import LocalRunError


class ActionType(IntEnum):
    """Out-of-proc action types (the extension's AsyncActionType)."""

    CALL_ACTIVITY = 0
    CALL_ACTIVITY_WITH_RETRY = 1
    CALL_SUB_ORCHESTRATOR = 2
    CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    CALL_ENTITY = 7
    CALL_HTTP = 8
    SIGNAL_ENTITY = 9
    SCHEDULED_SIGNAL_ENTITY = 10
    WHEN_ANY = 11
    WHEN_ALL = 12


COMPOUND = frozenset({ActionType.WHEN_ANY, ActionType.WHEN_ALL})
# The SDK method behind each action this host refuses, so the error names what the orchestrator called.
SDK_CALL = {
    ActionType.CALL_ACTIVITY_WITH_RETRY: "call_activity_with_retry",
    ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY: "call_sub_orchestrator_with_retry",
    ActionType.CALL_ENTITY: "call_entity",
    ActionType.CALL_HTTP: "call_http",
    ActionType.SIGNAL_ENTITY: "signal_entity",
    ActionType.SCHEDULED_SIGNAL_ENTITY: "signal_entity",
}

Signature = tuple[int, str | None]


def action_list(state: dict[str, Any], orchestrator: str) -> list[dict[str, Any]]:
    """The actions of one replay, compound ones followed by their members, in the order the SDK yielded them."""
    actions = state.get("actions") or [[]]
    if state.get("schemaVersion", 0) < 1 or len(actions) != 1:
        # The host sends upperSchemaVersion(New); an SDK answering in the V1 shape means a mismatch.
        raise LocalRunError(
            f"orchestrator '{orchestrator}' answered with replay schema {state.get('schemaVersion', 0)} and "
            f"{len(actions)} action groups; this host speaks schema V2/V3 (azure-functions-durable >= 1.2)"
        )
    return _flatten(list(actions[0]))


def _flatten(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []
    for action in actions:
        flat.append(action)
        if action.get("actionType") in COMPOUND:
            flat.extend(_flatten(action.get("compoundActions") or []))
    return flat


def signature(action: dict[str, Any]) -> Signature:
    return (int(action["actionType"]), action.get("functionName") or action.get("externalEventName"))


def describe(recorded: Signature | None) -> str:
    if recorded is None:
        return "nothing"
    action_type, name = recorded
    label = ActionType(action_type).name
    return f"{label}({name!r})" if name else label


def unsupported(orchestrator: str, action: dict[str, Any]) -> str:
    """Why this host will not drive `action`, naming the SDK call and what to use instead."""
    action_type = ActionType(action["actionType"])
    call = SDK_CALL.get(action_type, action_type.name)
    target = action.get("functionName")
    called = f"context.{call}({target!r}, ...)" if target else f"context.{call}(...)"
    if action_type in (ActionType.CALL_ACTIVITY_WITH_RETRY, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
        advice = (
            "the app retries with its own durable timers instead (orchestrators/rollout.py call_with_retry, "
            "which honours Retry-After), so this host does not emulate the SDK's *_with_retry calls: use "
            "call_activity / call_sub_orchestrator and context.create_timer between attempts"
        )
    else:
        advice = "this host drives activities, sub-orchestrations, timers, external events and continue_as_new only"
    return f"orchestrator '{orchestrator}' called {called}; {advice}"
