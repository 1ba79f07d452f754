"""The Durable extension's HTTP management API, served over a LocalDurableHost — a DEVELOPMENT AND TEST tool.

In Azure, `DurableOrchestrationClient` talks HTTP to the Durable extension inside the Functions host
(`rpcBaseUrl`). This serves the same routes on 127.0.0.1 so the app's HTTP functions run with the real
client library offline:

  POST {rpc}orchestrators/{name}[/{instanceId}]       start_new
  GET  {rpc}instances/{instanceId}                     get_status (200 done, 202 running, 400 failed, 404)
  GET  {rpc}instances/?runtimeStatus=A,B               get_status_by / get_status_all
  POST {rpc}instances/{instanceId}/raiseEvent/{event}  raise_event (202, 404, 410 when finished)
  POST {rpc}instances/{instanceId}/terminate?reason=   terminate (202, 404, 410)

The server never drives orchestrations itself: whoever owns the host calls run_until_idle / advance_time.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from breakerpanel.localrun.errors import LocalRunError
from breakerpanel.localrun.host import LocalDurableHost
from breakerpanel.loopback import LoopbackServer

RPC_PATH = "/runtime/webhooks/durabletask/"
_FINISHED = {"Completed", "Failed", "Terminated", "Canceled"}
_STATUS_CODE = {"Completed": 200, "Failed": 400, "Terminated": 400, "Canceled": 400}


def _client_text(body: bytes) -> Any:
    """What the client posted: it JSON-encodes the input, then aiohttp encodes that text as JSON again."""
    if not body:
        return None
    value = json.loads(body)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(self, status: int, body: Any) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _route(self) -> tuple[list[str], dict[str, str]]:
        parts = urlsplit(self.path)
        if not parts.path.startswith(RPC_PATH):
            return [], {}
        segments = [unquote(s) for s in parts.path[len(RPC_PATH):].split("/")]
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return segments, query

    def do_GET(self) -> None:
        segments, query = self._route()
        hub = self.server.hub
        with hub.lock:
            if segments[:1] == ["instances"] and len(segments) == 2 and segments[1]:
                try:
                    status = hub.host.status(segments[1], show_history=query.get("showHistory") == "True")
                except LocalRunError:
                    self._send(404, f"No instance with ID '{segments[1]}' found.")
                    return
                self._send(_STATUS_CODE.get(status["runtimeStatus"], 202), status)
                return
            if segments[:1] == ["instances"]:
                wanted = set(filter(None, query.get("runtimeStatus", "").split(",")))
                prefix = query.get("instanceIdPrefix", "")
                found = [
                    status
                    for status in hub.host.statuses()
                    if (not wanted or status["runtimeStatus"] in wanted) and status["instanceId"].startswith(prefix)
                ]
                self._send(200, found)
                return
        self._send(404, "unknown route")

    def do_POST(self) -> None:
        segments, query = self._route()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        hub = self.server.hub
        with hub.lock:
            if segments[:1] == ["orchestrators"] and len(segments) in (2, 3):
                instance = segments[2] if len(segments) == 3 else None
                try:
                    instance_id = hub.host.start(segments[1], _client_text(body), instance_id=instance)
                except LocalRunError as exc:
                    self._send(400, {"ExceptionMessage": str(exc)})
                    return
                self._send(202, {"id": instance_id, **hub.management_urls(instance_id)})
                return
            if segments[:1] == ["instances"] and len(segments) >= 3:
                instance_id, action = segments[1], segments[2]
                try:
                    status = hub.host.status(instance_id)
                except LocalRunError:
                    self._send(404, f"No instance with ID '{instance_id}' found.")
                    return
                if status["runtimeStatus"] in _FINISHED:
                    self._send(410, f"Instance {instance_id} is {status['runtimeStatus']}.")
                    return
                if action == "raiseEvent" and len(segments) == 4:
                    hub.host.raise_event(instance_id, segments[3], _client_text(body))
                    self._send(202, None)
                    return
                if action == "terminate":
                    hub.host.terminate(instance_id, query.get("reason", ""))
                    self._send(202, None)
                    return
        self._send(404, "unknown route")


class _Server(ThreadingHTTPServer):
    hub: LocalTaskHub


class LocalTaskHub:
    """Serves the management API for `host` on 127.0.0.1; `client_binding()` is what a client function gets."""

    def __init__(self, host: LocalDurableHost, task_hub: str = "breakerpanel") -> None:
        self.host = host
        self.task_hub = task_hub
        # The host is not thread-safe: requests and the test's own driving take turns.
        self.lock = threading.RLock()
        self._loopback = LoopbackServer(_Server, _Handler, name="taskhub")
        self._loopback.server.hub = self

    @property
    def url(self) -> str:
        return self._loopback.url

    @property
    def rpc_base_url(self) -> str:
        return self.url + RPC_PATH

    def management_urls(self, instance_id: str) -> dict[str, str]:
        base = f"{self.rpc_base_url}instances/{instance_id}"
        hub = f"taskHub={self.task_hub}&connection=Storage"
        return {
            "statusQueryGetUri": f"{base}?{hub}",
            "sendEventPostUri": f"{base}/raiseEvent/{{eventName}}?{hub}",
            "terminatePostUri": f"{base}/terminate?reason={{text}}&{hub}",
            "rewindPostUri": f"{base}/rewind?reason={{text}}&{hub}",
            "purgeHistoryDeleteUri": f"{base}?{hub}",
            "restartPostUri": f"{base}/restart?{hub}",
            "suspendPostUri": f"{base}/suspend?reason={{text}}&{hub}",
            "resumePostUri": f"{base}/resume?reason={{text}}&{hub}",
        }

    def client_binding(self) -> str:
        """The durableClient binding data the Functions host hands a client function, as JSON text."""
        urls = {"id": "INSTANCEID", **self.management_urls("INSTANCEID")}
        return json.dumps(
            {
                "taskHubName": self.task_hub,
                "creationUrls": {
                    "createNewInstancePostUri": f"{self.rpc_base_url}orchestrators/{{functionName}}[/{{instanceId}}]",
                    "createAndWaitOnNewInstancePostUri": f"{self.rpc_base_url}orchestrators/{{functionName}}"
                    "[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}",
                },
                "managementUrls": urls,
                "baseUrl": self.rpc_base_url.rstrip("/"),
                "requiredQueryStringParameters": f"taskHub={self.task_hub}",
                "rpcBaseUrl": self.rpc_base_url,
                "httpBaseUrl": "",
                "maxGrpcMessageSizeInBytes": 0,
                "grpcHttpClientTimeout": "00:01:40",
            }
        )

    def start(self) -> LocalTaskHub:
        self._loopback.start()
        return self

    def stop(self) -> None:
        self._loopback.stop()

    def __enter__(self) -> LocalTaskHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
