"""One ApiManagementGatewayLogs row per client request, every one of the table's 59 columns present.

What each column holds follows the gateway log schema reference (MicrosoftDocs/azure-docs
articles/api-management/gateway-log-schema-reference.md) and a real GatewayLogs record quoted in
Azure/api-management-self-hosted-gateway#230 (responseCode 500, no backendResponseCode, lastError {elapsed,
source, path, reason "BackendConnectionFailure", message "Underlying transport connection was unexpectedly
closed.", section "backend"} and the same object in `errors`). Request and response bodies are null: APIM logs
them only when the diagnostic setting asks for bytes of payload, which the gateway template does not.
`_ResourceId` is the APIM id in lower case, as Log Analytics stores it; `TenantId` is the workspace id.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from twin.gateway.behaviour import Answer
from twin.gateway.service import Service
from twin.log_analytics.schema import COLUMNS, TABLE

API_ID = "azure-openai"  # infra/gateway/main.bicep: apiName default, path 'openai'
OPERATION_ID = "post-all"
OPERATION_NAME = "POST"
CLIENT_PATH = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
BACKEND_PATH = "/deployments/gpt-4o/chat/completions?api-version=2024-10-21"


@dataclass
class Attempt:
    """One try of the retry policy: a backend call (`backend` set, `answer` its result) or the gateway's own
    answer without a backend call (`backend` None: breaker open / pool exhausted)."""

    started: datetime
    backend: str | None
    backend_url: str | None
    answer: Answer | None
    gateway_status: int  # what this attempt gives the policy: the backend's status, 500 without response, 503...


@dataclass
class ClientRequest:
    arrived: datetime
    correlation_id: str
    caller_ip: str
    subscription: str
    attempts: list[Attempt] = field(default_factory=list)
    finished: datetime | None = None


def _error(attempt: Attempt, request: ClientRequest) -> dict[str, Any] | None:
    answer = attempt.answer
    if answer is None or answer.error_reason is None:
        return None
    elapsed = int((attempt.started - request.arrived).total_seconds() * 1000) + answer.latency_ms
    return {
        "elapsed": elapsed,
        "source": "forward-request",
        "reason": answer.error_reason,
        "message": answer.error_message,
        "scope": "api",
        "section": "backend",
    }


def gateway_row(service: Service, request: ClientRequest, rng: random.Random, *, target: str) -> dict[str, Any]:
    """The row APIM writes when the request ends. The last attempt decides the backend columns: BackendId is the
    member that attempt called, or `target` (the pool or backend the policy named) when it made no call."""
    assert request.finished is not None
    last = request.attempts[-1]
    called = [a for a in request.attempts if a.answer is not None]
    errors = [e for e in (_error(a, request) for a in request.attempts) if e is not None]
    answered = last.answer
    status = last.gateway_status
    backend_headers: dict[str, str] | None = None
    response_headers: dict[str, str] = {"Content-Type": "application/json"}
    if answered is not None and answered.status is not None:
        backend_headers = {"Content-Type": "application/json"}
        if answered.retry_after is not None:
            backend_headers["Retry-After"] = str(answered.retry_after)
            response_headers["Retry-After"] = str(answered.retry_after)
    total_ms = int((request.finished - request.arrived).total_seconds() * 1000) + rng.randint(1, 6)
    client_ms = rng.randint(0, 3)
    request_size = rng.randint(600, 2400)
    response_size = rng.randint(900, 4000) if status == 200 else rng.randint(150, 400)
    last_error = errors[-1] if errors else None
    values: dict[str, Any] = {
        "ApiId": API_ID,
        "ApimSubscriptionId": request.subscription,
        "ApiRevision": "1",
        "BackendId": last.backend if last.backend is not None else target,
        "BackendMethod": "POST" if answered is not None else None,
        "BackendProtocol": "HTTP/1.1" if answered is not None else None,
        "BackendRequestBody": None,
        "BackendRequestHeaders": None,
        "BackendResponseBody": None,
        "BackendResponseCode": answered.status if answered is not None else None,
        "BackendResponseHeaders": backend_headers,
        "BackendTime": sum(a.answer.latency_ms for a in called if a.answer is not None),
        "BackendUrl": last.backend_url,
        "_BilledSize": float(rng.randint(1100, 1900)),
        "Cache": "none",
        "CacheTime": 0,
        "CallerIpAddress": request.caller_ip,
        "Category": "GatewayLogs",
        "ClientProtocol": "HTTP/1.1",
        "ClientTime": client_ms,
        "ClientTlsVersion": "1.2",
        "CorrelationId": request.correlation_id,
        "Errors": errors or None,
        "_IsBillable": "True",
        "IsMasterTrace": False,
        "IsRequestSuccess": 200 <= status < 400,
        "IsTraceAllowed": False,
        "IsTraceExpired": False,
        "IsTraceRequested": False,
        "LastErrorElapsed": None if last_error is None else last_error["elapsed"],
        "LastErrorMessage": None if last_error is None else last_error["message"],
        "LastErrorReason": None if last_error is None else last_error["reason"],
        "LastErrorScope": None if last_error is None else last_error["scope"],
        "LastErrorSection": None if last_error is None else last_error["section"],
        "LastErrorSource": None if last_error is None else last_error["source"],
        "Method": "POST",
        "OperationId": OPERATION_ID,
        "OperationName": OPERATION_NAME,
        "ProductId": None,
        "Region": service.region,
        "RequestBody": None,
        "RequestHeaders": None,
        "RequestSize": request_size,
        "_ResourceId": service.log_resource_id,
        "ResponseBody": None,
        "ResponseCode": status,
        "ResponseHeaders": response_headers,
        "ResponseSize": response_size,
        "SourceSystem": "Azure",
        "_SubscriptionId": service.subscription_id,
        "TenantId": service.workspace_id,
        "TimeGenerated": request.arrived,
        "Timestamp": request.arrived,
        "TotalTime": total_ms,
        "TraceRecords": None,
        "Type": TABLE,
        "Url": f"https://{service.name.lower()}.azure-api.net{CLIENT_PATH}",
        "UserId": None,
        "WorkspaceId": service.workspace_id,
    }
    # Every column of the table, in the table's order, so a reader can rely on the keys.
    return {name: values[name] for name, _ in COLUMNS}
