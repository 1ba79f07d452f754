"""`run_rollout` against something that is not the twin waits in real time; against the twin it fast-forwards.

The settings are real Azure's: the default ARM endpoint (https://management.azure.com) and the default
credential, whose token comes from a local stand-in of App Service's managed-identity endpoint (IDENTITY_ENDPOINT
/ X-IDENTITY-HEADER, as azure-identity calls it). HTTPS_PROXY sends the ARM calls to a local proxy that poses as
management.azure.com (a trustme certificate for that name, trusted through REQUESTS_CA_BUNDLE) and hands each
request to the project's HTTPS twin. The real SDK clients cannot tell it from ARM, and nothing leaves the machine.
The runner must then honour the 429's Retry-After and the poll interval on the wall clock.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

import function_app
from breakerpanel.core.polling import FIRST_POLL_SECONDS
from breakerpanel.localrun import Step
from breakerpanel.rollout_local import REAL_CLOCK, SIMULATED_CLOCK, allowed_targets, check_request, run_rollout
from breakerpanel.settings import load_settings
from tests.security.local_identity import IDENTITY_HEADER, IdentityEndpoint, running_identity_endpoint
from twin.faults import parse_rule

SUB = "00000000-0000-0000-0000-0000000000c1"
TARGET = {"subscriptionId": SUB, "resourceGroup": "rg-clock", "apimName": "apim-clock"}
ROOT = Path(__file__).resolve().parents[2]
RETRY_AFTER = 2
# Credentials DefaultAzureCredential would try before the managed identity: none of them may be in the way.
_OTHER_IDENTITY_VARIABLES = ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE",
                             "AZURE_USERNAME", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "MSI_ENDPOINT", "MSI_SECRET")


@pytest.fixture
def identity_endpoint() -> Iterator[IdentityEndpoint]:
    with running_identity_endpoint() as server:
        yield server


class _ArmImpostor(ThreadingHTTPServer):
    """An HTTPS proxy that answers CONNECT management.azure.com:443 itself, as management.azure.com."""

    daemon_threads = True
    tunnels: list[str]
    # Every TLS connection handed out, closed at teardown: one left open to interpreter exit can make
    # OpenSSL's teardown abort the process.
    connections: list[ssl.SSLSocket]
    leaf_context: ssl.SSLContext
    twin_port: int
    twin_context: ssl.SSLContext


class _ImpostorHandler(BaseHTTPRequestHandler):
    server: _ArmImpostor
    protocol_version = "HTTP/1.1"

    def do_CONNECT(self) -> None:
        self.server.tunnels.append(self.path)
        self.send_response(200, "Connection Established")
        self.end_headers()
        # From here on this connection is TLS to "management.azure.com"; the handler keeps reading requests.
        self.connection = self.server.leaf_context.wrap_socket(self.connection, server_side=True)
        self.server.connections.append(self.connection)
        self.rfile = self.connection.makefile("rb")
        self.wfile = self.connection.makefile("wb")
        self.close_connection = False

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        upstream = http.client.HTTPSConnection("127.0.0.1", self.server.twin_port, context=self.server.twin_context,
                                               timeout=30)
        try:
            # The Host header stays management.azure.com, so the LRO URLs the twin writes come back here.
            upstream.request(self.command, self.path, body=body or None, headers=dict(self.headers.items()))
            answer = upstream.getresponse()
            payload = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _forward

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def arm_impostor(twin_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_ArmImpostor]:
    ca = trustme.CA()
    leaf = ca.issue_cert("management.azure.com")
    server = _ArmImpostor(("127.0.0.1", 0), _ImpostorHandler)
    server.tunnels = []
    server.connections = []
    server.leaf_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(server.leaf_context)
    server.twin_port = int(twin_server.url.rsplit(":", 1)[1])
    server.twin_context = ssl.create_default_context(cafile=str(twin_server.ca_path))
    ca_file = tmp_path / "impostor-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{server.server_address[1]}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
    yield server
    server.shutdown()
    for connection in server.connections:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
        connection.close()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def rollout_env(twin: Any, twin_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    for name, value in twin_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BREAKERPANEL_STORE", "sqlite")
    monkeypatch.setenv("BREAKERPANEL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("BREAKERPANEL_TARGETS", json.dumps([TARGET]))
    monkeypatch.delenv("BREAKERPANEL_BACKEND_HOSTS", raising=False)
    twin.apim.create_service(SUB, "rg-clock", "apim-clock")
    # The deployment's first poll is throttled, as ARM does under load (the GET before the PUT, which finds no
    # deployment of that name yet, passes).
    twin.add_fault(parse_rule({"route": "arm.deployments.get", "kind": "throttle", "retryAfter": RETRY_AFTER,
                               "skip": 1, "count": 1}))
    return twin


def _deploy(steps: list[Step]) -> Any:
    body = json.loads((ROOT / "examples" / "rollout-request.json").read_text())
    body["targets"] = [TARGET]
    allowed = allowed_targets(body)
    settings = load_settings()
    check = check_request(body, allowed, settings)
    assert check.request is not None, [p.to_dict() for p in check.errors]
    return run_rollout(function_app.app, check, allowed, approve=False, settings=settings, on_step=steps.append)


def _deployment_calls(twin: Any) -> list[tuple[str, int]]:
    return [(entry["method"], entry["status"]) for entry in twin.captured("arm.deployments.*")
            if entry["route"] in ("arm.deployments.get", "arm.deployments.put")]


# Not there yet, the PUT, the throttled poll, Running, Succeeded: one Retry-After wait and one poll interval.
EXPECTED_CALLS = [("GET", 404), ("PUT", 201), ("GET", 429), ("GET", 200), ("GET", 200)]


def test_a_rollout_reaching_arm_with_a_real_identity_waits_retry_after_and_polls_in_wall_time(
    rollout_env: Any, identity_endpoint: IdentityEndpoint, arm_impostor: _ArmImpostor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Azure's settings: every endpoint and the credential as a laptop or CI job against a subscription has them.
    for name in ("BREAKERPANEL_ARM_ENDPOINT", "BREAKERPANEL_LOGS_ENDPOINT", "BREAKERPANEL_STATIC_TOKEN",
                 "BREAKERPANEL_CLOUD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BREAKERPANEL_CREDENTIAL", "default")
    for name in _OTHER_IDENTITY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{identity_endpoint.server_address[1]}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", IDENTITY_HEADER)
    steps: list[Step] = []

    started = time.monotonic()
    run = _deploy(steps)
    elapsed = time.monotonic() - started

    assert run.succeeded, run.status
    assert run.clock == REAL_CLOCK
    assert identity_endpoint.requests
    assert {asked["header"] for asked in identity_endpoint.requests} == {IDENTITY_HEADER}
    assert arm_impostor.tunnels and set(arm_impostor.tunnels) == {"management.azure.com:443"}
    assert _deployment_calls(rollout_env) == EXPECTED_CALLS
    asked = RETRY_AFTER + FIRST_POLL_SECONDS
    assert elapsed >= asked
    assert run.seconds_waited >= asked - 0.1  # the orchestration's clock starts each episode a hair earlier
    # What the orchestration saw as time passing is what passed.
    assert max(step.virtual_elapsed.total_seconds() for step in steps) == pytest.approx(elapsed, abs=1.5)


def test_the_same_rollout_against_the_twin_is_fast_forwarded_and_says_so(rollout_env: Any) -> None:
    steps: list[Step] = []

    run = _deploy(steps)

    assert load_settings().credential == "static"
    assert run.succeeded, run.status
    assert run.clock == SIMULATED_CLOCK and "simulated clock: the twin" in run.clock
    assert _deployment_calls(rollout_env) == EXPECTED_CALLS
    # The orchestration still waited Retry-After and the poll interval — on the simulated clock, not the wall's.
    assert run.seconds_waited == 0.0
    assert max(step.virtual_elapsed.total_seconds() for step in steps) >= RETRY_AFTER + FIRST_POLL_SECONDS
