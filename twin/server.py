"""The twin's HTTPS server on 127.0.0.1, with a certificate from a `trustme` CA.

The bearer-token policy of azure-core refuses plain http, so the twin speaks TLS; clients trust it through
REQUESTS_CA_BUNDLE (or connection_verify) pointing at the CA file this writes.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import trustme

from breakerpanel.loopback import LoopbackServer
from twin.app import Twin, TwinConfig
from twin.http import Request


class _Handler(BaseHTTPRequestHandler):
    # Headers and body go out in separate writes; with Nagle on, each small answer waits for the client's
    # delayed ACK (~40 ms a request here).
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server: _TwinHTTPServer

    def log_message(self, format: str, *args: object) -> None:
        # Quiet by default: tests and the demo print what matters; captured requests hold the rest.
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        request = Request.from_raw(self.command, self.path, dict(self.headers.items()), body, f"https://{host}")
        outcome = self.server.twin.dispatch(request)
        if outcome.latency_s:
            time.sleep(outcome.latency_s)
        if outcome.reset:
            # Hang up without a byte: the client sees the connection reset (or closed) before any answer.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        payload = outcome.response.encoded()
        self.send_response(outcome.response.status)
        for name, value in outcome.response.headers.items():
            self.send_header(name, value)
        if payload and not any(name.lower() == "content-type" for name in outcome.response.headers):
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        if outcome.drop:
            # Promise the body, send part of it, and hang up: the client sees a connection broken mid-response.
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _serve


class _TwinHTTPServer(ThreadingHTTPServer):
    twin: Twin


class TwinServer:
    """Starts the twin on 127.0.0.1 (port 0 picks a free one) and writes its CA to `state_dir/ca.pem`."""

    def __init__(self, state_dir: Path, port: int = 0, config: TwinConfig | None = None) -> None:
        self.twin = Twin(config)
        state_dir.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_path = state_dir / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self._loopback = LoopbackServer(_TwinHTTPServer, _Handler, name="twin", port=port, tls=context)
        self._loopback.server.twin = self.twin

    @property
    def url(self) -> str:
        return self._loopback.url

    def start(self) -> TwinServer:
        self._loopback.start()
        return self

    def serve_forever(self) -> None:
        self._loopback.serve_forever()

    def stop(self) -> None:
        self._loopback.stop()

    def __enter__(self) -> TwinServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        """The settings that point breakerpanel's clients at this twin."""
        return {
            "BREAKERPANEL_ARM_ENDPOINT": self.url,
            "BREAKERPANEL_LOGS_ENDPOINT": self.url,
            "BREAKERPANEL_CREDENTIAL": "static",
            "REQUESTS_CA_BUNDLE": str(self.ca_path),
        }

    def app_insights_environment(self) -> dict[str, str]:
        """The settings that send the app's custom events to this twin's Application Insights. The SDK's own
        reporting (statsbeat to Microsoft, the OneSettings control plane, SDK stats to the component) is off:
        the twin is offline."""
        return {
            "APPLICATIONINSIGHTS_CONNECTION_STRING": self.twin.app_insights.connection_string(self.url),
            "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
            "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
            "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
        }
