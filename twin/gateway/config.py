"""The gateway's view of its backends, read from the bodies APIM stores (GET answers them).

APIM's payloads are taken as they come: numbers may be strings ("3", "500" in the docs' ARM snippet),
`acceptRetryAfter` may be absent (it arrived in 2023-09-01-preview: absent means false), pool members name
backends by short id ("/backends/x") or by full ARM id, priority and weight may be absent (APIM's round-robin
default: one group, equal weights — the twin reads an absent priority as 0 and an absent weight as 1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from twin.log_analytics.timespan import TimespanError, parse_duration

_MEMBER = re.compile(r"/backends/(?P<name>[^/]+)/?$", re.IGNORECASE)


class ConfigError(ValueError):
    """A backend body the simulation cannot run; the message names the backend and the field."""


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected a number, got {value!r}") from None


def _duration(value: Any, where: str) -> timedelta:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected an ISO-8601 duration such as 'PT1M', got {value!r}")
    try:
        return parse_duration(value)
    except TimespanError as exc:
        raise ConfigError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class BreakerRule:
    name: str
    count: int | None
    percentage: int | None
    interval: timedelta
    status_ranges: tuple[tuple[int, int], ...]
    error_reasons: tuple[str, ...]
    trip_duration: timedelta
    accept_retry_after: bool
    failure_status: int | None  # failureResponse.statusCode (2025-03-01-preview), None: APIM's 503

    def counts_status(self, status: int) -> bool:
        return any(low <= status <= high for low, high in self.status_ranges)

    def counts_reason(self, reason: str) -> bool:
        return reason.lower() in (r.lower() for r in self.error_reasons)


@dataclass(frozen=True)
class SingleBackend:
    name: str
    url: str
    rule: BreakerRule | None


@dataclass(frozen=True)
class PoolMember:
    name: str
    priority: int
    weight: int


@dataclass(frozen=True)
class PoolBackend:
    name: str
    members: tuple[PoolMember, ...]
    failure_status: int | None  # the pool's failureResponse.statusCode, None: APIM's 503

    def groups(self) -> list[list[PoolMember]]:
        """Members by priority group, the lowest priority number (the group APIM uses first) first."""
        by_priority: dict[int, list[PoolMember]] = {}
        for member in self.members:
            by_priority.setdefault(member.priority, []).append(member)
        return [by_priority[p] for p in sorted(by_priority)]


def _failure_status(container: dict[str, Any], where: str) -> int | None:
    response = container.get("failureResponse")
    if not isinstance(response, dict) or response.get("statusCode") is None:
        return None
    return _int(response["statusCode"], f"{where}.failureResponse.statusCode")


def parse_rule(name: str, breaker: Any) -> BreakerRule | None:
    """The backend's one circuit-breaker rule (APIM accepts exactly one), or None without a breaker."""
    if not isinstance(breaker, dict) or not breaker.get("rules"):
        return None
    rule = breaker["rules"][0]
    where = f"backend {name!r} circuitBreaker.rules[0]"
    condition = rule.get("failureCondition") or {}
    count = condition.get("count")
    percentage = condition.get("percentage")
    ranges = tuple(
        (_int(r.get("min"), f"{where}.statusCodeRanges.min"), _int(r.get("max"), f"{where}.statusCodeRanges.max"))
        for r in condition.get("statusCodeRanges") or []
    )
    return BreakerRule(
        name=str(rule.get("name") or "rule"),
        count=None if count is None else _int(count, f"{where}.failureCondition.count"),
        percentage=None if percentage is None else _int(percentage, f"{where}.failureCondition.percentage"),
        interval=_duration(condition.get("interval"), f"{where}.failureCondition.interval"),
        status_ranges=ranges,
        error_reasons=tuple(str(r) for r in condition.get("errorReasons") or []),
        trip_duration=_duration(rule.get("tripDuration"), f"{where}.tripDuration"),
        accept_retry_after=rule.get("acceptRetryAfter") is True,
        failure_status=_failure_status(rule, where),
    )


def parse_backend(body: dict[str, Any]) -> SingleBackend | PoolBackend:
    """A backend as GET answers it ({name, properties}), Single or Pool."""
    name = str(body["name"])
    properties = body.get("properties") or {}
    if str(properties.get("type") or "").lower() == "pool":
        members = []
        for index, service in enumerate((properties.get("pool") or {}).get("services") or []):
            found = _MEMBER.search(str(service.get("id") or ""))
            if found is None:
                raise ConfigError(f"pool {name!r} services[{index}].id: not a backend id: {service.get('id')!r}")
            priority = service.get("priority")
            weight = service.get("weight")
            members.append(
                PoolMember(
                    found["name"],
                    0 if priority is None else _int(priority, f"pool {name!r} services[{index}].priority"),
                    1 if weight is None else _int(weight, f"pool {name!r} services[{index}].weight"),
                )
            )
        return PoolBackend(name, tuple(members), _failure_status(properties.get("pool") or {}, f"pool {name!r}"))
    return SingleBackend(name, str(properties.get("url") or ""), parse_rule(name, properties.get("circuitBreaker")))
