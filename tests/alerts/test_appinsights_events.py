"""Incident transitions and rollout outcomes reach Application Insights as custom events: through the real
Azure Monitor exporter, over HTTPS with a bearer token, into the twin's ingestion endpoint, and back out
through KQL as customEvents (component) and AppEvents (workspace)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from breakerpanel.watchdog.replay import environment, replay

pytestmark = pytest.mark.twin
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    table = answer["tables"][0]
    names = [c["name"] for c in table["columns"]]
    return [dict(zip(names, row, strict=True)) for row in table["rows"]]


def test_a_stuck_breaker_opens_and_resolves_as_two_custom_events(twin_server: Any, tmp_path: Path) -> None:
    result = replay(twin_server, "region-down", start=START, state_dir=tmp_path / "state",
                    extra_env=twin_server.app_insights_environment())
    opened = [i for _, i in result.changes("opened")]
    resolved = [i for _, i in result.changes("resolved")]
    assert opened and resolved
    rows = _rows(twin_server.twin.app_insights.query(
        'customEvents | project timestamp, name, d = customDimensions | order by timestamp asc'))
    assert [r["name"] for r in rows] == ["IncidentOpened", "IncidentResolved"]
    first = json.loads(rows[0]["d"]) if isinstance(rows[0]["d"], str) else rows[0]["d"]
    incident = opened[0]
    assert first["target"] == "apim-gateway" and first["kind"] == incident["kind"] == "BreakerStuckOpen"
    assert first["backend"] == incident["backend"] and first["severity"] == "warning"
    assert first["incidentKey"] == incident["key"] and first["incidentId"] == incident["id"]
    assert first["state"] == "open" and first["resourceGroup"] == "rg-gateway"
    # The event's time is the watchdog's decision (openedAt), not when the exporter happened to run.
    assert rows[0]["timestamp"].startswith(incident["openedAt"].rstrip("Z")[:16])
    # Every pass delivered its own transitions and nothing else: one event per transition, ever.
    assert sum(p.report["alerts"]["delivered"] for p in result.passes) == 2
    assert all(not p.report["alerts"]["problems"] for p in result.passes)


def test_the_exporter_sent_event_envelopes_with_an_entra_token(twin_server: Any, tmp_path: Path) -> None:
    replay(twin_server, "region-down", start=START, state_dir=tmp_path / "state",
           extra_env=twin_server.app_insights_environment())
    posts = twin_server.twin.captured("appinsights.track")
    assert posts and all(p["status"] == 200 for p in posts)
    envelope = posts[0]["body"][0]
    assert envelope["name"] == "Microsoft.ApplicationInsights.Event"
    assert envelope["data"]["baseType"] == "EventData"
    assert envelope["data"]["baseData"]["name"] == "IncidentOpened"
    assert "microsoft.custom_event.name" not in envelope["data"]["baseData"]["properties"]
    # Without a token the endpoint refuses, as a component with local auth off does.
    url = twin_server.url + "/v2.1/track"
    answer = requests.post(url, json=[envelope], verify=str(twin_server.ca_path), timeout=5)
    assert answer.status_code == 401


def test_the_events_are_queryable_through_the_logs_query_api(twin_server: Any, tmp_path: Path) -> None:
    from azure.monitor.query import LogsQueryClient

    from breakerpanel.azure.clients import StaticTokenCredential
    from twin.app_insights.state import DEFAULT_COMPONENT, DEFAULT_WORKSPACE

    replay(twin_server, "region-down", start=START, state_dir=tmp_path / "state",
           extra_env=twin_server.app_insights_environment())
    client = LogsQueryClient(StaticTokenCredential("t"), endpoint=twin_server.url,
                             connection_verify=str(twin_server.ca_path), retry_total=0)
    component = client.query_resource(DEFAULT_COMPONENT, "customEvents | summarize count() by name", timespan=None)
    assert sorted(tuple(r) for r in component.tables[0].rows) == [("IncidentOpened", 1), ("IncidentResolved", 1)]
    workspace = client.query_workspace(DEFAULT_WORKSPACE, 'AppEvents | where Name == "IncidentOpened" '
                                       '| project k = tostring(Properties["kind"])', timespan=None)
    assert [tuple(r) for r in workspace.tables[0].rows] == [("BreakerStuckOpen",)]


def test_a_dead_ingestion_endpoint_never_fails_the_watchdog_and_is_retried(twin_server: Any, tmp_path: Path) -> None:
    from datetime import timedelta

    from breakerpanel.store.base import OUTBOX
    from breakerpanel.store.factory import open_store

    env = {**twin_server.app_insights_environment(),
           "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-4000-8000-0000000a1b2c;"
                                                    "IngestionEndpoint=https://127.0.0.1:9/"}
    # Recent: an event more than 48 h old is past what ingestion accepts, a refusal rather than a retry.
    recent = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    result = replay(twin_server, "region-down", start=recent, state_dir=tmp_path / "state", extra_env=env)
    assert result.changes("opened") and result.changes("resolved")  # the watchdog itself carried on
    assert sum(p.report["alerts"]["failed"] for p in result.passes) >= 1
    with environment({"BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(tmp_path / "state")}):
        entries = open_store().list(OUTBOX)
    states = [e.value["sinks"]["appInsights"] for e in entries]
    assert len(states) == 2 and all(s["state"] == "pending" and s["nextAttemptAt"] for s in states)
    assert all("127.0.0.1" not in str(s["lastError"]) for s in states)


def test_rollout_outcomes_become_custom_events(twin_server: Any, tmp_path: Path) -> None:
    from breakerpanel.alerts.dispatch import after_rollout
    from breakerpanel.settings import load_settings
    from breakerpanel.store.sqlite_store import SqliteStore

    twin_server.twin.reset()
    twin_server.twin.logs.set_now(datetime(2026, 12, 1, 10, 10, tzinfo=UTC))  # ingestion's clock: the rollout's
    target = {"subscriptionId": "s1", "resourceGroup": "rg-gateway", "apimName": "apim-gateway"}
    result = {"rolloutId": "rollout-1", "status": "failed", "finishedAt": "2026-12-01T10:05:00Z", "targets": {
        "t1": {"target": target, "wave": 1, "phase": "failed", "deploymentName": "bp-rollout-1-x",
               "result": {"status": "failed", "stage": "deploy",
                          "diagnoses": [{"code": "ValidationError", "message": "Backend Entity 'x' not found."}],
                          "rollback": {"ran": True, "deploymentName": "bp-rollout-1-x-rb"}}}}}
    with environment({**twin_server.environment(), **twin_server.app_insights_environment()}):
        store = SqliteStore(tmp_path / "s.sqlite3")
        first = after_rollout(load_settings(), store, result)
        again = after_rollout(load_settings(), store, result)  # a replayed activity: staged once, sent once
    assert first["delivered"] == 1 and again["delivered"] == 0
    rows = _rows(twin_server.twin.app_insights.query(
        'customEvents | project name, o = tostring(customDimensions["outcome"]), '
        'd = tostring(customDimensions["deployment"]), r = tostring(customDimensions["rolloutId"])'))
    assert rows == [{"name": "RolloutCompleted", "o": "rolledBack", "d": "bp-rollout-1-x", "r": "rollout-1"}]


def _sink_and_notification(twin_server: Any, timeout: float) -> tuple[Any, dict[str, Any]]:
    from breakerpanel.alerts.appinsights import AppInsightsSink
    from breakerpanel.azure.clients import StaticTokenCredential

    sink = AppInsightsSink(twin_server.app_insights_environment()["APPLICATIONINSIGHTS_CONNECTION_STRING"],
                           StaticTokenCredential("t"), timeout)
    notification = {"event": "IncidentOpened", "time": "2026-12-01T10:20:00Z", "idempotencyKey": "bp-probe",
                    "dimensions": {"target": "apim-gateway"}, "title": "probe"}
    return sink, notification


def test_an_ingestion_endpoint_that_does_not_answer_is_given_up_on_within_the_alert_timeout(
        twin_server: Any) -> None:
    """BREAKERPANEL_ALERT_TIMEOUT bounds one delivery. The exporter's `timeout` is only azure-core's connection
    timeout; its read timeout stays at the transport's 300 s, so an endpoint that accepts the connection and
    then stalls held the watchdog run for minutes."""
    import time

    from twin.faults import FaultRule

    twin_server.twin.reset()
    twin_server.twin.faults.add(FaultRule(route="appinsights.track", kind="latency", latency_ms=4000))
    try:
        with environment({**twin_server.environment(), **twin_server.app_insights_environment()}):
            sink, notification = _sink_and_notification(twin_server, timeout=0.5)
            started = time.monotonic()
            delivery = sink.deliver({**notification, "time": datetime.now(UTC).isoformat()})
            took = time.monotonic() - started
            sink.close()
    finally:
        twin_server.twin.reset()
    assert not delivery.ok and not delivery.final  # retried on a later run
    assert took < 2.5


def test_a_large_evidence_arrives_as_json_within_the_property_value_limit(twin_server: Any) -> None:
    """Application Insights keeps 8192 characters of a property value (the exporter cuts there). Evidence cut
    to a head of ~8000 characters and quoted again grew past that (every quote of the JSON head escaped), so
    the exporter's cut left customDimensions.evidence that was not JSON."""
    from breakerpanel.alerts.payloads import incident_notification

    twin_server.twin.reset()
    view = {"kind": "BreakerStuckOpen", "state": "opened", "severity": "warning", "target": "apim-gateway",
            "subscriptionId": "sub", "resourceGroup": "rg-gateway", "backend": "aoai-0",
            "since": "2026-12-01T10:05:00Z", "openedAt": "2026-12-01T10:20:00Z",
            "id": "sub/rg-gateway/apim-gateway|BreakerStuckOpen:backend:aoai-0#2026-12-01T10:05:00Z",
            "key": "sub/rg-gateway/apim-gateway|BreakerStuckOpen:backend:aoai-0", "runbook": "",
            "evidence": {"bins": [{"t": f"2026-12-01T10:{i % 60:02d}:00Z", "backend": f"aoai-{i}", "status": 429}
                                  for i in range(400)]}}
    notification = incident_notification(view)
    assert notification is not None
    twin_server.twin.logs.set_now(datetime(2026, 12, 1, 11, 0, tzinfo=UTC))
    with environment({**twin_server.environment(), **twin_server.app_insights_environment()}):
        sink, _ = _sink_and_notification(twin_server, timeout=5)
        assert sink.deliver(notification).ok
        sink.close()
    rows = _rows(twin_server.twin.app_insights.query(
        'customEvents | project e = tostring(customDimensions["evidence"])'))
    twin_server.twin.reset()
    evidence = rows[0]["e"]
    assert len(evidence) <= 8192
    kept = json.loads(evidence)
    assert kept["truncated"] is True and kept["head"].startswith('{"bins":[{"backend":"aoai-0"')


def test_a_closed_sink_leaves_no_handler_and_no_connection_behind(twin_server: Any) -> None:
    """A sink is opened per run, and a Functions worker lives for many runs: close() must release the logging
    handler (logging's registry kept it, and with it the provider and exporter) and the exporter's pooled
    ingestion connection (its shutdown closes only the offline storage). Before, every run left both."""
    import gc
    import logging
    import os
    import time

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("counts open descriptors through /proc/self/fd (Linux)")

    def descriptors() -> int:
        return len(os.listdir("/proc/self/fd"))

    twin_server.twin.reset()
    twin_server.twin.logs.set_now(datetime(2026, 12, 1, 10, 30, tzinfo=UTC))
    with environment({**twin_server.environment(), **twin_server.app_insights_environment()}):
        sink, notification = _sink_and_notification(twin_server, timeout=5)  # warm: imports, the twin's pool
        assert sink.deliver(notification).ok
        sink.close()
        gc.collect()
        before = descriptors()
        names = []
        for _ in range(10):
            sink, notification = _sink_and_notification(twin_server, timeout=5)
            assert sink.deliver(notification).ok
            names.append(sink._logger.name)
            sink.close()
        del sink
    gc.collect()
    deadline = time.monotonic() + 5
    while descriptors() > before + 2 and time.monotonic() < deadline:  # the twin's side closes a moment later
        time.sleep(0.05)
    twin_server.twin.reset()
    assert all(not logging.getLogger(name).handlers for name in names)
    assert descriptors() <= before + 2


def test_an_event_older_than_ingestion_accepts_is_a_refusal_with_its_reason(twin_server: Any) -> None:
    """Ingestion refuses an item whose time is more than 48 h before its clock (Breeze's "103: Field 'time' on
    type 'Envelope' is older than the allowed min date. Expected: now - 172800000ms"); the event keeps the
    watchdog's decision time, so once that is 48 h old a retry can never succeed. It was retried hourly until
    the outbox gave up at 7 days, `expired`, with no word of why; now it is `rejected`, saying so. A younger
    event that fails stays a retry."""
    from datetime import timedelta

    from twin.faults import FaultRule

    now = datetime.now(UTC)
    twin_server.twin.reset()
    twin_server.twin.logs.set_now(now)  # the twin's ingestion on the real clock, as Azure's is
    try:
        with environment({**twin_server.environment(), **twin_server.app_insights_environment()}):
            sink, notification = _sink_and_notification(twin_server, timeout=5)
            old = sink.deliver({**notification, "time": (now - timedelta(hours=60)).isoformat()})
            twin_server.twin.faults.add(FaultRule(route="appinsights.track", kind="error", status=503))
            young = sink.deliver({**notification, "time": (now - timedelta(hours=2)).isoformat()})
            sink.close()
        refused = twin_server.twin.captured("appinsights.track")
    finally:
        twin_server.twin.reset()
    assert refused and twin_server.twin.app_insights.count() == 0
    assert (old.ok, old.final) == (False, True) and "48 h" in str(old.error)
    assert (young.ok, young.final) == (False, False)
