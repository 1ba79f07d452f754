"""The watchdog's reading of a Log Analytics answer that Azure documents as complete-looking but is not.

Real SDK clients talk HTTPS to the twin, which answers as Log Analytics does for partial access on a resource
query (https://learn.microsoft.com/azure/azure-monitor/logs/api/azure-resource-queries#partial-access): a
normal 200 with the rows of the workspaces the caller may not read left out, and, when asked with
`Prefer: include-permissions=true`, a `permissions` section saying which.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from breakerpanel.watchdog.replay import PERIOD, THRESHOLDS, environment, run_pass

pytestmark = pytest.mark.twin
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _resource_centric(twin_server: Any, tmp_path: Path) -> tuple[Any, dict[str, str]]:
    """region-down, its target given no workspace: the watchdog queries the APIM instance's logs."""
    from twin.gateway.loader import load_scenario

    twin_server.twin.reset()
    loaded = load_scenario(twin_server.twin, "region-down", start=START)
    targets = [{k: v for k, v in t.items() if k != "logAnalyticsWorkspaceId"} for t in loaded.targets]
    env = {**twin_server.environment(), "BREAKERPANEL_TARGETS": json.dumps(targets),
           "BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(tmp_path / "state")}
    return loaded, env


def test_a_resource_query_missing_a_workspace_the_app_may_not_read_is_unknown(twin_server: Any,
                                                                                 tmp_path: Path) -> None:
    loaded, env = _resource_centric(twin_server, tmp_path)
    (workspace,) = loaded.rows
    down = loaded.expected[0]
    at = down.onset + THRESHOLDS["BreakerStuckOpen"] + PERIOD
    twin_server.twin.logs.set_hidden_workspaces([workspace])
    with environment(env):
        filtered = run_pass(at)
    # The answer was a 200 with no rows: without the permissions it reads as a quiet, healthy gateway.
    assert filtered.exit_code == 3 and filtered.report["status"] == "unknown", filtered.report
    (target,) = filtered.report["targets"]
    assert target["sources"]["gatewayLogs"] is False
    (found,) = [p for p in target["problems"] if p["source"] == "gatewayLogs"]
    assert found["code"] == "PartialAccess" and workspace in found["message"] and found["fix"]
    assert filtered.report["incidents"] == []
    call = twin_server.twin.captured("logs.query.resource")[-1]
    assert "/providers/microsoft.apimanagement/service/" in call["path"].lower()  # resource-centric
    # Once the app may read the workspace, the same pass sees the region down.
    twin_server.twin.logs.set_hidden_workspaces([])
    with environment(env):
        whole = run_pass(at)
    assert [(i["kind"], i["state"], i["backend"]) for i in whole.report["incidents"]] == [
        ("BreakerStuckOpen", "opened", down.subject)]


def test_a_workspace_without_the_gateway_log_table_is_unknown_with_the_cause_and_the_fix(twin_server: Any,
                                                                                          tmp_path: Path) -> None:
    """APIM's diagnostic setting in 'Azure diagnostics' mode writes AzureDiagnostics, so the workspace has no
    ApiManagementGatewayLogs table and Log Analytics refuses the query: 400 BadArgumentError whose cause is only in
    its innererror chain (SemanticError / SEM0100 "'where' operator: Failed to resolve table or column expression
    named ..."), as Azure answers for any table a workspace lacks."""
    from twin.gateway.loader import load_scenario

    twin_server.twin.reset()
    loaded = load_scenario(twin_server.twin, "region-down", start=START)
    (workspace,) = loaded.rows
    twin_server.twin.logs.set_workspaces_without_table([workspace])
    env = {**twin_server.environment(), "BREAKERPANEL_TARGETS": json.dumps(loaded.targets),
           "BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(tmp_path / "state")}
    with environment(env):
        refused = run_pass(loaded.expected[0].onset + THRESHOLDS["BreakerStuckOpen"] + PERIOD)
    assert refused.exit_code == 3 and refused.report["status"] == "unknown"
    (target,) = refused.report["targets"]
    (found,) = [p for p in target["problems"] if p["source"] == "gatewayLogs"]
    assert found["status"] == 400 and found["code"] == "BadArgumentError" and found["transient"] is False
    assert "Failed to resolve table or column expression named 'ApiManagementGatewayLogs'" in found["message"]
    assert "Dedicated" in found["fix"] and "AzureDiagnostics" in found["fix"]


def test_a_target_naming_its_workspace_by_resource_id_reads_that_workspace(twin_server: Any, tmp_path: Path) -> None:
    """logAnalyticsWorkspaceId as the workspace's ARM id: the watchdog queries the workspace through
    query_resource, which Log Analytics answers in the workspace's context (all of its rows)."""
    from twin.gateway.loader import load_scenario
    from twin.log_analytics.state import workspace_resource_id

    twin_server.twin.reset()
    loaded = load_scenario(twin_server.twin, "region-down", start=START)
    (workspace,) = loaded.rows
    targets = [{**t, "logAnalyticsWorkspaceId": workspace_resource_id(workspace)} for t in loaded.targets]
    env = {**twin_server.environment(), "BREAKERPANEL_TARGETS": json.dumps(targets),
           "BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(tmp_path / "state")}
    down = loaded.expected[0]
    with environment(env):
        result = run_pass(down.onset + THRESHOLDS["BreakerStuckOpen"] + PERIOD)
    (target,) = result.report["targets"]
    assert target["status"] == "warning" and target["sources"]["gatewayLogs"] is True, target
    assert [(i["kind"], i["state"], i["backend"]) for i in result.report["incidents"]] == [
        ("BreakerStuckOpen", "opened", down.subject)]
    call = twin_server.twin.captured("logs.query.resource")[-1]
    assert call["path"].lower() == f"/v1{workspace_resource_id(workspace)}/query".lower()


def test_a_partial_answer_is_unknown_with_the_services_cause(twin_server: Any, tmp_path: Path) -> None:
    """A result over Log Analytics' record limit comes back 200 with the rows cut and error PartialError, whose
    cause is only in its details (Azure/azure-sdk-for-python#25137): never counted as the whole gateway."""
    from twin.gateway.loader import load_scenario

    twin_server.twin.reset()
    loaded = load_scenario(twin_server.twin, "region-down", start=START)
    twin_server.twin.logs.set_max_records(3)
    env = {**twin_server.environment(), "BREAKERPANEL_TARGETS": json.dumps(loaded.targets),
           "BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(tmp_path / "state")}
    with environment(env):
        cut = run_pass(loaded.expected[0].onset + THRESHOLDS["BreakerStuckOpen"] + PERIOD)
    assert cut.exit_code == 3 and cut.report["status"] == "unknown" and cut.report["incidents"] == []
    (target,) = cut.report["targets"]
    (found,) = [p for p in target["problems"] if p["source"] == "gatewayLogs"]
    assert found["code"] == "PartialError"
    assert "exceeded the internal record count limit 3" in found["message"]
    assert "allow_partial" not in found["message"]  # an operator reads this, not a caller of logs_rows


def _loaded_region_down(twin_server: Any, tmp_path: Path) -> tuple[Any, dict[str, str]]:
    from twin.gateway.loader import load_scenario

    twin_server.twin.reset()
    loaded = load_scenario(twin_server.twin, "region-down", start=START)
    env = {**twin_server.environment(), "BREAKERPANEL_TARGETS": json.dumps(loaded.targets),
           "BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(tmp_path / "state")}
    return loaded, env


def test_a_short_throttle_is_waited_out_and_a_long_one_is_unknown_at_once(twin_server: Any, tmp_path: Path) -> None:
    """Log Analytics throttles with 429 and Retry-After: a short wait is retried inside the run, a long one makes
    the run unknown (transient, with the wait) without sleeping through it."""
    from twin.faults import parse_rule

    loaded, env = _loaded_region_down(twin_server, tmp_path)
    twin = twin_server.twin
    at = loaded.expected[0].onset + THRESHOLDS["BreakerStuckOpen"] + PERIOD
    twin.faults.set([parse_rule({"route": "logs.query", "kind": "throttle", "retryAfter": 0, "count": 1})])
    with environment(env):
        waited = run_pass(at)
    assert [c["status"] for c in twin.captured("logs.query")] == [429, 200]
    assert [(i["kind"], i["state"]) for i in waited.report["incidents"]] == [("BreakerStuckOpen", "opened")]
    twin.clear_captured()
    twin.faults.set([parse_rule({"route": "logs.query", "kind": "throttle", "retryAfter": 120})])
    with environment(env):
        refused = run_pass(at + PERIOD)
    assert [c["status"] for c in twin.captured("logs.query")] == [429]
    (found,) = [p for p in refused.report["targets"][0]["problems"] if p["source"] == "gatewayLogs"]
    assert (found["status"], found["transient"], found["retryAfterSeconds"]) == (429, True, 120)
    assert refused.exit_code == 3 and refused.report["incidents"][0]["state"] == "ongoing"


def test_a_gateway_timeout_is_unknown_and_transient(twin_server: Any, tmp_path: Path) -> None:
    """A query running past its server timeout fails 504 Gateway Timeout
    (learn.microsoft.com/azure/azure-monitor/logs/api/timeouts)."""
    from twin.faults import parse_rule

    loaded, env = _loaded_region_down(twin_server, tmp_path)
    twin_server.twin.faults.set([parse_rule({"route": "logs.query", "kind": "error", "status": 504})])
    with environment(env):
        timed_out = run_pass(loaded.expected[0].onset + THRESHOLDS["BreakerStuckOpen"] + PERIOD)
    assert timed_out.exit_code == 3 and timed_out.report["incidents"] == []
    (found,) = [p for p in timed_out.report["targets"][0]["problems"] if p["source"] == "gatewayLogs"]
    assert (found["status"], found["transient"]) == (504, True) and "fix" not in found


def test_an_instance_logging_to_two_workspaces_is_counted_once(twin_server: Any, tmp_path: Path) -> None:
    """A resource-centric query reads every workspace holding the instance's logs ("Resources might additionally
    send data to multiple workspaces", azure-resource-queries): with two diagnostic settings each request comes
    back twice, and a count-based rule would see twice the failures there were."""
    from twin.gateway.loader import load_scenario

    other = "0b7e3f6a-9f55-4d0e-8f0c-3f1e2d4c5b6a"
    evidence = []
    for copies in (1, 2):
        twin_server.twin.reset()
        loaded = load_scenario(twin_server.twin, "region-down", start=START)
        if copies == 2:
            for result in loaded.results:  # the second diagnostic setting's workspace gets the same rows
                twin_server.twin.logs.append_rows(result.rows, other)
        targets = [{k: v for k, v in t.items() if k != "logAnalyticsWorkspaceId"} for t in loaded.targets]
        env = {**twin_server.environment(), "BREAKERPANEL_TARGETS": json.dumps(targets),
               "BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(tmp_path / f"state-{copies}")}
        with environment(env):
            found = run_pass(loaded.expected[0].onset + THRESHOLDS["BreakerStuckOpen"] + PERIOD)
        (incident,) = found.report["incidents"]
        evidence.append({k: incident["evidence"][k] for k in ("requests", "countedFailures", "successes")})
    assert evidence[0]["requests"] > 0 and evidence[1] == evidence[0]
