"""The rollout orchestration: preflight → gate → deploy → poll → diagnose/rollback → verify, wave by wave.

Orchestrators here only yield: every decision is a pure function of breakerpanel.core, every Azure call an
activity that reports failures as data. Time comes from the orchestration context, never the clock.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from activities.backends import apim_read_backends
from activities.deployments import (
    arm_deployment_state,
    arm_failed_operations,
    arm_rollback_point,
    arm_start_deployment,
    arm_validate,
    arm_what_if,
    rollout_policy,
)
from breakerpanel.core import rollout_flow as flow

bp = df.Blueprint()

# Polls per orchestration generation before continue-as-new: keeps each generation's history (and so the
# cost of every replay) bounded however long ARM takes.
POLLS_PER_GENERATION = 20
Task = Any
Context = df.DurableOrchestrationContext


def call_with_retry(
    context: Context, activity: Any, payload: dict[str, Any], attempts: int
) -> Generator[Task, Any, dict]:
    """Call an activity; on a transient outcome wait (durable timer, Retry-After honoured) and call again."""
    attempt = 0
    while True:
        outcome: dict[str, Any] = yield context.call_activity(activity, payload)
        delay = flow.retry_after(outcome, attempt, attempts)
        if delay is None:
            return outcome
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=delay))
        attempt += 1


@bp.orchestration_trigger(context_name="context")
def deployment_poller(context: Context) -> Generator[Task, Any, dict]:
    """Poll one deployment until it is terminal or its deadline passes; continue-as-new every few polls."""
    spec: dict[str, Any] = context.get_input()
    polls = int(spec.get("polls", 0))
    for _ in range(POLLS_PER_GENERATION):
        state = yield from call_with_retry(context, arm_deployment_state, spec["call"], spec["attempts"])
        polls += 1
        verdict = flow.poll_verdict(state, context.current_utc_datetime, spec["deadline"])
        if verdict["done"]:
            return {**state, "polls": polls, "timedOut": verdict["timedOut"]}
        delay = flow.next_poll_delay(polls, state)
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=delay))
    context.continue_as_new({**spec, "polls": polls})
    return {}


@bp.orchestration_trigger(context_name="context")
def target_preflight(context: Context) -> Generator[Task, Any, dict]:
    """ARM validate, then what-if, for one target."""
    spec: dict[str, Any] = context.get_input()
    validated = yield from call_with_retry(context, arm_validate, spec["call"], spec["attempts"])
    if validated.get("outcome") != "ok":
        return {"validate": validated, "whatIf": None}
    what_if = yield from call_with_retry(context, arm_what_if, spec["call"], spec["attempts"])
    return {"validate": validated, "whatIf": what_if}


@bp.orchestration_trigger(context_name="context")
def target_deploy(context: Context) -> Generator[Task, Any, dict]:
    """Deploy one target, poll it; on failure diagnose it and put back its last good state; verify APIM."""
    job: dict[str, Any] = context.get_input()
    call, attempts = job["call"], job["attempts"]
    point: dict[str, Any] | None = None
    if job["rollback"]:
        # Found before deploying: afterwards the newest good deployment could be this one.
        point = yield from call_with_retry(context, arm_rollback_point, call, attempts)
    started = yield from call_with_retry(context, arm_start_deployment, call, attempts)
    if started.get("outcome") != "ok":
        return flow.target_result(job, started=started)
    final = yield context.call_sub_orchestrator(
        "deployment_poller", flow.poller_input(job, call, context.current_utc_datetime)
    )
    operations: dict[str, Any] | None = None
    rollback: dict[str, Any] | None = None
    if final.get("provisioningState") == "Failed":
        operations = yield from call_with_retry(context, arm_failed_operations, call, attempts)
        rollback_call = flow.rollback_call(job, point)
        if rollback_call is not None:
            # The committed template with the point's re-validated parameters: what-if first, shown in the
            # result, then the same deploy activity (and its checks) as any rollout.
            rollback_what_if = yield from call_with_retry(context, arm_what_if, rollback_call, attempts)
            rollback_started = yield from call_with_retry(context, arm_start_deployment, rollback_call, attempts)
            rollback_final = None
            if rollback_started.get("outcome") == "ok":
                rollback_final = yield context.call_sub_orchestrator(
                    "deployment_poller", flow.poller_input(job, rollback_call, context.current_utc_datetime)
                )
            rollback = flow.rollback_report(rollback_call, rollback_what_if, rollback_started, rollback_final)
    read = yield from call_with_retry(context, apim_read_backends, {"target": call["target"]}, attempts)
    return flow.target_result(
        job, started=started, final=final, operations=operations, point=point, rollback=rollback, read=read
    )


@bp.orchestration_trigger(context_name="context")
def rollout_orchestrator(context: Context) -> Generator[Task, Any, dict]:
    spec: dict[str, Any] = context.get_input()
    # The allowlist, backend hosts and four-eyes setting as the settings say now: the input is validated
    # again here, whoever started this orchestration and with whatever input.
    policy = yield context.call_activity(rollout_policy, {})
    problems = flow.admit(spec, policy)
    if problems:
        result = flow.refused(spec, problems, context.current_utc_datetime)
        context.set_custom_status(result)
        return result
    plan = flow.plan(spec, policy)
    progress = flow.start_progress(plan, context.current_utc_datetime)
    context.set_custom_status(flow.status_view(progress))
    for wave in plan["waves"]:
        progress = flow.enter_phase(progress, wave["number"], "preflight", context.current_utc_datetime)
        context.set_custom_status(flow.status_view(progress))
        preflights = yield context.task_all(
            [context.call_sub_orchestrator("target_preflight", job) for job in wave["preflight"]]
        )
        progress = flow.after_preflight(plan, progress, wave, preflights, context.current_utc_datetime)
        context.set_custom_status(flow.status_view(progress))
        if flow.halted(progress):
            break

        gate = flow.gate(progress, wave)
        if gate["required"]:
            progress = flow.enter_phase(progress, wave["number"], "awaitingApproval", context.current_utc_datetime,
                                        gate=gate)
            context.set_custom_status(flow.status_view(progress))
            deadline = context.current_utc_datetime + timedelta(seconds=plan["approvalTimeoutSeconds"])
            timeout = context.create_timer(deadline)
            decision: dict[str, Any] | None = None
            while decision is None:
                # This wave's own event: an answer for another wave can never be read here.
                answer = context.wait_for_external_event(gate["event"])
                winner = yield context.task_any([answer, timeout])
                if winner != answer:
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
                    context.set_custom_status(flow.status_view(progress))
            progress = flow.after_gate(progress, wave, decision, context.current_utc_datetime)
            context.set_custom_status(flow.status_view(progress))
            if flow.halted(progress):
                break

        progress = flow.enter_phase(progress, wave["number"], "deploying", context.current_utc_datetime)
        context.set_custom_status(flow.status_view(progress))
        results = yield context.task_all(
            [context.call_sub_orchestrator("target_deploy", job) for job in wave["deploy"]]
        )
        progress = flow.after_deploy(progress, wave, results, context.current_utc_datetime)
        context.set_custom_status(flow.status_view(progress))
        if flow.halted(progress):
            break
    result = flow.finish(progress, context.current_utc_datetime)
    context.set_custom_status(flow.status_view(result))
    return result
