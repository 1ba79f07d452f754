"""Find the Durable functions a DFApp registers and call them the way the Python worker does.

The orchestrator function that `@app.orchestration_trigger` registers is the SDK's replay engine:
it takes the context JSON the extension sends and returns the orchestrator state JSON. Activities
get their input through the worker's `ActivityTriggerConverter` and return through it too, so the
JSON round trip here is the one a deployed app gets.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from azure.functions import FunctionRegister
from azure.functions.durable_functions import ActivityTriggerConverter, OrchestrationTriggerConverter
from azure.functions.meta import Datum

from .errors import LocalRunError, UnknownFunctionError

ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"

# The SDK appends the orchestrator state after this marker when the orchestrator raised, so the
# extension can still replay the actions before failing the instance.
_OUT_OF_PROC_DATA = "\n\n$OutOfProcData$:"


@dataclass(frozen=True)
class RegisteredFunction:
    """One Durable-triggered function of the app."""

    name: str  # the name the extension dispatches on: the trigger's explicit name, else the function name
    function_name: str
    trigger_type: str
    binding_name: str
    user_function: Callable[..., Any]


@dataclass(frozen=True)
class OrchestratorInvocation:
    """What one call of the registered orchestrator function returned, and what it cost."""

    state: dict[str, Any]
    cpu_seconds: float


@dataclass(frozen=True)
class ActivityOutcome:
    """An activity's result as the extension records it: JSON text on success, Reason/Details on failure."""

    result_json: str | None
    failure_reason: str | None = None
    failure_details: str | None = None

    @property
    def failed(self) -> bool:
        return self.failure_reason is not None


class _AuthLevelNoticeFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Auth level is not applied" not in record.getMessage()


@contextmanager
def _quiet_auth_level_notice() -> Iterator[None]:
    # get_functions() logs an auth-level warning for apps without HTTP functions; it says nothing
    # about Durable behaviour and would repeat for every host a test creates.
    notice_filter = _AuthLevelNoticeFilter()
    root = logging.getLogger()
    root.addFilter(notice_filter)
    try:
        yield
    finally:
        root.removeFilter(notice_filter)


class FunctionIndex:
    """The orchestrators, activities and entities an app registers, by the name the extension uses."""

    def __init__(self, app: FunctionRegister) -> None:
        if not isinstance(app, FunctionRegister):
            raise LocalRunError(
                f"app must be an azure.durable_functions.DFApp (or another FunctionRegister), got "
                f"{type(app).__name__}; pass the `app` object your function_app.py builds"
            )
        # get_functions() raises on a second call unless functions_bindings is cleared first; clear
        # it before and after so the real worker (or another host) can index the app again.
        app.functions_bindings = None
        try:
            with _quiet_auth_level_notice():
                functions = app.get_functions()
        finally:
            app.functions_bindings = None
        by_type: dict[str, dict[str, RegisteredFunction]] = {
            ORCHESTRATION_TRIGGER: {},
            ACTIVITY_TRIGGER: {},
            ENTITY_TRIGGER: {},
        }
        for function in functions:
            trigger = function.get_trigger()
            if trigger is None:
                continue
            trigger_type = trigger.get_binding_name()
            if trigger_type not in by_type:
                continue
            explicit = getattr(trigger, {ORCHESTRATION_TRIGGER: "orchestration", ACTIVITY_TRIGGER: "activity",
                                         ENTITY_TRIGGER: "entity_name"}[trigger_type], None)
            function_name = function.get_function_name() or ""
            registered = RegisteredFunction(
                name=explicit or function_name,
                function_name=function_name,
                trigger_type=trigger_type,
                binding_name=trigger.name,
                user_function=function.get_user_function(),
            )
            _check_binding_parameter(registered)
            by_type[trigger_type][registered.name] = registered
        self.orchestrators: Mapping[str, RegisteredFunction] = by_type[ORCHESTRATION_TRIGGER]
        self.activities: Mapping[str, RegisteredFunction] = by_type[ACTIVITY_TRIGGER]
        self.entities: Mapping[str, RegisteredFunction] = by_type[ENTITY_TRIGGER]

    def orchestrator(self, name: str) -> RegisteredFunction:
        return _lookup(self.orchestrators, name, "orchestrator", "@app.orchestration_trigger")

    def activity(self, name: str) -> RegisteredFunction:
        return _lookup(self.activities, name, "activity", "@app.activity_trigger")


def _lookup(
    functions: Mapping[str, RegisteredFunction], name: str, kind: str, decorator: str
) -> RegisteredFunction:
    try:
        return functions[name]
    except KeyError:
        known = ", ".join(sorted(functions)) or "none"
        raise UnknownFunctionError(
            f"no {kind} named {name!r} is registered on the app (registered: {known}); register it "
            f"with {decorator} on a Blueprint passed to app.register_functions()"
        ) from None


def _check_binding_parameter(function: RegisteredFunction) -> None:
    # The worker binds the trigger by parameter name; indexing does not catch a mismatch, the first
    # invocation does. Fail early with the fix instead.
    parameters = inspect.signature(function.user_function).parameters
    if function.binding_name not in parameters:
        raise LocalRunError(
            f"{function.trigger_type} function {function.function_name!r} binds its trigger to "
            f"{function.binding_name!r} but the Python function takes {list(parameters)}; the worker "
            f"passes the trigger by that name, so rename the parameter or the decorator's name argument"
        )


def invoke_orchestrator(function: RegisteredFunction, context_json: str) -> OrchestratorInvocation:
    """Call the registered orchestrator with the extension's context JSON; return its state JSON."""
    context = OrchestrationTriggerConverter.decode(Datum(context_json, "string"), trigger_metadata=None)
    started = time.thread_time()
    try:
        returned = function.user_function(**{function.binding_name: context})
    except Exception as exc:
        elapsed = time.thread_time() - started
        message = str(exc)
        if _OUT_OF_PROC_DATA not in message:
            raise LocalRunError(
                f"orchestrator {function.name!r} raised outside the Durable replay engine: {exc!r}"
            ) from exc
        state = json.loads(message.split(_OUT_OF_PROC_DATA, 1)[1])
        return OrchestratorInvocation(state=state, cpu_seconds=elapsed)
    elapsed = time.thread_time() - started
    encoded = OrchestrationTriggerConverter.encode(returned, expected_type=None).value
    return OrchestratorInvocation(state=json.loads(encoded), cpu_seconds=elapsed)


def invoke_activity(function: RegisteredFunction, input_json: str | None) -> ActivityOutcome:
    """Run an activity in-process with its input decoded and its result encoded as the worker does."""
    try:
        argument = ActivityTriggerConverter.decode(Datum(input_json, "string"), trigger_metadata=None)
        returned = function.user_function(**{function.binding_name: argument})
        if inspect.isawaitable(returned):
            returned = asyncio.run(_await(returned))
        encoded = ActivityTriggerConverter.encode(returned, expected_type=None).value
    except Exception as exc:
        return _activity_failure(function, exc)
    return ActivityOutcome(result_json=normalize_json(encoded))


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _activity_failure(function: RegisteredFunction, exc: Exception) -> ActivityOutcome:
    # The extension reports "Activity function '<name>' failed: <worker message>" as the TaskFailed
    # reason and the serialized exception as details; the SDK raises both joined by " \n ".
    message = f"{type(exc).__name__}: {exc}"
    details = {
        "Message": message,
        "StackTrace": "".join(traceback.format_exception(exc)),
    }
    return ActivityOutcome(
        result_json=None,
        failure_reason=f"Activity function '{function.name}' failed: {message}",
        failure_details=json.dumps(details),
    )


def normalize_json(text: str) -> str:
    """Re-serialize JSON text compactly, as the extension stores a payload after parsing it."""
    return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
