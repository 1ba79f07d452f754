"""One backend's circuit breaker, as APIM documents it (MicrosoftDocs/azure-docs articles/api-management/
backends.md, "Circuit breaker"):

- the rule trips the breaker when its failure condition — a count, or a percentage, of failures matching the
  rule's status-code ranges (or error reasons) — is met within the rule's interval. The twin keeps a sliding
  window over this backend's own responses for that;
- while it is open, "API Management stops sending requests to the backend service ... and returns a 503";
- "After the configured trip duration, the circuit resets and traffic resumes". With `acceptRetryAfter` and a
  `Retry-After` on the response that tripped it, it stays open for the Retry-After instead ("If a
  Retry-After header is present in the response, the circuit breaker accepts the value and waits for the
  specified time before sending requests to the backend again").

Choices where the docs are silent (the twin's, stated so nobody mistakes them for APIM's):
- the window starts empty again after a trip (the counting restarts when the circuit resets);
- a response that arrives while the breaker is already open (an attempt in flight when it tripped) is not
  counted;
- an attempt without a backend response (Timeout, BackendConnectionFailure) counts as a failure only when the
  rule's errorReasons lists its reason ("The error reasons which are considered as failure", the REST
  reference's CircuitBreakerFailureCondition). statusCodeRanges are "The failure http status code range" of
  the backend's answer, and such an attempt has none (BackendResponseCode is the "Code of the HTTP response
  received from a backend", null here): the 500 the gateway sends the client is not the backend's code. This
  is also what twin/gateway/incidents.py reads as a blind spot and what the watchdog's query counts;
- the percentage condition is evaluated on every response, from the first one in the window;
- the breaker closes at the exact instant its trip ends (no half-open probe: APIM documents none).
Gateway instances do not share this state ("Different instances of the gateway do not synchronize"): a
breaker belongs to one simulated gateway instance.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from twin.gateway.config import BreakerRule


@dataclass
class Trip:
    opened: datetime
    duration: timedelta  # how long it stays open: the trip duration, or the Retry-After it accepted
    retry_after: bool  # the duration came from a Retry-After

    @property
    def closes(self) -> datetime:
        return self.opened + self.duration


@dataclass
class CircuitBreaker:
    backend: str
    rule: BreakerRule
    trips: list[Trip] = field(default_factory=list)
    _window: deque[tuple[datetime, bool]] = field(default_factory=deque)

    def is_open(self, moment: datetime) -> bool:
        return bool(self.trips) and self.trips[-1].opened <= moment < self.trips[-1].closes

    def counts(self, status: int | None, reason: str | None) -> bool:
        """Does this response (status None: no backend response, `reason` the gateway's error) count as a
        failure for the rule?"""
        if status is not None:
            return self.rule.counts_status(status)
        return reason is not None and self.rule.counts_reason(reason)

    def record(
        self, moment: datetime, status: int | None, reason: str | None, retry_after: int | None
    ) -> Trip | None:
        """Count one response at `moment`; the Trip when this response trips the breaker."""
        if self.is_open(moment):
            return None
        failed = self.counts(status, reason)
        self._window.append((moment, failed))
        horizon = moment - self.rule.interval
        while self._window and self._window[0][0] <= horizon:
            self._window.popleft()
        if not failed or not self._condition_met():
            return None
        if self.rule.accept_retry_after and retry_after is not None:
            trip = Trip(moment, timedelta(seconds=retry_after), True)
        else:
            trip = Trip(moment, self.rule.trip_duration, False)
        self.trips.append(trip)
        self._window.clear()
        return trip

    def _condition_met(self) -> bool:
        failures = sum(1 for _, failed in self._window if failed)
        if self.rule.count is not None and failures >= self.rule.count:
            return True
        if self.rule.percentage is not None and self._window:
            return failures * 100 >= self.rule.percentage * len(self._window)
        return False
