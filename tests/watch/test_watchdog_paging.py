"""The watchdog reads every page ARM and APIM answer, not the first one: nextLink paging through the real SDK
clients (DeploymentsMgmtClient's deployments and deployment operations lists, ApiManagementClient's backends list)
against a twin that answers one item per page."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from breakerpanel.watchdog.replay import PERIOD, environment, run_pass

pytestmark = pytest.mark.twin
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"


def _template(apim: str, backends: dict[str, str]) -> dict[str, Any]:
    return {"$schema": _SCHEMA, "contentVersion": "1.0.0.0", "resources": [
        {"type": "Microsoft.ApiManagement/service/backends", "apiVersion": "2024-05-01", "name": f"{apim}/{name}",
         "properties": {"url": url, "protocol": "http"}} for name, url in backends.items()]}


def test_a_failed_operation_deployment_and_backends_past_the_first_page_are_read(tmp_path: Path) -> None:
    from twin.app import TwinConfig
    from twin.gateway.loader import load_scenario
    from twin.gateway.scenarios import APIM, RESOURCE_GROUP, SUBSCRIPTION
    from twin.server import TwinServer

    with TwinServer(tmp_path / "twin", config=TwinConfig(page_size=1)) as server:
        twin = server.twin
        loaded = load_scenario(twin, "healthy", start=START)
        # Two deployments listed before the failing one, so it is on a later page (the twin lists in creation
        # order); in the failing one, the refused backend comes second, so its operation is on page two.
        for index in range(2):
            twin.arm.settle(twin.arm.start(SUBSCRIPTION, RESOURCE_GROUP, f"earlier-{index}", {"properties": {
                "mode": "Incremental", "template": _template(APIM, {})}})[0])
        failing, _ = twin.arm.start(SUBSCRIPTION, RESOURCE_GROUP, "two-backends", {"properties": {
            "mode": "Incremental", "template": _template(APIM, {"fine": "https://fine.example", "bad": "not-a-url"})}})
        twin.arm.settle(failing)
        assert failing.state == "Failed" and len(failing.operations) >= 2
        ended = START + timedelta(minutes=12)  # dated inside the scenario, as the scenario loader dates its own
        failing.started, failing.finished = ended - timedelta(seconds=20), ended
        for operation in failing.operations:
            operation.started, operation.finished = failing.started, ended
        env = {**server.environment(), "BREAKERPANEL_TARGETS": json.dumps(loaded.targets),
               "BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(tmp_path / "state")}
        with environment(env):
            result = run_pass(ended + PERIOD)
        (target,) = result.report["targets"]
        assert target["sources"] == {"gatewayLogs": True, "backends": True, "deployments": True}, target
        (incident,) = result.report["incidents"]
        assert (incident["kind"], incident["deployment"]) == ("ProvisioningFailed", "two-backends")
        (operation,) = incident["evidence"]["failedOperations"]
        assert operation["resourceName"].endswith("bad") and operation["code"], operation
        # Every backend reached the model: one list page each.
        assert {b["backend"] for b in target["breakers"]} >= {"aoai-eastus", "aoai-westus"}
        assert len(twin.captured("arm.deployments.list")) >= 3
        assert len(twin.captured("arm.operations.list")) >= 2
        assert len(twin.captured("apim.backends.list")) >= 3
