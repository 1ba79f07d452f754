"""The watchdog's reading of APIM's backends through the real ApiManagementClient against the twin."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from breakerpanel.watchdog.replay import environment, run_pass

pytestmark = pytest.mark.twin
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_a_backend_deleted_between_the_list_and_its_get_is_left_out_not_unknown(twin_server, tmp_path: Path) -> None:
    """The watchdog lists the backends, then GETs each at the API version the template deploys: a backend deleted
    in between answers 404 (ResourceNotFound). It is no longer configured — that is what APIM says — so the
    other backends are judged as usual instead of the whole target going unknown."""
    from twin.faults import parse_rule
    from twin.gateway.loader import load_scenario
    from twin.gateway.scenarios import APIM, RESOURCE_GROUP, SUBSCRIPTION

    twin = twin_server.twin
    twin.reset()
    loaded = load_scenario(twin, "healthy", start=START)
    gone = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.ApiManagement/service/{APIM}/backends/aoai-westus"  # noqa: E501
    # The list's answer is computed, captured, then held back 1.5 s: the deletion lands before any GET.
    twin.faults.set([parse_rule({"route": "apim.backends.list", "kind": "latency", "latencyMs": 1500, "count": 1})])

    def delete_once_listed() -> None:
        deadline = time.monotonic() + 10
        while not twin.captured("apim.backends.list") and time.monotonic() < deadline:
            time.sleep(0.01)
        with twin.lock:
            assert twin.apim.delete_resource(gone)

    deleter = threading.Thread(target=delete_once_listed)
    env = {**twin_server.environment(), "BREAKERPANEL_TARGETS": json.dumps(loaded.targets),
           "BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(tmp_path / "state")}
    deleter.start()
    with environment(env):
        result = run_pass(START + timedelta(minutes=30))
    deleter.join()
    assert [c["status"] for c in twin.captured("apim.backends.get") if c["path"].endswith("/aoai-westus")] == [404]
    (target,) = result.report["targets"]
    assert target["sources"]["backends"] is True, target["problems"]
    names = {b["backend"] for b in target["breakers"]}
    assert "aoai-westus" not in names and "aoai-eastus" in names
    assert result.report["status"] == "ok"
