"""The rollout orchestration: preflight → gate → deploy → poll → diagnose/rollback → verify, wave by wave.

Orchestrators here only yield: every decision is a pure function of breakerpanel.core, every Azure call an
activity that reports failures as data. Time comes from the orchestration context, never the clock.

Cancel: every orchestration of a rollout listens for flow.CANCEL_EVENT while it waits (timers, children,
approval). POST /api/rollouts/{id}/cancel raises it on the rollout and on each child (their ids are explicit
and in the plan). The rollout then starts no new wave; a poller asks ARM to cancel its deployment and waits
for it to stop; each target reports what APIM holds afterwards. The per-target lock is released last, and
kept (inDoubt) for any deployment whose state could not be learned.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskState

from activities.alerts import rollout_notify
from activities.backends import apim_read_backends
from activities.decisions import rollout_decision
from activities.deployments import (
    arm_cancel_deployment,
    arm_deployment_state,
    arm_failed_operations,
    arm_rollback_point,
    arm_start_deployment,
    arm_validate,
    arm_what_if,
)
from activities.locks import rollout_cancel_requested, rollout_lock_targets
from activities.prerequisites import arm_prerequisites
from breakerpanel.core import rollout_flow as flow
from breakerpanel.core import status_budget
from breakerpanel.core import waiting as waits

bp = df.Blueprint()

# Polls per orchestration generation before continue-as-new: keeps each generation's history (and so the
# cost of every replay) bounded however long ARM takes.
POLLS_PER_GENERATION = 20
Task = Any
Context = df.DurableOrchestrationContext
# What each activity's retry waits are about, in the custom status: a name a person knows, never a URL.
CALLS: dict[Any, str] = {
    arm_deployment_state: waits.DEPLOYMENT_GET, arm_start_deployment: "deployment submit", arm_validate: "validate",
    arm_what_if: "what-if", arm_cancel_deployment: "deployment cancel",
    arm_failed_operations: "deployment operations list", arm_rollback_point: "deployment list (rollback point)",
    apim_read_backends: "APIM backends read", arm_prerequisites: "prerequisite reads",
    rollout_lock_targets: "target lock", rollout_cancel_requested: "cancel flag read",
    rollout_decision: "rollout decision",
}


class Shown:
    """One orchestration's custom status: its view (the rollout's progress; a child has none) and what it waits
    for now. Written only when it changes, as the task hub stores it with every checkpoint."""

    def __init__(self, context: Context) -> None:
        self._context = context
        self._view: dict[str, Any] | None = None
        self._waiting: dict[str, Any] | None = None
        self._last: dict[str, Any] | None = None

    def view(self, view: dict[str, Any]) -> None:
        self._view = view
        self._write()

    def waiting(self, waiting: dict[str, Any] | None) -> None:
        self._waiting = waiting
        self._write()

    def _write(self) -> None:
        # Cut to Durable's 16 KB: a larger custom status makes the extension fail the orchestration.
        status = status_budget.fit({**(self._view or {}), **({"waiting": self._waiting} if self._waiting else {})})
        if not status:
            if self._last is None:
                return
            # An empty status is never sent (the SDK drops a falsy one), so it could not clear the last wait.
            status = {"waiting": None}
        if status != self._last:
            self._context.set_custom_status(status)
            self._last = status


def observe(context: Context, cancel: Task, task: Task) -> Generator[Task, Any, Any]:
    """Wait for `task`, noticing a cancel that arrives meanwhile (then `cancel.is_completed`), and still
    return `task`'s own result: an activity already sent is always waited for, never abandoned."""
    if not cancel.is_completed:
        yield context.task_any([task, cancel])
    if not task.is_completed:
        result = yield task
        return result
    if task.state is TaskState.FAILED:
        raise task.result if isinstance(task.result, BaseException) else RuntimeError(str(task.result))
    return task.result


def wait(context: Context, cancel: Task | None, seconds: float, shown: Shown | None = None,
         why: dict[str, Any] | None = None) -> Generator[Task, Any, None]:
    """A durable timer, shown (`why`, a waits object) in the custom status for as long as it runs."""
    if shown is not None:
        shown.waiting(why)
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=seconds))
    if cancel is None or cancel.is_completed:
        yield timer
    else:
        yield context.task_any([timer, cancel])
        if not timer.is_completed:
            timer.cancel()
    if shown is not None:
        shown.waiting(None)


def call_with_retry(
    context: Context, activity: Any, payload: dict[str, Any], attempts: int, cancel: Task | None = None,
    shown: Shown | None = None,
) -> Generator[Task, Any, dict]:
    """Call an activity; on a transient outcome wait (durable timer, Retry-After honoured) and call again.

    With `cancel`, a cancel during a wait ends the retries: the last outcome is returned, marked cancelled.
    With `shown`, each wait is in the custom status: Retry-After or back-off, and which call.
    """
    attempt = 0
    while True:
        task = context.call_activity(activity, payload)
        outcome: dict[str, Any] = (yield task) if cancel is None else (yield from observe(context, cancel, task))
        delay = flow.retry_after(outcome, attempt, attempts)
        if delay is None:
            return outcome
        why = waits.retry_wait(outcome, delay, context.current_utc_datetime, CALLS.get(activity, "activity"))
        yield from wait(context, cancel, delay, shown, why)
        if cancel is not None and cancel.is_completed:
            return {**outcome, "cancelled": True}
        attempt += 1


def children(
    context: Context, cancel: Task, name: str, jobs: list[dict[str, Any]], role: str
) -> Generator[Task, Any, list[dict[str, Any]]]:
    """Run one child per job under its explicit id; wait for every one (a cancel is noticed, not a reason to
    stop waiting: the children stop their own work). A child that fails is reported as data."""
    tasks = [context.call_sub_orchestrator(name, job, job["instanceId"]) for job in jobs]
    try:
        yield from observe(context, cancel, context.task_all(tasks))
    except Exception:  # one child failed; the others' results still count
        for task in tasks:
            if not task.is_completed:
                try:  # noqa: SIM105 - a generator's yield, kept explicit
                    yield task
                except Exception:
                    pass
    return [task.result if task.state is TaskState.SUCCEEDED
            else flow.child_failed(job, role, str(task.result)) for task, job in zip(tasks, jobs, strict=True)]


def cancel_flag(context: Context, rollout: str | None, shown: Shown | None = None
                ) -> Generator[Task, Any, dict | None]:
    """The cancel the route recorded for the rollout before raising its events, or None.

    Read when a deploying child or a poller generation starts: an event raised before it existed (the
    route's listing ran while its parent was scheduling it) or dropped by continue-as-new never reaches it.
    A store that stays unreadable is no cancel: the event still reaches every orchestration that was there.
    """
    if not rollout:
        return None
    found = yield from call_with_retry(context, rollout_cancel_requested, {"rollout": rollout}, 3, shown=shown)
    cancel = found.get("cancel") if found.get("outcome") == "ok" else None
    return cancel if isinstance(cancel, dict) else None


@bp.orchestration_trigger(context_name="context")
def deployment_poller(context: Context) -> Generator[Task, Any, dict]:
    """Watch one deployment until terminal; at the deadline or on a cancel, cancel it in ARM and wait for it to
    stop; when its state cannot be learned, say so (unknown). Continue-as-new every few polls."""
    spec: dict[str, Any] = context.get_input()
    cancel = context.wait_for_external_event(flow.CANCEL_EVENT)
    shown = Shown(context)
    if spec.get("mode") == "watch":
        flagged = yield from cancel_flag(context, spec.get("rollout"), shown)
        if flagged is not None:
            spec = flow.stop_polling(spec, "cancelled", context.current_utc_datetime, flagged)
    for _ in range(POLLS_PER_GENERATION):
        if spec.get("mode") == "stop":
            outcome = yield from call_with_retry(context, arm_cancel_deployment, spec["call"], spec["attempts"],
                                                 shown=shown)
            step = flow.after_cancel_request(spec, outcome, context.current_utc_datetime)
            if "done" in step:
                return step["done"]
            spec = step["spec"]
            continue
        listening = cancel if spec.get("mode") == "watch" else None
        state = yield from call_with_retry(context, arm_deployment_state, spec["call"], spec["attempts"], listening,
                                           shown)
        spec = {**spec, "polls": int(spec.get("polls", 0)) + 1}
        decision = flow.poll_decision(spec, state, context.current_utc_datetime, cancelled=cancel.is_completed,
                                      cancel_event=cancel.result if cancel.is_completed else None)
        if "done" in decision:
            return decision["done"]
        if "spec" in decision:
            spec = decision["spec"]
            continue
        yield from wait(context, listening, decision["wait"], shown,
                        waits.poll_wait(state, decision["wait"], context.current_utc_datetime))
    context.continue_as_new(spec)
    return {}


@bp.orchestration_trigger(context_name="context")
def target_preflight(context: Context) -> Generator[Task, Any, dict]:
    """The target's prerequisites, then ARM validate and what-if with the parameters they chose (a blocking
    prerequisite or a cancel skips what is left)."""
    spec: dict[str, Any] = context.get_input()
    cancel = context.wait_for_external_event(flow.CANCEL_EVENT)
    shown = Shown(context)
    checked = None
    if spec.get("prerequisites"):
        checked = yield from call_with_retry(context, arm_prerequisites, spec["call"], spec["attempts"], cancel, shown)
        if flow.prerequisites_block(checked) or cancel.is_completed:
            return {"prerequisites": checked, "validate": None, "whatIf": None, "cancelled": cancel.is_completed}
    call = flow.with_prerequisites(spec["call"], checked)
    validated = yield from call_with_retry(context, arm_validate, call, spec["attempts"], cancel, shown)
    if validated.get("outcome") != "ok" or cancel.is_completed:
        return {"prerequisites": checked, "validate": validated, "whatIf": None, "cancelled": cancel.is_completed}
    what_if = yield from call_with_retry(context, arm_what_if, call, spec["attempts"], cancel, shown)
    return {"prerequisites": checked, "validate": validated, "whatIf": what_if, "cancelled": cancel.is_completed}


def _poll(context: Context, job: dict[str, Any], call: dict[str, Any], child: str, **mode: Any
          ) -> Generator[Task, Any, dict]:
    try:
        final = yield context.call_sub_orchestrator(
            "deployment_poller", flow.poller_input(job, call, context.current_utc_datetime, **mode), child)
    except Exception as exc:  # the poller should never fail; if it does, the state is unknown
        return {"outcome": "permanent", "unknown": f"its poller ended without a result ({str(exc)[:300]})"}
    return final


@bp.orchestration_trigger(context_name="context")
def target_deploy(context: Context) -> Generator[Task, Any, dict]:
    """Deploy one target, poll it; on failure diagnose it and put back its last good state; verify APIM."""
    job: dict[str, Any] = context.get_input()
    call, attempts = job["call"], job["attempts"]
    cancel = context.wait_for_external_event(flow.CANCEL_EVENT)
    shown = Shown(context)
    flagged = yield from cancel_flag(context, job.get("rollout"), shown)
    if flagged is not None:  # cancelled before this child existed: nothing is looked up or submitted
        return flow.target_result(job, started=None, cancel=flagged)
    point: dict[str, Any] | None = None
    if job["rollback"]:
        # Found before deploying: afterwards the newest good deployment could be this one.
        point = yield from call_with_retry(context, arm_rollback_point, call, attempts, cancel, shown)
    if cancel.is_completed:
        return flow.target_result(job, started=None, cancel=cancel.result)
    started = yield from call_with_retry(context, arm_start_deployment, call, attempts, cancel, shown)
    poller_id = job.get("pollerId") or f"{context.instance_id}-poll"
    if started.get("outcome") == "ok" and cancel.is_completed:
        # Submitted, and a cancel came meanwhile (its poller did not exist yet to hear it): stop it at once.
        final = yield from _poll(context, job, call, poller_id, mode="stop", reason="cancelled")
    elif started.get("outcome") == "ok":
        final = yield from _poll(context, job, call, poller_id)
    elif started.get("outcome") == "permanent" and not started.get("cancelled"):
        return flow.target_result(job, started=started)  # ARM refused the PUT: no deployment exists
    else:
        # The PUT may have landed (an answer lost, a cancel mid-retry): stop whatever exists under the name.
        final = yield from _poll(context, job, call, poller_id, mode="stop",
                                 reason="cancelled" if cancel.is_completed else "submit")
    operations: dict[str, Any] | None = None
    rollback: dict[str, Any] | None = None
    if final.get("provisioningState") == "Failed" and not final.get("stop"):
        operations = yield from call_with_retry(context, arm_failed_operations, call, attempts, shown=shown)
        rollback_call = None
        if job["rollback"] and (point or {}).get("deploymentName"):
            # Decided in an activity: a replay by newer code re-deploys the parameters the what-if showed.
            decided = yield from call_with_retry(context, rollout_decision,
                                                 {"decision": "rollbackCall", "job": job, "point": point}, attempts,
                                                 shown=shown)
            rollback_call = decided.get("call") if decided.get("outcome") == "ok" else None
        if rollback_call is not None and not cancel.is_completed:
            # The committed template with the point's re-validated parameters: what-if first, shown in the
            # result, then the same deploy activity (and its checks) as any rollout.
            rollback_what_if = yield from call_with_retry(context, arm_what_if, rollback_call, attempts, shown=shown)
            rollback_started = yield from call_with_retry(context, arm_start_deployment, rollback_call, attempts,
                                                          shown=shown)
            rollback_final = None
            if rollback_started.get("outcome") == "ok":
                rollback_final = yield from _poll(context, job, rollback_call,
                                                  job.get("rollbackPollerId") or f"{context.instance_id}-rbpoll")
            rollback = flow.rollback_report(rollback_call, rollback_what_if, rollback_started, rollback_final)
    read = None
    if not final.get("unknown") and final.get("exists") is not False and not (rollback or {}).get("unknown"):
        read = yield from call_with_retry(context, apim_read_backends, {"target": call["target"]}, attempts,
                                          shown=shown)
    return flow.target_result(
        job, started=started, final=final, operations=operations, point=point, rollback=rollback, read=read
    )


def _release(context: Context, plan: dict[str, Any], result: dict[str, Any], shown: Shown
             ) -> Generator[Task, Any, dict]:
    """Free the targets — except those where ARM may still be deploying, which stay held (inDoubt)."""
    hold: dict[str, list[dict[str, Any]]] = {}
    for entry in (result.get("targets") or {}).values():
        held = flow.held_deployments(entry.get("result") or {})
        if held:
            hold[flow.target_lock.key_for(entry["target"])] = held
    payload = {"op": "release", "holder": context.instance_id, "rolloutId": plan["rolloutId"],
               "keys": plan.get("lockKeys") or [], "hold": hold, "at": flow.iso(context.current_utc_datetime)}
    released = yield from call_with_retry(context, rollout_lock_targets, payload, plan.get("attempts", 8),
                                          shown=shown)
    return released


@bp.orchestration_trigger(context_name="context")
def rollout_orchestrator(context: Context) -> Generator[Task, Any, dict]:
    spec: dict[str, Any] = context.get_input()
    cancel = context.wait_for_external_event(flow.CANCEL_EVENT)
    shown = Shown(context)
    # The input checked again against the allowlist, backend hosts and four-eyes setting as the settings say
    # now (whoever started this orchestration, with whatever input), and its plan — the starter's, or for an
    # input without one made once: decided in an activity, so every replay, by any version of this code,
    # reads back the same verdict and the same names and parameters.
    admitted = yield from observe(context, cancel, context.call_activity(
        rollout_decision, {"decision": "admission", "spec": spec, "instanceId": context.instance_id}))
    problems = flow.admission_problems(admitted)
    plan: dict[str, Any] = {} if problems else (admitted.get("plan") or spec["plan"])
    if not problems:
        lock = yield from call_with_retry(context, rollout_lock_targets, {
            "op": "confirm", "holder": context.instance_id, "rolloutId": plan["rolloutId"],
            "keys": plan["lockKeys"], "at": flow.iso(context.current_utc_datetime)}, 8, shown=shown)
        problems = flow.lock_problems(lock)
    if problems:
        result = flow.refused(spec, problems, context.current_utc_datetime)
        shown.view(result)
        yield context.call_activity(rollout_notify, result)
        return result
    progress = flow.start_progress(plan, context.current_utc_datetime)
    shown.view(flow.status_view(progress))

    def noticed(progress: dict[str, Any]) -> dict[str, Any]:
        if cancel.is_completed and progress.get("cancel") is None:
            progress = flow.cancel_requested(progress, cancel.result, context.current_utc_datetime)
            shown.view(flow.status_view(progress))
        return progress

    for wave in plan["waves"]:
        progress = noticed(progress)
        if progress.get("cancel") is not None:
            break
        progress = flow.enter_phase(progress, wave["number"], "preflight", context.current_utc_datetime)
        shown.view(flow.status_view(progress))
        preflights = yield from children(context, cancel, "target_preflight", wave["preflight"], "preflight")
        progress = noticed(progress)
        if progress.get("cancel") is not None:
            break
        progress = flow.after_preflight(plan, progress, wave, preflights, context.current_utc_datetime)
        shown.view(flow.status_view(progress))
        if flow.halted(progress):
            break

        # The wave's approval question (needed or not, its event, the digest it approves), recorded once.
        asked = yield context.call_activity(rollout_decision, {
            "decision": "gate", "wave": wave,
            "progress": {"targets": {key: progress["targets"][key] for key in wave["keys"]}}})
        gate = asked["gate"] if asked.get("outcome") == "ok" else flow.gate(progress, wave)
        if gate["required"]:
            progress = flow.enter_phase(progress, wave["number"], "awaitingApproval", context.current_utc_datetime,
                                        gate=gate)
            shown.view(flow.status_view(progress))
            deadline = context.current_utc_datetime + timedelta(seconds=plan["approvalTimeoutSeconds"])
            # A chain of timers of at most waits.MAX_TIMER, each cancelled when it loses: one timer past six days
            # could not be cancelled and would keep the rollout Running after it ended.
            timeout = context.create_timer(waits.next_timer_at(context.current_utc_datetime, deadline) or deadline)
            shown.waiting(waits.approval_wait(wave["number"], plan["approvalTimeoutSeconds"],
                                              context.current_utc_datetime))
            decision: dict[str, Any] | None = None
            # This wave's own event: an answer for another wave can never be read here.
            answer = context.wait_for_external_event(gate["event"])
            while decision is None:
                winner = yield context.task_any([answer, timeout, cancel])
                if winner == cancel:
                    timeout.cancel()
                    break
                if winner != answer:
                    later = waits.next_timer_at(context.current_utc_datetime, deadline)
                    if later is not None:  # one link of the chain: the deadline is still ahead
                        timeout = context.create_timer(later)
                        continue
                    decision = flow.approval_decision(
                        None, timed_out=True, timeout_seconds=plan["approvalTimeoutSeconds"]
                    )
                    break
                verdict = flow.judge_approval(plan, gate, answer.result)
                if "decision" in verdict:
                    timeout.cancel()
                    decision = verdict["decision"]
                else:
                    progress = flow.note_ignored_answer(progress, verdict["ignored"], context.current_utc_datetime)
                    shown.view(flow.status_view(progress))
                    answer = context.wait_for_external_event(gate["event"])
            shown.waiting(None)
            progress = noticed(progress)
            if decision is None:
                break
            progress = flow.after_gate(progress, wave, decision, context.current_utc_datetime)
            shown.view(flow.status_view(progress))
            if flow.halted(progress):
                break

        progress = flow.enter_phase(progress, wave["number"], "deploying", context.current_utc_datetime)
        shown.view(flow.status_view(progress))
        results = yield from children(context, cancel, "target_deploy", flow.deploy_jobs(progress, wave), "deploy")
        progress = noticed(progress)
        progress = flow.after_deploy(progress, wave, results, context.current_utc_datetime)
        shown.view(flow.status_view(progress))
        if flow.halted(progress):
            break
    progress = noticed(progress)
    if progress.get("cancel") is not None:
        progress = flow.after_cancel(progress, context.current_utc_datetime)
    result = flow.finish(progress, context.current_utc_datetime)
    released = yield from _release(context, plan, result, shown)
    result = flow.note_release(result, released)
    shown.view(flow.status_view(result))
    # The outcome to App Insights and the webhook, through the outbox; the activity never fails.
    yield context.call_activity(rollout_notify, result)
    return result
