"""What an HTTP route answers when the Durable task hub fails it, instead of a 500 and a traceback.

The Durable Python client raises a bare `Exception` for any status it does not expect from the extension
(`raise_event` on a finished instance is 410, a task hub whose storage is unreachable answers 500 or 503) and
aiohttp's errors when the extension's local endpoint does not answer at all. Those are the platform's
condition, not the caller's mistake: `503 TaskHubUnavailable` with Retry-After, the reason logged without a
traceback. Anything else is a defect of this app: `500 InternalError`, logged with its traceback for the
operator, and only a correlation hint for the caller.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import azure.functions as func

from breakerpanel.core.summary import redact

_log = logging.getLogger("breakerpanel.api")
RETRY_AFTER_SECONDS = 30

Handler = Callable[..., Awaitable[func.HttpResponse]]


class TaskHubRefused(Exception):
    """The task hub refused a call the route needed (start, raise an event), with what it said."""


def is_task_hub_error(exc: BaseException) -> bool:
    # The client's own refusals are exactly `Exception`; its transport's are aiohttp's, timeouts and OSError.
    return type(exc) is Exception or isinstance(
        exc, TaskHubRefused | aiohttp.ClientError | asyncio.TimeoutError | OSError)


def _answer(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"error": {"code": code, "message": message}}, indent=2),
                             status_code=status, mimetype="application/json", headers=headers or {})


def answers_task_hub_errors(handler: Handler) -> Handler:
    """Wrap a route so that no exception leaves it: see the module's docstring."""

    @functools.wraps(handler)
    async def guarded(*args: Any, **kwargs: Any) -> func.HttpResponse:
        try:
            return await handler(*args, **kwargs)
        except Exception as exc:
            said = redact(str(exc)) or type(exc).__name__
            if is_task_hub_error(exc):
                _log.error("%s: the Durable task hub did not answer: %s", handler.__name__, said)
                return _answer(503, "TaskHubUnavailable",
                               f"the Durable task hub did not answer ({said}); the app's storage may be unreachable "
                               "or busy. Read the rollout's status, then try again",
                               {"Retry-After": str(RETRY_AFTER_SECONDS)})
            _log.exception("%s failed", handler.__name__)
            return _answer(500, "InternalError", f"{handler.__name__} failed: the app's log has the error")

    return guarded
