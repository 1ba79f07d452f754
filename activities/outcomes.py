"""How an activity reports an Azure call: never by raising for an Azure error, always as data.

The orchestrator needs the HTTP status, the ARM error and the Retry-After to decide — in the pure core —
whether to retry after a durable timer or stop; an exception would reach it as a flat message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from azure.core.exceptions import (
    HttpResponseError,
    IncompleteReadError,
    ServiceRequestError,
    ServiceResponseError,
)

from breakerpanel.core.retry import classify_failure

Outcome = dict[str, Any]


def _error_envelope(exc: HttpResponseError) -> dict[str, Any]:
    """The ARM error object as Azure sent it (code, message, details kept verbatim)."""
    response = exc.response
    if response is not None:
        try:
            body = response.json()
        except (ValueError, TypeError, AttributeError):
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return body["error"]
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or f"HTTP{exc.status_code or ''}"
    return {"code": code, "message": getattr(error, "message", None) or exc.message or str(exc)}


def failure(exc: Exception) -> Outcome:
    # A body cut off mid-response is an HttpResponseError carrying the 2xx status it began with: the call
    # may or may not have taken effect, and only another try (which re-reads state first) can tell.
    if isinstance(exc, HttpResponseError) and exc.status_code is not None and not isinstance(exc, IncompleteReadError):
        error = _error_envelope(exc)
        retry_after = exc.response.headers.get("Retry-After") if exc.response is not None else None
        status: int | None = exc.status_code
    else:
        # Connection refused, reset or broken mid-response: nothing came back, so it is worth another try.
        error = {"code": type(exc).__name__, "message": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
        retry_after = None
        status = None
    verdict = classify_failure(status, str(error.get("code") or ""), retry_after)
    return {
        "outcome": "transient" if verdict.transient else "permanent",
        "status": status,
        "error": error,
        "retryAfterSeconds": verdict.retry_after_seconds,
    }


def call_azure(action: Callable[[], dict[str, Any]]) -> Outcome:
    try:
        result = action()
    except (HttpResponseError, ServiceRequestError, ServiceResponseError) as exc:
        return failure(exc)
    return {"outcome": "ok", **result}
