"""The gateway simulation: client requests through the API's policy into a Pool (or one Single backend), each
backend answering by its script, each backend's circuit breaker counting its own responses.

Per client request (infra/gateway/policy.xml): `set-backend-service` names the pool; `retry` on 429 or 503 with
count = members − 1 (at least 1), interval 1 s, first-fast-retry (the first retry at once, the next ones a
second after the previous answer); every attempt picks a member again and counts toward that member's breaker.

Picking a member (backends.md, "Load-balanced pool"): the priority groups in order (lowest number first); the
first group with a member whose breaker is closed wins ("Backends in lower priority groups will only be used
when all backends in higher priority groups are unavailable because circuit breaker rules are tripped");
within it, a weighted random choice among the closed members (the seeded RNG keeps it deterministic). With
every member open the gateway answers itself, without calling a backend: 503, or the pool's
failureResponse.statusCode when set (a Single backend whose breaker is open: 503 or its rule's
failureResponse.statusCode).

Time is simulated: a discrete-event loop over (instant, sequence) — an attempt starts, its answer arrives
latency later and only then counts toward the breaker, so a 300 s timeout in flight does not blind the breaker
to the requests that arrive meanwhile. Nothing reads the wall clock. One simulated gateway instance: APIM's
instances do not share breaker state, and a scenario that needs two gateways runs two simulations.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from twin.gateway.behaviour import Answer, Script
from twin.gateway.breaker import CircuitBreaker, Trip
from twin.gateway.config import PoolBackend, SingleBackend
from twin.gateway.events import CLOSED, OPENED, breaker_event, seeded_guid
from twin.gateway.rows import BACKEND_PATH, Attempt, ClientRequest, gateway_row
from twin.gateway.service import Service

RETRIED = (429, 503)  # policy.xml's retry condition
NO_RESPONSE_STATUS = 500  # what the gateway answers when forward-request gets no response (see __init__)
GATEWAY_ANSWER_MS = 1


@dataclass(frozen=True)
class TrafficPhase:
    start: timedelta
    end: timedelta | None
    per_minute: float


@dataclass(frozen=True)
class Traffic:
    """Client requests per minute over the scenario; arrivals are evenly spaced with seeded jitter."""

    phases: tuple[TrafficPhase, ...] = (TrafficPhase(timedelta(0), None, 20.0),)
    subscriptions: tuple[str, ...] = ("chat-frontend", "batch-summarizer", "support-bot")

    def rate(self, offset: timedelta) -> float:
        for phase in self.phases:
            if phase.start <= offset and (phase.end is None or offset < phase.end):
                return phase.per_minute
        return 0.0


@dataclass
class Timeline:
    """What really happened, for the ground truth: per backend its trips, successes and the failures its rule
    does not count; per target the instants the gateway answered without a backend call."""

    trips: dict[str, list[Trip]] = field(default_factory=dict)
    successes: dict[str, list[datetime]] = field(default_factory=dict)
    uncounted_failures: dict[str, list[datetime]] = field(default_factory=dict)
    no_backend_call: dict[str, list[datetime]] = field(default_factory=dict)


@dataclass
class SimulationResult:
    service: Service
    rows: list[dict[str, Any]]
    events: list[dict[str, Any]]
    timeline: Timeline
    start: datetime
    end: datetime


class GatewaySimulation:
    def __init__(
        self,
        service: Service,
        backends: list[SingleBackend | PoolBackend],
        *,
        target: str,
        scripts: dict[str, Script],
        traffic: Traffic,
        start: datetime,
        duration: timedelta,
        seed: int | str,
    ) -> None:
        self.service = service
        self.singles = {b.name.lower(): b for b in backends if isinstance(b, SingleBackend)}
        pools = {b.name.lower(): b for b in backends if isinstance(b, PoolBackend)}
        self.pool = pools.get(target.lower())
        if self.pool is None and target.lower() not in self.singles:
            raise ValueError(f"the policy's backend {target!r} is not among the backends")
        self.target = target
        self.scripts = {name.lower(): script for name, script in scripts.items()}
        self.traffic = traffic
        self.start = start
        self.end = start + duration
        self.rng = random.Random(f"{seed}:{service.name}")
        self.breakers = {
            name: CircuitBreaker(backend.name, backend.rule)
            for name, backend in self.singles.items()
            if backend.rule is not None
        }
        members = self.pool.members if self.pool is not None else ()
        self.attempts_per_request = 1 + max(1, len(members) - 1)
        self.timeline = Timeline()
        self.events: list[dict[str, Any]] = []
        self._queue: list[tuple[datetime, int, str, Any]] = []
        self._seq = 0

    # -- the event loop -------------------------------------------------------------------------------------------

    def _push(self, moment: datetime, kind: str, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (moment, self._seq, kind, payload))

    def _arrivals(self) -> None:
        moment = self.start
        while moment < self.end:
            rate = self.traffic.rate(moment - self.start)
            if rate <= 0:
                moment += timedelta(seconds=30)  # look again for the next traffic phase
                continue
            request = ClientRequest(
                arrived=moment,
                correlation_id=seeded_guid(self.rng),
                caller_ip=f"10.{self.rng.randint(0, 3)}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}",
                subscription=self.rng.choice(self.traffic.subscriptions),
            )
            self._push(moment, "attempt", request)
            gap = 60.0 / rate
            moment += timedelta(seconds=gap * self.rng.uniform(0.5, 1.5))

    def run(self) -> SimulationResult:
        self._arrivals()
        rows: list[dict[str, Any]] = []
        while self._queue:
            moment, _, kind, payload = heapq.heappop(self._queue)
            if kind == "attempt":
                self._attempt(moment, payload)
            elif kind == "answer":
                request, attempt = payload
                self._answered(moment, request, attempt)
            elif kind == "closed":
                self._closed(moment, *payload)
            elif kind == "done":
                rows.append(gateway_row(self.service, payload, self.rng, target=self.target))
        rows.sort(key=lambda row: (row["TimeGenerated"], row["CorrelationId"]))
        self.events.sort(key=lambda event: event["eventTime"])
        return SimulationResult(self.service, rows, self.events, self.timeline, self.start, self.end)

    # -- one attempt ------------------------------------------------------------------------------------------

    def _is_open(self, name: str, moment: datetime) -> bool:
        breaker = self.breakers.get(name.lower())
        return breaker is not None and breaker.is_open(moment)

    def _pick(self, moment: datetime) -> str | None:
        if self.pool is None:
            return None if self._is_open(self.target, moment) else self.target
        for group in self.pool.groups():
            closed = [m for m in group if not self._is_open(m.name, moment)]
            if not closed:
                continue
            weights = [max(m.weight, 0) for m in closed]
            if sum(weights) == 0:
                weights = [1] * len(closed)
            return self.rng.choices(closed, weights=weights)[0].name
        return None

    def _unavailable_status(self) -> int:
        if self.pool is not None:
            return self.pool.failure_status or 503
        single = self.singles[self.target.lower()]
        return (single.rule.failure_status if single.rule else None) or 503

    def _attempt(self, moment: datetime, request: ClientRequest) -> None:
        chosen = self._pick(moment)
        if chosen is None:
            status = self._unavailable_status()
            request.attempts.append(Attempt(moment, None, None, None, status))
            self.timeline.no_backend_call.setdefault(self.target, []).append(moment)
            self._next(moment + timedelta(milliseconds=GATEWAY_ANSWER_MS), request, status)
            return
        backend = self.singles[chosen.lower()]
        script = self.scripts.get(chosen.lower(), Script())
        answer = script.at(moment - self.start).answer(self.rng)
        status = NO_RESPONSE_STATUS if answer.status is None else answer.status
        attempt = Attempt(moment, backend.name, backend.url.rstrip("/") + BACKEND_PATH, answer, status)
        request.attempts.append(attempt)
        self._push(moment + timedelta(milliseconds=answer.latency_ms), "answer", (request, attempt))

    def _answered(self, moment: datetime, request: ClientRequest, attempt: Attempt) -> None:
        assert attempt.backend is not None and attempt.answer is not None
        self._observe(moment, attempt.backend, attempt.answer)
        self._next(moment, request, attempt.gateway_status)

    def _next(self, moment: datetime, request: ClientRequest, status: int) -> None:
        tries = len(request.attempts)
        if status in RETRIED and tries < self.attempts_per_request:
            # first-fast-retry: the first retry at once; then interval="1" between the following ones.
            wait = timedelta(0) if tries == 1 else timedelta(seconds=1)
            self._push(moment + wait, "attempt", request)
            return
        request.finished = moment
        self._push(moment, "done", request)

    # -- breakers ---------------------------------------------------------------------------------------------

    def _observe(self, moment: datetime, name: str, answer: Answer) -> None:
        if answer.status is not None and 200 <= answer.status < 400:
            self.timeline.successes.setdefault(name, []).append(moment)
        breaker = self.breakers.get(name.lower())
        if breaker is None:
            return
        if not breaker.counts(answer.status, answer.error_reason):
            if answer.status is None or answer.status >= 400:
                self.timeline.uncounted_failures.setdefault(name, []).append(moment)
            return
        trip = breaker.record(moment, answer.status, answer.error_reason, answer.retry_after)
        if trip is None:
            return
        self.timeline.trips.setdefault(name, []).append(trip)
        self.events.append(self._event(OPENED, breaker, trip, moment))
        if trip.closes <= self.end:
            self._push(trip.closes, "closed", (breaker, trip))

    def _closed(self, moment: datetime, breaker: CircuitBreaker, trip: Trip) -> None:
        self.events.append(self._event(CLOSED, breaker, trip, moment))

    def _event(self, kind: str, breaker: CircuitBreaker, trip: Trip, moment: datetime) -> dict[str, Any]:
        return breaker_event(
            kind,
            topic=self.service.resource_id,
            backend=breaker.backend,
            rule=breaker.rule.name,
            trip_duration=trip.duration,
            moment=moment,
            event_id=seeded_guid(self.rng),
        )
