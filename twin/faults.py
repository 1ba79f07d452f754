"""Faults injectable per route, deterministic under a seed.

A rule names routes by glob over route names ("arm.deployments.*", "apim.backends.get", "*"), a kind, and
how often it fires: the first `skip` matching calls pass, then it fires `count` times (None: always), each
time with `probability` drawn from a generator seeded by `seed`, so a scenario replays identically.

Kinds:
  throttle   429 with Retry-After; the call is not carried out
  error      `status` (401, 403, 500, 502, 503, 504) with ARM's error body; not carried out
  applied    the call IS carried out, then answered with the `status` error (a PUT that landed, reported 500)
  latency    `latencyMs` before the real answer (past the client's read timeout: a read timeout)
  drop       the real answer, cut off mid-body and the connection closed
  reset      the connection closed before any answer; not carried out
  empty      carried out, answered 200 with an empty body
  html       carried out, answered 200 with a proxy's HTML error page
  truncated  carried out, answered 200 with the JSON cut in half (Content-Length matches what is sent)
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal

FaultKind = Literal["throttle", "error", "applied", "latency", "drop", "reset", "empty", "html", "truncated"]
_KINDS = ("throttle", "error", "applied", "latency", "drop", "reset", "empty", "html", "truncated")
_ERROR_CODES = {401: "ExpiredAuthenticationToken", 403: "AuthorizationFailed", 500: "InternalServerError",
                502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
# Kinds whose answer replaces the real one after the handler ran.
CARRIED_OUT = frozenset({"applied", "empty", "html", "truncated"})


@dataclass
class FaultRule:
    route: str
    kind: FaultKind
    status: int = 503  # for kinds "error" and "applied": 401, 403, 500, 502, 503 or 504
    retry_after: int | None = None  # seconds, for "throttle" (and "error" 503 when set)
    latency_ms: int = 0  # for "latency": added before the real answer
    count: int | None = None
    skip: int = 0
    probability: float = 1.0
    seed: int = 0
    seen: int = 0
    fired: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def error_code(self) -> str:
        return "TooManyRequests" if self.kind == "throttle" else _ERROR_CODES[self.status]

    def describe(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "kind": self.kind,
            "status": 429 if self.kind == "throttle" else self.status,
            "retryAfter": self.retry_after,
            "latencyMs": self.latency_ms,
            "count": self.count,
            "skip": self.skip,
            "probability": self.probability,
            "seed": self.seed,
            "seen": self.seen,
            "fired": self.fired,
        }


def parse_rule(spec: object) -> FaultRule:
    """Build a rule from the control API's JSON; ValueError names the bad field."""
    if not isinstance(spec, dict):
        raise ValueError("a fault must be a JSON object")
    known = {"route", "kind", "status", "retryAfter", "latencyMs", "count", "skip", "probability", "seed"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValueError(f"unknown fault field(s) {unknown}; known: {sorted(known)}")
    route = spec.get("route")
    if not isinstance(route, str) or not route:
        raise ValueError("fault.route must be a route-name glob such as 'arm.deployments.*' or '*'")
    kind = spec.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"fault.kind must be one of {list(_KINDS)}")
    status = spec.get("status", 503)
    if kind in ("error", "applied") and status not in _ERROR_CODES:
        raise ValueError(f"fault.status for kind '{kind}' must be one of {sorted(_ERROR_CODES)}")
    retry_after = spec.get("retryAfter", 1 if kind == "throttle" else None)
    if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 0):
        raise ValueError("fault.retryAfter must be a whole number of seconds >= 0")
    latency = spec.get("latencyMs", 0)
    if not isinstance(latency, int) or not 0 <= latency <= 120_000:
        raise ValueError("fault.latencyMs must be 0..120000")
    count = spec.get("count")
    if count is not None and (not isinstance(count, int) or count < 1):
        raise ValueError("fault.count must be a positive whole number, or null for always")
    skip = spec.get("skip", 0)
    if not isinstance(skip, int) or skip < 0:
        raise ValueError("fault.skip must be a whole number >= 0")
    probability = spec.get("probability", 1.0)
    if not isinstance(probability, (int, float)) or not 0.0 <= probability <= 1.0:
        raise ValueError("fault.probability must be 0.0..1.0")
    seed = spec.get("seed", 0)
    if not isinstance(seed, int):
        raise ValueError("fault.seed must be an integer")
    return FaultRule(
        route=route,
        kind=kind,
        status=status,
        retry_after=retry_after,
        latency_ms=latency,
        count=count,
        skip=skip,
        probability=float(probability),
        seed=seed,
    )


class Faults:
    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def set(self, rules: list[FaultRule]) -> None:
        with self._lock:
            self._rules = list(rules)

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        self.set([])

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.describe() for rule in self._rules]

    def pick(self, route_name: str) -> FaultRule | None:
        """The rule that fires for this call, if any; counts the call against every matching rule."""
        with self._lock:
            chosen: FaultRule | None = None
            for rule in self._rules:
                if not fnmatchcase(route_name, rule.route):
                    continue
                rule.seen += 1
                if chosen is not None or rule.seen <= rule.skip:
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                if rule.probability < 1.0 and rule._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                chosen = rule
            return chosen
