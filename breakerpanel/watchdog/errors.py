"""Every exception a source can raise, as data: the watchdog reports a source it could not read as unknown."""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import HttpResponseError

from breakerpanel.core.retry import classify_failure, failure_fix


def _innermost_message(innererror: object) -> str | None:
    """The message of the deepest `innererror` (the OData error shape Log Analytics nests its causes in)."""
    found: str | None = None
    depth = 0
    while isinstance(innererror, dict) and depth < 10:
        text = innererror.get("message")
        if isinstance(text, str) and text.strip():
            found = text.strip()
        innererror = innererror.get("innererror")
        depth += 1
    return found


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
        inner = _innermost_message(getattr(error, "innererror", None))
        if inner and inner not in str(message):
            # Log Analytics says only "The request had some invalid properties" at the top; what was wrong (an
            # unknown table or column, a syntax error) is in its innererror chain.
            message = f"{message}: {inner}"
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
