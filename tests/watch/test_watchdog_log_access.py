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
