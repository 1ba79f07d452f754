"""A small v2-model Durable app, test-only, exercising every pattern LocalDurableHost drives (and the
*_with_retry calls it refuses).

Built like the product app: orchestrators and activities on a Blueprint, registered on a DFApp,
activities called by function object. The module-level dicts stand in for the outside world the
activities touch, so tests can see how often and with what an activity really ran.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

bp = df.Blueprint()

# How many times `flaky` has been asked for each key, and how many failures each key still owes.
FLAKY_CALLS: dict[str, int] = {}
# Stand-in for ARM: deployment name -> how many times a PUT reached it.
DEPLOYMENTS: dict[str, int] = {}
# Counts replays of `drifting_orchestrator`, which (wrongly) reads it to choose an activity.
DRIFT: dict[str, int] = {"invocations": 0}


def reset_world() -> None:
    FLAKY_CALLS.clear()
    DEPLOYMENTS.clear()
    DRIFT["invocations"] = 0


# ---------------------------------------------------------------------------------------- activities


@bp.activity_trigger(input_name="payload")
def greet(payload: dict[str, Any]) -> str:
    return f"hello {payload['name']}"


@bp.activity_trigger(input_name="text")
def shout(text: str) -> str:
    return text.upper() + "!"


@bp.activity_trigger(input_name="number")
def square(number: int) -> int:
    return number * number


@bp.activity_trigger(input_name="request")
def flaky(request: dict[str, Any]) -> dict[str, Any]:
    key = request["key"]
    FLAKY_CALLS[key] = FLAKY_CALLS.get(key, 0) + 1
    if FLAKY_CALLS[key] <= request["failures"]:
        raise ConnectionError(f"transient failure {FLAKY_CALLS[key]} for {key}")
    return {"key": key, "attempts": FLAKY_CALLS[key]}


@bp.activity_trigger(input_name="message")
def explode(message: str) -> None:
    raise ValueError(message)


@bp.activity_trigger(input_name="deployment")
def put_deployment(deployment: dict[str, Any]) -> dict[str, Any]:
    # Idempotent by deployment name, as an ARM PUT is: a second delivery re-attaches.
    name = deployment["name"]
    DEPLOYMENTS[name] = DEPLOYMENTS.get(name, 0) + 1
    return {"name": name, "result": "created" if DEPLOYMENTS[name] == 1 else "reattached"}


@bp.activity_trigger(input_name="count")
async def tick(count: int) -> int:
    return count + 1


# ------------------------------------------------------------------------------------- orchestrators


@bp.orchestration_trigger(context_name="context")
def chain_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, list[str]]:
    request = context.get_input()
    context.set_custom_status({"stage": "greeting"})
    greeting = yield context.call_activity(greet, request)
    context.set_custom_status({"stage": "shouting", "greeting": greeting})
    shouted = yield context.call_activity(shout, greeting)
    context.set_custom_status({"stage": "done"})
    return [greeting, shouted]


@bp.orchestration_trigger(context_name="context")
def retry_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    request = context.get_input()
    options = df.RetryOptions(
        first_retry_interval_in_milliseconds=request["retryMs"], max_number_of_attempts=request["maxAttempts"]
    )
    result = yield context.call_activity_with_retry(flaky, options, request)
    return result


@bp.orchestration_trigger(context_name="context")
def timer_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, str]]:
    minutes = context.get_input()
    started = context.current_utc_datetime
    yield context.create_timer(started + timedelta(minutes=minutes))
    return {"started": started.isoformat(), "woke": context.current_utc_datetime.isoformat()}


@bp.orchestration_trigger(context_name="context")
def fan_out_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    count = context.get_input()
    squares = yield context.task_all([context.call_activity(square, n) for n in range(count)])
    return {"squares": squares, "sum": sum(squares)}


@bp.orchestration_trigger(context_name="context")
def approval_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    timeout_minutes = context.get_input()["timeoutMinutes"]
    context.set_custom_status({"stage": "awaiting approval"})
    approval = context.wait_for_external_event("approval")
    timeout = context.create_timer(context.current_utc_datetime + timedelta(minutes=timeout_minutes))
    winner = yield context.task_any([approval, timeout])
    if winner == approval:
        timeout.cancel()
        return {"outcome": "approved", "by": approval.result["by"], "at": context.current_utc_datetime.isoformat()}
    return {"outcome": "timed out", "at": context.current_utc_datetime.isoformat()}


@bp.orchestration_trigger(context_name="context")
def forgetful_approval_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    # Wrong on purpose: the event wins and the timeout is never cancelled.
    approval = context.wait_for_external_event("approval")
    timeout = context.create_timer(context.current_utc_datetime + timedelta(minutes=context.get_input()))
    winner = yield context.task_any([approval, timeout])
    return {"outcome": "approved" if winner == approval else "timed out"}


@bp.orchestration_trigger(context_name="context")
def fire_and_forget_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    # Wrong on purpose: task_any over a task already done returns at once, leaving the activity it scheduled.
    done = context.call_activity(shout, "now")
    first = yield done
    yield context.task_any([context.call_activity(greet, {"name": "late"}), done])
    return first


@bp.orchestration_trigger(context_name="context")
def parent_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    request = context.get_input()
    child = yield context.call_sub_orchestrator(chain_orchestrator, request)
    try:
        yield context.call_sub_orchestrator("failing_orchestrator", "child boom")
        child_failure = None
    except Exception as exc:
        child_failure = str(exc)
    return {"child": child, "childFailure": child_failure}


@bp.orchestration_trigger(context_name="context")
def flaky_child_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    result = yield context.call_activity(flaky, context.get_input())
    return result


@bp.orchestration_trigger(context_name="context")
def retrying_parent_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, list[Any]]:
    # The local host refuses the SDK's *_with_retry calls by name (the app never makes them).
    options = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=3)
    child = yield context.call_sub_orchestrator_with_retry(
        "flaky_child_orchestrator", options, {"key": "child", "failures": 2}, instance_id="flaky-child"
    )
    squared = yield context.call_activity(square, 7)
    return [child, squared]


@bp.orchestration_trigger(context_name="context")
def failing_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, None]:
    yield context.call_activity(explode, context.get_input())


@bp.orchestration_trigger(context_name="context")
def counter_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, int]:
    state = context.get_input()
    count = yield context.call_activity(tick, state["count"])
    context.set_custom_status({"count": count})
    if count < state["target"]:
        context.continue_as_new({"count": count, "target": state["target"]})
        return count
    return count


@bp.orchestration_trigger(context_name="context")
def deploy_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    result = yield context.call_activity(put_deployment, {"name": f"rollout-{context.instance_id}"})
    return result


@bp.orchestration_trigger(context_name="context")
def waiting_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    context.set_custom_status({"stage": "waiting for go"})
    go = yield context.wait_for_external_event("go")
    return go


@bp.orchestration_trigger(context_name="context")
def drifting_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    # Wrong on purpose: the activity depends on process state that changes between replays.
    DRIFT["invocations"] += 1
    first = yield context.call_activity(shout if DRIFT["invocations"] > 1 else greet, {"name": "drift"})
    return first


app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(bp)
