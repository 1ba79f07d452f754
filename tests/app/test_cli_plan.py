"""`breakerpanel plan`: the rollout's own validate + what-if through the real SDK clients against the twin,
the changes per backend and pool member, the exit code from the rollout's approval rule — and nothing deployed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from breakerpanel.azure.clients import deployments_client
from breakerpanel.cli import main
from breakerpanel.settings import load_settings
from twin.faults import parse_rule

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-0000000000dd"
RG, APIM = "rg-plan", "apim-plan"
TARGET = {"subscriptionId": SUB, "resourceGroup": RG, "apimName": APIM}


@pytest.fixture
def env(twin: Any, twin_server: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    twin.apim.create_service(SUB, RG, APIM)
    values = {**twin_server.environment(), "BREAKERPANEL_TARGETS": json.dumps([TARGET])}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def _request(tmp_path: Path, **changes: Any) -> Path:
    body = json.loads((ROOT / "examples" / "rollout-request.json").read_text())
    body["targets"] = [{**TARGET, "wave": 1}]
    body.update(changes)
    path = tmp_path / "request.json"
    path.write_text(json.dumps(body))
    return path


def _deployments(env: dict[str, str]) -> list[str]:
    client = deployments_client(load_settings(env), SUB)
    return sorted(d.name for d in client.deployments.list_by_resource_group(RG))


def _plan(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = main(["plan", "--request", str(path), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_first_rollout_plans_creates_and_deploys_nothing(
    env: dict[str, str], twin: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _plan(_request(tmp_path), capsys)

    assert code == 0, out + err
    assert "nothing is deployed" in out and "no approval needed" in out
    assert "8 created" in out
    assert "+aoai-eastus +aoai-westus +aoai-swedencentral" in out  # the pool's members, by name
    assert twin.captured("arm.deployments.validate") and twin.captured("arm.deployments.whatif")
    assert twin.captured("arm.deployments.put") == []
    assert _deployments(env) == []
    assert twin.apim.list_resources(SUB, RG, APIM) == []


def test_dropping_a_pool_member_needs_approval_and_leaves_apim_as_it_was(
    env: dict[str, str], twin: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deploy", "--request", str(_request(tmp_path))]) == 0
    capsys.readouterr()
    before, deployed = twin.apim.list_resources(SUB, RG, APIM), _deployments(env)
    body = json.loads((ROOT / "examples" / "rollout-request.json").read_text())
    backends = [b for b in body["backends"] if b["name"] != "aoai-swedencentral"]
    backends[1] = {**backends[1], "weight": 20}

    code, out, err = _plan(_request(tmp_path, backends=backends), capsys, "--json")

    assert code == 1, out + err
    plan = json.loads(out)
    assert plan["exitCode"] == 1 and plan["approvalNeeded"] is True and plan["deployed"] is False
    target = plan["waves"][0]["targets"][0]
    assert target["isDestructive"] is True
    pool = next(c for c in target["changes"] if c["kind"] == "pool")
    assert pool["change"] == "Modify"
    assert {"backend": "aoai-swedencentral", "change": "Delete"} in pool["members"]
    assert {"backend": "aoai-westus", "change": "Modify"} in pool["members"]
    assert "what-if shows" in plan["waves"][0]["reason"]
    assert twin.apim.list_resources(SUB, RG, APIM) == before
    assert _deployments(env) == deployed


def test_the_readable_plan_shows_each_change(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deploy", "--request", str(_request(tmp_path))]) == 0
    capsys.readouterr()
    backends = json.loads((ROOT / "examples" / "rollout-request.json").read_text())["backends"][:2]

    code, out, _ = _plan(_request(tmp_path, backends=backends), capsys)

    assert code == 1
    assert "-aoai-swedencentral" in out and "Modify" in out and "pool" in out
    assert "approval needed" in out and "deploy would wait for approval" in out


def test_approval_required_plans_exit_1_even_without_deletes(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _plan(_request(tmp_path, approval="required"), capsys)

    assert code == 1
    assert "approval is 'required'" in out


def test_a_bad_request_is_exit_2_and_calls_nothing(
    env: dict[str, str], twin: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _plan(_request(tmp_path, colour="blue"), capsys)

    assert code == 2
    assert "colour" in err and "nothing was started" in err
    assert twin.captured() == []


def test_arm_failing_every_try_is_exit_3_and_deploys_nothing(
    env: dict[str, str], twin: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    twin.faults.add(parse_rule({"route": "arm.deployments.validate", "kind": "error", "status": 500}))

    code, out, _ = _plan(_request(tmp_path), capsys)

    assert code == 3, out
    assert "validate failed: InternalServerError (HTTP 500)" in out
    assert "the preflight could not complete" in out
    assert len(twin.captured("arm.deployments.validate")) == 8  # the rollout's own retries, on durable timers
    assert twin.captured("arm.deployments.put") == []


def test_an_unreachable_arm_is_exit_3_naming_the_setting(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("BREAKERPANEL_ARM_ENDPOINT", f"https://127.0.0.1:{port}")

    code, out, _ = _plan(_request(tmp_path), capsys, "--json")

    assert code == 3
    failure = json.loads(out)["waves"][0]["targets"][0]["failure"]
    assert failure["stage"] == "validate" and failure["code"] == "ServiceRequestError"
    assert "BREAKERPANEL_ARM_ENDPOINT" in failure["fix"]
