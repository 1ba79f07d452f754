"""`python -m breakerpanel` as a person runs it: the demo, and deploy against a running twin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-0000000000cc"


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "breakerpanel", *args],
        cwd=cwd, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300,
    )


def test_the_demo_runs_end_to_end(tmp_path: Path) -> None:
    result = _run(["demo", "--state-dir", str(tmp_path / "twin")], {}, ROOT)

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "demo finished as expected" in out
    assert "VERIFIED" in out and "REJECTED" in out
    assert "rollback: deployment" in out and "verify: APIM matches the rollback point" in out
    # The demo's instance is prepared like a real one (its identity may call Azure OpenAI): no warning noise.
    assert "warning prerequisites" not in out
    assert (tmp_path / "twin" / "ca.pem").is_file()
    # The watchdog over the scenario's traffic: the stuck breaker's incident opens, then resolves.
    watch = out.split("== 5.", 1)[1].split("== 6.", 1)[0]
    opened = watch.index("opened warning BreakerStuckOpen (backend aoai-westus)")
    assert watch.index("resolved warning BreakerStuckOpen (backend aoai-westus)") > opened
    assert "opened critical ProvisioningFailed" in watch  # step 4's refused deployment, seen by the watchdog
    # The custom events and the Portal's rules that fired on them.
    events = out.split("== 6.", 1)[1].split("== 7.", 1)[0]
    assert "IncidentOpened    BreakerStuckOpen aoai-westus" in events
    assert "IncidentResolved  BreakerStuckOpen aoai-westus" in events and "RolloutCompleted  rolledBack" in events
    stuck = next(line for line in events.splitlines() if line.strip().startswith("breaker-stuck"))
    assert "FIRED" in stuck and "aoai-westus" in stuck and "auto-mitigate" in stuck
    assert "deployment-failed  FIRED" in events and "rollout-failed     FIRED" in events
    # The webhook: every notification once, each signed.
    hooks = out.split("== 7.", 1)[1].split("== 8.", 1)[0]
    lines = [line for line in hooks.splitlines()[1:] if line.strip()]
    assert len(lines) == 6 and all("signature ok" in line for line in lines)
    assert sum("IncidentResolved" in line for line in lines) == 1
    # The report: an absolute path to a page with the stuck backend's timeline.
    page = Path(out.split("== 8.", 1)[1].splitlines()[1].split(": ", 1)[1])
    assert page.is_absolute() and page.is_file() and page.is_relative_to(tmp_path / "twin")
    assert 'id="backend-aoai-westus"' in page.read_text() and "<svg" in page.read_text()


CLI_TARGETS = json.dumps([{"subscriptionId": SUB, "resourceGroup": "rg-cli", "apimName": "apim-cli"}])


@pytest.fixture
def twin_env(twin_server: Any) -> dict[str, str]:
    """The twin's settings and an allowlist naming the CLI's target: the CLI touches nothing else."""
    return {**twin_server.environment(), "BREAKERPANEL_TARGETS": CLI_TARGETS}


@pytest.fixture
def request_file(tmp_path: Path, twin: Any) -> Path:
    twin.apim.create_service(SUB, "rg-cli", "apim-cli")
    body = json.loads((ROOT / "examples" / "rollout-request.json").read_text())
    body["targets"] = [{"subscriptionId": SUB, "resourceGroup": "rg-cli", "apimName": "apim-cli"}]
    path = tmp_path / "request.json"
    path.write_text(json.dumps(body))
    return path


def test_deploy_prints_progress_and_the_summary(request_file: Path, twin_env: dict[str, str], tmp_path: Path) -> None:
    result = _run(["deploy", "--request", str(request_file)], twin_env, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "preflight" in result.stdout and "deploying" in result.stdout
    assert "apim-cli: verified (Succeeded)" in result.stdout
    assert "SUCCEEDED" in result.stdout


def test_deploy_json_gives_the_final_status(request_file: Path, twin_env: dict[str, str], tmp_path: Path) -> None:
    result = _run(["deploy", "--request", str(request_file), "--json"], twin_env, tmp_path)

    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["status"] == "succeeded"


def test_deploy_without_approve_rejects_a_rollout_that_needs_approval(
    request_file: Path, twin_env: dict[str, str], tmp_path: Path, twin: Any
) -> None:
    body = json.loads(request_file.read_text())
    body["approval"] = "required"
    request_file.write_text(json.dumps(body))

    rejected = _run(["deploy", "--request", str(request_file)], twin_env, tmp_path)
    assert rejected.returncode == 1
    assert "REJECTED" in rejected.stdout
    assert twin.captured("arm.deployments.put") == []

    approved = _run(["deploy", "--request", str(request_file), "--approve"], twin_env, tmp_path)
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert len(twin.captured("arm.deployments.put")) == 1


def test_deploy_refuses_a_bad_request_before_anything_starts(
    request_file: Path, twin_env: dict[str, str], tmp_path: Path, twin: Any
) -> None:
    body = json.loads(request_file.read_text())
    body["backends"][0]["url"] = "http://169.254.169.254/latest"
    body["colour"] = "blue"
    request_file.write_text(json.dumps(body))

    result = _run(["deploy", "--request", str(request_file)], twin_env, tmp_path)

    assert result.returncode == 2
    assert "backends[0].url" in result.stderr and "colour" in result.stderr
    assert "nothing was started" in result.stderr
    assert twin.captured() == []


def test_deploy_names_a_wrong_setting(request_file: Path, tmp_path: Path) -> None:
    result = _run(["deploy", "--request", str(request_file)], {"BREAKERPANEL_CREDENTIAL": "password"}, tmp_path)

    assert result.returncode == 2
    assert "BREAKERPANEL_CREDENTIAL" in result.stderr


def test_deploy_without_an_allowlist_touches_nothing(
    request_file: Path, twin_env: dict[str, str], tmp_path: Path, twin: Any
) -> None:
    result = _run(["deploy", "--request", str(request_file)], {**twin_env, "BREAKERPANEL_TARGETS": ""}, tmp_path)

    assert result.returncode == 2
    assert "targets[0]" in result.stderr and "allowlist" in result.stderr
    assert twin.captured() == []


def test_deploy_json_never_prints_a_key_or_the_apps_token(request_file: Path, twin_env: dict[str, str],
                                                          tmp_path: Path) -> None:
    secret = "k3y5ecretva1ue0123456789"
    env = {**twin_env, "BREAKERPANEL_STATIC_TOKEN": f"app-token-{secret}"}
    keyed = json.loads(request_file.read_text())
    keyed["backends"][0]["url"] += f"?api-key={secret}"
    keyed_file = tmp_path / "keyed.json"
    keyed_file.write_text(json.dumps(keyed))

    refused = _run(["deploy", "--request", str(keyed_file), "--json"], env, tmp_path)
    succeeded = _run(["deploy", "--request", str(request_file), "--json"], env, tmp_path)

    assert refused.returncode != 0 and "backends[0].url" in refused.stdout + refused.stderr
    assert succeeded.returncode == 0, succeeded.stderr
    assert json.loads(succeeded.stdout)["output"]["status"] == "succeeded"
    for result in (refused, succeeded):
        assert secret not in result.stdout + result.stderr
