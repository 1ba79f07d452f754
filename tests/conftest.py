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

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
RESOURCE_GROUP = "rg-gateway"
APIM = "apim-gateway"


def load_fixture(name: str) -> Any:
    """A published Microsoft payload from ../shared/fixtures, as it is."""
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
