"""GET /api/rollouts against a task hub holding more than one page of instances, answered as the Azure Storage
provider answers: one page of 100 in instance-id order (its instances table is keyed by instance id), the
continuation token dropped by the Python client (Azure/azure-functions-durable-python#580)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import function_app
from breakerpanel.core.naming import new_rollout_id
from breakerpanel.core.rollout_api import rollout_instance_id
from breakerpanel.localrun import LocalDurableHost
from breakerpanel.localrun.taskhub import LocalTaskHub
from tests.functions.test_rollout_http import ADA, Api, env, functions, loop  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("env")


@pytest.fixture
def recent_api(loop: Any, functions: dict[str, Any]) -> Iterator[Api]:  # noqa: F811 - fixtures
    # The list's window is the wall clock's last days: the host starts two hours ago.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    with LocalTaskHub(LocalDurableHost(function_app.app, start_time=start)) as hub:
        yield Api(loop, functions, hub)


def test_a_full_page_says_the_newest_rollouts_may_be_missing(recent_api: Api) -> None:
    ids = []
    for _ in range(101):
        ids.append(rollout_instance_id(new_rollout_id(recent_api.host.now, uuid.uuid4().hex)))
        recent_api.host.start("rollout_orchestrator", {"rolloutId": ids[-1]}, instance_id=ids[-1])
        recent_api.host.advance_time(timedelta(seconds=30))

    listed = recent_api.call("list_rollouts", "GET", "/api/rollouts", headers=ADA)

    assert listed.status == 200, listed
    shown = [entry["instanceId"] for entry in listed.json["rollouts"]]
    assert len(shown) == 100 and ids[-1] not in shown  # the page holds the oldest: the newest is the one left out
    assert listed.json["truncated"] is True
    assert "newest" in listed.json["note"] and "older rollouts" not in listed.json["note"]
