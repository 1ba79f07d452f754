"""`watch --once` as a cron job or CI step meets it: settings mistakes, targets it cannot read, bad flags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from breakerpanel.watchdog.replay import environment

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-000000000001"


def _watch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "breakerpanel", "watch", "--once", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def _env(twin_env: dict[str, str], tmp_path: Path, targets: Any) -> dict[str, str]:
    import os

    return {**os.environ, **twin_env, "BREAKERPANEL_TARGETS": json.dumps(targets), "BREAKERPANEL_STORE": "sqlite",
            "BREAKERPANEL_STATE_DIR": str(tmp_path / "state")}


def test_no_targets_is_a_settings_error_that_names_the_variable(twin: Any, twin_env: dict[str, str],
                                                                tmp_path: Path) -> None:
    done = _watch(env=_env(twin_env, tmp_path, []))
    assert done.returncode == 4
    assert "BREAKERPANEL_TARGETS" in done.stderr and "Traceback" not in done.stderr


def test_an_apim_instance_that_does_not_exist_is_unknown_with_the_reason(twin: Any, twin_env: dict[str, str],
                                                                         tmp_path: Path) -> None:
    targets = [{"subscriptionId": SUB, "resourceGroup": "rg-missing", "apimName": "apim-missing"}]
    done = _watch("--json", env=_env(twin_env, tmp_path, targets))
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    (target,) = report["targets"]
    assert target["status"] == "unknown" and target["target"] == "apim-missing"
    assert {p["source"] for p in target["problems"]} >= {"backends"}
    assert "Traceback" not in done.stderr
    text = _watch(env=_env(twin_env, tmp_path, targets))
    assert text.returncode == 3 and "could not read backends" in text.stdout


def test_a_healthy_gateway_is_exit_0_and_says_so(twin: Any, twin_env: dict[str, str], tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from twin.gateway.loader import load_scenario

    start = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    loaded = load_scenario(twin, "healthy", start=start)
    at = (start + timedelta(minutes=30)).isoformat()
    done = _watch("--at", at, env=_env(twin_env, tmp_path, loaded.targets))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK" in done.stdout and "no incidents" in done.stdout


def test_a_bad_instant_is_refused_before_anything_runs(tmp_path: Path) -> None:
    import os

    done = _watch("--at", "yesterday", env={**os.environ, "BREAKERPANEL_STATE_DIR": str(tmp_path / "s")})
    assert done.returncode == 2 and "ISO 8601" in done.stderr
    assert not (tmp_path / "s").exists()


def test_a_second_pass_on_a_busy_store_is_skipped(twin: Any, twin_env: dict[str, str], tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from breakerpanel.store.factory import open_store

    targets = [{"subscriptionId": SUB, "resourceGroup": "rg-gateway", "apimName": "apim-gateway"}]
    env = _env(twin_env, tmp_path, targets)
    with environment({"BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": env["BREAKERPANEL_STATE_DIR"]}):
        assert open_store().try_acquire_lease("watchdog-run", "someone-else", datetime.now(UTC), 600)
    done = _watch(env=env)
    assert done.returncode == 3 and "skipped" in done.stderr


pytestmark = pytest.mark.twin
