"""What the host keeps per orchestration instance, and the Durable HTTP status it answers with."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import history as h
from .actions import Signature
from .functions import RegisteredFunction
from .model import ReplayMetrics

RUNNING = "Running"
PENDING = "Pending"
COMPLETED = "Completed"
FAILED = "Failed"
TERMINATED = "Terminated"
CONTINUED_AS_NEW = "ContinuedAsNew"
TERMINAL = frozenset({COMPLETED, FAILED, TERMINATED})


@dataclass
class Timer:
    fire_at: datetime
    canceled: bool = False


@dataclass
class Instance:
    instance_id: str
    orchestrator: RegisteredFunction
    created: datetime
    parent_instance_id: str | None
    parent_task_id: int | None
    context_input: Any = None
    execution_id: str = ""
    history: list[h.HistoryEvent] = field(default_factory=list)
    # The JSON of every event already replayed once, serialized once: the replay bench would otherwise
    # measure this host's json.dumps instead of the SDK's replay.
    played_json: list[str] = field(default_factory=list)
    inbox: list[h.HistoryEvent] = field(default_factory=list)
    runtime_status: str = PENDING
    output: Any = None
    custom_status: Any = None
    last_updated: datetime | None = None
    next_event_id: int = 0
    # The actions recorded so far and the history event id each was given, to hold every replay to them.
    recorded: list[Signature] = field(default_factory=list)
    recorded_ids: list[int | None] = field(default_factory=list)
    timers: dict[int, Timer] = field(default_factory=dict)
    # Activities and sub-orchestrations scheduled whose completion has not been delivered yet (by event id).
    awaiting: set[int] = field(default_factory=set)
    metrics: ReplayMetrics = field(default_factory=ReplayMetrics)

    @property
    def name(self) -> str:
        return self.orchestrator.name

    @property
    def done(self) -> bool:
        return self.runtime_status in TERMINAL

    def allocate_id(self) -> int:
        event_id = self.next_event_id
        self.next_event_id += 1
        return event_id

    def begin_execution(self, payload_json: str | None, execution_id: str, at: datetime) -> None:
        """A fresh execution (the first, or after continue-as-new): empty history, ExecutionStarted waiting."""
        # The extension passes the input as the parsed JSON value of the stored input; the SDK sent
        # df_dumps(...) text, so that value is the text itself and get_input() decodes it.
        self.context_input = payload_json
        self.execution_id = execution_id
        self.history = []
        self.played_json = []
        self.next_event_id = 0
        self.recorded = []
        self.recorded_ids = []
        self.timers = {}
        self.awaiting = set()
        self.inbox = [
            h.execution_started(
                at,
                name=self.name,
                instance_id=self.instance_id,
                execution_id=execution_id,
                raw_input=None if payload_json is None else json.dumps(payload_json),
                parent_instance_id=self.parent_instance_id,
            )
        ]

    def bump(self, **changes: Any) -> None:
        self.metrics = self.metrics + ReplayMetrics(**changes)


def status_of(instance: Instance, *, show_history: bool = False) -> dict[str, Any]:
    """The instance status shaped like the Durable HTTP status response."""
    result: dict[str, Any] = {
        "name": instance.name,
        "instanceId": instance.instance_id,
        "runtimeStatus": instance.runtime_status,
        "input": instance.context_input,
        "customStatus": instance.custom_status,
        "output": instance.output,
        "createdTime": _http_time(instance.created),
        "lastUpdatedTime": _http_time(instance.last_updated or instance.created),
    }
    if show_history:
        result["historyEvents"] = [dict(event) for event in instance.history]
    return result


def to_json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _http_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
