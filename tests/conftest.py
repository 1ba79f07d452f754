"""Shared fixtures: one HTTPS twin per test session, reset before each test that uses it.

Clients are built by breakerpanel's own factories from settings that point at the twin, exactly as the
product builds them — with SDK retries off and LRO polling at 0 so the suite stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from breakerpanel.settings import Settings, load_settings
from tests.twin_instance import SUBSCRIPTION

FIXTURES = Path(__file__).resolve().parent / "unit" / "data"


def load_fixture(name: str) -> Any:
    """A published Microsoft payload (copied from ../shared/fixtures into tests/unit/data), as it is."""
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="session")
def twin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from twin.server import TwinServer

    server = TwinServer(tmp_path_factory.mktemp("twin"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def twin(twin_server: Any) -> Any:
    """The twin, reset: no deployments, backends, log rows, faults or captured requests."""
    twin_server.twin.reset()
    return twin_server.twin


@pytest.fixture
def twin_env(twin_server: Any) -> dict[str, str]:
    return twin_server.environment()


@pytest.fixture
def settings(twin, twin_env: dict[str, str]) -> Settings:
    return load_settings(twin_env)


@pytest.fixture
def deployments(settings: Settings) -> Any:
    from breakerpanel.azure.clients import deployments_client

    return deployments_client(settings, SUBSCRIPTION)


@pytest.fixture
def apim(settings: Settings) -> Any:
    from breakerpanel.azure.clients import apim_client

    return apim_client(settings, SUBSCRIPTION)


@pytest.fixture
def logs(settings: Settings) -> Any:
    from breakerpanel.azure.clients import logs_client

    return logs_client(settings)


# --- Azurite: the real Azure Storage emulator from npm (package.json), for Table storage tests ----------------

# Azurite's fixed, publicly documented development account key (the same in every install): not a secret.
AZURITE_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Azurite's Table service on a free loopback port for the session; yields its connection string.

    Fails (does not skip) when node_modules is missing: CI runs `npm ci` through `make test`, so a missing
    emulator is a broken setup, not an optional extra.
    """
    import socket
    import subprocess
    import time

    binary = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "azurite-table"
    if not binary.exists():
        pytest.fail(f"Azurite is not installed ({binary} is missing): run `npm ci` in the repository root "
                    "(or `make test`, which does)", pytrace=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workdir = tmp_path_factory.mktemp("azurite")
    log = (workdir / "azurite.log").open("wb")
    # --skipApiVersionCheck: the Python SDK may be newer than this Azurite. cwd: keeps any file Azurite writes
    # out of the working tree (it refuses --location together with --inMemoryPersistence).
    process = subprocess.Popen(
        [str(binary), "--inMemoryPersistence", "--disableTelemetry", "--silent", "--skipApiVersionCheck",
         "--tableHost", "127.0.0.1", "--tablePort", str(port)],
        cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"Azurite exited with {process.returncode}:\n{(workdir / 'azurite.log').read_text()}",
                            pytrace=False)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"Azurite did not listen on {port} within 30 s:\n"
                                f"{(workdir / 'azurite.log').read_text()}", pytrace=False)
                time.sleep(0.05)
        yield (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_ACCOUNT_KEY};"
               f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
