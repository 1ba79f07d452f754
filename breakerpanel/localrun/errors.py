"""Errors raised by the local Durable host (dev/test tool)."""


class LocalRunError(Exception):
    """A problem driving an orchestration locally (bad call, unsupported feature, limit reached)."""


class UnknownFunctionError(LocalRunError):
    """An orchestrator or activity name that the app does not register."""


class InstanceNotFoundError(LocalRunError):
    """No instance with that id exists in this host (the HTTP API answers 404)."""


class InvalidInstanceIdError(LocalRunError):
    """An instance id the extension refuses to start (the HTTP API answers 400)."""


class InstanceAlreadyRunningError(LocalRunError):
    """start() with the id of an instance still Pending or Running: the extension's default
    overridableExistingInstanceStates (NonRunningStates) refuses it, and the HTTP API answers 500."""


class InstanceNotRunningError(LocalRunError):
    """The instance already completed, failed or was terminated (the HTTP API answers 410 Gone)."""


class UnsupportedActionError(LocalRunError):
    """The orchestrator asked for a Durable API this local host does not drive (entities, durable HTTP)."""


class NonDeterministicOrchestrationError(LocalRunError):
    """Replaying the orchestrator did not reproduce the actions already recorded in its history."""


class RunLimitError(LocalRunError):
    """run_until_idle hit its episode limit: the orchestration keeps producing work (eternal loop?)."""
