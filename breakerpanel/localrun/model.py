"""Plain records the local Durable host hands back: progress steps, replay metrics, activity runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Step:
    """Passed to `on_step` after every orchestrator invocation (one replay episode)."""

    instance_id: str
    name: str
    runtime_status: str
    custom_status: Any
    virtual_elapsed: timedelta  # the host's clock since the instance was created (simulated, or wall time)
    invocation: int  # 1-based count of this instance's orchestrator invocations


@dataclass(frozen=True)
class ReplayMetrics:
    """What replaying cost. `history_events_replayed` sums len(history) over every invocation."""

    orchestrator_invocations: int = 0
    history_events_replayed: int = 0
    orchestrator_cpu_seconds: float = 0.0
    max_history_length: int = 0
    activity_executions: int = 0
    timers_fired: int = 0
    continue_as_new_count: int = 0

    def __add__(self, other: ReplayMetrics) -> ReplayMetrics:
        return ReplayMetrics(
            orchestrator_invocations=self.orchestrator_invocations + other.orchestrator_invocations,
            history_events_replayed=self.history_events_replayed + other.history_events_replayed,
            orchestrator_cpu_seconds=self.orchestrator_cpu_seconds + other.orchestrator_cpu_seconds,
            max_history_length=max(self.max_history_length, other.max_history_length),
            activity_executions=self.activity_executions + other.activity_executions,
            timers_fired=self.timers_fired + other.timers_fired,
            continue_as_new_count=self.continue_as_new_count + other.continue_as_new_count,
        )


@dataclass(frozen=True)
class ActivityExecution:
    """One in-process run of an activity. `recorded` is False when a simulated crash lost its result."""

    instance_id: str
    task_scheduled_id: int
    name: str
    input_json: str | None
    delivery: int  # 1 for the first delivery of this TaskScheduled, 2 after a redelivery
    recorded: bool
    failed: bool
    error: str | None
    virtual_time: datetime  # the host's clock when it ran (simulated, or wall time)
