"""What a backend does when the gateway calls it, over time: the scenario's script for one member.

Each behaviour answers one call at an instant with an `Answer`: a status with its headers and latency, or no
response at all (a timeout or a refused connection: APIM's LastErrorReason "Timeout" /
"BackendConnectionFailure", and the gateway answers 500 — see twin/gateway/__init__.py for the sources).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no backend response
    latency_ms: int
    retry_after: int | None = None  # seconds, on a 429
    error_reason: str | None = None  # when status is None
    error_message: str | None = None


@dataclass(frozen=True)
class Healthy:
    latency_ms: tuple[int, int] = (120, 900)  # a chat completion's time to headers

    def answer(self, rng: random.Random) -> Answer:
        return Answer(200, rng.randint(*self.latency_ms))


@dataclass(frozen=True)
class Throttled:
    """Azure OpenAI over its tokens-per-minute quota: 429 with Retry-After seconds."""

    retry_after: int = 30

    def answer(self, rng: random.Random) -> Answer:
        return Answer(429, rng.randint(8, 40), retry_after=self.retry_after)


@dataclass(frozen=True)
class Failing:
    """A region in trouble: 5xx from the backend itself, with a Retry-After (seconds) when `retry_after` is set —
    a 503 may carry one as much as a 429 (RFC 9110), and the breaker accepts it from whatever response trips it."""

    statuses: tuple[int, ...] = (500, 503)
    retry_after: int | None = None

    def answer(self, rng: random.Random) -> Answer:
        return Answer(rng.choice(self.statuses), rng.randint(20, 120), retry_after=self.retry_after)


@dataclass(frozen=True)
class TimingOut:
    """No response within forward-request's timeout (policy.xml sets none: the default applies)."""

    timeout_s: int = 300  # forward-request's documented default timeout

    def answer(self, rng: random.Random) -> Answer:
        return Answer(None, self.timeout_s * 1000, error_reason="Timeout",
                      error_message="Request to the backend service timed out")


@dataclass(frozen=True)
class Unreachable:
    """The connection fails (DNS, refused, reset)."""

    def answer(self, rng: random.Random) -> Answer:
        return Answer(None, rng.randint(5, 60), error_reason="BackendConnectionFailure",
                      error_message="Underlying transport connection was unexpectedly closed.")


@dataclass(frozen=True)
class Misconfigured:
    """401 (APIM's managed identity has no role on the resource) or 404 (wrong deployment name)."""

    status: int = 401

    def answer(self, rng: random.Random) -> Answer:
        return Answer(self.status, rng.randint(5, 30))


Behaviour = Healthy | Throttled | Failing | TimingOut | Unreachable | Misconfigured


@dataclass(frozen=True)
class Phase:
    """`behaviour` from `start` (offset from the scenario's start, inclusive) to `end` (exclusive; None: on)."""

    start: timedelta
    end: timedelta | None
    behaviour: Behaviour


@dataclass(frozen=True)
class Script:
    """A member's behaviour over the scenario: the first phase that covers the instant, else healthy."""

    phases: tuple[Phase, ...] = ()
    otherwise: Behaviour = field(default_factory=Healthy)

    def at(self, offset: timedelta) -> Behaviour:
        for phase in self.phases:
            if phase.start <= offset and (phase.end is None or offset < phase.end):
                return phase.behaviour
        return self.otherwise


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


def at(start_min: float, end_min: float | None, behaviour: Behaviour) -> Phase:
    """A phase in minutes after the scenario's start (scenario scripts read best this way)."""
    return Phase(minutes(start_min), None if end_min is None else minutes(end_min), behaviour)

