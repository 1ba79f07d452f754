"""How an activity reports an Azure call: never by raising, always as data.

The orchestrator needs the HTTP status, the ARM error and the Retry-After to decide — in the pure core —
whether to retry after a durable timer or stop; an exception would reach it as a flat message and, worse,
fail every orchestration up the chain (no diagnosis, no rollback, no verify, a deployment left unwatched).
So `call_azure` and `reports_failures` turn every exception into a classified outcome:

- an HTTP error with an ARM error body: its code, status and Retry-After (core/retry.py decides);
- an answer that cannot be read — an empty or HTML 200, JSON cut short, a body of the wrong shape — is
  `UnreadableResponse`, transient: every call here is a read or re-reads state before writing, so another
  try is safe, and only another try can tell what the service did;
- no answer at all (refused, reset, timed out): transient;
- authentication (401, a credential that cannot get a token) and authorization (403): permanent, with the fix;
- anything else (a bug here): permanent `ActivityFailed`, with its type and message.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    DecodeError,
    DeserializationError,
    HttpResponseError,
    IncompleteReadError,
    ServiceRequestError,
    ServiceResponseError,
)

from breakerpanel.core.endpoints import unreachable_fix
from breakerpanel.core.retry import classify_failure, failure_fix
from breakerpanel.settings import SettingsError, load_settings

Outcome = dict[str, Any]
_log = logging.getLogger(__name__)
# Exceptions that mean "the answer came but could not be read as what it should be".
_UNREADABLE = (DecodeError, DeserializationError, json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError,
               AttributeError, ValueError)
_MESSAGE_CHARS = 500


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:_MESSAGE_CHARS]


def _error_envelope(exc: HttpResponseError) -> dict[str, Any]:
    """The ARM error object as Azure sent it (code, message, details kept verbatim)."""
    response = exc.response
    if response is not None:
        try:
            body = response.json()
        except Exception:  # an HTML or empty error page: the status is all there is
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return body["error"]
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or f"HTTP{exc.status_code or ''}"
    return {"code": code, "message": getattr(error, "message", None) or exc.message or str(exc)}


def _failed_operation(exc: HttpResponseError) -> dict[str, Any] | None:
    """The error of an ARM async-operation status body that says Failed or Canceled (ARM RPC: `{"status",
    "error": {code, message, details?}}`), else None."""
    try:
        body = exc.response.json() if exc.response is not None else None
    except Exception:  # no JSON body: nothing said why
        return None
    if not isinstance(body, dict) or str(body.get("status") or "").lower() not in ("failed", "canceled"):
        return None
    error = body.get("error")
    return error if isinstance(error, dict) and error.get("code") else None


def _classified(status: int | None, error: dict[str, Any], retry_after: str | None, *,
                kind: str | None = None) -> Outcome:
    verdict = classify_failure(status, str(error.get("code") or ""), retry_after, kind=kind)
    outcome: Outcome = {
        "outcome": "transient" if verdict.transient else "permanent",
        "status": status,
        # The HTTP status travels with the error, so a summary of an unrecognised error can still show it.
        "error": {**error, "httpStatus": status} if status is not None else error,
        "retryAfterSeconds": verdict.retry_after_seconds,
    }
    fix = failure_fix(status, str(error.get("code") or ""), kind=kind, message=str(error.get("message") or ""))
    if fix:
        outcome["fix"] = fix
    return outcome


def _endpoint_settings() -> dict[str, str]:
    try:
        settings = load_settings()
    except SettingsError:
        return {}
    return {"BREAKERPANEL_ARM_ENDPOINT": settings.arm_endpoint, "BREAKERPANEL_LOGS_ENDPOINT": settings.logs_endpoint}


def failure(exc: BaseException) -> Outcome:
    status = getattr(exc, "status_code", None) if isinstance(exc, HttpResponseError) else None
    if isinstance(exc, ClientAuthenticationError) and status is None:
        # No token at all: the credential (managed identity, AZURE_CLIENT_ID) is the problem, not Azure.
        return _classified(None, {"code": "CredentialUnavailable", "message": _first_line(exc)}, None,
                           kind="credential")
    if (isinstance(exc, HttpResponseError) and not isinstance(exc, (DecodeError, IncompleteReadError))
            and status is not None and 200 <= status < 300 and (ended := _failed_operation(exc)) is not None):
        # A long-running operation that ended Failed/Canceled: azure-core raises it (OperationFailed) with the
        # 200 status poll's response, whose body is ARM's {"status", "error"} — the refusal, not an unreadable
        # answer; retrying would only ask again and lose the error.
        return _classified(status, ended, None)
    if isinstance(exc, (DecodeError, DeserializationError)) or (
        isinstance(exc, HttpResponseError) and status is not None and 200 <= status < 300
        and not isinstance(exc, IncompleteReadError)
    ):
        return _classified(status, {"code": "UnreadableResponse", "message": _first_line(exc),
                                    "type": type(exc).__name__}, None, kind="unreadable")
    if isinstance(exc, HttpResponseError) and status is not None and not isinstance(exc, IncompleteReadError):
        retry_after = exc.response.headers.get("Retry-After") if exc.response is not None else None
        return _classified(status, _error_envelope(exc), retry_after)
    if isinstance(exc, ServiceRequestError):
        # No connection at all (refused, DNS): still transient, but name the setting that points there.
        outcome = _classified(None, {"code": type(exc).__name__, "message": _first_line(exc)}, None)
        outcome["fix"] = unreachable_fix(str(exc), _endpoint_settings())
        return outcome
    if isinstance(exc, (HttpResponseError, ServiceResponseError)):
        # Reset, timed out or broken mid-response: nothing usable came back.
        return _classified(None, {"code": type(exc).__name__, "message": _first_line(exc)}, None)
    if isinstance(exc, _UNREADABLE):
        # A body that parsed but is not what the API documents (a field missing, a list for an object).
        return _classified(status, {"code": "UnreadableResponse", "message": _first_line(exc),
                                    "type": type(exc).__name__}, None, kind="unreadable")
    _log.exception("activity failed unexpectedly")
    return _classified(None, {"code": "ActivityFailed", "message": f"{type(exc).__name__}: {_first_line(exc)}"},
                       None, kind="bug")


def refused_in_body(status: int | None, error: object) -> Outcome:
    """An answer that arrived as a success but whose body says the service refused (a DeploymentValidateResult
    with `error`): classified exactly as that error arriving as an HTTP error would be."""
    envelope = error if isinstance(error, dict) and error.get("code") else {
        "code": "UnreadableResponse", "message": f"the answer carries an error that is not an ARM error: {error!r}"[
            :_MESSAGE_CHARS]}
    return _classified(status, envelope, None)


def call_azure(action: Callable[[], dict[str, Any]]) -> Outcome:
    try:
        result = action()
    except Exception as exc:  # every failure is data for the orchestrator; see the module docstring
        return failure(exc)
    return {"outcome": "ok", **result}


def reports_failures(activity: Callable[[dict[str, Any]], Outcome]) -> Callable[[dict[str, Any]], Outcome]:
    """Wrap an activity so that nothing it raises (settings, the allowlist check, a client factory) escapes."""

    @functools.wraps(activity)
    def wrapper(payload: dict[str, Any]) -> Outcome:
        try:
            return activity(payload)
        except Exception as exc:
            return failure(exc)

    return wrapper
