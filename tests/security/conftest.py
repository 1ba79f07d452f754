"""Fixtures for the credential tests: a local managed-identity endpoint and a proxy that lets nothing out."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.security.local_identity import IdentityEndpoint, IdentityHandler, RefusingProxy


@pytest.fixture
def identity_endpoint() -> Iterator[IdentityEndpoint]:
    server = IdentityEndpoint(("127.0.0.1", 0), IdentityHandler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RefusingProxy]:
    refusing = RefusingProxy()
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{refusing.port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    yield refusing
    refusing.close()



