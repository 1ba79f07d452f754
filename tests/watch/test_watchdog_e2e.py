"""The watchdog end to end: twin scenarios through `watch --once --at T --json` every 5 minutes of scenario time.

Real SDK clients (DeploymentsMgmtClient, ApiManagementClient, LogsQueryClient) talk HTTPS to the twin; the
state store is the SQLite file the CLI uses by default, or Azure Table storage on Azurite (TableClient).
Each test reads what an on-call engineer would: which incident opened, when, that it stayed quiet while
open, that it resolved, and the exit code a cron job or probe sees.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from breakerpanel.watchdog.replay import PERIOD, THRESHOLDS, Replay, environment, replay, run_pass, score

pytestmark = pytest.mark.twin
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
INCIDENT_FIELDS = {"kind", "state", "severity", "target", "since", "evidence", "runbook"}


def _run(twin_server: Any, tmp_path: Path, scenario: str, **kwargs: Any) -> Replay:
    twin_server.twin.reset()
    return replay(twin_server, scenario, start=START, state_dir=tmp_path / "state", **kwargs)


def _opened(result: Replay) -> list[tuple[str, str, str]]:
    return sorted((i["kind"], i["target"], i.get("backend") or i.get("pool") or i.get("deployment"))
                  for _, i in result.changes("opened"))


def _assert_on_time(result: Replay) -> None:
    scored = score(result)
    assert not scored.missed, [(d.kind, d.subject) for d in scored.missed]
    assert not scored.false, [(d.kind, d.subject) for d in scored.false]
    assert scored.repeats == 0
    for detection in scored.detections:
        assert detection.late_by is not None and detection.late_by <= timedelta(0), detection


def test_a_region_down_opens_one_incident_stays_quiet_and_resolves(twin_server: Any, tmp_path: Path) -> None:
    result = _run(twin_server, tmp_path, "region-down")
    assert _opened(result) == [("BreakerStuckOpen", "apim-gateway", "aoai-westus")]
    _assert_on_time(result)
    states = [[i["state"] for i in p.report["incidents"]] for p in result.passes]
    first = next(n for n, s in enumerate(states) if s == ["opened"])
    last = next(n for n, s in enumerate(states) if s == ["resolved"])
    assert all(s == ["ongoing"] for s in states[first + 1 : last]), states  # quiet while open: no new alert
    assert all(s == [] for s in states[last + 1 :])  # a resolved incident is reported once
    codes = [p.exit_code for p in result.passes]
    assert codes[:first] == [0] * first and set(codes[first:last]) == {1} and codes[last] == 0
    incident = result.passes[first].report["incidents"][0]
    assert set(incident) >= INCIDENT_FIELDS and incident["backend"] == "aoai-westus"
    assert incident["severity"] == "warning" and incident["runbook"]
    since = datetime.fromisoformat(incident["since"].replace("Z", "+00:00"))
    truth = result.expected[0]
    assert abs(since - truth.onset) <= timedelta(minutes=1)  # since = when it began, not when it was noticed
    assert incident["evidence"]["successes"] == 0 and incident["evidence"]["source"] == "logs"
    target = result.passes[first].report["targets"][0]
    assert target["status"] == "warning" and target["sources"] == {
        "gatewayLogs": True, "backends": True, "deployments": True}


@pytest.mark.parametrize("scenario", ["burst-429", "flapping", "low-traffic"])
def test_what_is_not_an_outage_raises_nothing(twin_server: Any, tmp_path: Path, scenario: str) -> None:
    result = _run(twin_server, tmp_path, scenario)
    assert _opened(result) == []
    assert {p.exit_code for p in result.passes} == {0}


def test_quota_exhaustion_on_the_top_group_is_stuck_breakers_and_a_degraded_pool(twin_server: Any,
                                                                                 tmp_path: Path) -> None:
    result = _run(twin_server, tmp_path, "quota-exhausted")
    assert _opened(result) == [("BreakerStuckOpen", "apim-gateway", "aoai-eastus"),
                               ("BreakerStuckOpen", "apim-gateway", "aoai-westus"),
                               ("PoolDegraded", "apim-gateway", "aoai-pool")]
    _assert_on_time(result)
    stuck = next(i for _, i in result.changes("opened") if i.get("backend") == "aoai-eastus")
    assert stuck["evidence"]["skippedByPoolBins"] > 0  # the pool routed around it: that is the evidence
    assert len(result.changes("resolved")) == 3


def test_pool_exhausted_with_event_grid_events_on_table_storage(twin_server: Any, tmp_path: Path,
                                                                azurite: str) -> None:
    table = "bp" + uuid.uuid4().hex[:12]
    result = _run(twin_server, tmp_path, "pool-exhausted", events=True, extra_env={
        "BREAKERPANEL_STORE": "table", "AzureWebJobsStorage": azurite, "BREAKERPANEL_STORE_TABLE": table})
    assert ("PoolExhausted", "apim-gateway", "aoai-pool") in _opened(result)
    assert ("PoolDegraded", "apim-gateway", "aoai-pool") not in _opened(result)  # one incident per pool
    _assert_on_time(result)
    exhausted = next(i for _, i in result.changes("opened") if i["kind"] == "PoolExhausted")
    assert exhausted["severity"] == "critical" and exhausted["evidence"]["gatewayAnswered"] > 0
    assert 2 in [p.exit_code for p in result.passes]
    member = next(i for _, i in result.changes("opened") if i.get("backend") == "aoai-eastus")
    assert member["evidence"]["source"] == "events"
    assert {i["kind"] for _, i in result.changes("resolved")} == {"PoolExhausted", "BreakerStuckOpen"}


def test_a_401_the_rule_does_not_count_is_a_blind_spot(twin_server: Any, tmp_path: Path) -> None:
    result = _run(twin_server, tmp_path, "identity-401")
    assert _opened(result) == [("BreakerBlindSpot", "apim-gateway", "aoai-eastus")]
    _assert_on_time(result)
    blind = result.changes("opened")[0][1]
    assert blind["evidence"]["ignoredFailures"] >= 5 and 401 in blind["evidence"]["uncountedCodes"]


def test_a_teammates_failed_deployment_is_diagnosed(twin_server: Any, tmp_path: Path) -> None:
    result = _run(twin_server, tmp_path, "failed-deployment")
    assert _opened(result) == [("ProvisioningFailed", "apim-gateway", "hotfix-add-northeurope")]
    _assert_on_time(result)
    incident = result.changes("opened")[0][1]
    assert incident["severity"] == "critical"
    operation = incident["evidence"]["failedOperations"][0]
    assert operation["code"] == "ValidationError" and "aoai-northeurope" in operation["message"]
    assert operation["cause"] and operation["fix"]
    assert {p.exit_code for p in result.passes[len(result.passes) // 2 :]} == {2}  # stays open, stays critical


def test_two_gateways_with_the_same_backend_names_are_told_apart(twin_server: Any, tmp_path: Path) -> None:
    result = _run(twin_server, tmp_path, "two-gateways")
    assert _opened(result) == [("BreakerStuckOpen", "apim-gateway-us", "aoai-westus")]
    statuses = {t["target"]: t["status"] for t in result.passes[4].report["targets"]}
    assert statuses == {"apim-gateway-eu": "ok", "apim-gateway-us": "warning"}


def _load(twin_server: Any, tmp_path: Path, scenario: str) -> tuple[Any, dict[str, str]]:
    from twin.gateway.loader import load_scenario

    twin_server.twin.reset()
    loaded = load_scenario(twin_server.twin, scenario, start=START)
    env = {**twin_server.environment(), "BREAKERPANEL_TARGETS": json.dumps(loaded.targets),
           "BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(tmp_path / "state")}
    return loaded, env


def test_logs_that_cannot_be_read_are_unknown_and_never_resolve(twin_server: Any, tmp_path: Path) -> None:
    from twin.faults import parse_rule

    loaded, env = _load(twin_server, tmp_path, "region-down")
    down = loaded.expected[0]
    with environment(env):
        opened_at = down.onset + THRESHOLDS["BreakerStuckOpen"] + PERIOD
        assert [i["state"] for i in run_pass(opened_at).report["incidents"]] == ["opened"]
        # After the region is back, Log Analytics answers 500, then drops the connection: nothing is known.
        after = down.end + timedelta(minutes=15)
        for fault in ({"route": "logs.query", "kind": "error", "status": 500}, {"route": "logs.query", "kind": "drop"}):
            twin_server.twin.faults.set([parse_rule(fault)])
            unknown = run_pass(after)
            assert unknown.exit_code == 3 and unknown.report["status"] == "unknown"
            (incident,) = unknown.report["incidents"]
            assert incident["state"] == "ongoing" and incident.get("dataUnknown") is True
            (target,) = unknown.report["targets"]
            assert target["sources"]["gatewayLogs"] is False and target["problems"][0]["source"] == "gatewayLogs"
        twin_server.twin.faults.clear()
        assert [i["state"] for i in run_pass(after).report["incidents"]] == ["resolved"]


def test_two_overlapping_runs_open_an_incident_once(twin_server: Any, tmp_path: Path) -> None:
    from breakerpanel.settings import load_settings
    from breakerpanel.store.factory import open_store
    from breakerpanel.targets import load_targets
    from breakerpanel.watchdog.check import check_group
    from breakerpanel.watchdog.settings import load_watch_settings

    loaded, env = _load(twin_server, tmp_path, "region-down")
    at = loaded.expected[0].onset + timedelta(minutes=12)
    with environment(env):
        settings, watch, targets = load_settings(), load_watch_settings(), load_targets()
        results: list[list[dict[str, Any]]] = []

        def one_run() -> None:
            results.append(check_group(settings, watch, targets, open_store(), at))

        runs = [threading.Thread(target=one_run) for _ in range(2)]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
    opened = [i for r in results for t in r for i in t["incidents"] if i["state"] == "opened"]
    assert len(opened) == 1 and opened[0]["backend"] == "aoai-westus"
