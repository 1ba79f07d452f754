"""LoopbackServer: the one way the twin, the local task hub and the tests' app server serve on 127.0.0.1."""

from __future__ import annotations

import ssl
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import trustme

from breakerpanel.loopback import LoopbackServer


class _Named(ThreadingHTTPServer):
    greeting: str


class _Handler(BaseHTTPRequestHandler):
    server: _Named

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        body = self.server.greeting.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_serves_on_a_free_loopback_port_and_stops() -> None:
    loopback = LoopbackServer(_Named, _Handler, name="probe")
    loopback.server.greeting = "hello"
    loopback.start()
    try:
        assert loopback.url.startswith("http://127.0.0.1:") and not loopback.url.endswith(":0")
        with urllib.request.urlopen(loopback.url, timeout=5) as answer:
            assert answer.read() == b"hello"
    finally:
        loopback.stop()
    assert not any(t.name == "probe" for t in threading.enumerate())
    try:
        urllib.request.urlopen(loopback.url, timeout=1)
    except OSError:
        pass
    else:
        raise AssertionError("the port still answers after stop()")


def test_serves_https_with_the_context_it_is_given() -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    loopback = LoopbackServer(_Named, _Handler, name="probe-tls", tls=context)
    loopback.server.greeting = "over tls"
    loopback.start()
    try:
        assert loopback.url.startswith("https://127.0.0.1:")
        with urllib.request.urlopen(loopback.url, timeout=5, context=client) as answer:
            assert answer.read() == b"over tls"
    finally:
        loopback.stop()


def test_a_stop_that_never_started_returns() -> None:
    loopback = LoopbackServer(_Named, _Handler, name="probe-idle")
    # shutdown() would wait forever for a serve loop that never ran: stop() must not ask for one
    stopping = threading.Thread(target=loopback.stop, daemon=True)
    stopping.start()
    stopping.join(timeout=30)
    assert not stopping.is_alive(), "stop() hung on a server that was never started"
