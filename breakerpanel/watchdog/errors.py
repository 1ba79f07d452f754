"""Every exception a source can raise, as data: the watchdog reports a source it could not read as unknown."""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import HttpResponseError

from breakerpanel.core.retry import classify_failure, failure_fix


def problem(source: str, exc: BaseException) -> dict[str, Any]:
    """{source, code, message, status, transient, retryAfterSeconds, fix?}; never raises, never holds a token."""
    status: int | None = None
    retry_after: str | None = None
    code = type(exc).__name__
    message = str(exc).splitlines()[0] if str(exc) else code
    if isinstance(exc, HttpResponseError):
        status = exc.status_code
        error = getattr(exc, "error", None)
        code = getattr(error, "code", None) or (f"HTTP{status}" if status else code)
        message = getattr(error, "message", None) or (exc.message or message)
        if exc.response is not None:
            retry_after = exc.response.headers.get("Retry-After")
    verdict = classify_failure(status, str(code), retry_after)
    found: dict[str, Any] = {
        "source": source,
        "code": str(code),
        "message": str(message)[:500],
        "status": status,
        "transient": verdict.transient,
        "retryAfterSeconds": verdict.retry_after_seconds,
    }
    fix = None if verdict.transient else failure_fix(status, str(code), message=str(message))
    if fix:
        found["fix"] = fix  # a source that will stay unreadable until someone acts: say what to do
    return found
