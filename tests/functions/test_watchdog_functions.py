"""The watchdog's Functions: the orchestration through the real replay engine, the Event Grid trigger with the
payloads Event Grid really sends (decoded by azure-functions' own converter), and the health route."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.meta import Datum

import function_app
from breakerpanel.localrun import LocalDurableHost
from breakerpanel.store.base import BREAKER_EVENT, RESULT
from breakerpanel.store.factory import open_store

DATA = Path(__file__).resolve().parents[1] / "unit" / "data"
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _user_function(name: str) -> Any:
    function_app.app.functions_bindings = None
    return next(f for f in function_app.app.get_functions() if f.get_function_name() == name).get_user_function()


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BREAKERPANEL_STORE", "sqlite")
    monkeypatch.setenv("BREAKERPANEL_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def test_the_orchestration_fans_out_one_check_per_workspace(twin: Any, twin_env: dict[str, str], state: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from twin.gateway.loader import load_scenario

    loaded = load_scenario(twin, "two-gateways", start=START)
    for name, value in {**twin_env, "BREAKERPANEL_TARGETS": json.dumps(loaded.targets)}.items():
        monkeypatch.setenv(name, value)
    at = START + timedelta(minutes=25)
    host = LocalDurableHost(function_app.app, start_time=at)
    instance = host.start("watchdog_orchestrator", None, instance_id="breakerpanel-watchdog")
    status = host.run_until_idle(instance)
    assert status is not None and status["runtimeStatus"] == "Completed"
    checks = [e for e in host.activity_executions if e.name == "watch_check"]
    assert len(checks) == 2  # two workspaces: two activities, run side by side by the host
    output = status["output"]
    assert output["status"] == "warning" and output["problems"] == []
    assert {t["target"]["apimName"]: t["status"] for t in output["targets"]} == {
        "apim-gateway-eu": "ok", "apim-gateway-us": "warning"}
    assert [(c["kind"], c["backend"]) for c in output["changes"]] == [("BreakerStuckOpen", "aoai-westus")]


def test_the_orchestration_reports_a_wrong_setting_instead_of_failing(state: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BREAKERPANEL_TARGETS", "[{not json")
    host = LocalDurableHost(function_app.app, start_time=START)
    status = host.run_until_idle(host.start("watchdog_orchestrator", None))
    assert status is not None and status["runtimeStatus"] == "Completed"
    assert status["output"]["status"] == "unknown"
    assert "BREAKERPANEL_TARGETS" in status["output"]["problems"][0]["message"]


def _delivered(fixture: str) -> Any:
    """The event as the Functions worker hands it over, through azure-functions' own converter.

    The docs' CloudEvents sample writes `specVersion`; the CloudEvents 1.0 JSON format, which Event Grid
    delivers (learn.microsoft.com/azure/event-grid/cloud-event-schema: `"specversion": "1.0"`), names every
    attribute in lower case, and that key is how the converter tells the
    schemas apart. The pure parser reads the sample exactly as published (tests/unit/test_watch_incidents.py);
    here the attribute is spelled as the wire carries it.
    """
    raw = json.loads((DATA / fixture).read_text())
    if "specVersion" in raw:
        raw["specversion"] = raw.pop("specVersion")
    return EventGridEventInConverter.decode(Datum(json.dumps(raw), "json"), trigger_metadata={})


@pytest.mark.parametrize("fixture", ["eventgrid_apim_CircuitBreakerOpened_eventgrid-schema.json",
                                     "eventgrid_apim_CircuitBreakerOpened_cloudevent-schema.json"])
def test_breaker_events_stores_each_transition_once_however_often_it_arrives(state: Path, fixture: str) -> None:
    breaker_events = _user_function("breaker_events")
    for _ in range(3):  # at-least-once delivery
        breaker_events(_delivered(fixture))
    (record,) = open_store().list(BREAKER_EVENT)
    assert record.value["eventId"] == "92c502f2-a966-42a7-a428-d3b319844544"
    assert record.value["state"] == "opened" and record.value["backend"] == "{backend-name}"
    assert record.value["at"].startswith("2025-04-02T00:47:4")


def test_breaker_events_acknowledges_an_event_it_does_not_store(state: Path) -> None:
    raw = json.loads((DATA / "eventgrid_apim_CircuitBreakerOpened_eventgrid-schema.json").read_text())
    raw["eventType"] = "Microsoft.ApiManagement.APICreated"
    event = EventGridEventInConverter.decode(Datum(json.dumps(raw), "json"), trigger_metadata={})
    _user_function("breaker_events")(event)  # no exception: Event Grid must not retry it forever
    assert open_store().list(BREAKER_EVENT) == []


def test_breaker_events_fails_the_delivery_when_it_cannot_store(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("BREAKERPANEL_STORE", "sqlite")
    monkeypatch.setenv("BREAKERPANEL_STATE_DIR", str(blocker / "state"))
    with pytest.raises(Exception, match=r"unavailable|directory|state"):
        _user_function("breaker_events")(_delivered("eventgrid_apim_CircuitBreakerOpened_eventgrid-schema.json"))


def test_health_answers_the_latest_result_per_target(state: Path) -> None:
    health = _user_function("health")
    request = func.HttpRequest("GET", "/api/health", body=b"")
    empty = health(request)
    assert empty.status_code == 503 and json.loads(empty.get_body())["status"] == "unknown"
    store = open_store()
    store.insert(RESULT, "a", {"target": {"apimName": "a"}, "status": "ok", "at": "2026-12-01T10:00:00Z"})
    assert health(request).status_code == 200
    store.insert(RESULT, "b", {"target": {"apimName": "b"}, "status": "critical", "at": "2026-12-01T10:00:00Z"})
    answer = health(request)
    body = json.loads(answer.get_body())
    assert answer.status_code == 503 and body["status"] == "critical" and body["exitCode"] == 2
    assert {t["target"]["apimName"] for t in body["targets"]} == {"a", "b"}


def test_the_timer_starts_one_pass_and_skips_while_it_runs_and_a_silent_task_hub_only_logs(
    state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    from azure.durable_functions.models.utils import http_utils

    from breakerpanel.localrun.taskhub import LocalTaskHub
    from tests.functions.silent_task_hub import unanswered_binding

    timer = _user_function("watchdog_timer")
    host = LocalDurableHost(function_app.app, start_time=START)
    # The durable SDK's one aiohttp session is bound to the loop that first used it: one loop, as the worker has.
    loop = asyncio.new_event_loop()
    try:
        with LocalTaskHub(host) as hub:
            loop.run_until_complete(timer(timer=None, client=hub.client_binding()))
            assert host.status("breakerpanel-watchdog")["runtimeStatus"] == "Pending"
            loop.run_until_complete(timer(timer=None, client=hub.client_binding()))
            assert "still going; this one is skipped" in caplog.text

            # No exception when the task hub does not answer: the next tick is the retry.
            loop.run_until_complete(timer(timer=None, client=unanswered_binding(hub)))
    finally:
        loop.run_until_complete(http_utils._close_session())
        loop.close()
    assert "did not start this pass" in caplog.text and "Traceback" not in caplog.text
