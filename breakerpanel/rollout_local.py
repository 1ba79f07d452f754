"""Run a rollout offline: the app's own orchestrations, through the local Durable runner (dev/test tool).

The activities are the real ones, so they reach whatever endpoints the settings name — the twin, or Azure.
This is what `python -m breakerpanel deploy` and the demo use; the Functions host is not involved. Against
Azure the durable timers run on the wall clock, so a laptop or a CI job waits, retries and times out as the
Functions app does; only the twin is fast-forwarded (see `runs_on_twin`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from breakerpanel.core.naming import new_rollout_id
from breakerpanel.core.request import RequestCheck, check_rollout_request
from breakerpanel.core.rollout_api import instance_id_for, orchestration_input
from breakerpanel.localrun import LocalDurableHost, Step
from breakerpanel.settings import Settings, load_settings
from breakerpanel.targets import AllowedTarget, load_targets

ORCHESTRATOR = "rollout_orchestrator"
_TERMINAL = {"Completed", "Failed", "Terminated"}


SIMULATED_CLOCK = "simulated clock: the twin (durable timers fast-forwarded, waits cost no wall time)"
REAL_CLOCK = "real time: durable timers wait on the wall clock, as in the Functions app"


@dataclass(frozen=True)
class LocalRollout:
    instance_id: str
    rollout_id: str
    status: dict[str, Any]
    real_time: bool = False
    # Wall-clock seconds the runner slept for durable timers (polls, Retry-After, retry back-off).
    seconds_waited: float = 0.0

    @property
    def clock(self) -> str:
        return REAL_CLOCK if self.real_time else SIMULATED_CLOCK

    @property
    def output(self) -> dict[str, Any]:
        output = self.status.get("output")
        return output if isinstance(output, dict) else {}

    @property
    def succeeded(self) -> bool:
        return self.status.get("runtimeStatus") == "Completed" and self.output.get("status") == "succeeded"


def allowed_targets(body: object, env: Mapping[str, str] | None = None) -> list[AllowedTarget]:
    """BREAKERPANEL_TARGETS, exactly as the app reads it: unset or empty means nothing may be touched, at a
    terminal too (the request never names its own allowlist). `body` is not consulted."""
    return load_targets(env)


def check_request(body: object, allowed: list[AllowedTarget], settings: Settings | None = None) -> RequestCheck:
    hosts = (settings or load_settings()).backend_hosts
    return check_rollout_request(body, [entry.target for entry in allowed], backend_hosts=hosts)


def runs_on_twin(settings: Settings) -> bool:
    """Whether the rollout's Azure calls can only be reaching the twin, so its timers may be fast-forwarded.

    The rule is the credential: BREAKERPANEL_CREDENTIAL=static (the fixed token `python -m breakerpanel twin`
    prints) is the twin's. load_settings refuses it whenever an endpoint is Azure's, and Azure would refuse the
    token anyway, so with it nothing real is deployed. Anything else — DefaultAzureCredential from `az login`,
    a CI federated identity, a managed identity — carries a real token, which load_settings lets go only to the
    cloud's own hosts: that is Azure, so it runs on the wall clock. Neither a host name nor REQUESTS_CA_BUNDLE
    decides it: a corporate TLS-inspecting proxy's CA is set the same way as the twin's.
    """
    return settings.credential == "static"


def clock_for(settings: Settings) -> str:
    """The line to show before a run starts: which clock its waits will use."""
    return SIMULATED_CLOCK if runs_on_twin(settings) else REAL_CLOCK


def run_rollout(
    app: Any,
    check: RequestCheck,
    allowed: list[AllowedTarget],
    *,
    approve: bool | None,
    settings: Settings | None = None,
    on_step: Callable[[Step], None] | None = None,
    started_by: str = "cli",
) -> LocalRollout:
    """Start the rollout and drive it to the end. At the approval gate, `approve` answers for the person:
    True approves, False (or None: nobody to ask) rejects — so an unattended run never deploys a destructive
    change.

    Timers follow the wall clock unless `runs_on_twin(settings)`; the result says which (`clock`)."""
    assert check.request is not None, "run_rollout needs a request without errors"
    settings = settings or load_settings()
    now = datetime.now(UTC)
    rollout_id = new_rollout_id(now, uuid.uuid4().hex)
    operator = {"objectId": "", "upn": "", "name": started_by, "via": "local"}
    spec = orchestration_input(rollout_id, check.request, allowed, settings, operator, now)
    # One person at a terminal, holding the credentials: four eyes cannot apply, and the result says so.
    spec["options"]["localOperator"] = True
    real_time = not runs_on_twin(settings)
    host = LocalDurableHost(app, start_time=None if real_time else now.replace(microsecond=0), on_step=on_step,
                            real_time=real_time)
    instance_id = host.start(ORCHESTRATOR, spec, instance_id=instance_id_for(check.request))
    status = host.run_until_idle(instance_id, timer_horizon=_horizon(settings))
    answered: set[int] = set()
    while status is not None and status["runtimeStatus"] not in _TERMINAL:
        custom = status.get("customStatus") or {}
        gate = custom.get("approval") or {}
        if custom.get("phase") == "awaitingApproval" and gate.get("wave") not in answered:
            comment = "approved with --approve" if approve else "no --approve given: nobody to approve"
            # The answer names the question: this wave and the digest of the what-if it was shown.
            host.raise_event(instance_id, gate["event"], {"approved": bool(approve), "wave": gate["wave"],
                                                          "whatIfDigest": gate["whatIfDigest"], "by": operator,
                                                          "comment": comment})
            answered.add(gate["wave"])
            status = host.run_until_idle(instance_id, timer_horizon=_horizon(settings))
            continue
        status = host.run_until_idle(instance_id)
    assert status is not None
    return LocalRollout(instance_id, rollout_id, status, real_time=real_time, seconds_waited=host.seconds_waited)


def _horizon(settings: Settings) -> timedelta:
    # Let every poll timer fire but stop before the approval timeout, so the gate can be answered.
    return timedelta(seconds=max(settings.approval_timeout_seconds - 1, 1))
