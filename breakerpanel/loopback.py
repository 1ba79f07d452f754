"""An HTTP(S) server on 127.0.0.1 served from a daemon thread: the twin, the local task hub and the tests' app
server each run one. The server class decides whether requests run on threads of their own (ThreadingHTTPServer)
or one after another (HTTPServer).

Port 0 picks a free port; `url` says which. A short poll interval keeps `stop()` quick (it waits for the serve
loop to notice), which matters where tests start and stop a server per test.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Generic, TypeVar

ServerT = TypeVar("ServerT", bound=HTTPServer)


class LoopbackServer(Generic[ServerT]):
    """`server_class` (carrying what its handler reads) bound to 127.0.0.1:`port`."""

    def __init__(
        self,
        server_class: type[ServerT],
        handler: type[BaseHTTPRequestHandler],
        *,
        name: str,
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        poll_interval: float = 0.05,
    ) -> None:
        self.server = server_class(("127.0.0.1", port), handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self._scheme = "http" if tls is None else "https"
        self._name = name
        self._poll_interval = poll_interval
        self._thread: threading.Thread | None = None
        # shutdown() blocks until a serve loop acknowledges it: only ask when one runs or is about to.
        self._serving = False

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> None:
        self._serving = True
        self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve on the calling thread until stop() (from another thread) or an interrupt."""
        self._serving = True
        self._serve()

    def _serve(self) -> None:
        try:
            self.server.serve_forever(poll_interval=self._poll_interval)
        finally:
            self._serving = False

    def stop(self) -> None:
        if self._serving:
            self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
