"""The app's HTTP functions on a loopback server, as the Functions host and App Service put them on the web.

A TEST adapter (under tests/, never deployed): each request becomes an `azure.functions.HttpRequest` handed
to the function `function_app.app` registered for its route and method, with the durableClient binding of a
LocalTaskHub — so the real `DurableOrchestrationClient` drives a LocalDurableHost whose activities call the
twin. In front of the functions it does what the platform does in Azure:

- the Functions host: `auth_level=FUNCTION` routes need the key in `x-functions-key` (or `?code=`), else 401
  with an empty body; an unknown route is a 404 with an empty body;
- App Service Authentication (when `tokens` is given, as infra/app configures it: authentication required,
  Return401): the caller's `X-MS-CLIENT-PRINCIPAL*` headers are removed, a bearer token it accepted becomes
  those headers (here: a token listed in `tokens`, standing for Entra's validation of a real one), no token
  or an unknown one is a 401.

After every call the host runs until idle (timers within an hour), so the next call sees the progress a
deployed app would have made in between.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import ssl
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import azure.functions as func
from azure.durable_functions.models.utils import http_utils

from breakerpanel.localrun.taskhub import LocalTaskHub
from breakerpanel.loopback import LoopbackServer

PRINCIPAL_HEADERS = ("x-ms-client-principal", "x-ms-client-principal-id", "x-ms-client-principal-name",
                     "x-ms-client-principal-idp")


def principal(upn: str, object_id: str, *roles: str) -> dict[str, str]:
    """The headers Easy Auth writes for a signed-in Entra ID user (claim types as Entra sends them)."""
    claims = [{"typ": "roles", "val": role} for role in roles] + [
        {"typ": "name", "val": upn.split("@")[0].title()},
        {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": object_id},
        {"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "val": upn},
    ]
    payload = {"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"}
    return {
        "x-ms-client-principal": base64.b64encode(json.dumps(payload).encode()).decode(),
        "x-ms-client-principal-id": object_id,
        "x-ms-client-principal-name": upn,
        "x-ms-client-principal-idp": "aad",
    }


def _routes(app: Any) -> list[tuple[re.Pattern[str], set[str], Callable[..., Any]]]:
    """(path regex, methods, user function) for every HTTP-triggered function, from its own decorators."""
    app.functions_bindings = None
    found = []
    for function in app.get_functions():
        trigger = function.get_trigger()
        if trigger is None or trigger.get_binding_name() != "httpTrigger":
            continue
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", trigger.route)
        methods = {str(m).split(".")[-1].upper() for m in trigger.methods}
        found.append((re.compile(f"^/api/{pattern}$"), methods, function.get_user_function()))
    return found


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method: str) -> None:
        app = self.server.app
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        app.seen.append({"method": method, "path": parts.path, "headers": dict(headers)})
        fault = app.faults.pop(0) if app.faults else None
        if fault is not None:
            self._send(*fault)
            return
        if app.tokens is not None:
            for name in PRINCIPAL_HEADERS:  # only the platform writes these
                headers.pop(name, None)
            scheme, _, token = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or token not in app.tokens:
                self._send(401)
                return
            headers.update(app.tokens[token])
        if headers.get("x-functions-key", params.get("code")) != app.key:
            self._send(401)
            return
        found = next(((pattern.match(parts.path), function) for pattern, methods, function in app.routes
                      if pattern.match(parts.path) and method in methods), None)
        if found is None or found[0] is None:
            self._send(404)
            return
        match, function = found
        request = func.HttpRequest(method, f"{app.url}{self.path}", headers=headers, params=params,
                                   route_params=match.groupdict(), body=body)
        response = app.loop.run_until_complete(function(req=request, client=app.hub.client_binding()))
        app.drive()
        self._send(response.status_code, response.get_body(), dict(response.headers) | {
            "Content-Type": response.mimetype or "application/json"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")


class _Server(HTTPServer):
    app: AppServer


class AppServer:
    """function_app's HTTP routes on 127.0.0.1 (https when `tls` is given), key- and optionally token-guarded."""

    def __init__(self, app: Any, hub: LocalTaskHub, *, key: str, tokens: Mapping[str, Mapping[str, str]] | None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.hub = hub
        self.key = key
        self.tokens = dict(tokens) if tokens is not None else None
        self.routes = _routes(app)
        self.seen: list[dict[str, Any]] = []
        # Time spent running the orchestrations between calls (what Azure does in the background).
        self.drive_seconds = 0.0
        # (status, body, headers) answered instead of the next calls, in order: what a platform in trouble sends.
        self.faults: list[tuple[int, bytes, dict[str, str]]] = []
        # One loop for every call, as the worker has: the durable SDK keeps one aiohttp session per loop.
        self.loop = asyncio.new_event_loop()
        # one request at a time (HTTPServer): every call runs on the one loop above
        self._loopback = LoopbackServer(_Server, _Handler, name="app-server", tls=tls)
        self._loopback.server.app = self

    @property
    def url(self) -> str:
        return self._loopback.url

    def drive(self) -> None:
        started = time.perf_counter()
        with self.hub.lock:
            self.hub.host.run_until_idle(timer_horizon=timedelta(hours=1))
        self.drive_seconds += time.perf_counter() - started

    def start(self) -> AppServer:
        self._loopback.start()
        return self

    def stop(self) -> None:
        self._loopback.stop()
        self.loop.run_until_complete(http_utils._close_session())
        self.loop.close()
