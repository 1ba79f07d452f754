"""Did APIM end up with what was asked? Desired request vs backends read back, as a list of differences.

Read-back payloads are REST-shaped dicts (what `BackendContract.serialize(keep_readonly=True)` returns, or
the raw GET body). Published payloads have quirks this accepts as they are: `count`/`min`/`max` as strings
(docs ARM snippet), `"url": null, "protocol": null` on pools, and pool member ids either as `/backends/x`
or as full ARM ids (weighted load balancer example).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from breakerpanel.core.durations import DurationError, parse_duration
from breakerpanel.core.integers import whole_number
from breakerpanel.core.model import BreakerRule, RolloutRequest

DifferenceKind = Literal[
    "missing_backend", "not_single", "missing_pool", "not_a_pool", "missing_member", "extra_member", "value"
]


@dataclass(frozen=True)
class ActualRule:
    name: str
    count: int | None
    percentage: int | None
    interval: str
    interval_seconds: float | None
    status_code_ranges: tuple[tuple[int | None, int | None], ...]
    error_reasons: tuple[str, ...]
    trip_duration: str
    trip_seconds: float | None
    accept_retry_after: bool
    failure_response_status_code: int | None


@dataclass(frozen=True)
class PoolMember:
    name: str
    id: str
    priority: int | None
    weight: int | None


@dataclass(frozen=True)
class ActualBackend:
    name: str
    kind: str
    url: str | None
    protocol: str | None
    rules: tuple[ActualRule, ...]
    members: tuple[PoolMember, ...]
    pool_failure_response_status_code: int | None = None


@dataclass(frozen=True)
class Difference:
    backend: str
    field: str
    kind: DifferenceKind
    expected: object
    actual: object
    problem: str

    def to_dict(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "field": self.field,
            "kind": self.kind,
            "expected": self.expected,
            "actual": self.actual,
            "problem": self.problem,
        }


def _map(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _text(value: object) -> str:
    if isinstance(value, timedelta):
        return f"PT{value.total_seconds():g}S"
    return "" if value is None else str(value)


def _seconds(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return parse_duration(value)  # type: ignore[arg-type]  # non-duration types raise below
    except (DurationError, TypeError):
        return None


def member_name(service_id: str) -> str:
    """The backend name in a pool member id: '/backends/x', a full ARM id, or a bare name."""
    text = service_id.rstrip("/")
    lowered = text.lower()
    marker = "/backends/"
    if marker in lowered:
        return text[lowered.rindex(marker) + len(marker) :].split("/", 1)[0]
    return text.rsplit("/", 1)[-1]


def parse_rule(rule: Mapping[str, object]) -> ActualRule:
    condition = _map(rule.get("failureCondition"))
    ranges = tuple(
        (whole_number(_map(r).get("min")), whole_number(_map(r).get("max")))
        for r in _list(condition.get("statusCodeRanges"))
    )
    return ActualRule(
        name=_text(rule.get("name")),
        count=whole_number(condition.get("count")),
        percentage=whole_number(condition.get("percentage")),
        interval=_text(condition.get("interval")),
        interval_seconds=_seconds(condition.get("interval")),
        status_code_ranges=ranges,
        error_reasons=tuple(str(r) for r in _list(condition.get("errorReasons"))),
        trip_duration=_text(rule.get("tripDuration")),
        trip_seconds=_seconds(rule.get("tripDuration")),
        accept_retry_after=rule.get("acceptRetryAfter") is True or str(rule.get("acceptRetryAfter")).lower() == "true",
        failure_response_status_code=whole_number(_map(rule.get("failureResponse")).get("statusCode")),
    )


def parse_backend(backend: Mapping[str, object]) -> ActualBackend:
    """A backend as read from APIM (REST shape), normalized. Never raises on odd or missing fields."""
    props = _map(backend.get("properties"))
    name = _text(backend.get("name")) or _text(backend.get("id"))
    name = name.rstrip("/").rsplit("/", 1)[-1]  # ARM template names are 'apim/backend'
    pool = _map(props.get("pool"))
    kind = _text(props.get("type")) or ("Pool" if pool else "Single")
    members = tuple(
        PoolMember(
            name=member_name(_text(_map(s).get("id"))),
            id=_text(_map(s).get("id")),
            priority=whole_number(_map(s).get("priority")),
            weight=whole_number(_map(s).get("weight")),
        )
        for s in _list(pool.get("services"))
    )
    url = props.get("url")
    protocol = props.get("protocol")
    return ActualBackend(
        name=name,
        kind=kind,
        url=str(url) if url is not None else None,
        protocol=str(protocol) if protocol is not None else None,
        rules=tuple(parse_rule(_map(r)) for r in _list(_map(props.get("circuitBreaker")).get("rules"))),
        members=members,
        pool_failure_response_status_code=whole_number(_map(pool.get("failureResponse")).get("statusCode")),
    )


def diff_backends(desired: RolloutRequest, actual: Iterable[Mapping[str, object]]) -> list[Difference]:
    """Every way APIM differs from the request; an empty list means verified.

    Backends APIM holds that the request does not name are not differences (other teams' backends), unless
    they sit in the pool.
    """
    by_name = {b.name.lower(): b for b in (parse_backend(a) for a in actual) if b.name}
    diffs: list[Difference] = []
    for spec in desired.backends:
        found = by_name.get(spec.name.lower())
        if found is None:
            diffs.append(Difference(spec.name, "", "missing_backend", spec.name, None, "backend is missing in APIM"))
            continue
        if found.kind.lower() != "single":
            diffs.append(Difference(spec.name, "type", "not_single", "Single", found.kind, "backend is not Single"))
            continue
        if found.url != spec.url:
            diffs.append(Difference(spec.name, "url", "value", spec.url, found.url, "url differs"))
        if (found.protocol or "").lower() != "http":
            diffs.append(Difference(spec.name, "protocol", "value", "http", found.protocol, "protocol differs"))
        diffs += _diff_rules(spec.name, desired.breaker_rule, found.rules)
    diffs += _diff_pool(desired, by_name)
    return diffs


def _diff_rules(backend: str, want: BreakerRule, rules: tuple[ActualRule, ...]) -> list[Difference]:
    base = "circuitBreaker.rules"
    if len(rules) != 1:
        return [Difference(backend, base, "value", 1, len(rules), f"expected exactly one rule, found {len(rules)}")]
    got = rules[0]
    at = f"{base}[0]"
    cond = f"{at}.failureCondition"
    want_ranges = sorted((r.min, r.max) for r in want.status_code_ranges)
    got_ranges = sorted(got.status_code_ranges, key=lambda r: (r[0] or -1, r[1] or -1))
    pairs: list[tuple[str, object, object, bool]] = [
        (f"{at}.name", want.name, got.name, want.name == got.name),
        (f"{cond}.count", want.failure_count, got.count, want.failure_count == got.count),
        (f"{cond}.percentage", want.failure_percentage, got.percentage, want.failure_percentage == got.percentage),
        (f"{cond}.interval", want.interval, got.interval, _same_duration(want.interval, got.interval_seconds)),
        (f"{cond}.statusCodeRanges", want_ranges, got_ranges, want_ranges == got_ranges),
        (
            f"{cond}.errorReasons",
            list(want.error_reasons),
            list(got.error_reasons),
            list(want.error_reasons) == list(got.error_reasons),
        ),
        (
            f"{at}.tripDuration",
            want.trip_duration,
            got.trip_duration,
            _same_duration(want.trip_duration, got.trip_seconds),
        ),
        (
            f"{at}.acceptRetryAfter",
            want.accept_retry_after,
            got.accept_retry_after,
            want.accept_retry_after == got.accept_retry_after,
        ),
        (
            f"{at}.failureResponse.statusCode",
            want.failure_response_status_code,
            got.failure_response_status_code,
            want.failure_response_status_code == got.failure_response_status_code,
        ),
    ]
    return [
        Difference(backend, field, "value", expected, actual, f"{field.rsplit('.', 1)[-1]} differs")
        for field, expected, actual, same in pairs
        if not same
    ]


def _same_duration(want: str, got_seconds: float | None) -> bool:
    try:
        return got_seconds is not None and abs(parse_duration(want) - got_seconds) < 1e-6
    except DurationError:
        return False


def _diff_pool(desired: RolloutRequest, by_name: Mapping[str, ActualBackend]) -> list[Difference]:
    pool_name = desired.pool_name
    pool = by_name.get(pool_name.lower())
    if pool is None:
        return [Difference(pool_name, "", "missing_pool", pool_name, None, "pool is missing in APIM")]
    if pool.kind.lower() != "pool":
        return [Difference(pool_name, "type", "not_a_pool", "Pool", pool.kind, "pool backend is not of type Pool")]
    members = {m.name.lower(): m for m in pool.members}
    wanted = {b.name.lower() for b in desired.backends}
    diffs: list[Difference] = []
    for spec in desired.backends:
        member = members.get(spec.name.lower())
        at = f"pool.services[{spec.name}]"
        if member is None:
            diffs.append(
                Difference(pool_name, at, "missing_member", spec.name, None, f"'{spec.name}' is not in the pool")
            )
            continue
        if member.priority != spec.priority:
            diffs.append(
                Difference(pool_name, f"{at}.priority", "value", spec.priority, member.priority, "priority differs")
            )
        if member.weight != spec.weight:
            diffs.append(Difference(pool_name, f"{at}.weight", "value", spec.weight, member.weight, "weight differs"))
    for member in pool.members:
        if member.name.lower() not in wanted:
            diffs.append(
                Difference(
                    pool_name,
                    f"pool.services[{member.name}]",
                    "extra_member",
                    None,
                    member.name,
                    f"'{member.name}' is in the pool but not in the request",
                )
            )
    return diffs
