"""Fixtures for the credential tests: a local managed-identity endpoint and a proxy that lets nothing out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.local_identity import IdentityEndpoint, RefusingProxy, running_identity_endpoint


@pytest.fixture
def identity_endpoint() -> Iterator[IdentityEndpoint]:
    with running_identity_endpoint() as server:
        yield server


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RefusingProxy]:
    refusing = RefusingProxy()
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{refusing.port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    yield refusing
    refusing.close()



