"""LocalDurableHost drives the real azure-functions-durable replay engine through every Durable pattern.

The sample app (localrun_sample_app.py) is a normal v2 DFApp; these tests check what a developer would
look at: the status the Durable HTTP API would return, the history the extension would write, the
virtual clock, and how often activities really ran.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest
from localrun_sample_app import DEPLOYMENTS, FLAKY_CALLS, app, reset_world

from breakerpanel.localrun import (
    EventType,
    InstanceNotRunningError,
    LocalDurableHost,
    LocalRunError,
    NonDeterministicOrchestrationError,
    Step,
    UnknownFunctionError,
    UnsupportedActionError,
)

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def steps() -> list[Step]:
    return []


@pytest.fixture
def host(steps: list[Step]) -> Iterator[LocalDurableHost]:
    reset_world()
    yield LocalDurableHost(app, start_time=T0, on_step=steps.append)
    reset_world()


def event_types(host: LocalDurableHost, instance_id: str) -> list[EventType]:
    return [EventType(e["EventType"]) for e in host.status(instance_id, show_history=True)["historyEvents"]]


def history(host: LocalDurableHost, instance_id: str) -> list[dict[str, Any]]:
    return host.status(instance_id, show_history=True)["historyEvents"]


def test_activity_chain_replays_the_full_history_at_every_step(host: LocalDurableHost) -> None:
    instance_id = host.start("chain_orchestrator", {"name": "ada"}, instance_id="chain-1")

    status = host.run_until_idle(instance_id)

    assert status is not None
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["hello ada", "HELLO ADA!"]
    # start_new sends df_dumps(input); the status API shows that JSON text.
    assert status["input"] == '{"name": "ada"}'
    metrics = host.metrics(instance_id)
    assert metrics.orchestrator_invocations == 3
    # Step 1 sees [OrchestratorStarted, ExecutionStarted]; each later step sees everything before plus
    # its own OrchestratorStarted and completion: 2 + 6 + 10.
    assert metrics.history_events_replayed == 18
    assert metrics.activity_executions == 2
    assert event_types(host, instance_id) == [
        EventType.ORCHESTRATOR_STARTED,
        EventType.EXECUTION_STARTED,
        EventType.TASK_SCHEDULED,
        EventType.ORCHESTRATOR_COMPLETED,
        EventType.ORCHESTRATOR_STARTED,
        EventType.TASK_COMPLETED,
        EventType.TASK_SCHEDULED,
        EventType.ORCHESTRATOR_COMPLETED,
        EventType.ORCHESTRATOR_STARTED,
        EventType.TASK_COMPLETED,
        EventType.EXECUTION_COMPLETED,
    ]
    completed = [e for e in history(host, instance_id) if e["EventType"] == EventType.TASK_COMPLETED]
    assert [e["Result"] for e in completed] == ['"hello ada"', '"HELLO ADA!"']


def test_custom_status_is_visible_after_each_step(host: LocalDurableHost, steps: list[Step]) -> None:
    instance_id = host.start("chain_orchestrator", {"name": "bo"})

    host.run_until_idle(instance_id)

    assert [(s.invocation, s.runtime_status, s.custom_status) for s in steps] == [
        (1, "Running", {"stage": "greeting"}),
        (2, "Running", {"stage": "shouting", "greeting": "hello bo"}),
        (3, "Completed", {"stage": "done"}),
    ]
    assert host.status(instance_id)["customStatus"] == {"stage": "done"}


def test_a_custom_status_over_16_kb_of_utf16_fails_the_orchestration_as_the_extension_does(
    host: LocalDurableHost,
) -> None:
    # DurableTask refuses int(UTF-16 bytes / 1024) > 16: ~8,000 ASCII characters pass, ~9,000 do not.
    fits = host.start("chain_orchestrator", {"name": "a" * 8000})
    too_big = host.start("chain_orchestrator", {"name": "a" * 9000})

    host.run_until_idle()

    assert host.status(fits)["runtimeStatus"] == "Completed"
    failed = host.status(too_big)
    assert failed["runtimeStatus"] == "Failed"
    assert "The UTF-16 size of the JSON-serialized payload must not exceed 16 KB" in str(failed["output"])


def test_call_activity_with_retry_is_refused_by_name(host: LocalDurableHost) -> None:
    # The app retries with call_activity + durable timers (orchestrators/rollout.py call_with_retry); an
    # orchestrator reaching for the SDK's retry call must hear so, not hang or half-work.
    request = {"key": "arm-put", "failures": 2, "retryMs": 30_000, "maxAttempts": 3}
    instance_id = host.start("retry_orchestrator", request)

    with pytest.raises(UnsupportedActionError, match=r"context\.call_activity_with_retry\('flaky'") as caught:
        host.run_until_idle(instance_id)

    assert "call_with_retry" in str(caught.value)
    assert host.status(instance_id)["runtimeStatus"] == "Failed"
    assert FLAKY_CALLS == {}


def test_one_hour_timer_completes_on_the_virtual_clock(host: LocalDurableHost) -> None:
    instance_id = host.start("timer_orchestrator", 60)

    status = host.run_until_idle(instance_id)

    assert status is not None
    assert status["output"] == {"started": T0.isoformat(), "woke": (T0 + timedelta(hours=1)).isoformat()}
    assert host.now == T0 + timedelta(hours=1)
    assert status["lastUpdatedTime"] == "2025-03-01T09:00:00Z"
    timer = next(e for e in history(host, instance_id) if e["EventType"] == EventType.TIMER_CREATED)
    assert timer["FireAt"] == "2025-03-01T09:00:00.000000Z"


def test_timer_longer_than_the_storage_limit_is_split_by_the_sdk(host: LocalDurableHost) -> None:
    # The host sends the Azure Storage limits (6-day short timers, 3-day intervals) as the extension does.
    instance_id = host.start("timer_orchestrator", 10 * 24 * 60)

    status = host.run_until_idle(instance_id)

    assert status is not None
    assert status["output"]["woke"] == (T0 + timedelta(days=10)).isoformat()
    fire_times = [e["FireAt"] for e in history(host, instance_id) if e["EventType"] == EventType.TIMER_CREATED]
    assert fire_times == [
        "2025-03-04T08:00:00.000000Z",
        "2025-03-07T08:00:00.000000Z",
        "2025-03-11T08:00:00.000000Z",
    ]


def test_task_all_fans_out_and_in(host: LocalDurableHost) -> None:
    instance_id = host.start("fan_out_orchestrator", 6)

    status = host.run_until_idle(instance_id)

    assert status is not None
    assert status["output"] == {"squares": [0, 1, 4, 9, 16, 25], "sum": 55}
    scheduled = [e for e in history(host, instance_id) if e["EventType"] == EventType.TASK_SCHEDULED]
    assert [e["EventId"] for e in scheduled] == [0, 1, 2, 3, 4, 5]
    # All six completions arrive in one batch, as the extension batches messages: fan-out, fan-in.
    assert host.metrics(instance_id).orchestrator_invocations == 2


def test_task_any_event_wins_when_raised_before_the_timeout(host: LocalDurableHost) -> None:
    instance_id = host.start("approval_orchestrator", {"timeoutMinutes": 30})

    waiting = host.run_until_idle(instance_id, timer_horizon=timedelta(0))
    assert waiting is not None
    assert waiting["runtimeStatus"] == "Running"
    assert waiting["customStatus"] == {"stage": "awaiting approval"}

    host.advance_time(timedelta(minutes=5))
    host.raise_event(instance_id, "approval", {"by": "bob"})
    status = host.run_until_idle(instance_id)

    assert status is not None
    assert status["output"] == {"outcome": "approved", "by": "bob", "at": "2025-03-01T08:05:00+00:00"}
    # The canceled timeout did not drag the clock to 08:30.
    assert host.now == T0 + timedelta(minutes=5)
    raised = next(e for e in history(host, instance_id) if e["EventType"] == EventType.EVENT_RAISED)
    assert (raised["Name"], raised["Input"]) == ("approval", '{"by":"bob"}')


def test_task_any_timer_wins_when_no_event_comes(host: LocalDurableHost) -> None:
    instance_id = host.start("approval_orchestrator", {"timeoutMinutes": 30})

    status = host.run_until_idle(instance_id)

    assert status is not None
    assert status["output"] == {"outcome": "timed out", "at": "2025-03-01T08:30:00+00:00"}
    with pytest.raises(InstanceNotRunningError, match="410 Gone"):
        host.raise_event(instance_id, "approval", {"by": "late"})


def test_sub_orchestrations_complete_and_fail_into_the_parent(host: LocalDurableHost) -> None:
    instance_id = host.start("parent_orchestrator", {"name": "kid"}, instance_id="parent")

    status = host.run_until_idle(instance_id)

    assert status is not None
    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["child"] == ["hello kid", "HELLO KID!"]
    assert "Activity function 'explode' failed: ValueError: child boom" in status["output"]["childFailure"]
    assert host.status("parent:0000")["runtimeStatus"] == "Completed"
    assert host.status("parent:0001")["runtimeStatus"] == "Failed"
    assert host.status("parent:0001")["input"] == '"child boom"'
    kinds = [t for t in event_types(host, instance_id) if t.name.startswith("SUB_ORCHESTRATION")]
    assert kinds == [
        EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
        EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
        EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
        EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
    ]


def test_call_sub_orchestrator_with_retry_is_refused_by_name(host: LocalDurableHost) -> None:
    instance_id = host.start("retrying_parent_orchestrator")

    with pytest.raises(UnsupportedActionError, match=r"call_sub_orchestrator_with_retry\('flaky_child_orchestrator'"):
        host.run_until_idle(instance_id)

    assert host.status(instance_id)["runtimeStatus"] == "Failed"
    assert FLAKY_CALLS == {}


def test_continue_as_new_keeps_the_history_bounded(host: LocalDurableHost) -> None:
    short = host.start("counter_orchestrator", {"count": 0, "target": 3})
    long = host.start("counter_orchestrator", {"count": 0, "target": 40})

    host.run_until_idle()

    assert host.status(short)["output"] == 3
    assert host.status(long)["output"] == 40
    assert host.status(long)["input"] == '{"count": 39, "target": 40}'
    assert host.status(long)["customStatus"] == {"count": 40}
    long_metrics = host.metrics(long)
    assert long_metrics.continue_as_new_count == 39
    assert long_metrics.max_history_length == host.metrics(short).max_history_length
    assert len(history(host, long)) == len(history(host, short))


def test_activity_exception_fails_the_orchestration_with_its_message(host: LocalDurableHost) -> None:
    instance_id = host.start("failing_orchestrator", "disk on fire")

    status = host.run_until_idle(instance_id)

    assert status is not None
    assert status["runtimeStatus"] == "Failed"
    assert status["output"].startswith(
        "Orchestrator function 'failing_orchestrator' failed: "
        "Activity function 'explode' failed: ValueError: disk on fire"
    )
    failed = next(e for e in history(host, instance_id) if e["EventType"] == EventType.TASK_FAILED)
    assert failed["Reason"] == "Activity function 'explode' failed: ValueError: disk on fire"


def test_terminate_stops_a_waiting_instance(host: LocalDurableHost) -> None:
    instance_id = host.start("waiting_orchestrator")
    host.run_until_idle(instance_id)

    host.terminate(instance_id, "operator cancelled the rollout")
    status = host.run_until_idle(instance_id)

    assert status is not None
    assert status["runtimeStatus"] == "Terminated"
    assert status["output"] == "operator cancelled the rollout"
    assert event_types(host, instance_id)[-1] == EventType.EXECUTION_TERMINATED
    with pytest.raises(InstanceNotRunningError):
        host.raise_event(instance_id, "go", True)


def test_external_event_payload_reaches_the_orchestrator(host: LocalDurableHost) -> None:
    instance_id = host.start("waiting_orchestrator")
    host.run_until_idle(instance_id)

    host.raise_event(instance_id, "go", {"wave": 2, "approved": True})
    status = host.run_until_idle(instance_id)

    assert status is not None
    assert status["output"] == {"wave": 2, "approved": True}


def test_non_deterministic_orchestrator_is_refused_like_the_host_does(host: LocalDurableHost) -> None:
    instance_id = host.start("drifting_orchestrator")

    with pytest.raises(NonDeterministicOrchestrationError, match="Non-Deterministic workflow detected") as caught:
        host.run_until_idle(instance_id)

    assert "CALL_ACTIVITY('greet')" in str(caught.value)
    assert "CALL_ACTIVITY('shout')" in str(caught.value)
    assert host.status(instance_id)["runtimeStatus"] == "Failed"


def test_crash_before_completion_is_recorded_runs_the_activity_again(host: LocalDurableHost) -> None:
    host.crash_after_next_activity("put_deployment")
    instance_id = host.start("deploy_orchestrator", instance_id="gw-1")

    status = host.run_until_idle(instance_id)

    assert status is not None
    assert status["output"] == {"name": "rollout-gw-1", "result": "reattached"}
    assert DEPLOYMENTS == {"rollout-gw-1": 2}
    runs = [(r.task_scheduled_id, r.delivery, r.recorded) for r in host.activity_executions]
    assert runs == [(0, 1, False), (0, 2, True)]
    assert event_types(host, instance_id).count(EventType.TASK_SCHEDULED) == 1


def test_unknown_names_are_refused_with_the_registered_ones(host: LocalDurableHost) -> None:
    with pytest.raises(UnknownFunctionError, match="chain_orchestrator"):
        host.start("rollout_orchestrator")
    with pytest.raises(UnknownFunctionError, match="put_deployment"):
        host.crash_after_next_activity("deploy")


def test_indexing_leaves_the_app_indexable_again() -> None:
    LocalDurableHost(app, start_time=T0)
    LocalDurableHost(app, start_time=T0)

    names = {f.get_function_name() for f in app.get_functions()}
    app.functions_bindings = None

    assert {"chain_orchestrator", "greet", "tick"} <= names


def test_trigger_bound_to_a_missing_parameter_is_reported_with_the_fix() -> None:
    bp = df.Blueprint()

    @bp.activity_trigger(input_name="payload")
    def misnamed(request: dict[str, Any]) -> dict[str, Any]:
        return request

    broken = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
    broken.register_functions(bp)

    with pytest.raises(LocalRunError, match="'misnamed' binds its trigger to 'payload'"):
        LocalDurableHost(broken, start_time=T0)


def test_real_time_timer_fires_when_the_wall_clock_reaches_it() -> None:
    reset_world()
    host = LocalDurableHost(app, real_time=True)
    started = time.monotonic()
    # timer_orchestrator takes minutes; 0.02 min = 1.2 s.
    instance_id = host.start("timer_orchestrator", 0.02)

    status = host.run_until_idle(instance_id)

    elapsed = time.monotonic() - started
    assert status is not None and status["runtimeStatus"] == "Completed"
    woke = datetime.fromisoformat(status["output"]["woke"])
    began = datetime.fromisoformat(status["output"]["started"])
    assert woke - began >= timedelta(seconds=1.2)
    assert elapsed >= 1.2 and host.seconds_waited >= 1.1
    with pytest.raises(LocalRunError, match="advance_time moves the simulated clock"):
        host.advance_time(60)


def test_real_time_sleep_wakes_for_an_event_raised_from_another_thread() -> None:
    reset_world()
    host = LocalDurableHost(app, real_time=True)
    # Without the wake-up the host would sleep out the one-minute timeout and the outcome would be "timed out".
    instance_id = host.start("approval_orchestrator", {"timeoutMinutes": 1})
    host.run_until_idle(instance_id, timer_horizon=timedelta(0))
    raiser = threading.Timer(0.5, host.raise_event, args=(instance_id, "approval", {"by": "bob"}))

    raiser.start()
    status = host.run_until_idle(instance_id)
    raiser.join()

    assert status is not None
    assert status["output"]["outcome"] == "approved" and status["output"]["by"] == "bob"
    assert host.seconds_waited < 30


def test_a_real_time_host_starts_at_the_wall_clock() -> None:
    with pytest.raises(LocalRunError, match="drop start_time"):
        LocalDurableHost(app, start_time=T0, real_time=True)


def test_a_timer_left_uncancelled_keeps_the_orchestration_running_until_it_fires(host: LocalDurableHost) -> None:
    # DurableTask.Core completes an orchestration only when it has no open task (TaskOrchestrationExecutor:
    # `if (!this.context.HasOpenTasks)`); the timers doc: call cancel() on a timer the code will not wait for.
    instance_id = host.start("forgetful_approval_orchestrator", 30)
    host.run_until_idle(instance_id, timer_horizon=timedelta(0))
    host.advance_time(timedelta(minutes=5))
    host.raise_event(instance_id, "approval", {"by": "bob"})

    waiting = host.run_until_idle(instance_id, timer_horizon=timedelta(minutes=10))

    assert waiting is not None
    assert (waiting["runtimeStatus"], waiting["output"]) == ("Running", None)
    status = host.run_until_idle(instance_id)
    assert status is not None
    assert (status["runtimeStatus"], status["output"]) == ("Completed", {"outcome": "approved"})
    assert host.now == T0 + timedelta(minutes=30)


def test_a_cancelled_timer_lets_the_orchestration_complete_at_once(host: LocalDurableHost) -> None:
    instance_id = host.start("approval_orchestrator", {"timeoutMinutes": 30})
    host.run_until_idle(instance_id, timer_horizon=timedelta(0))
    host.raise_event(instance_id, "approval", {"by": "bob"})

    status = host.run_until_idle(instance_id, timer_horizon=timedelta(0))

    assert status is not None
    assert status["runtimeStatus"] == "Completed"


def test_cancelling_a_timer_longer_than_six_days_does_not_reach_the_extension(host: LocalDurableHost) -> None:
    # Beyond Azure Storage's 6-day timers the SDK makes a LongTimerTask, whose cancel() marks only its own
    # action, never the 3-day interval timer it sent (Azure/azure-functions-durable-python#573): the
    # approved instance stays Running until that timer fires.
    instance_id = host.start("approval_orchestrator", {"timeoutMinutes": 7 * 24 * 60})
    host.run_until_idle(instance_id, timer_horizon=timedelta(0))
    host.advance_time(timedelta(hours=1))
    host.raise_event(instance_id, "approval", {"by": "bob"})

    waiting = host.run_until_idle(instance_id, timer_horizon=timedelta(days=1))

    assert waiting is not None
    assert waiting["runtimeStatus"] == "Running"
    status = host.run_until_idle(instance_id)
    assert status is not None
    assert status["runtimeStatus"] == "Completed"
    assert host.now == T0 + timedelta(days=3)


# ------------------------------------------------------------------ the task hub's HTTP API (LocalTaskHub)


def _http(url: str, *, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, method=method, headers=headers or {}, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None, response.headers
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None, error.headers


def _client_calls(hub: Any, *calls: Any) -> list[Any]:
    """Each call(client) through the real DurableOrchestrationClient, on one loop (its aiohttp session is bound
    to the loop that first used it), the session closed afterwards."""
    import asyncio

    from azure.durable_functions.models.utils import http_utils

    loop = asyncio.new_event_loop()
    client = df.DurableOrchestrationClient(hub.client_binding())
    results: list[Any] = []
    try:
        for call in calls:
            try:
                results.append(loop.run_until_complete(call(client)))
            except Exception as exc:  # the client raises bare Exception for a refusal
                results.append(exc)
    finally:
        loop.run_until_complete(http_utils._close_session())
        loop.close()
    return results


def test_task_hub_answers_get_status_with_the_extensions_codes(host: LocalDurableHost) -> None:
    # HttpApiHandler.HandleGetStatusRequestAsync: 202 running; 200 for completed, failed and terminated alike
    # (500 for failed only with returnInternalServerErrorOnFailure=true); 404 with no body.
    from breakerpanel.localrun.taskhub import LocalTaskHub

    failed = host.start("failing_orchestrator", "boom", instance_id="failed-1")
    waiting = host.start("waiting_orchestrator", None, instance_id="waiting-1")
    ended = host.start("waiting_orchestrator", None, instance_id="ended-1")
    host.run_until_idle()
    host.terminate(ended, "enough")
    with LocalTaskHub(host) as hub:
        base = f"{hub.rpc_base_url}instances/"
        assert _http(base + waiting)[0] == 202
        assert _http(base + ended)[:2][0] == 200
        code, body, _ = _http(base + failed)
        assert (code, body["runtimeStatus"]) == (200, "Failed")
        assert _http(base + failed + "?returnInternalServerErrorOnFailure=true")[0] == 500
        assert _http(base + "nobody")[:2] == (404, None)
        assert _http(base + waiting + "?showInput=false")[1]["input"] is None
        assert _http(f"{base}{ended}/raiseEvent/go", method="POST",
                     headers={"Content-Type": "application/json"})[:2] == (410, None)
        assert _http(f"{base}nobody/terminate?reason=x", method="POST")[:2] == (404, None)


def test_task_hub_lists_one_page_in_instance_id_order_with_a_continuation_token(host: LocalDurableHost) -> None:
    # OrchestrationStatusQueryCondition.PageSize = 100; DurableTask.AzureStorage reads its instances table, keyed
    # by instance id, one page per request; the next page's token comes in x-ms-continuation-token (which the
    # Python client drops: Azure/azure-functions-durable-python#580). createdTimeFrom/To filter on creation time.
    from breakerpanel.localrun.taskhub import LocalTaskHub

    for n in range(105):
        host.start("waiting_orchestrator", None, instance_id=f"i-{104 - n:03d}")
        host.advance_time(timedelta(minutes=1))
    with LocalTaskHub(host) as hub:
        first, recent = _client_calls(
            hub,
            lambda client: client.get_status_by(created_time_from=T0),
            # The last five created (i-004 .. i-000): a window filters on creation time.
            lambda client: client.get_status_by(created_time_from=T0 + timedelta(minutes=100)),
        )
        assert [s.instance_id for s in first] == [f"i-{n:03d}" for n in range(100)]
        assert [s.instance_id for s in recent] == ["i-000", "i-001", "i-002", "i-003", "i-004"]
        code, page, headers = _http(f"{hub.rpc_base_url}instances/?top=100")
        assert code == 200 and len(page) == 100
        token = headers["x-ms-continuation-token"]
        code, rest, headers = _http(f"{hub.rpc_base_url}instances/?top=100", headers={"x-ms-continuation-token": token})
        assert [s["instanceId"] for s in rest] == [f"i-{n:03d}" for n in range(100, 105)]
        assert headers["x-ms-continuation-token"] == ""


@pytest.mark.parametrize("instance_id, refusal", [
    ("a/b", "must not contain"),
    ("a#b", "must not contain"),
    ("tab\there", "must not contain"),
    ("@entity", "must not start with @"),
    ("x" * 257, "must not exceed 256"),
])
def test_start_refuses_the_instance_ids_the_extension_refuses(host: LocalDurableHost, instance_id: str,
                                                             refusal: str) -> None:
    # DurableClient.StartNewAsync: no /, \, #, ? or control characters, not '@...', at most 256 characters.
    from breakerpanel.localrun import InvalidInstanceIdError

    with pytest.raises(InvalidInstanceIdError, match=refusal):
        host.start("waiting_orchestrator", None, instance_id=instance_id)
    assert host.start("waiting_orchestrator", None, instance_id="x" * 256) == "x" * 256


def test_task_hub_answers_a_refused_instance_id_with_400_and_the_extensions_message(host: LocalDurableHost) -> None:
    from breakerpanel.localrun.taskhub import LocalTaskHub

    with LocalTaskHub(host) as hub:
        [refused] = _client_calls(hub, lambda client: client.start_new("waiting_orchestrator", "@nope", None))
    assert isinstance(refused, Exception) and "must not start with @" in str(refused)


def test_an_activity_not_awaited_still_runs_and_the_orchestration_completes_after_it(host: LocalDurableHost) -> None:
    # Its TaskScheduled is an open task for DurableTask.Core: the activity runs, then the instance completes.
    instance_id = host.start("fire_and_forget_orchestrator", None)

    status = host.run_until_idle(instance_id)

    assert status is not None
    assert (status["runtimeStatus"], status["output"]) == ("Completed", "NOW!")
    assert [run.name for run in host.activity_executions] == ["shout", "greet"]
    kinds = event_types(host, instance_id)
    assert kinds.index(EventType.TASK_COMPLETED, kinds.index(EventType.TASK_COMPLETED) + 1) < kinds.index(
        EventType.EXECUTION_COMPLETED)


def test_task_hub_refuses_to_start_over_a_running_instance_with_500(host: LocalDurableHost) -> None:
    # DurableTaskOptions.OverridableExistingInstanceStates = NonRunningStates: OrchestrationAlreadyExistsException,
    # answered by HttpApiHandler's catch-all (500). A finished instance is started again under its id.
    from breakerpanel.localrun.taskhub import LocalTaskHub

    host.start("waiting_orchestrator", None, instance_id="singleton")
    with LocalTaskHub(host) as hub:
        code, body, _ = _http(f"{hub.rpc_base_url}orchestrators/waiting_orchestrator/singleton", method="POST")
        assert code == 500 and "OrchestrationAlreadyExists" in body["ExceptionType"]
        host.terminate("singleton", "done")
        again = _client_calls(hub, lambda client: client.start_new("waiting_orchestrator", "singleton", None))
    assert again == ["singleton"]


def test_task_hub_hands_the_orchestrator_an_events_json_text_as_the_extension_does(host: LocalDurableHost) -> None:
    # raise_event posts json.dumps(data) as a JSON value; HttpApiHandler parses the body once (ConvertToJToken),
    # so EventRaised.Input is that text as a JSON string and the orchestrator gets the text, not the dict
    # (Azure/azure-functions-durable-python#295).
    from breakerpanel.localrun.taskhub import LocalTaskHub

    instance_id = host.start("waiting_orchestrator", None)
    host.run_until_idle(instance_id)
    with LocalTaskHub(host) as hub:
        _client_calls(hub, lambda client: client.raise_event(instance_id, "go", {"approved": True}))

    status = host.run_until_idle(instance_id)

    assert status is not None
    assert status["output"] == '{"approved": true}'
