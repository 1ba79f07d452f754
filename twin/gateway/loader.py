"""Loading a scenario into a twin: its APIM instances and backends, its gateway-log rows, its failed
deployments, its breaker events — and the incidents it should raise.

Backends go through `twin.apim.put_resource`, the path the HTTP PUT and ARM deployments take, so APIM's
validation applies to them; the simulation then reads them back as APIM answers them (numbers coerced, the
pool's url/protocol null) — the same bodies a watchdog reads through ApiManagementClient. A scenario adds to
whatever the twin holds: reset the twin first for a clean start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from twin.gateway import scenarios
from twin.gateway.config import parse_backend
from twin.gateway.incidents import Incident, derive
from twin.gateway.simulation import GatewaySimulation, SimulationResult
from twin.log_analytics.results import format_datetime

if TYPE_CHECKING:
    from twin.app import Twin


@dataclass
class LoadedScenario:
    name: str
    seed: int
    start: datetime
    end: datetime
    targets: list[dict[str, str]]
    rows: dict[str, int]  # workspace id -> rows appended
    events: list[dict[str, Any]]  # Event Grid schema, in eventTime order
    expected: list[Incident]
    results: list[SimulationResult] = field(repr=False, default_factory=list)

    def rest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seed": self.seed,
            "start": format_datetime(self.start),
            "end": format_datetime(self.end),
            "targets": self.targets,
            "rows": self.rows,
            "events": len(self.events),
            "expected": [incident.rest(self.start) for incident in self.expected],
        }


class GatewayState:
    """What the twin keeps of the scenarios it loaded: their breaker events, in load order."""

    def __init__(self) -> None:
        self.loaded: list[LoadedScenario] = []

    def reset(self) -> None:
        self.loaded.clear()

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for scenario in self.loaded for event in scenario.events]


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def load_scenario(
    twin: Twin, name: str, *, start: datetime, seed: int = 0, duration: timedelta | None = None
) -> LoadedScenario:
    """Simulate scenario `name` from `start` (for its default duration unless given) and load the result."""
    scenario = scenarios.get(name)
    start = _aware(start)
    span = duration if duration is not None else scenario.default_duration
    if span <= timedelta(0):
        raise ValueError("the duration must be positive")
    with twin.lock:
        results: list[SimulationResult] = []
        expected: list[Incident] = []
        rows: dict[str, int] = {}
        targets: list[dict[str, str]] = []
        for spec in scenario.plan.gateways:
            service = spec.service
            twin.apim.create_service(
                service.subscription_id, service.resource_group, service.name, "Developer", location=service.location
            )
            backends = []
            for body in scenarios.backend_bodies(spec):
                resource_id = f"{service.resource_id}/backends/{body['name']}"
                twin.apim.put_resource(resource_id, {"properties": body["properties"]})
                stored = twin.apim.get_resource(resource_id)
                assert stored is not None
                backends.append(parse_backend(stored))
            result = GatewaySimulation(
                service,
                backends,
                target=spec.target,
                scripts=spec.scripts,
                traffic=spec.traffic,
                start=start,
                duration=span,
                seed=seed,
            ).run()
            added = twin.logs.append_rows(result.rows, service.workspace_id)
            rows[service.workspace_id] = rows.get(service.workspace_id, 0) + added
            results.append(result)
            expected.extend(derive(result, backends, spec.target))
            targets.append(service.target())
        for deployment in scenario.plan.deployments:
            expected.append(_failed_deployment(twin, deployment, start))
        events = sorted((e for r in results for e in r.events), key=lambda e: e["eventTime"])
        loaded = LoadedScenario(
            name=scenario.name,
            seed=seed,
            start=start,
            end=start + span,
            targets=targets,
            rows=rows,
            events=events,
            expected=sorted(expected, key=lambda i: (i.onset, i.kind, i.target, i.subject)),
            results=results,
        )
        twin.gateway.loaded.append(loaded)
        return loaded


def _failed_deployment(twin: Twin, spec: scenarios.FailedDeploymentSpec, start: datetime) -> Incident:
    """Run the teammate's deployment through the twin's ARM (APIM refuses it as it would), then date it to the
    scenario's instants: ARM's record shows when it ran, not when the twin loaded it."""
    service = spec.service
    body = {"properties": {"mode": "Incremental", "template": spec.template, "parameters": {}}}
    deployment, _ = twin.arm.start(service.subscription_id, service.resource_group, spec.name, body)
    twin.arm.settle(deployment)
    if deployment.state != "Failed":
        raise AssertionError(f"scenario deployment {spec.name!r} was meant to fail and ended {deployment.state}")
    began, ended = start + spec.started, start + spec.finished
    deployment.started, deployment.finished = began, ended
    for operation in deployment.operations:
        operation.started, operation.finished = began, ended
    return Incident("ProvisioningFailed", service.name, spec.name, ended, None)
