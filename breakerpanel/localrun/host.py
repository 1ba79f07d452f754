"""LocalDurableHost: plays the Durable extension's part around a DFApp's registered functions, offline.

Dev/test tool. Every orchestrator step calls the function `@app.orchestration_trigger` registered —
the SDK's own replay engine — with the full history so far (past events IsPlayed=true, this episode's
events IsPlayed=false), reads back the actions it returns and does what the extension would: write
TaskScheduled / TimerCreated / SubOrchestrationInstanceCreated with the sequence ids the SDK expects,
run activities in-process, fire durable timers on a virtual clock, deliver raised events, and record
completions as new history for the next replay.

Sequence ids: the SDK numbers each yielded call in order, and a -WithRetry call takes one id for every
retry timer and every new attempt at the moment the failure (or the timer) is replayed. The host
delivers such retry events alone in their episode so it can mirror that numbering exactly.
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

from azure.durable_functions.models.utils.df_serialization import df_dumps
from azure.functions import FunctionRegister

from . import history as h
from .errors import (
    InstanceNotFoundError,
    InstanceNotRunningError,
    LocalRunError,
    NonDeterministicOrchestrationError,
    RunLimitError,
    UnsupportedActionError,
)
from .functions import (
    FunctionIndex,
    RegisteredFunction,
    invoke_activity,
    invoke_orchestrator,
)
from .model import ActivityExecution, ReplayMetrics, Step

# What the extension sends in the context (OrchestrationTriggerAttributeBindingProvider): schema V2 in
# `upperSchemaVersion` for old SDKs, V3 in `upperSchemaVersionNew`, and the Azure Storage provider's
# timer limits, above which the SDK splits a timer into a chain of shorter ones.
_UPPER_SCHEMA_VERSION = 1
_UPPER_SCHEMA_VERSION_NEW = 2
_MAXIMUM_SHORT_TIMER_DURATION = "6.00:00:00"
_LONG_RUNNING_TIMER_INTERVAL = "3.00:00:00"
_HTTP_ASYNC_SLEEP_MS = 30000

DEFAULT_MAX_EPISODES = 100_000

RUNNING = "Running"
PENDING = "Pending"
COMPLETED = "Completed"
FAILED = "Failed"
TERMINATED = "Terminated"
CONTINUED_AS_NEW = "ContinuedAsNew"
_TERMINAL = frozenset({COMPLETED, FAILED, TERMINATED})


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


_COMPOUND = frozenset({ActionType.WHEN_ANY, ActionType.WHEN_ALL})


@dataclass
class _RetryTrack:
    """A -WithRetry call in flight: the policy the SDK sent and the attempt the host is on."""

    kind: ActionType
    name: str
    input_json: str | None
    child_instance_id: str | None
    first_interval: timedelta
    backoff_coefficient: float
    max_attempts: int
    attempt: int = 1

    def delay(self) -> timedelta:
        return self.first_interval * (self.backoff_coefficient ** (self.attempt - 1))


@dataclass
class _Timer:
    fire_at: datetime
    canceled: bool = False


@dataclass(frozen=True)
class _ActivityWork:
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input_json: str | None


@dataclass
class _Instance:
    instance_id: str
    orchestrator: RegisteredFunction
    created: datetime
    parent_instance_id: str | None
    parent_task_id: int | None
    context_input: Any = None
    execution_id: str = ""
    history: list[h.HistoryEvent] = field(default_factory=list)
    played_json: list[str] = field(default_factory=list)
    inbox: list[h.HistoryEvent] = field(default_factory=list)
    runtime_status: str = PENDING
    output: Any = None
    custom_status: Any = None
    last_updated: datetime | None = None
    next_event_id: int = 0
    recorded: list[tuple[int, str | None]] = field(default_factory=list)
    recorded_ids: list[int | None] = field(default_factory=list)
    timers: dict[int, _Timer] = field(default_factory=dict)
    retries: dict[int, _RetryTrack] = field(default_factory=dict)
    metrics: ReplayMetrics = field(default_factory=ReplayMetrics)

    @property
    def name(self) -> str:
        return self.orchestrator.name

    @property
    def done(self) -> bool:
        return self.runtime_status in _TERMINAL

    def allocate_id(self) -> int:
        event_id = self.next_event_id
        self.next_event_id += 1
        return event_id


class _OrchestrationFailure(Exception):
    """The extension itself fails the instance (e.g. a call to a function that does not exist)."""


@dataclass(frozen=True)
class _CrashPlan:
    activity_name: str | None
    instance_id: str | None


class LocalDurableHost:
    """Runs a DFApp's orchestrations offline through the SDK's real replay engine (dev/test tool).

    Time is virtual: `now` starts at `start_time` and only moves when a durable timer fires or
    `advance_time` is called, so a one-hour timer costs no wall time.
    """

    def __init__(
        self,
        app: FunctionRegister,
        *,
        start_time: datetime | None = None,
        on_step: Callable[[Step], None] | None = None,
    ) -> None:
        self._functions = FunctionIndex(app)
        start = start_time or datetime.now(UTC).replace(microsecond=0)
        if start.tzinfo is None:
            raise LocalRunError("start_time must be timezone-aware (UTC), e.g. datetime(2025, 1, 1, tzinfo=UTC)")
        self._now = start.astimezone(UTC)
        self._on_step = on_step
        self._instances: dict[str, _Instance] = {}
        self._activity_queue: deque[_ActivityWork] = deque()
        self._crash_plans: list[_CrashPlan] = []
        self._activity_log: list[ActivityExecution] = []

    # ----------------------------------------------------------------------------------- client API

    @property
    def now(self) -> datetime:
        """The virtual clock (UTC)."""
        return self._now

    @property
    def activity_executions(self) -> list[ActivityExecution]:
        """Every in-process activity run so far, in order (redelivered runs included)."""
        return list(self._activity_log)

    def start(self, orchestrator_name: str, client_input: Any = None, *, instance_id: str | None = None) -> str:
        """Schedule a new instance, as `DurableOrchestrationClient.start_new` does; returns its id.

        Nothing runs until `run_until_idle` or `advance_time`.
        """
        orchestrator = self._functions.orchestrator(orchestrator_name)
        instance_id = instance_id or uuid.uuid4().hex
        existing = self._instances.get(instance_id)
        if existing is not None and not existing.done:
            raise LocalRunError(
                f"instance {instance_id!r} is already {existing.runtime_status}; wait for it to finish, "
                f"terminate it, or start with another instance_id"
            )
        # start_new sends df_dumps(input) as the JSON request body, so the instance input is that JSON
        # text and the orchestrator's get_input() decodes it.
        payload = None if client_input is None else df_dumps(client_input)
        self._create_instance(orchestrator, instance_id, payload, parent=None)
        return instance_id

    def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None:
        """Queue an external event for the instance; it is delivered at the next step."""
        if not event_name:
            raise LocalRunError("event_name must be a non-empty string, e.g. 'approval'")
        instance = self._running_instance(instance_id)
        payload = json.dumps(event_data, separators=(",", ":"), ensure_ascii=False)
        instance.inbox.append(h.event_raised(self._now, name=event_name, input_json=payload))

    def terminate(self, instance_id: str, reason: str) -> None:
        """Terminate a pending or running instance; its status output becomes the reason."""
        instance = self._running_instance(instance_id)
        instance.history.append(h.execution_terminated(self._now, reason_json=json.dumps(reason)))
        self._finish(instance, TERMINATED, output=reason, failure_details=reason)

    def status(self, instance_id: str, *, show_history: bool = False) -> dict[str, Any]:
        """The instance status shaped like the Durable HTTP status response."""
        instance = self._instance(instance_id)
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

    def statuses(self) -> list[dict[str, Any]]:
        """Every instance's status (sub-orchestrations included), as a task hub query lists them."""
        return [self.status(instance_id) for instance_id in self._instances]

    def metrics(self, instance_id: str | None = None) -> ReplayMetrics:
        """Replay cost of one instance (all its executions), or of every instance when no id is given."""
        if instance_id is not None:
            return self._instance(instance_id).metrics
        total = ReplayMetrics()
        for instance in self._instances.values():
            total = total + instance.metrics
        return total

    def crash_after_next_activity(self, activity_name: str | None = None, *, instance_id: str | None = None) -> None:
        """Simulate a host crash after the next matching activity ran but before its result was saved.

        The activity runs, its result is lost, and the queue redelivers the same TaskScheduled, so the
        activity runs a second time with the same input before a result is recorded.
        """
        if activity_name is not None:
            self._functions.activity(activity_name)
        self._crash_plans.append(_CrashPlan(activity_name, instance_id))

    def run_until_idle(
        self,
        instance_id: str | None = None,
        *,
        timer_horizon: timedelta | None = None,
        max_episodes: int = DEFAULT_MAX_EPISODES,
    ) -> dict[str, Any] | None:
        """Run every instance in this host until nothing can progress without outside help.

        Returns the status of `instance_id` when given.

        Durable timers fire by jumping the virtual clock. With `timer_horizon` only timers due within
        that span of virtual time fire; later ones stay pending (use it to stop an orchestration that
        waits on "event or timeout" before its timeout, so the test can raise the event).
        Timers the orchestration canceled never move the clock on their own.
        """
        limit = None if timer_horizon is None else self._now + timer_horizon
        self._drive(limit, include_canceled=False, max_episodes=max_episodes)
        return None if instance_id is None else self.status(instance_id)

    def advance_time(self, seconds: float | timedelta, *, max_episodes: int = DEFAULT_MAX_EPISODES) -> None:
        """Let `seconds` of virtual time pass: every timer due in that span fires, in order."""
        span = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        if span < timedelta(0):
            raise LocalRunError(f"advance_time needs a non-negative span, got {span}")
        target = self._now + span
        self._drive(target, include_canceled=True, max_episodes=max_episodes)
        self._now = max(self._now, target)

    # ------------------------------------------------------------------------------------- the loop

    def _drive(self, limit: datetime | None, *, include_canceled: bool, max_episodes: int) -> None:
        episodes = 0
        while True:
            if self._activity_queue:
                for _ in range(len(self._activity_queue)):
                    self._run_activity(self._activity_queue.popleft())
                continue
            ready = [i for i in self._instances.values() if i.inbox and not i.done]
            if ready:
                for instance in ready:
                    if instance.done or not instance.inbox:
                        continue
                    episodes += 1
                    if episodes > max_episodes:
                        raise RunLimitError(
                            f"still running after {max_episodes} orchestrator invocations (instance "
                            f"{instance.instance_id!r} of {instance.name!r}); pass timer_horizon= to stop "
                            f"at a virtual time, or a larger max_episodes"
                        )
                    self._run_episode(instance)
                continue
            due = self._next_timer(limit, include_canceled)
            if due is None:
                return
            self._now = max(self._now, due)
            self._fire_due_timers()

    def _next_timer(self, limit: datetime | None, include_canceled: bool) -> datetime | None:
        candidates = [
            timer.fire_at
            for instance in self._instances.values()
            if not instance.done
            for timer in instance.timers.values()
            if include_canceled or not timer.canceled
        ]
        if not candidates:
            return None
        earliest = min(candidates)
        return earliest if limit is None or earliest <= limit else None

    def _fire_due_timers(self) -> None:
        for instance in self._instances.values():
            if instance.done:
                continue
            due = sorted(
                (timer.fire_at, timer_id) for timer_id, timer in instance.timers.items() if timer.fire_at <= self._now
            )
            for fire_at, timer_id in due:
                del instance.timers[timer_id]
                instance.inbox.append(h.timer_fired(fire_at, timer_id, fire_at=fire_at))
                instance.metrics = _bump(instance.metrics, timers_fired=1)

    # ---------------------------------------------------------------------------------- an episode

    def _run_episode(self, instance: _Instance) -> None:
        batch = self._take_batch(instance)
        for event in instance.history[len(instance.played_json) :]:
            event["IsPlayed"] = True
            instance.played_json.append(json.dumps(event))
        new_events = [h.orchestrator_started(self._now), *batch]
        instance.history.extend(new_events)
        if instance.runtime_status == PENDING:
            instance.runtime_status = RUNNING

        invocation = invoke_orchestrator(instance.orchestrator, self._context_json(instance, new_events))
        instance.metrics = _bump(
            instance.metrics,
            orchestrator_invocations=1,
            history_events_replayed=len(instance.history),
            orchestrator_cpu_seconds=invocation.cpu_seconds,
            max_history_length=len(instance.history),
        )
        state = invocation.state
        if state.get("customStatus") is not None:
            instance.custom_status = state["customStatus"]
        actions = _flatten(_action_list(state, instance))
        self._check_determinism(instance, actions)
        error = state.get("error")
        try:
            if error:
                raise _OrchestrationFailure(str(error))
            self._apply_retry_consequences(instance, batch)
            self._schedule_new_actions(instance, actions)
        except _OrchestrationFailure as failure:
            message = f"Orchestrator function '{instance.name}' failed: {failure}"
            self._complete_failed(instance, message)
            return

        if state.get("isDone"):
            continue_as_new = next(
                (a for a in actions if a.get("actionType") == ActionType.CONTINUE_AS_NEW), None
            )
            if continue_as_new is not None:
                self._continue_as_new(instance, continue_as_new.get("input"))
                return
            output = state.get("output")
            instance.history.append(
                h.execution_completed(self._now, status=h.STATUS_COMPLETED, result=_to_json_text(output))
            )
            self._finish(instance, COMPLETED, output=output)
            return
        instance.history.append(h.orchestrator_completed(self._now))
        instance.last_updated = self._now
        self._notify_step(instance)

    def _take_batch(self, instance: _Instance) -> list[h.HistoryEvent]:
        # A retry failure or retry timer makes the SDK allocate a sequence id while replaying that very
        # event; delivering it alone keeps the host's numbering identical to the SDK's.
        inbox = instance.inbox
        if self._is_retry_event(instance, inbox[0]):
            count = 1
        else:
            count = next(
                (i for i, event in enumerate(inbox) if self._is_retry_event(instance, event)), len(inbox)
            )
        batch = inbox[:count]
        del inbox[:count]
        return batch

    @staticmethod
    def _is_retry_event(instance: _Instance, event: h.HistoryEvent) -> bool:
        event_type = event["EventType"]
        if event_type in (h.EventType.TASK_FAILED, h.EventType.SUB_ORCHESTRATION_INSTANCE_FAILED):
            return event["TaskScheduledId"] in instance.retries
        if event_type == h.EventType.TIMER_FIRED:
            return event["TimerId"] in instance.retries
        return False

    def _context_json(self, instance: _Instance, new_events: list[h.HistoryEvent]) -> str:
        # Played events are serialized once and reused: the naive-history bench would otherwise spend
        # its time in this host instead of in the replay it measures.
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

    def _check_determinism(self, instance: _Instance, actions: list[dict[str, Any]]) -> None:
        replayed = [_signature(action) for action in actions]
        for position, expected in enumerate(instance.recorded):
            got = replayed[position] if position < len(replayed) else None
            if got == expected:
                continue
            event_id = instance.recorded_ids[position]
            where = f"action #{position + 1}" + (f" (history event id {event_id})" if event_id is not None else "")
            replay_part = (
                f"the replay scheduled {_describe(got)} instead"
                if got is not None
                else "the replay no longer schedules it"
            )
            message = (
                f"Non-Deterministic workflow detected: orchestrator '{instance.name}' (instance "
                f"'{instance.instance_id}') recorded {_describe(expected)} as {where}, but {replay_part}. "
                f"Orchestrators must make the same calls in the same order on every replay: move I/O, "
                f"randomness and clock reads into activities or use context.current_utc_datetime / "
                f"context.new_uuid()."
            )
            self._complete_failed(instance, message)
            raise NonDeterministicOrchestrationError(message)

    def _schedule_new_actions(self, instance: _Instance, actions: list[dict[str, Any]]) -> None:
        for position, action in enumerate(actions):
            if position < len(instance.recorded):
                event_id = instance.recorded_ids[position]
                if action.get("actionType") == ActionType.CREATE_TIMER and action.get("isCanceled"):
                    timer = instance.timers.get(event_id) if event_id is not None else None
                    if timer is not None:
                        timer.canceled = True
                continue
            event_id = self._schedule(instance, action)
            instance.recorded.append(_signature(action))
            instance.recorded_ids.append(event_id)

    def _schedule(self, instance: _Instance, action: dict[str, Any]) -> int | None:
        action_type = ActionType(action["actionType"])
        if action_type in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY):
            name = action["functionName"]
            if name not in self._functions.activities:
                raise _OrchestrationFailure(_missing_function(name, "activity", self._functions.activities))
            event_id = self._schedule_activity(instance, name, action.get("input"))
            if action_type == ActionType.CALL_ACTIVITY_WITH_RETRY:
                instance.retries[event_id] = _retry_track(action_type, action, child_instance_id=None)
            return event_id
        if action_type in (ActionType.CALL_SUB_ORCHESTRATOR, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
            name = action["functionName"]
            if name not in self._functions.orchestrators:
                raise _OrchestrationFailure(_missing_function(name, "orchestrator", self._functions.orchestrators))
            explicit_id = action.get("instanceId")
            event_id = self._schedule_sub_orchestration(instance, name, action.get("input"), explicit_id)
            if action_type == ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY:
                instance.retries[event_id] = _retry_track(action_type, action, child_instance_id=explicit_id)
            return event_id
        if action_type == ActionType.CREATE_TIMER:
            event_id = instance.allocate_id()
            fire_at = h.parse_timestamp(action["fireAt"])
            instance.history.append(h.timer_created(self._now, event_id, fire_at=fire_at))
            instance.timers[event_id] = _Timer(fire_at, canceled=bool(action.get("isCanceled")))
            return event_id
        if action_type in (ActionType.WAIT_FOR_EXTERNAL_EVENT, ActionType.CONTINUE_AS_NEW) or action_type in _COMPOUND:
            return None
        raise UnsupportedActionError(
            f"orchestrator '{instance.name}' used {action_type.name} ({action}); the local Durable host drives "
            f"activities, sub-orchestrations, timers, external events and continue_as_new only"
        )

    def _schedule_activity(self, instance: _Instance, name: str, input_json: str | None) -> int:
        event_id = instance.allocate_id()
        instance.history.append(h.task_scheduled(self._now, event_id, name=name, input_json=input_json))
        self._activity_queue.append(
            _ActivityWork(instance.instance_id, instance.execution_id, event_id, name, input_json)
        )
        return event_id

    def _schedule_sub_orchestration(
        self, instance: _Instance, name: str, input_json: str | None, explicit_id: str | None
    ) -> int:
        event_id = instance.allocate_id()
        child_id = explicit_id or f"{instance.instance_id}:{event_id:04d}"
        existing = self._instances.get(child_id)
        if existing is not None and not existing.done:
            raise _OrchestrationFailure(
                f"sub-orchestration instance '{child_id}' already exists and is {existing.runtime_status}"
            )
        instance.history.append(
            h.sub_orchestration_created(self._now, event_id, name=name, instance_id=child_id, input_json=input_json)
        )
        self._create_instance(
            self._functions.orchestrator(name), child_id, input_json, parent=(instance.instance_id, event_id)
        )
        return event_id

    def _apply_retry_consequences(self, instance: _Instance, batch: list[h.HistoryEvent]) -> None:
        for event in batch:
            event_type = event["EventType"]
            if event_type in (h.EventType.TASK_FAILED, h.EventType.SUB_ORCHESTRATION_INSTANCE_FAILED):
                track = instance.retries.pop(event["TaskScheduledId"], None)
                if track is None:
                    continue
                # The SDK (like DTFx's retry interceptor) waits on a timer after every failed attempt,
                # the last one included, and only then reports the failure.
                timer_id = instance.allocate_id()
                fire_at = self._now + track.delay()
                instance.history.append(h.timer_created(self._now, timer_id, fire_at=fire_at))
                instance.timers[timer_id] = _Timer(fire_at)
                instance.retries[timer_id] = track
            elif event_type == h.EventType.TIMER_FIRED:
                track = instance.retries.pop(event["TimerId"], None)
                if track is None or track.attempt >= track.max_attempts:
                    continue
                track.attempt += 1
                if track.kind == ActionType.CALL_ACTIVITY_WITH_RETRY:
                    event_id = self._schedule_activity(instance, track.name, track.input_json)
                else:
                    event_id = self._schedule_sub_orchestration(
                        instance, track.name, track.input_json, track.child_instance_id
                    )
                instance.retries[event_id] = track
            elif event_type in (h.EventType.TASK_COMPLETED, h.EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED):
                instance.retries.pop(event["TaskScheduledId"], None)

    # -------------------------------------------------------------------------------- activities

    def _run_activity(self, work: _ActivityWork) -> None:
        instance = self._instances[work.instance_id]
        if instance.done or instance.execution_id != work.execution_id:
            return  # the extension drops results for an execution that ended
        function = self._functions.activity(work.name)
        delivery = 1
        plan = self._matching_crash_plan(work)
        if plan is not None:
            self._crash_plans.remove(plan)
            lost = invoke_activity(function, work.input_json)
            self._log_activity(work, lost, delivery=delivery, recorded=False)
            delivery += 1
        outcome = invoke_activity(function, work.input_json)
        self._log_activity(work, outcome, delivery=delivery, recorded=True)
        instance.metrics = _bump(instance.metrics, activity_executions=delivery)
        if outcome.failed:
            event = h.task_failed(
                self._now,
                work.task_id,
                reason=outcome.failure_reason or "",
                details=outcome.failure_details or "",
            )
        else:
            event = h.task_completed(self._now, work.task_id, result_json=outcome.result_json)
        instance.inbox.append(event)

    def _matching_crash_plan(self, work: _ActivityWork) -> _CrashPlan | None:
        for plan in self._crash_plans:
            if plan.activity_name not in (None, work.name):
                continue
            if plan.instance_id not in (None, work.instance_id):
                continue
            return plan
        return None

    def _log_activity(self, work: _ActivityWork, outcome: Any, *, delivery: int, recorded: bool) -> None:
        self._activity_log.append(
            ActivityExecution(
                instance_id=work.instance_id,
                task_scheduled_id=work.task_id,
                name=work.name,
                input_json=work.input_json,
                delivery=delivery,
                recorded=recorded,
                failed=outcome.failed,
                error=outcome.failure_reason,
                virtual_time=self._now,
            )
        )

    # ------------------------------------------------------------------------ instance lifecycle

    def _create_instance(
        self,
        orchestrator: RegisteredFunction,
        instance_id: str,
        payload_json: str | None,
        *,
        parent: tuple[str, int] | None,
    ) -> None:
        instance = _Instance(
            instance_id=instance_id,
            orchestrator=orchestrator,
            created=self._now,
            parent_instance_id=parent[0] if parent else None,
            parent_task_id=parent[1] if parent else None,
        )
        self._instances[instance_id] = instance
        self._begin_execution(instance, payload_json)

    def _begin_execution(self, instance: _Instance, payload_json: str | None) -> None:
        # The extension passes the input as the parsed JSON value of the stored input; the SDK sent
        # df_dumps(...) text, so that value is the text itself and get_input() decodes it.
        instance.context_input = payload_json
        instance.execution_id = uuid.uuid4().hex
        instance.history = []
        instance.played_json = []
        instance.next_event_id = 0
        instance.recorded = []
        instance.recorded_ids = []
        instance.timers = {}
        instance.retries = {}
        instance.inbox = [
            h.execution_started(
                self._now,
                name=instance.name,
                instance_id=instance.instance_id,
                execution_id=instance.execution_id,
                raw_input=None if payload_json is None else json.dumps(payload_json),
                parent_instance_id=instance.parent_instance_id,
            )
        ]

    def _continue_as_new(self, instance: _Instance, payload_json: str | None) -> None:
        instance.metrics = _bump(instance.metrics, continue_as_new_count=1)
        instance.runtime_status = CONTINUED_AS_NEW
        instance.last_updated = self._now
        self._notify_step(instance)
        # Events not yet delivered are dropped, as ContinueAsNew without preserveUnprocessedEvents does.
        self._begin_execution(instance, payload_json)
        instance.runtime_status = RUNNING

    def _complete_failed(self, instance: _Instance, message: str) -> None:
        instance.history.append(h.execution_completed(self._now, status=h.STATUS_FAILED, result=json.dumps(message)))
        self._finish(instance, FAILED, output=message, failure_details=message)

    def _finish(self, instance: _Instance, status: str, *, output: Any, failure_details: str | None = None) -> None:
        instance.runtime_status = status
        instance.output = output
        instance.last_updated = self._now
        instance.timers.clear()
        instance.retries.clear()
        instance.inbox.clear()
        self._notify_step(instance)
        if instance.parent_instance_id is None or instance.parent_task_id is None:
            return
        parent = self._instances.get(instance.parent_instance_id)
        if parent is None or parent.done:
            return
        if status == COMPLETED:
            parent.inbox.append(
                h.sub_orchestration_completed(self._now, instance.parent_task_id, result_json=_to_json_text(output))
            )
        else:
            parent.inbox.append(
                h.sub_orchestration_failed(
                    self._now,
                    instance.parent_task_id,
                    reason=str(output),
                    details=json.dumps({"Message": failure_details or str(output)}),
                )
            )

    def _notify_step(self, instance: _Instance) -> None:
        if self._on_step is None:
            return
        self._on_step(
            Step(
                instance_id=instance.instance_id,
                name=instance.name,
                runtime_status=instance.runtime_status,
                custom_status=instance.custom_status,
                virtual_elapsed=self._now - instance.created,
                invocation=instance.metrics.orchestrator_invocations,
            )
        )

    def _instance(self, instance_id: str) -> _Instance:
        try:
            return self._instances[instance_id]
        except KeyError:
            raise InstanceNotFoundError(
                f"no instance {instance_id!r} in this host; use the id start() returned"
            ) from None

    def _running_instance(self, instance_id: str) -> _Instance:
        instance = self._instance(instance_id)
        if instance.done:
            raise InstanceNotRunningError(
                f"instance {instance_id!r} is {instance.runtime_status}; the Durable HTTP API answers "
                f"410 Gone for events and terminations sent to a finished instance"
            )
        return instance


# ------------------------------------------------------------------------------------------ helpers


def _action_list(state: dict[str, Any], instance: _Instance) -> list[dict[str, Any]]:
    actions = state.get("actions") or [[]]
    if state.get("schemaVersion", 0) < 1 or len(actions) != 1:
        # The host sends upperSchemaVersion(New); an SDK answering in the V1 shape means a mismatch.
        raise LocalRunError(
            f"orchestrator '{instance.name}' answered with replay schema {state.get('schemaVersion', 0)} and "
            f"{len(actions)} action groups; this host speaks schema V2/V3 (azure-functions-durable >= 1.2)"
        )
    return list(actions[0])


def _flatten(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []
    for action in actions:
        flat.append(action)
        if action.get("actionType") in _COMPOUND:
            flat.extend(_flatten(action.get("compoundActions") or []))
    return flat


def _signature(action: dict[str, Any]) -> tuple[int, str | None]:
    return (int(action["actionType"]), action.get("functionName") or action.get("externalEventName"))


def _describe(signature: tuple[int, str | None] | None) -> str:
    if signature is None:
        return "nothing"
    action_type, name = signature
    label = ActionType(action_type).name
    return f"{label}({name!r})" if name else label


def _retry_track(kind: ActionType, action: dict[str, Any], *, child_instance_id: str | None) -> _RetryTrack:
    options = action.get("retryOptions") or {}
    first_ms = options.get("firstRetryIntervalInMilliseconds")
    max_attempts = options.get("maxNumberOfAttempts")
    if not isinstance(first_ms, int | float) or not isinstance(max_attempts, int):
        raise _OrchestrationFailure(
            f"retryOptions of {action.get('functionName')!r} need firstRetryIntervalInMilliseconds and "
            f"maxNumberOfAttempts, got {options}"
        )
    # The Python RetryOptions sends neither a backoff coefficient nor a max interval; the extension then
    # uses its defaults (coefficient 1: every retry waits the first interval).
    return _RetryTrack(
        kind=kind,
        name=action["functionName"],
        input_json=action.get("input"),
        child_instance_id=child_instance_id,
        first_interval=timedelta(milliseconds=first_ms),
        backoff_coefficient=float(options.get("backoffCoefficient", 1.0)),
        max_attempts=max_attempts,
    )


def _missing_function(name: str, kind: str, registered: Mapping[str, RegisteredFunction]) -> str:
    known = ", ".join(sorted(registered)) or "none"
    return (
        f"The function '{name}' doesn't exist, is disabled, or is not an {kind} function. "
        f"Registered {kind} functions: {known}."
    )


def _to_json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _http_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bump(metrics: ReplayMetrics, **changes: float) -> ReplayMetrics:
    return ReplayMetrics(
        orchestrator_invocations=metrics.orchestrator_invocations + int(changes.get("orchestrator_invocations", 0)),
        history_events_replayed=metrics.history_events_replayed + int(changes.get("history_events_replayed", 0)),
        orchestrator_cpu_seconds=metrics.orchestrator_cpu_seconds + changes.get("orchestrator_cpu_seconds", 0.0),
        max_history_length=max(metrics.max_history_length, int(changes.get("max_history_length", 0))),
        activity_executions=metrics.activity_executions + int(changes.get("activity_executions", 0)),
        timers_fired=metrics.timers_fired + int(changes.get("timers_fired", 0)),
        continue_as_new_count=metrics.continue_as_new_count + int(changes.get("continue_as_new_count", 0)),
    )
