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


def test_a_failed_deployment_deleted_before_its_operations_are_read_is_still_reported(twin_server,
                                                                                        tmp_path: Path) -> None:
    """ARM deletes deployment history by itself near the 800-per-group limit, and anyone may delete a record: the
    operations of a Failed deployment listed a moment ago then answer 404 DeploymentNotFound. The deployment's
    own error (in the list's answer) still says what failed; the other sources are not made unknown by it."""
    from twin.faults import parse_rule
    from twin.gateway.loader import load_scenario
    from twin.gateway.scenarios import RESOURCE_GROUP, SUBSCRIPTION

    twin = twin_server.twin
    twin.reset()
    loaded = load_scenario(twin, "failed-deployment", start=START)
    (failed,) = [i for i in loaded.expected if i.kind == "ProvisioningFailed"]
    twin.faults.set([parse_rule({"route": "arm.deployments.list", "kind": "latency", "latencyMs": 1500, "count": 1})])

    def delete_once_listed() -> None:
        deadline = time.monotonic() + 10
        while not twin.captured("arm.deployments.list") and time.monotonic() < deadline:
            time.sleep(0.01)
        with twin.lock:
            twin.arm.delete(SUBSCRIPTION, RESOURCE_GROUP, failed.subject)

    deleter = threading.Thread(target=delete_once_listed)
    env = {**twin_server.environment(), "BREAKERPANEL_TARGETS": json.dumps(loaded.targets),
           "BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(tmp_path / "state")}
    deleter.start()
    with environment(env):
        result = run_pass(failed.onset + timedelta(minutes=5))
    deleter.join()
    assert [c["status"] for c in twin.captured("arm.operations.list")] == [404]
    (target,) = result.report["targets"]
    assert target["sources"]["deployments"] is True, target["problems"]
    (incident,) = result.report["incidents"]
    assert (incident["kind"], incident["deployment"]) == ("ProvisioningFailed", failed.subject)
    assert incident["evidence"]["failedOperations"], incident["evidence"]
