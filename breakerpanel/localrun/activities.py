"""Activity execution: the work queue the extension would put on its control queue, run in-process, with the
simulated crash that makes a delivery run twice."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from . import history as h
from .functions import ActivityOutcome, FunctionIndex, invoke_activity
from .model import ActivityExecution


@dataclass(frozen=True)
class ActivityWork:
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input_json: str | None


@dataclass(frozen=True)
class _CrashPlan:
    activity_name: str | None
    instance_id: str | None


class ActivityRunner:
    """Runs scheduled activities in order and keeps a log of every run, lost ones included."""

    def __init__(self, functions: FunctionIndex) -> None:
        self._functions = functions
        self._queue: deque[ActivityWork] = deque()
        self._crash_plans: list[_CrashPlan] = []
        self._log: list[ActivityExecution] = []

    @property
    def executions(self) -> list[ActivityExecution]:
        return list(self._log)

    @property
    def pending(self) -> bool:
        return bool(self._queue)

    def enqueue(self, work: ActivityWork) -> None:
        self._queue.append(work)

    def take_all(self) -> list[ActivityWork]:
        taken = list(self._queue)
        self._queue.clear()
        return taken

    def plan_crash(self, activity_name: str | None, instance_id: str | None) -> None:
        if activity_name is not None:
            self._functions.activity(activity_name)
        self._crash_plans.append(_CrashPlan(activity_name, instance_id))

    def run(self, work: ActivityWork, now: Callable[[], datetime]) -> tuple[h.HistoryEvent, int]:
        """Run `work`; returns the completion event to deliver and how many times the activity ran."""
        at = now()
        function = self._functions.activity(work.name)
        delivery = 1
        plan = self._matching_crash_plan(work)
        if plan is not None:
            self._crash_plans.remove(plan)
            lost = invoke_activity(function, work.input_json)
            self._record(work, lost, at, delivery=delivery, recorded=False)
            delivery += 1
        outcome = invoke_activity(function, work.input_json)
        self._record(work, outcome, at, delivery=delivery, recorded=True)
        # On the wall clock an activity takes real time: its completion is stamped when it came back.
        done = now()
        if outcome.failed:
            event = h.task_failed(
                done, work.task_id, reason=outcome.failure_reason or "", details=outcome.failure_details or ""
            )
        else:
            event = h.task_completed(done, work.task_id, result_json=outcome.result_json)
        return event, delivery

    def _matching_crash_plan(self, work: ActivityWork) -> _CrashPlan | None:
        for plan in self._crash_plans:
            if plan.activity_name not in (None, work.name):
                continue
            if plan.instance_id not in (None, work.instance_id):
                continue
            return plan
        return None

    def _record(self, work: ActivityWork, outcome: ActivityOutcome, at: datetime, *, delivery: int,
                recorded: bool) -> None:
        self._log.append(
            ActivityExecution(
                instance_id=work.instance_id,
                task_scheduled_id=work.task_id,
                name=work.name,
                input_json=work.input_json,
                delivery=delivery,
                recorded=recorded,
                failed=outcome.failed,
                error=outcome.failure_reason,
                virtual_time=at,
            )
        )
