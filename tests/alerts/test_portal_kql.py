"""The Portal part, offline: the alert rules' KQL and every workbook query, read from infra/app, run in the
twin over the custom events the app really sent during a replayed scenario — and checked by Microsoft's own
Kusto language service, so a query the twin's engine tolerates but Log Analytics would refuse fails here.

An alert rule's evaluation at T is emulated as Azure Monitor does it: the query over the rows of
(T - windowSize, T] already ingested at T (the twin's ingestion delay applies), then `Count` of rows per
dimension combination compared with the threshold; with auto-mitigate the alert resolves at the first
evaluation that no longer meets it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from breakerpanel.alert_rules import Rule, firing, infra_rules
from breakerpanel.watchdog.replay import PERIOD, Replay, environment, replay

ROOT = Path(__file__).resolve().parents[2]
WORKBOOK = ROOT / "infra/app/workbook.json"
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def alert_rules() -> dict[str, Rule]:
    """Every scheduled query rule of monitoring.bicep, with the KQL file it loads (the product's reader)."""
    return infra_rules()


def workbook_queries() -> dict[str, dict[str, Any]]:
    items = json.loads(WORKBOOK.read_text())["items"]
    return {i["name"]: i["content"] for i in items if i.get("type") == 3}


def _rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    table = answer["tables"][0]
    names = [c["name"] for c in table["columns"]]
    return [dict(zip(names, row, strict=True)) for row in table["rows"]]


def _window(end: datetime, size: timedelta) -> str:
    from twin.app_insights.state import event_window

    return event_window(end, size)


def fires(twin: Any, rule: Rule, at: datetime) -> list[dict[str, Any]]:
    """The dimension combinations the rule fires for when evaluated at `at` (empty: silent or resolved)."""
    twin.logs.set_now(at)
    return firing(rule, _rows(twin.app_insights.query(rule.query, _window(at, rule.window))))


def _replay(twin_server: Any, tmp_path: Path, scenario: str) -> Replay:
    return replay(twin_server, scenario, start=START, state_dir=tmp_path / scenario,
                  extra_env=twin_server.app_insights_environment())


def _evaluations(result: Replay, extra: timedelta = timedelta(minutes=15)) -> list[datetime]:
    moments, at = [], result.start + PERIOD
    end = result.passes[-1].at + extra
    while at <= end:
        moments.append(at)
        at += PERIOD
    return moments


# ---- the rules fire on what the app emitted ------------------------------------------------------------

@pytest.mark.twin
def test_breaker_stuck_fires_while_the_incident_is_open_and_resolves_with_it(twin_server: Any,
                                                                             tmp_path: Path) -> None:
    rule = alert_rules()["breaker-stuck"]
    assert rule.auto_mitigate and "incidentKey" in rule.dimensions
    result = _replay(twin_server, tmp_path, "region-down")
    (opened_at, incident), = result.changes("opened")
    (resolved_at, _), = result.changes("resolved")
    twin = twin_server.twin
    timeline = {at: fires(twin, rule, at) for at in _evaluations(result)}
    firing = [at for at, found in timeline.items() if found]
    # Ingestion lag (the twin's 2 minutes) puts the first firing one evaluation after the watchdog's.
    assert firing[0] == opened_at + PERIOD and firing[-1] == resolved_at
    assert all(timeline[at] for at in firing) and firing == sorted(firing)
    assert len(firing) == (resolved_at - opened_at) / PERIOD
    assert timeline[firing[0]] == [{"incidentKey": incident["key"], "target": "apim-gateway",
                                    "subject": incident["backend"], "incidentKind": "BreakerStuckOpen"}]


@pytest.mark.twin
def test_breaker_stuck_stays_silent_for_a_short_burst(twin_server: Any, tmp_path: Path) -> None:
    rule = alert_rules()["breaker-stuck"]
    result = _replay(twin_server, tmp_path, "burst-429")
    assert not result.changes("opened")
    assert not any(fires(twin_server.twin, rule, at) for at in _evaluations(result))


@pytest.mark.twin
def test_the_deployment_rule_fires_for_a_failed_provisioning(twin_server: Any, tmp_path: Path) -> None:
    rules = alert_rules()
    result = _replay(twin_server, tmp_path, "failed-deployment")
    opened = [i for _, i in result.changes("opened") if i["kind"] == "ProvisioningFailed"]
    assert opened
    fired = [found for at in _evaluations(result) if (found := fires(twin_server.twin, rules["deployment-failed"], at))]
    assert fired and fired[0][0]["deployment"] == opened[0]["deployment"]
    assert not any(fires(twin_server.twin, rules["breaker-stuck"], at) for at in _evaluations(result))


@pytest.mark.twin
def test_the_rollout_rule_fires_for_a_rolled_back_rollout(twin_server: Any, tmp_path: Path) -> None:
    from breakerpanel.alerts.dispatch import after_rollout
    from breakerpanel.settings import load_settings
    from breakerpanel.store.sqlite_store import SqliteStore

    twin_server.twin.reset()
    # Ingestion's clock at the rollout's end: it refuses an event more than 48 h older than its clock.
    twin_server.twin.logs.set_now(START + timedelta(minutes=7))
    with environment({**twin_server.environment(), **twin_server.app_insights_environment()}):
        after_rollout(load_settings(), SqliteStore(tmp_path / "s.sqlite3"), _rolled_back())
    rule = alert_rules()["rollout-failed"]
    assert not rule.auto_mitigate
    assert fires(twin_server.twin, rule, START + timedelta(minutes=10)) == [
        {"rolloutId": "rollout-demo", "target": "apim-gateway"}]
    assert not fires(twin_server.twin, rule, START + timedelta(hours=1))


def _rolled_back() -> dict[str, Any]:
    target = {"subscriptionId": "00000000-0000-0000-0000-000000000001", "resourceGroup": "rg-gateway",
              "apimName": "apim-gateway"}
    return {"rolloutId": "rollout-demo", "status": "failed", "finishedAt": (START + timedelta(minutes=6)).isoformat(),
            "targets": {"t": {"target": target, "wave": 1, "phase": "failed", "deploymentName": "bp-demo",
                              "result": {"status": "failed", "stage": "deploy",
                                         "rollback": {"ran": True, "deploymentName": "bp-demo-rb"}}}}}


# ---- every workbook panel runs and shows the scenario -------------------------------------------------

@pytest.mark.twin
def test_every_workbook_panel_runs_and_shows_data(twin_server: Any, tmp_path: Path) -> None:
    from breakerpanel.alerts.dispatch import after_rollout
    from breakerpanel.settings import load_settings
    from breakerpanel.store.sqlite_store import SqliteStore

    result = _replay(twin_server, tmp_path, "region-down")
    twin = twin_server.twin
    with environment({**twin_server.environment(), **twin_server.app_insights_environment()}):
        after_rollout(load_settings(), SqliteStore(tmp_path / "s.sqlite3"), _rolled_back())
    end = result.passes[-1].at
    # The open-incidents panel shows an incident while it is open: look at the scenario mid-incident too.
    (opened_at, _), = result.changes("opened")
    panels = workbook_queries()
    assert {"incident-transitions", "open-incidents", "incidents-by-subject", "rollouts",
            "gateway-per-backend"} <= set(panels)
    from twin.gateway.scenarios import WORKSPACE as workspace  # the scenario's gateway-log workspace

    for name, content in panels.items():
        at = opened_at + PERIOD if name == "open-incidents" else end
        twin.logs.set_now(at)
        span = _window(at, timedelta(days=1))
        if content["resourceType"] == "microsoft.insights/components":
            rows = _rows(twin.app_insights.query(content["query"], span))
        else:
            rows = _rows(twin.logs.query(content["query"], span, workspace_id=workspace))
        assert rows, f"workbook panel {name!r} shows nothing for the region-down scenario"


# ---- Microsoft's Kusto language service accepts every text ---------------------------------------------

def _schemas() -> dict[str, dict[str, str]]:
    from twin.app_insights.schema import APP_EVENTS_COLUMNS, CUSTOM_EVENTS_COLUMNS
    from twin.log_analytics.schema import COLUMNS, TABLE

    return {"customEvents": dict(CUSTOM_EVENTS_COLUMNS), "AppEvents": dict(APP_EVENTS_COLUMNS), TABLE: dict(COLUMNS)}


def kusto_errors(queries: dict[str, str]) -> dict[str, list[str]]:
    node = shutil.which("node")
    service = ROOT / "node_modules/@kusto/language-service-next/Kusto.Language.Bridge.js"
    if node is None or not service.exists():
        pytest.skip("node or @kusto/language-service-next is missing (npm ci installs it)")
    answer = subprocess.run([node, str(Path(__file__).with_name("kusto_check.js"))],
                            input=json.dumps({"tables": _schemas(), "queries": queries}),
                            capture_output=True, text=True, timeout=120, check=True)
    return json.loads(answer.stdout)


def test_every_alert_rule_and_workbook_query_passes_the_kusto_language_service() -> None:
    queries = {f"rule {r.name}": r.query for r in alert_rules().values()}
    queries |= {f"panel {n}": c["query"] for n, c in workbook_queries().items()}
    assert len(queries) >= 8
    assert kusto_errors(queries) == {name: [] for name in queries}


def test_the_language_service_catches_what_the_twin_would_not_notice() -> None:
    found = kusto_errors({"unknown column": "customEvents | project customDimension",
                          "bad function": "customEvents | summarize countiff(name == 'x')"})
    assert all(found.values()), found


# ---- the product's rule reader: what it refuses, and the query API path the demo evaluates through --------

def test_a_rule_the_reader_cannot_follow_is_named() -> None:
    from breakerpanel.alert_rules import RuleFileError, parse_rules

    bicep = ("\nresource broken 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {\n"
             "  name: '${appInsightsName}-half-a-rule'\n  properties: {\n    windowSize: 'PT5M'\n  }\n}\n")
    with pytest.raises(RuleFileError, match="half-a-rule"):
        parse_rules(bicep, lambda name: "")


@pytest.mark.twin
def test_a_rule_evaluated_through_the_query_api_fires_as_the_twin_query_does(twin_server: Any,
                                                                              tmp_path: Path) -> None:
    from breakerpanel.alert_rules import evaluate
    from breakerpanel.settings import load_settings
    from twin.app_insights.state import DEFAULT_COMPONENT

    rule = alert_rules()["breaker-stuck"]
    result = _replay(twin_server, tmp_path, "region-down")
    (opened_at, incident), = result.changes("opened")
    at = opened_at + PERIOD
    direct = fires(twin_server.twin, rule, at)
    from breakerpanel.azure.clients import logs_client

    with environment(twin_server.environment()), logs_client(load_settings()) as client:
        through_api, found = evaluate(client, DEFAULT_COMPONENT, rule, at)
    assert found is None and through_api == direct and direct[0]["incidentKey"] == incident["key"]
