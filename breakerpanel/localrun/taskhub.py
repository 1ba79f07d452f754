"""The Durable extension's HTTP management API, served over a LocalDurableHost — a DEVELOPMENT AND TEST tool.

In Azure, `DurableOrchestrationClient` talks HTTP to the Durable extension inside the Functions host
(`rpcBaseUrl`). This serves the same routes on 127.0.0.1 so the app's HTTP functions run with the real
client library offline:

  POST {rpc}orchestrators/{name}[/{instanceId}]       start_new (202; 400 for an id the extension refuses; 500
                                                       for the id of an instance still Pending or Running)
  GET  {rpc}instances/{instanceId}                     get_status (202 running; 200 completed, failed or
                                                       terminated; 500 failed with returnInternalServerErrorOnFailure;
                                                       404 with an empty body)
  GET  {rpc}instances/?runtimeStatus=A,B               get_status_by / get_status_all: createdTimeFrom/To,
       &createdTimeFrom=&createdTimeTo=&top=           instanceIdPrefix; one page of `top` (100) in instance-id
                                                       order, the next page's token in x-ms-continuation-token
  POST {rpc}instances/{instanceId}/raiseEvent/{event}  raise_event (202, 404, 410 when finished; empty bodies)
  POST {rpc}instances/{instanceId}/terminate?reason=   terminate (202, 404, 410)

As the extension's HttpApiHandler (Microsoft.Azure.WebJobs.Extensions.DurableTask) answers them, backed by the
Azure Storage provider (DurableTask.AzureStorage): its instances table is keyed by instance id, so a query's
pages come in instance-id order, not by creation time.

The server never drives orchestrations itself: whoever owns the host calls run_until_idle / advance_time.
"""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from breakerpanel.localrun.errors import InstanceAlreadyRunningError, LocalRunError
from breakerpanel.localrun.host import LocalDurableHost
from breakerpanel.loopback import LoopbackServer

RPC_PATH = "/runtime/webhooks/durabletask/"
_FINISHED = {"Completed", "Failed", "Terminated", "Canceled"}
# HttpApiHandler.HandleGetStatusRequestAsync: 200 for every ended instance (500 for a failed one only when the
# caller asks returnInternalServerErrorOnFailure=true), 202 while it runs.
_STATUS_CODE = {"Completed": 200, "Failed": 200, "Terminated": 200, "Canceled": 200}
# OrchestrationStatusQueryCondition.PageSize's default.
_PAGE_SIZE = 100
_CONTINUATION = "x-ms-continuation-token"
_ALREADY_EXISTS = "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException"


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


def _flag(query: dict[str, str], name: str, *, default: bool = False) -> bool:
    # TryGetBooleanQueryParameterValue: bool.TryParse, case-insensitive ("True" from the Python client).
    raw = query.get(name)
    if raw is None or raw.lower() not in ("true", "false"):
        return default
    return raw.lower() == "true"


def _query_time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _token(instance_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": instance_id}).encode()).decode()


def _token_value(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return str(json.loads(base64.urlsafe_b64decode(raw.encode()))["after"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"x-ms-continuation-token {raw!r} is not one this task hub gave") from exc


def _event_data(body: bytes) -> Any:
    """The event data as the extension keeps it: the request body parsed once (MessagePayloadDataConverter.
    ConvertToJToken), then serialized into EventRaised.Input. The Python client posts json.dumps(data) as a JSON
    value (aiohttp's json=), so the body is a JSON *string* holding that text, and the orchestrator's
    wait_for_external_event receives the text, not the object (Azure/azure-functions-durable-python#295)."""
    return json.loads(body) if body else None


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_empty(self, status: int) -> None:
        # request.CreateResponse(status) with no content: what the extension answers for 404, 410 and 202.
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

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
                    status = hub.host.status(segments[1], show_history=_flag(query, "showHistory"))
                except LocalRunError:
                    self._send_empty(404)
                    return
                code = _STATUS_CODE.get(status["runtimeStatus"], 202)
                if status["runtimeStatus"] == "Failed" and _flag(query, "returnInternalServerErrorOnFailure"):
                    code = 500
                if not _flag(query, "showInput", default=True):
                    status = {**status, "input": None}
                self._send(code, status)
                return
            if segments[:1] == ["instances"]:
                self._send_page(query)
                return
        self._send(404, "unknown route")

    def _send_page(self, query: dict[str, str]) -> None:
        """One page of the instance query, as DurableTask.AzureStorage reads its instances table."""
        hub = self.server.hub
        try:
            since = _query_time(query.get("createdTimeFrom"))
            until = _query_time(query.get("createdTimeTo"))
            top = int(query["top"]) if query.get("top") else _PAGE_SIZE
            after = _token_value(self.headers.get(_CONTINUATION))
        except ValueError as exc:
            self._send(400, {"Message": "One or more of the arguments submitted is incorrect",
                             "ExceptionMessage": str(exc)})
            return
        wanted = set(filter(None, query.get("runtimeStatus", "").split(",")))
        prefix = query.get("instanceIdPrefix", "")
        found = []
        for status in hub.host.statuses():
            created = hub.host.created_at(status["instanceId"])
            if wanted and status["runtimeStatus"] not in wanted:
                continue
            if not status["instanceId"].startswith(prefix):
                continue
            if (since is not None and created < since) or (until is not None and created > until):
                continue
            if after is not None and status["instanceId"] <= after:
                continue
            if not _flag(query, "showInput", default=True):
                status = {**status, "input": None}
            found.append(status)
        # The instances table's PartitionKey is the instance id: a query answers in that order.
        found.sort(key=lambda status: status["instanceId"])
        page = found[: max(top, 1)]
        more = len(found) > len(page)
        token = _token(page[-1]["instanceId"]) if more else ""
        self._send(200, page, headers={_CONTINUATION: token})

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
                except InstanceAlreadyRunningError as exc:
                    # Not an ArgumentException: HttpApiHandler's catch-all answers 500.
                    self._send(500, {"Message": "Something went wrong while processing your request",
                                     "ExceptionMessage": str(exc), "ExceptionType": _ALREADY_EXISTS})
                    return
                except LocalRunError as exc:
                    # HttpApiHandler turns the client's ArgumentException into CreateErrorResponse's HttpError.
                    self._send(400, {"Message": "One or more of the arguments submitted is incorrect",
                                     "ExceptionMessage": str(exc), "ExceptionType": "System.ArgumentException"})
                    return
                self._send(202, {"id": instance_id, **hub.management_urls(instance_id)})
                return
            if segments[:1] == ["instances"] and len(segments) >= 3:
                instance_id, action = segments[1], segments[2]
                try:
                    status = hub.host.status(instance_id)
                except LocalRunError:
                    self._send_empty(404)
                    return
                if status["runtimeStatus"] in _FINISHED:
                    self._send_empty(410)
                    return
                if action == "raiseEvent" and len(segments) == 4:
                    hub.host.raise_event(instance_id, segments[3], _event_data(body))
                    self._send_empty(202)
                    return
                if action == "terminate":
                    hub.host.terminate(instance_id, query.get("reason", ""))
                    self._send_empty(202)
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
