"""History events in the JSON shape the Durable extension sends to an out-of-process orchestrator.

Field names and enum values follow DurableTask.Core's HistoryEvent classes as serialized by the
extension (`JArray.FromObject(context.History)`): `EventType` is the integer event type, events that
complete a task carry the scheduling event's id in `TaskScheduledId` / `TimerId`, and payloads
(`Input`, `Result`) are JSON text, not JSON values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

HistoryEvent = dict[str, Any]

# DurableTask.Core OrchestrationStatus values, as stored in ExecutionCompleted.OrchestrationStatus.
STATUS_COMPLETED = 1
STATUS_FAILED = 3
STATUS_TERMINATED = 5


class EventType(IntEnum):
    """DurableTask.Core EventType (the same numbering the Python SDK's HistoryEventType uses)."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_INSTANCE_CREATED = 7
    SUB_ORCHESTRATION_INSTANCE_COMPLETED = 8
    SUB_ORCHESTRATION_INSTANCE_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_RAISED = 15


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 UTC with a `Z`, the format the SDK itself writes for `fireAt`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    """Parse a `fireAt` written by the SDK (`%Y-%m-%dT%H:%M:%S.%fZ`) or any ISO 8601 UTC time."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _event(event_type: EventType, at: datetime, event_id: int = -1, **fields: Any) -> HistoryEvent:
    # Completion and message events carry EventId -1 in DTFx; only scheduling events take a sequence id.
    return {
        "EventType": int(event_type),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": format_timestamp(at),
        **fields,
    }


def orchestrator_started(at: datetime) -> HistoryEvent:
    return _event(EventType.ORCHESTRATOR_STARTED, at)


def orchestrator_completed(at: datetime) -> HistoryEvent:
    return _event(EventType.ORCHESTRATOR_COMPLETED, at)


def execution_started(
    at: datetime,
    *,
    name: str,
    instance_id: str,
    execution_id: str,
    raw_input: str | None,
    parent_instance_id: str | None,
) -> HistoryEvent:
    parent = {"OrchestrationInstance": {"InstanceId": parent_instance_id}} if parent_instance_id else None
    return _event(
        EventType.EXECUTION_STARTED,
        at,
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
        ParentInstance=parent,
        Name=name,
        Version="",
        Input=raw_input,
        Tags=None,
    )


def execution_completed(at: datetime, *, status: int, result: str | None) -> HistoryEvent:
    return _event(EventType.EXECUTION_COMPLETED, at, OrchestrationStatus=status, Result=result)


def execution_terminated(at: datetime, *, reason_json: str) -> HistoryEvent:
    return _event(EventType.EXECUTION_TERMINATED, at, Input=reason_json)


def task_scheduled(at: datetime, event_id: int, *, name: str, input_json: str | None) -> HistoryEvent:
    return _event(EventType.TASK_SCHEDULED, at, event_id, Name=name, Version="", Input=input_json)


def task_completed(at: datetime, scheduled_id: int, *, result_json: str | None) -> HistoryEvent:
    return _event(EventType.TASK_COMPLETED, at, TaskScheduledId=scheduled_id, Result=result_json)


def task_failed(at: datetime, scheduled_id: int, *, reason: str, details: str) -> HistoryEvent:
    return _event(EventType.TASK_FAILED, at, TaskScheduledId=scheduled_id, Reason=reason, Details=details)


def timer_created(at: datetime, event_id: int, *, fire_at: datetime) -> HistoryEvent:
    return _event(EventType.TIMER_CREATED, at, event_id, FireAt=format_timestamp(fire_at))


def timer_fired(at: datetime, timer_id: int, *, fire_at: datetime) -> HistoryEvent:
    return _event(EventType.TIMER_FIRED, at, TimerId=timer_id, FireAt=format_timestamp(fire_at))


def sub_orchestration_created(
    at: datetime, event_id: int, *, name: str, instance_id: str, input_json: str | None
) -> HistoryEvent:
    return _event(
        EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
        at,
        event_id,
        Name=name,
        Version="",
        InstanceId=instance_id,
        Input=input_json,
    )


def sub_orchestration_completed(at: datetime, scheduled_id: int, *, result_json: str | None) -> HistoryEvent:
    return _event(
        EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED, at, TaskScheduledId=scheduled_id, Result=result_json
    )


def sub_orchestration_failed(at: datetime, scheduled_id: int, *, reason: str, details: str) -> HistoryEvent:
    return _event(
        EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
        at,
        TaskScheduledId=scheduled_id,
        Reason=reason,
        Details=details,
    )


def event_raised(at: datetime, *, name: str, input_json: str) -> HistoryEvent:
    return _event(EventType.EVENT_RAISED, at, Name=name, Input=input_json)
