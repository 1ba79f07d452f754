"""A target's configured backends as the watchdog needs them: each Single backend's breaker rule, each pool.

Read from what APIM's management API returns (REST shape), through the same parser verify uses, so both
accept the same payload variants: counts as strings, rules without `acceptRetryAfter`, durations as ISO 8601
or TimeSpan text or timedelta, pool members as `{id}` objects or as bare id strings (older API versions).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from breakerpanel.core.verify import ActualBackend, ActualRule, parse_backend

# Codes a backend answers when it is failing, whatever its rule counts. Client mistakes (400, 409, 413, 422…)
# are left out: they say nothing about the backend's health.
_FAILURE_CODES = frozenset({401, 403, 404, 405, 407, 408, 429}) | frozenset(range(500, 600))


@dataclass(frozen=True)
class Rule:
    name: str
    count: int | None
    percentage: int | None
    interval_seconds: float
    status_ranges: tuple[tuple[int, int], ...]
    error_reasons: tuple[str, ...]
    trip_seconds: float
    accept_retry_after: bool
    failure_response_code: int | None

    def counts(self, code: int) -> bool:
        return any(low <= code <= high for low, high in self.status_ranges)

    def ignored_failure_codes(self) -> tuple[int, ...]:
        """Failure codes this rule does not count: the breaker never trips on them."""
        return tuple(sorted(code for code in _FAILURE_CODES if not self.counts(code)))

    def describe(self) -> str:
        ranges = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in self.status_ranges) or "no status codes"
        if self.error_reasons:
            ranges += "; reasons " + ", ".join(self.error_reasons)
        amount = f"{self.count} failures" if self.count is not None else f"{self.percentage}% failures"
        return (
            f"rule {self.name!r}: {amount} ({ranges}) within {self.interval_seconds:g}s trips it for "
            f"{self.trip_seconds:g}s{' or the Retry-After' if self.accept_retry_after else ''}"
        )


@dataclass(frozen=True)
class Member:
    name: str
    priority: int
    weight: int


@dataclass(frozen=True)
class Pool:
    name: str
    members: tuple[Member, ...]
    failure_response_code: int | None

    def priority_groups(self) -> list[tuple[int, tuple[Member, ...]]]:
        """Members by priority, best (lowest number) first."""
        levels = sorted({m.priority for m in self.members})
        return [(level, tuple(m for m in self.members if m.priority == level)) for level in levels]


@dataclass(frozen=True)
class Backend:
    name: str
    url: str | None
    rule: Rule | None


@dataclass(frozen=True)
class GatewayConfig:
    backends: tuple[Backend, ...]
    pools: tuple[Pool, ...]

    def backend(self, name: str) -> Backend | None:
        lowered = name.lower()
        return next((b for b in self.backends if b.name.lower() == lowered), None)

    def pool(self, name: str) -> Pool | None:
        lowered = name.lower()
        return next((p for p in self.pools if p.name.lower() == lowered), None)

    def trip_seconds(self, backend: str) -> float | None:
        """The trip duration of the backend's rule; None for a backend without one (or not configured)."""
        found = self.backend(backend)
        return found.rule.trip_seconds if found is not None and found.rule is not None else None

    def pools_of(self, backend: str) -> list[Pool]:
        lowered = backend.lower()
        return [p for p in self.pools if any(m.name.lower() == lowered for m in p.members)]

    @property
    def failure_response_codes(self) -> tuple[int, ...]:
        """Codes the gateway answers by itself when a breaker or a whole pool refuses a call."""
        codes = {503}
        codes.update(b.rule.failure_response_code for b in self.backends if b.rule and b.rule.failure_response_code)
        codes.update(p.failure_response_code for p in self.pools if p.failure_response_code)
        return tuple(sorted(codes))

    @property
    def shortest_interval_seconds(self) -> float | None:
        intervals = [b.rule.interval_seconds for b in self.backends if b.rule is not None]
        return min(intervals) if intervals else None


def _rule(actual: ActualRule) -> Rule | None:
    if actual.interval_seconds is None or actual.interval_seconds <= 0:
        return None
    if actual.count is None and actual.percentage is None:
        return None
    ranges = tuple(
        (low if low is not None else high, high if high is not None else low)
        for low, high in actual.status_code_ranges
        if low is not None or high is not None
    )
    return Rule(
        name=actual.name or "rule",
        count=actual.count,
        percentage=actual.percentage,
        interval_seconds=actual.interval_seconds,
        # No ranges: no answered code counts (CircuitBreakerFailureCondition.statusCodeRanges, "The status code
        # ranges which are considered as failure"); only errorReasons can trip it, as APIM and the twin count.
        status_ranges=tuple((int(a), int(b)) for a, b in ranges),  # type: ignore[arg-type]
        error_reasons=actual.error_reasons,
        trip_seconds=actual.trip_seconds if actual.trip_seconds and actual.trip_seconds > 0 else 60.0,
        accept_retry_after=actual.accept_retry_after,
        failure_response_code=actual.failure_response_status_code,
    )


def _normalize_members(body: Mapping[str, object]) -> Mapping[str, object]:
    # Older API versions list pool services as bare id strings; verify's parser reads `{id}` objects.
    props = body.get("properties")
    if not isinstance(props, Mapping):
        return body
    pool = props.get("pool")
    if not isinstance(pool, Mapping) or not isinstance(pool.get("services"), list):
        return body
    services = [{"id": s} if isinstance(s, str) else s for s in pool["services"]]  # type: ignore[union-attr]
    return {**body, "properties": {**props, "pool": {**pool, "services": services}}}


def gateway_config(bodies: Iterable[Mapping[str, object]]) -> GatewayConfig:
    """The watched configuration from APIM backend bodies (list answers, REST shape)."""
    backends: list[Backend] = []
    pools: list[Pool] = []
    for body in bodies:
        parsed: ActualBackend = parse_backend(_normalize_members(body))
        if parsed.kind.lower() == "pool" or parsed.members:
            members = tuple(
                Member(m.name, m.priority if m.priority is not None else 0, m.weight if m.weight is not None else 1)
                for m in parsed.members
            )
            pools.append(Pool(parsed.name, members, parsed.pool_failure_response_status_code))
            continue
        # APIM allows exactly one rule; if a payload ever carries more, the first is the one in force.
        rule = next((r for r in (_rule(a) for a in parsed.rules) if r is not None), None)
        backends.append(Backend(parsed.name, parsed.url, rule))
    return GatewayConfig(tuple(backends), tuple(pools))
