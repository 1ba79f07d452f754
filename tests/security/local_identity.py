"""Local stand-ins for the two things a credential test must not reach for real: App Service's managed
identity endpoint (IDENTITY_ENDPOINT / X-IDENTITY-HEADER, api-version 2019-08-01, as azure-identity calls it)
and the Internet (a proxy that notes the host a request was for and refuses it)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
IDENTITY_HEADER = "local-identity-header"


class IdentityEndpoint(ThreadingHTTPServer):
    requests: list[dict[str, str]]
    # None: hand out tokens; otherwise answer every request with this (status, body), as for a lost identity.
    refusal: tuple[int, dict[str, str]] | None = None


class IdentityHandler(BaseHTTPRequestHandler):
    server: IdentityEndpoint

    def do_GET(self) -> None:
        query = {key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()}
        query["header"] = self.headers.get("X-IDENTITY-HEADER", "")
        self.server.requests.append(query)
        status, answer = self.server.refusal or (200, {
            "access_token": "mi-token", "expires_on": str(int(time.time()) + 3600),
            "resource": query.get("resource", ""), "token_type": "Bearer"})
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@contextmanager
def running_identity_endpoint() -> Iterator[IdentityEndpoint]:
    server = IdentityEndpoint(("127.0.0.1", 0), IdentityHandler)
    server.daemon_threads = True
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class RefusingProxy:
    """Answers every CONNECT with 403 after noting the host it was for."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return
            with conn:
                first = conn.recv(4096).decode("latin-1").split("\r\n", 1)[0]
                parts = first.split()
                if len(parts) >= 2:
                    self.targets.append(parts[1])
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self) -> None:
        self._socket.close()


def in_azure(monkeypatch: pytest.MonkeyPatch, endpoint: IdentityEndpoint, cloud: str = "AzurePublicCloud"
             ) -> dict[str, str]:
    """The environment App Service gives an app with a managed identity, pointed at `endpoint`."""
    env = {
        "IDENTITY_ENDPOINT": f"http://127.0.0.1:{endpoint.server_address[1]}/msi/token",
        "IDENTITY_HEADER": IDENTITY_HEADER,
        "AZURE_CLIENT_ID": CLIENT_ID,
        "BREAKERPANEL_CLOUD": cloud,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
