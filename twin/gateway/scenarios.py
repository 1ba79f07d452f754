"""The traffic scenarios: named, seeded, deterministic scripts over a start instant the caller passes in.

Every scenario runs the gateway the rollout deploys (README's example request): `aoai-eastus` and
`aoai-westus` in priority group 1 (weight 50 each), `aoai-swedencentral` in group 2, behind the pool
`aoai-pool`; each member's rule `openai-breaker` trips on 3 failures (429 or 5xx) within PT1M, for PT1M, and
accepts Retry-After. Clients send 20 requests a minute unless the scenario says otherwise. Offsets below are
from the scenario's start.

The expected incidents are not written here: twin/gateway/incidents.py reads them off the simulated run, so
the onset and end are the instants the condition truly began and ended. `intent` is what the scenario is
built to produce (kind, apimName, subject); tests check the run produces exactly that.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from twin.gateway.behaviour import Failing, Misconfigured, Phase, Script, Throttled, at
from twin.gateway.service import Service
from twin.gateway.simulation import Traffic, TrafficPhase

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
RESOURCE_GROUP = "rg-gateway"
APIM = "apim-gateway"
WORKSPACE = "5f1c3e2a-8b4d-4f6e-9a7c-1d2e3f405060"
POOL = "aoai-pool"
RULE = "openai-breaker"
MEMBERS = (  # name, url, priority, weight
    ("aoai-eastus", "https://aoai-eastus.openai.azure.com/openai", 1, 50),
    ("aoai-westus", "https://aoai-westus.openai.azure.com/openai", 1, 50),
    ("aoai-swedencentral", "https://aoai-sweden.openai.azure.com/openai", 2, 100),
)


def breaker_rule(*, statuses: tuple[tuple[int, int], ...] = ((429, 429), (500, 599))) -> dict[str, Any]:
    return {
        "name": RULE,
        "failureCondition": {
            "count": 3,
            "interval": "PT1M",
            "statusCodeRanges": [{"min": low, "max": high} for low, high in statuses],
        },
        "tripDuration": "PT1M",
        "acceptRetryAfter": True,
    }


def openai_backends(*, as_strings: bool = False) -> list[dict[str, Any]]:
    """The members (Single, with their rule) then the Pool, as PUT bodies {name, properties}.

    `as_strings` writes the numbers as strings, as the docs' ARM snippet does; APIM accepts both.
    """
    bodies: list[dict[str, Any]] = []
    for name, url, _, _ in MEMBERS:
        rule = breaker_rule()
        if as_strings:
            condition = rule["failureCondition"]
            condition["count"] = str(condition["count"])
            condition["statusCodeRanges"] = [{k: str(v) for k, v in r.items()} for r in condition["statusCodeRanges"]]
        bodies.append(
            {"name": name, "properties": {"url": url, "protocol": "http", "circuitBreaker": {"rules": [rule]}}}
        )
    services = [
        {"id": f"/backends/{name}", "priority": str(p) if as_strings else p, "weight": str(w) if as_strings else w}
        for name, _, p, w in MEMBERS
    ]
    bodies.append({"name": POOL, "properties": {"type": "Pool", "pool": {"services": services}}})
    return bodies


@dataclass(frozen=True)
class GatewaySpec:
    service: Service
    backends: list[dict[str, Any]]
    scripts: dict[str, Script] = field(default_factory=dict)
    traffic: Traffic = field(default_factory=Traffic)
    target: str = POOL  # the backend the API's policy names


@dataclass(frozen=True)
class FailedDeploymentSpec:
    """A deployment someone else ran (`az deployment group create`), which ARM ends Failed."""

    service: Service
    name: str
    template: dict[str, Any]
    started: timedelta
    finished: timedelta


@dataclass(frozen=True)
class Plan:
    gateways: list[GatewaySpec]
    deployments: list[FailedDeploymentSpec] = field(default_factory=list)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    default_duration: timedelta
    plan: Plan
    intent: tuple[tuple[str, str, str], ...] = ()  # (kind, apimName, subject)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "defaultDurationMinutes": self.default_duration.total_seconds() / 60,
            "intent": [{"kind": k, "target": t, "subject": s} for k, t, s in self.intent],
        }


def _service(name: str = APIM, *, workspace: str = WORKSPACE, group: str = RESOURCE_GROUP,
             location: str = "eastus", region: str = "East US") -> Service:
    return Service(SUBSCRIPTION, group, name, workspace, location, region)


def _gateway(scripts: dict[str, Script] | None = None, traffic: Traffic | None = None,
             service: Service | None = None, *, as_strings: bool = False) -> GatewaySpec:
    return GatewaySpec(service or _service(), openai_backends(as_strings=as_strings), scripts or {},
                       traffic or Traffic())


def _script(*phases: Phase) -> Script:
    return Script(tuple(phases))


def _flapping() -> Script:
    # Every 5 minutes from minute 10: 40 s of 429 (Retry-After 20 s), then healthy — trips, recovers, serves.
    return _script(*(at(start, start + 40 / 60, Throttled(retry_after=20)) for start in range(10, 90, 5)))


_DOWN = Failing((500, 503))


def _pool_template(apim: str, member: str) -> dict[str, Any]:
    """A teammate's template adding a pool member whose backend does not exist yet."""
    services = [{"id": f"/backends/{name}", "priority": p, "weight": w} for name, _, p, w in MEMBERS]
    services.append({"id": f"/backends/{member}", "priority": 2, "weight": 100})
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.ApiManagement/service/backends",
                "apiVersion": "2024-05-01",
                "name": f"{apim}/{POOL}",
                "properties": {"type": "Pool", "pool": {"services": services}},
            }
        ],
    }


def _catalogue() -> dict[str, Scenario]:
    eu = _service("apim-gateway-eu", workspace="9a4d2c7e-3b1f-4e8a-b6d5-0c7f1e2a3b4c", group="rg-gateway-eu",
                  location="westeurope", region="West Europe")
    us = _service("apim-gateway-us", workspace="2e8b6f1a-7c3d-4a9e-8f2b-5d6c7e8f9a0b", group="rg-gateway-us")
    scenarios = [
        Scenario(
            "healthy",
            "Every member answers 200; nothing trips.",
            timedelta(minutes=60),
            Plan([_gateway()]),
        ),
        Scenario(
            "burst-429",
            "A 30-second 429 burst (Retry-After 30 s) on aoai-eastus at minute 20: its breaker trips once, for the "
            "Retry-After, and recovers. Not an incident.",
            timedelta(minutes=60),
            Plan([_gateway({"aoai-eastus": _script(at(20, 20.5, Throttled(retry_after=30)))})]),
        ),
        Scenario(
            "quota-exhausted",
            "Both priority-1 members out of quota from minute 10 to 55: 429 with Retry-After 600 s. Their breakers "
            "stay open (each close re-trips at once); traffic runs on aoai-swedencentral.",
            timedelta(minutes=90),
            Plan([_gateway({
                "aoai-eastus": _script(at(10, 55, Throttled(retry_after=600))),
                "aoai-westus": _script(at(10, 55, Throttled(retry_after=600))),
            })]),
            (("BreakerStuckOpen", APIM, "aoai-eastus"), ("BreakerStuckOpen", APIM, "aoai-westus"),
             ("PoolDegraded", APIM, POOL)),
        ),
        Scenario(
            "region-down",
            "aoai-westus answers 500/503 from minute 15 to 40: its breaker re-trips for 25 minutes while "
            "aoai-eastus carries group 1.",
            timedelta(minutes=60),
            Plan([_gateway({"aoai-westus": _script(at(15, 40, _DOWN))})]),
            (("BreakerStuckOpen", APIM, "aoai-westus"),),
        ),
        Scenario(
            "pool-exhausted",
            "Every member answers 503 from minute 20 to 45: all breakers open, the gateway answers 503 without a "
            "backend call.",
            timedelta(minutes=70),
            Plan([_gateway({name: _script(at(20, 45, _DOWN)) for name, _, _, _ in MEMBERS})]),
            (("BreakerStuckOpen", APIM, "aoai-eastus"), ("BreakerStuckOpen", APIM, "aoai-westus"),
             ("BreakerStuckOpen", APIM, "aoai-swedencentral"), ("PoolExhausted", APIM, POOL)),
        ),
        Scenario(
            "identity-401",
            "From minute 10 on, aoai-eastus answers 401 (APIM's identity lost its role). The rule counts 429 and "
            "5xx only, so the breaker never trips: a blind spot, half of group 1's requests fail.",
            timedelta(minutes=60),
            Plan([_gateway({"aoai-eastus": _script(at(10, None, Misconfigured(401)))})]),
            (("BreakerBlindSpot", APIM, "aoai-eastus"),),
        ),
        Scenario(
            "flapping",
            "aoai-westus throttles for 40 s every 5 minutes from minute 10 (Retry-After 20 s): it trips and "
            "recovers again and again, serving in between. Not stuck, not an incident.",
            timedelta(minutes=90),
            Plan([_gateway({"aoai-westus": _flapping()})]),
        ),
        Scenario(
            "low-traffic",
            "Three requests per 10 minutes, all healthy: long minutes without traffic are not an outage.",
            timedelta(minutes=90),
            Plan([_gateway(traffic=Traffic((TrafficPhase(timedelta(0), None, 0.3),)))]),
        ),
        Scenario(
            "two-gateways",
            "Two APIM instances with the same backend names, logging to two workspaces: apim-gateway-eu is "
            "healthy, apim-gateway-us loses aoai-westus (500/503) from minute 15 to 40. Bodies written with "
            "numbers as strings on the US instance.",
            timedelta(minutes=60),
            Plan([
                _gateway(service=eu),
                _gateway({"aoai-westus": _script(at(15, 40, _DOWN))}, service=us, as_strings=True),
            ]),
            (("BreakerStuckOpen", "apim-gateway-us", "aoai-westus"),),
        ),
        Scenario(
            "failed-deployment",
            "Healthy traffic; at minute 12 a teammate's deployment 'hotfix-add-northeurope' (not one of ours) "
            "ends Failed: APIM refuses the pool (ValidationError, Backend Entity 'aoai-northeurope' not found).",
            timedelta(minutes=60),
            Plan(
                [_gateway()],
                [FailedDeploymentSpec(_service(), "hotfix-add-northeurope", _pool_template(APIM, "aoai-northeurope"),
                                      timedelta(minutes=11, seconds=40), timedelta(minutes=12))],
            ),
            (("ProvisioningFailed", APIM, "hotfix-add-northeurope"),),
        ),
    ]
    return {scenario.name: scenario for scenario in scenarios}


SCENARIOS: dict[str, Scenario] = _catalogue()


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise KeyError(f"no scenario {name!r}; known: {sorted(SCENARIOS)}") from None


def backend_bodies(spec: GatewaySpec) -> list[dict[str, Any]]:
    return copy.deepcopy(spec.backends)
