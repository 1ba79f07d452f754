"""Local Durable Functions runner — a DEVELOPMENT AND TEST tool, never deployed.

`LocalDurableHost` drives the orchestrators a `DFApp` registers through the real replay engine of
azure-functions-durable, offline: it builds the history the Durable extension would, calls the
registered orchestrator function with the extension's context JSON at every step (so every step is a
full replay), executes the actions it returns (activities in-process, timers on a simulated clock or,
with `real_time=True`, on the wall clock; sub-orchestrations, external events, continue-as-new) and records
replay metrics. It is a history-feeding driver, not a second orchestration engine. The SDK's *_with_retry
calls are refused by name: the app retries with activities and durable timers of its own.

    host = LocalDurableHost(app)
    instance_id = host.start("rollout_orchestrator", request, instance_id="target-1")
    host.run_until_idle(instance_id)             # until done or waiting on an event
    host.raise_event(instance_id, "approval", {"approved": True})
    status = host.run_until_idle(instance_id)     # Durable HTTP status shape
"""

from .errors import (
    InstanceAlreadyRunningError,
    InstanceNotFoundError,
    InstanceNotRunningError,
    InvalidInstanceIdError,
    LocalRunError,
    NonDeterministicOrchestrationError,
    RunLimitError,
    UnknownFunctionError,
    UnsupportedActionError,
)
from .history import EventType
from .host import LocalDurableHost
from .model import ActivityExecution, ReplayMetrics, Step

__all__ = [
    "ActivityExecution",
    "EventType",
    "InstanceAlreadyRunningError",
    "InstanceNotFoundError",
    "InstanceNotRunningError",
    "InvalidInstanceIdError",
    "LocalDurableHost",
    "LocalRunError",
    "NonDeterministicOrchestrationError",
    "ReplayMetrics",
    "RunLimitError",
    "Step",
    "UnknownFunctionError",
    "UnsupportedActionError",
]
