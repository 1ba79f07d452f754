"""A rollout's custom status stays inside Durable's 16 KB of UTF-16 at every step, however many targets and
what-if lines it has: the Durable extension fails an orchestration whose custom status is larger, and the
local host does the same (so these runs would fail without the cut)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from breakerpanel.core.status_budget import LIMIT_UTF16_BYTES, utf16_size
from tests.functions import test_rollout_orchestration as orchestration
from tests.functions.test_rollout_orchestration import APPROVER, Rollouts, request, target

SUB = orchestration.SUB
rollouts = orchestration.rollouts


def test_thirty_targets_in_three_approved_waves_complete_with_a_status_that_always_fits(
    rollouts: Rollouts, twin: Any, monkeypatch: Any
) -> None:
    names = [f"apim-s{i:02d}" for i in range(30)]
    monkeypatch.setenv("BREAKERPANEL_TARGETS", json.dumps(
        [{"subscriptionId": SUB, "resourceGroup": "rg-gw", "apimName": name} for name in names]))
    for name in names:
        twin.apim.create_service(SUB, "rg-gw", name)  # no OpenAI role: three prerequisite warnings per target
    instance_id = rollouts.start(request(*[target(name, wave=1 + i // 10) for i, name in enumerate(names)],
                                         approval="required"))

    gates = []
    for _ in range(3):
        rollouts.host.run_until_idle(timer_horizon=timedelta(minutes=30))
        status = rollouts.host.status(instance_id)
        assert status["runtimeStatus"] == "Running", status["output"]
        gate = status["customStatus"]["approval"]
        # What answering needs is never cut; what is cut says so.
        assert gate["status"] == "waiting" and gate["whatIfDigest"].startswith("sha256:")
        assert "16 KB" in status["customStatus"]["trimmed"]
        gates.append(gate["wave"])
        rollouts.answer(instance_id, True, by=APPROVER)
    rollouts.host.run_until_idle(timer_horizon=timedelta(hours=3))

    done = rollouts.host.status(instance_id)
    assert done["runtimeStatus"] == "Completed" and done["output"]["status"] == "succeeded"
    assert gates == [1, 2, 3]
    # The output keeps every detail the status dropped.
    assert all(len(t["warnings"]) == 3 for t in done["output"]["targets"].values())
    assert len(twin.captured("arm.deployments.put")) == 30
    sizes = [utf16_size(step.custom_status) for step in rollouts.steps if step.custom_status is not None]
    assert max(sizes) <= LIMIT_UTF16_BYTES


def test_a_small_rollout_keeps_its_whole_status(rollouts: Rollouts) -> None:
    instance_id = rollouts.start(request())
    rollouts.host.run_until_idle(timer_horizon=timedelta(hours=1))

    status = rollouts.host.status(instance_id)["customStatus"]
    assert "trimmed" not in status
    (only,) = status["targets"].values()
    assert isinstance(only["prerequisites"], list)


def test_a_cut_status_still_reads_as_a_summary(rollouts: Rollouts, twin: Any, monkeypatch: Any) -> None:
    from breakerpanel.core.rollout_api import readable_status

    names = [f"apim-r{i:02d}" for i in range(12)]
    monkeypatch.setenv("BREAKERPANEL_TARGETS", json.dumps(
        [{"subscriptionId": SUB, "resourceGroup": "rg-gw", "apimName": name} for name in names]))
    for name in names:
        twin.apim.create_service(SUB, "rg-gw", name)
    instance_id = rollouts.start(request(*[target(name) for name in names], approval="required"))
    rollouts.host.run_until_idle(timer_horizon=timedelta(minutes=30))
    status = rollouts.host.status(instance_id)
    assert "trimmed" in status["customStatus"]

    read = readable_status(status)

    assert read["phase"] == "awaitingApproval" and read["approval"]["wave"] == 1
    text = "\n".join(read["summary"])
    assert all(name in text for name in names), text
