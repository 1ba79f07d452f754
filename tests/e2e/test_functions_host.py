"""The app in the real Functions host (`func start`), with Azurite for storage and the twin for Azure.

Runs only where Azure Functions Core Tools and Azurite are installed; everywhere else it is skipped with
the reason. Where it runs, it is the one test that exercises the Durable extension itself rather than the
local runner: a rollout POSTed over HTTP must reach a verified end state.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNC = shutil.which("func")
AZURITE = shutil.which("azurite") or (str(ROOT / "node_modules/.bin/azurite")
                                      if (ROOT / "node_modules/.bin/azurite").exists() else None)
SUB = "00000000-0000-0000-0000-0000000000dd"

pytestmark = [
    pytest.mark.skipif(FUNC is None, reason="Azure Functions Core Tools (func) is not on PATH; it cannot be "
                       "installed on this machine, so the app is driven through the local Durable runner instead"),
    pytest.mark.skipif(AZURITE is None, reason="Azurite is not installed (npm install azurite); func needs storage"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # the host answers: it is up
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"nothing answered at {url} within {seconds} s")


@contextlib.contextmanager
def _process(args: list[str], cwd: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _post(url: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def test_a_rollout_posted_to_the_host_is_verified(tmp_path: Path, twin: Any, twin_env: dict[str, str]) -> None:
    twin.apim.create_service(SUB, "rg-host", "apim-host")
    app_dir = tmp_path / "app"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in tracked.split():
        (app_dir / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, app_dir / name)

    blob, queue, table, http = _free_port(), _free_port(), _free_port(), _free_port()
    storage = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
        f"BlobEndpoint=http://127.0.0.1:{blob}/devstoreaccount1;"
        f"QueueEndpoint=http://127.0.0.1:{queue}/devstoreaccount1;"
        f"TableEndpoint=http://127.0.0.1:{table}/devstoreaccount1;"
    )
    values = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    values.update(twin_env)
    values.update({
        "AzureWebJobsStorage": storage,
        "BREAKERPANEL_TARGETS": json.dumps([{"subscriptionId": SUB, "resourceGroup": "rg-host",
                                             "apimName": "apim-host"}]),
    })
    (app_dir / "local.settings.json").write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    env = {**os.environ, "REQUESTS_CA_BUNDLE": twin_env["REQUESTS_CA_BUNDLE"]}

    azurite = [str(AZURITE), "--silent", "--inMemoryPersistence", "--disableTelemetry",
               "--blobPort", str(blob), "--queuePort", str(queue), "--tablePort", str(table)]
    with _process(azurite, tmp_path, env), _process([str(FUNC), "start", "--port", str(http)], app_dir, env):
        base = f"http://127.0.0.1:{http}/api"
        _wait_for(f"{base}/health", 180)
        body = json.loads((ROOT / "examples" / "rollout-request.json").read_text())
        body["targets"] = [{"subscriptionId": SUB, "resourceGroup": "rg-host", "apimName": "apim-host"}]
        status, started = _post(f"{base}/rollouts", body)
        assert status == 202, started

        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            # Only the app's own links come back (never the Durable management URLs with the system key).
            state = _get(started["links"]["status"])
            if state["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
                break
            time.sleep(1)
        summary = _get(f"{base}/rollouts/{started['instanceId']}")

    assert summary["runtimeStatus"] == "Completed", summary
    assert summary["status"] == "succeeded", summary["summary"]
    assert len(twin.captured("arm.deployments.put")) == 1
