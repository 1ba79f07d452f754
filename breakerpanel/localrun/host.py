"""LocalDurableHost: plays the Durable extension's part around a DFApp's registered functions (dev/test tool).

Every orchestrator step calls the function `@app.orchestration_trigger` registered — the SDK's own replay
engine — with the full history so far (past events IsPlayed=true, this episode's events IsPlayed=false), reads
back the actions it returns and does what the extension would: write TaskScheduled / TimerCreated /
SubOrchestrationInstanceCreated with the sequence ids the SDK expects, run activities in-process, fire durable
timers when their clock reaches them, deliver raised events, and record completions as new history for the
next replay.

The pieces: clock.py (simulated or wall time), actions.py (reading the replay's answer), replay.py (the
context sent and the determinism check), activities.py (running activities), instances.py (per-instance
bookkeeping and the status shape).
"""

from __future__ import annotations

import json
import threading
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.durable_functions.models.utils.df_serialization import df_dumps
from azure.functions import FunctionRegister

from breakerpanel.core.status_budget import refusal as custom_status_refusal

from . import history as h
from .actions import COMPOUND, ActionType, action_list, signature, unsupported
from .activities import ActivityRunner, ActivityWork
from .clock import Clock, SimulatedClock, WallClock
from .errors import (
    InstanceAlreadyRunningError,
    InstanceNotFoundError,
    InstanceNotRunningError,
    InvalidInstanceIdError,
    LocalRunError,
    NonDeterministicOrchestrationError,
    RunLimitError,
    UnsupportedActionError,
)
from .functions import FunctionIndex, RegisteredFunction, invoke_orchestrator
from .instances import (
    COMPLETED,
    CONTINUED_AS_NEW,
    FAILED,
    PENDING,
    RUNNING,
    TERMINATED,
    Instance,
    Timer,
    status_of,
    to_json_text,
)
from .model import ActivityExecution, ReplayMetrics, Step
from .replay import context_json, nondeterminism

DEFAULT_MAX_EPISODES = 100_000
_COMPLETIONS = frozenset({
    h.EventType.TASK_COMPLETED,
    h.EventType.TASK_FAILED,
    h.EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
    h.EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
})
# DurableClient.StartNewAsync (Microsoft.Azure.WebJobs.Extensions.DurableTask): MaxInstanceIdLength = 256.
MAX_INSTANCE_ID_LENGTH = 256


def instance_id_refusal(instance_id: str) -> str | None:
    """What the extension's StartNewAsync says of an instance id it refuses (the HTTP API answers 400), else None."""
    if instance_id.startswith("@"):
        return "Orchestration instance ids must not start with @."
    if any(c in "/\\?#" or unicodedata.category(c) == "Cc" for c in instance_id):
        return "Orchestration instance ids must not contain /, \\, #, ?, or control characters."
    if len(instance_id) > MAX_INSTANCE_ID_LENGTH:
        return f"Instance ID lengths must not exceed {MAX_INSTANCE_ID_LENGTH} characters."
    return None


class _OrchestrationFailure(Exception):
    """The extension itself fails the instance (e.g. a call to a function that does not exist)."""


class LocalDurableHost:
    """Runs a DFApp's orchestrations offline through the SDK's real replay engine (dev/test tool).

    Simulated time (the default): `now` starts at `start_time` and only moves when a durable timer fires or
    `advance_time` is called, so a one-hour timer costs no wall time — right for the twin and tests.
    `real_time=True`: `now` is the wall clock and a timer fires when the wall clock reaches it; the host
    sleeps until then, waking early for an event raised (or a termination) from another thread. That is
    what the Durable extension does, and what anything driving real Azure needs.
    """

    def __init__(
        self,
        app: FunctionRegister,
        *,
        start_time: datetime | None = None,
        on_step: Callable[[Step], None] | None = None,
        real_time: bool = False,
    ) -> None:
        self._functions = FunctionIndex(app)
        self._clock: Clock
        if real_time:
            if start_time is not None:
                raise LocalRunError(
                    "start_time is for the simulated clock; a real_time=True host starts at the wall clock's "
                    "now: drop start_time, or drop real_time to replay from a chosen moment"
                )
            self._clock = WallClock()
        else:
            start = start_time or datetime.now(UTC).replace(microsecond=0)
            if start.tzinfo is None:
                raise LocalRunError("start_time must be timezone-aware (UTC), e.g. datetime(2025, 1, 1, tzinfo=UTC)")
            self._clock = SimulatedClock(start.astimezone(UTC))
        self._on_step = on_step
        self._instances: dict[str, Instance] = {}
        self._activities = ActivityRunner(self._functions)
        # Raised events and terminations may come from another thread (the local task hub's HTTP server)
        # while the driver sleeps until a timer; `_poked` keeps one that lands just before the sleep.
        self._wakeup = threading.Condition()
        self._poked = False

    # ----------------------------------------------------------------------------------- client API

    @property
    def now(self) -> datetime:
        """The host's clock (UTC): simulated, or the wall clock with real_time=True."""
        return self._clock.now()

    @property
    def real_time(self) -> bool:
        return self._clock.real_time

    @property
    def seconds_waited(self) -> float:
        """Wall-clock seconds spent waiting for timers (always 0 on the simulated clock)."""
        return self._clock.seconds_waited

    @property
    def activity_executions(self) -> list[ActivityExecution]:
        """Every in-process activity run so far, in order (redelivered runs included)."""
        return self._activities.executions

    def start(self, orchestrator_name: str, client_input: Any = None, *, instance_id: str | None = None) -> str:
        """Schedule a new instance, as `DurableOrchestrationClient.start_new` does; returns its id.

        Nothing runs until `run_until_idle` or `advance_time`.
        """
        orchestrator = self._functions.orchestrator(orchestrator_name)
        if instance_id:
            refused = instance_id_refusal(instance_id)
            if refused is not None:
                raise InvalidInstanceIdError(refused)
        instance_id = instance_id or uuid.uuid4().hex
        existing = self._instances.get(instance_id)
        if existing is not None and not existing.done:
            # DurableTaskOptions.OverridableExistingInstanceStates defaults to NonRunningStates (Running,
            # ContinuedAsNew, Pending, Suspended are deduplicated): OrchestrationAlreadyExistsException.
            raise InstanceAlreadyRunningError(
                f"instance {instance_id!r} is already {existing.runtime_status}; wait for it to finish, "
                f"terminate it, or start with another instance_id"
            )
        # start_new sends df_dumps(input) as the JSON request body, so the instance input is that JSON
        # text and the orchestrator's get_input() decodes it.
        payload = None if client_input is None else df_dumps(client_input)
        self._create_instance(orchestrator, instance_id, payload, parent=None)
        return instance_id

    def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None:
        """Queue an external event for the instance; it is delivered at the next step.

        `event_data` is what the extension stores: an object here is what a raw JSON body to sendEventPostUri
        gives. The Durable Python client's raise_event gives its JSON text instead (LocalTaskHub does that)."""
        if not event_name:
            raise LocalRunError("event_name must be a non-empty string, e.g. 'approval'")
        instance = self._running_instance(instance_id)
        payload = json.dumps(event_data, separators=(",", ":"), ensure_ascii=False)
        instance.inbox.append(h.event_raised(self.now, name=event_name, input_json=payload))
        self._poke()

    def terminate(self, instance_id: str, reason: str) -> None:
        """Terminate a pending or running instance; its status output becomes the reason."""
        instance = self._running_instance(instance_id)
        instance.history.append(h.execution_terminated(self.now, reason_json=json.dumps(reason)))
        self._finish(instance, TERMINATED, output=reason, failure_details=reason)
        self._poke()

    def status(self, instance_id: str, *, show_history: bool = False) -> dict[str, Any]:
        """The instance status shaped like the Durable HTTP status response."""
        return status_of(self._instance(instance_id), show_history=show_history)

    def statuses(self) -> list[dict[str, Any]]:
        """Every instance's status (sub-orchestrations included), as a task hub query lists them."""
        return [self.status(instance_id) for instance_id in list(self._instances)]

    def created_at(self, instance_id: str) -> datetime:
        """When the instance was created, to the microsecond (the status shows whole seconds)."""
        return self._instance(instance_id).created

    def metrics(self, instance_id: str | None = None) -> ReplayMetrics:
        """Replay cost of one instance (all its executions), or of every instance when no id is given."""
        if instance_id is not None:
            return self._instance(instance_id).metrics
        total = ReplayMetrics()
        for instance in list(self._instances.values()):
            total = total + instance.metrics
        return total

    def crash_after_next_activity(self, activity_name: str | None = None, *, instance_id: str | None = None) -> None:
        """Simulate a host crash after the next matching activity ran but before its result was saved.

        The activity runs, its result is lost, and the queue redelivers the same TaskScheduled, so the
        activity runs a second time with the same input before a result is recorded.
        """
        self._activities.plan_crash(activity_name, instance_id)

    def run_until_idle(
        self,
        instance_id: str | None = None,
        *,
        timer_horizon: timedelta | None = None,
        max_episodes: int = DEFAULT_MAX_EPISODES,
    ) -> dict[str, Any] | None:
        """Run every instance in this host until nothing can progress without outside help.

        Returns the status of `instance_id` when given.

        Durable timers fire when the clock reaches them: the simulated clock jumps there, the wall clock is
        waited for. With `timer_horizon` only timers due within that span from now fire; later ones stay
        pending (use it to stop an orchestration that waits on "event or timeout" before its timeout, so the
        caller can raise the event). Timers the orchestration canceled never move the clock on their own.
        """
        limit = None if timer_horizon is None else self.now + timer_horizon
        self._drive(limit, include_canceled=False, max_episodes=max_episodes)
        return None if instance_id is None else self.status(instance_id)

    def advance_time(self, seconds: float | timedelta, *, max_episodes: int = DEFAULT_MAX_EPISODES) -> None:
        """Let `seconds` of simulated time pass: every timer due in that span fires, in order."""
        if not isinstance(self._clock, SimulatedClock):
            raise LocalRunError("advance_time moves the simulated clock; a real_time=True host follows the wall "
                                "clock: use run_until_idle(timer_horizon=...) to wait")
        span = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        if span < timedelta(0):
            raise LocalRunError(f"advance_time needs a non-negative span, got {span}")
        target = self.now + span
        self._drive(target, include_canceled=True, max_episodes=max_episodes)
        self._clock.wait_until(target, self._wakeup)

    # ------------------------------------------------------------------------------------- the loop

    def _drive(self, limit: datetime | None, *, include_canceled: bool, max_episodes: int) -> None:
        episodes = 0
        while True:
            if self._activities.pending:
                for work in self._activities.take_all():
                    self._run_activity(work)
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
                            f"at a later time, or a larger max_episodes"
                        )
                    self._run_episode(instance)
                continue
            due = self._next_timer(limit, include_canceled)
            if due is None:
                return
            with self._wakeup:
                if not self._poked:
                    self._clock.wait_until(due, self._wakeup)
                self._poked = False
            self._fire_due_timers()

    def _poke(self) -> None:
        with self._wakeup:
            self._poked = True
            self._wakeup.notify_all()

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
        now = self.now
        for instance in self._instances.values():
            if instance.done:
                continue
            due = sorted((t.fire_at, timer_id) for timer_id, t in instance.timers.items() if t.fire_at <= now)
            for fire_at, timer_id in due:
                del instance.timers[timer_id]
                instance.inbox.append(h.timer_fired(fire_at, timer_id, fire_at=fire_at))
                instance.bump(timers_fired=1)

    # ---------------------------------------------------------------------------------- an episode

    def _run_episode(self, instance: Instance) -> None:
        batch = list(instance.inbox)
        instance.inbox.clear()
        for event in instance.history[len(instance.played_json) :]:
            event["IsPlayed"] = True
            instance.played_json.append(json.dumps(event))
        for event in batch:
            if event["EventType"] in _COMPLETIONS:
                instance.awaiting.discard(event["TaskScheduledId"])
        new_events = [h.orchestrator_started(self.now), *batch]
        instance.history.extend(new_events)
        if instance.runtime_status == PENDING:
            instance.runtime_status = RUNNING

        invocation = invoke_orchestrator(instance.orchestrator, context_json(instance, new_events))
        instance.bump(
            orchestrator_invocations=1,
            history_events_replayed=len(instance.history),
            orchestrator_cpu_seconds=invocation.cpu_seconds,
            max_history_length=len(instance.history),
        )
        state = invocation.state
        if state.get("customStatus") is not None:
            refused = custom_status_refusal(state["customStatus"])
            if refused is not None:
                # As the Durable extension does: SetCustomStatus throws, and the orchestration fails with it.
                self._complete_failed(instance, f"Orchestrator function '{instance.name}' failed: {refused}")
                return
            instance.custom_status = state["customStatus"]
        actions = action_list(state, instance.name)
        drift = nondeterminism(instance, actions)
        if drift is not None:
            self._complete_failed(instance, drift)
            raise NonDeterministicOrchestrationError(drift)
        error = state.get("error")
        try:
            if error:
                raise _OrchestrationFailure(str(error))
            self._schedule_new_actions(instance, actions)
        except _OrchestrationFailure as failure:
            self._complete_failed(instance, f"Orchestrator function '{instance.name}' failed: {failure}")
            return
        except UnsupportedActionError as refused:
            # Loud on purpose: the instance fails and the caller hears why, instead of a silent hang.
            self._complete_failed(instance, str(refused))
            raise

        if state.get("isDone") and self._has_open_tasks(instance):
            # DurableTask.Core completes (or continues-as-new) an orchestration only when it has no open task
            # (TaskOrchestrationExecutor: `if (!this.context.HasOpenTasks)`): a durable timer neither fired nor
            # cancelled, or an activity or sub-orchestration not awaited, keeps it Running, its output unset,
            # until that task completes and a replay returns again.
            instance.history.append(h.orchestrator_completed(self.now))
            instance.last_updated = self.now
            self._notify_step(instance)
            return
        if state.get("isDone"):
            continue_as_new = next((a for a in actions if a.get("actionType") == ActionType.CONTINUE_AS_NEW), None)
            if continue_as_new is not None:
                self._continue_as_new(instance, continue_as_new.get("input"))
                return
            output = state.get("output")
            instance.history.append(
                h.execution_completed(self.now, status=h.STATUS_COMPLETED, result=to_json_text(output))
            )
            self._finish(instance, COMPLETED, output=output)
            return
        instance.history.append(h.orchestrator_completed(self.now))
        instance.last_updated = self.now
        self._notify_step(instance)

    @staticmethod
    def _has_open_tasks(instance: Instance) -> bool:
        """A durable timer neither fired nor cancelled (the SDK's `cancel()` sets isCanceled), or an activity or
        sub-orchestration whose completion has not arrived."""
        return bool(instance.awaiting) or any(not timer.canceled for timer in instance.timers.values())

    def _schedule_new_actions(self, instance: Instance, actions: list[dict[str, Any]]) -> None:
        for position, action in enumerate(actions):
            if position < len(instance.recorded):
                event_id = instance.recorded_ids[position]
                if action.get("actionType") == ActionType.CREATE_TIMER and action.get("isCanceled"):
                    timer = instance.timers.get(event_id) if event_id is not None else None
                    if timer is not None:
                        timer.canceled = True
                continue
            event_id = self._schedule(instance, action)
            instance.recorded.append(signature(action))
            instance.recorded_ids.append(event_id)

    def _schedule(self, instance: Instance, action: dict[str, Any]) -> int | None:
        action_type = ActionType(action["actionType"])
        if action_type == ActionType.CALL_ACTIVITY:
            name = action["functionName"]
            if name not in self._functions.activities:
                raise _OrchestrationFailure(_missing_function(name, "activity", self._functions.activities))
            return self._schedule_activity(instance, name, action.get("input"))
        if action_type == ActionType.CALL_SUB_ORCHESTRATOR:
            name = action["functionName"]
            if name not in self._functions.orchestrators:
                raise _OrchestrationFailure(_missing_function(name, "orchestrator", self._functions.orchestrators))
            return self._schedule_sub_orchestration(instance, name, action.get("input"), action.get("instanceId"))
        if action_type == ActionType.CREATE_TIMER:
            event_id = instance.allocate_id()
            fire_at = h.parse_timestamp(action["fireAt"])
            instance.history.append(h.timer_created(self.now, event_id, fire_at=fire_at))
            instance.timers[event_id] = Timer(fire_at, canceled=bool(action.get("isCanceled")))
            return event_id
        if action_type in (ActionType.WAIT_FOR_EXTERNAL_EVENT, ActionType.CONTINUE_AS_NEW) or action_type in COMPOUND:
            return None
        raise UnsupportedActionError(unsupported(instance.name, action))

    def _schedule_activity(self, instance: Instance, name: str, input_json: str | None) -> int:
        event_id = instance.allocate_id()
        instance.history.append(h.task_scheduled(self.now, event_id, name=name, input_json=input_json))
        instance.awaiting.add(event_id)
        self._activities.enqueue(ActivityWork(instance.instance_id, instance.execution_id, event_id, name, input_json))
        return event_id

    def _schedule_sub_orchestration(
        self, instance: Instance, name: str, input_json: str | None, explicit_id: str | None
    ) -> int:
        event_id = instance.allocate_id()
        child_id = explicit_id or f"{instance.instance_id}:{event_id:04d}"
        existing = self._instances.get(child_id)
        if existing is not None and not existing.done:
            raise _OrchestrationFailure(
                f"sub-orchestration instance '{child_id}' already exists and is {existing.runtime_status}"
            )
        instance.history.append(
            h.sub_orchestration_created(self.now, event_id, name=name, instance_id=child_id, input_json=input_json)
        )
        instance.awaiting.add(event_id)
        self._create_instance(
            self._functions.orchestrator(name), child_id, input_json, parent=(instance.instance_id, event_id)
        )
        return event_id

    def _run_activity(self, work: ActivityWork) -> None:
        instance = self._instances[work.instance_id]
        if instance.done or instance.execution_id != work.execution_id:
            return  # the extension drops results for an execution that ended
        event, deliveries = self._activities.run(work, lambda: self.now)
        instance.bump(activity_executions=deliveries)
        instance.inbox.append(event)

    # ------------------------------------------------------------------------ instance lifecycle

    def _create_instance(
        self,
        orchestrator: RegisteredFunction,
        instance_id: str,
        payload_json: str | None,
        *,
        parent: tuple[str, int] | None,
    ) -> None:
        instance = Instance(
            instance_id=instance_id,
            orchestrator=orchestrator,
            created=self.now,
            parent_instance_id=parent[0] if parent else None,
            parent_task_id=parent[1] if parent else None,
        )
        self._instances[instance_id] = instance
        instance.begin_execution(payload_json, uuid.uuid4().hex, self.now)

    def _continue_as_new(self, instance: Instance, payload_json: str | None) -> None:
        instance.bump(continue_as_new_count=1)
        instance.runtime_status = CONTINUED_AS_NEW
        instance.last_updated = self.now
        self._notify_step(instance)
        # Events not yet delivered are dropped, as ContinueAsNew without preserveUnprocessedEvents does.
        instance.begin_execution(payload_json, uuid.uuid4().hex, self.now)
        instance.runtime_status = RUNNING

    def _complete_failed(self, instance: Instance, message: str) -> None:
        instance.history.append(h.execution_completed(self.now, status=h.STATUS_FAILED, result=json.dumps(message)))
        self._finish(instance, FAILED, output=message, failure_details=message)

    def _finish(self, instance: Instance, status: str, *, output: Any, failure_details: str | None = None) -> None:
        instance.runtime_status = status
        instance.output = output
        instance.last_updated = self.now
        instance.timers.clear()
        instance.inbox.clear()
        self._notify_step(instance)
        if instance.parent_instance_id is None or instance.parent_task_id is None:
            return
        parent = self._instances.get(instance.parent_instance_id)
        if parent is None or parent.done:
            return
        if status == COMPLETED:
            parent.inbox.append(
                h.sub_orchestration_completed(self.now, instance.parent_task_id, result_json=to_json_text(output))
            )
        else:
            parent.inbox.append(
                h.sub_orchestration_failed(
                    self.now,
                    instance.parent_task_id,
                    reason=str(output),
                    details=json.dumps({"Message": failure_details or str(output)}),
                )
            )

    def _notify_step(self, instance: Instance) -> None:
        if self._on_step is None:
            return
        self._on_step(
            Step(
                instance_id=instance.instance_id,
                name=instance.name,
                runtime_status=instance.runtime_status,
                custom_status=instance.custom_status,
                virtual_elapsed=self.now - instance.created,
                invocation=instance.metrics.orchestrator_invocations,
            )
        )

    def _instance(self, instance_id: str) -> Instance:
        try:
            return self._instances[instance_id]
        except KeyError:
            raise InstanceNotFoundError(
                f"no instance {instance_id!r} in this host; use the id start() returned"
            ) from None

    def _running_instance(self, instance_id: str) -> Instance:
        instance = self._instance(instance_id)
        if instance.done:
            raise InstanceNotRunningError(
                f"instance {instance_id!r} is {instance.runtime_status}; the Durable HTTP API answers "
                f"410 Gone for events and terminations sent to a finished instance"
            )
        return instance


def _missing_function(name: str, kind: str, registered: Mapping[str, RegisteredFunction]) -> str:
    known = ", ".join(sorted(registered)) or "none"
    return (
        f"The function '{name}' doesn't exist, is disabled, or is not an {kind} function. "
        f"Registered {kind} functions: {known}."
    )
