"""The checks APIM applies to a backend PUT, and the body it stores: pure functions over plain JSON.

Limits come from the ApiManagement REST spec (definitions.json 2024-06-01-preview / 2025-03-01-preview, in
../shared/fixtures): BackendPoolItem priority/weight 0..100, FailureStatusCodeRange min/max 200..599,
statusCodeRanges and errorReasons at most 10 items, errorReasons items at most 200 characters,
BackendFailureResponse.statusCode 100..599, BackendPool.services at least 1. The spec allows 15 breaker rules, but
APIM accepts one only (docs: "only one rule can be configured for a backend circuit breaker").
APIM coerces numbers written as strings (the docs' ARM snippet writes count/min/max as "3", "500"): stored as ints.
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from twin.apim import errors as e

BackendKind = Literal["Single", "Pool"]
# What a pool member's lookup finds: absent, a Single backend, or a Pool.
MemberLookup = Callable[[str], BackendKind | None]

# Keys of BackendContractProperties across 2023-09-01-preview .. 2025-03-01-preview; others are dropped, as
# APIM's contract deserialization drops them.
KNOWN_PROPERTIES = (
    "title",
    "description",
    "resourceId",
    "properties",
    "credentials",
    "proxy",
    "tls",
    "circuitBreaker",
    "azureRegion",
    "pool",
    "type",
    "url",
    "protocol",
)
PROTOCOLS = ("http", "soap")
POOL_WEIGHT_RANGE = (0, 100)
POOL_PRIORITY_RANGE = (0, 100)
STATUS_CODE_RANGE = (200, 599)
FAILURE_RESPONSE_RANGE = (100, 599)
MAX_RULES = 1
MAX_STATUS_CODE_RANGES = 10
MAX_ERROR_REASONS = 10
MAX_ERROR_REASON_LENGTH = 200

_DURATION = re.compile(
    r"^P(?!$)(\d+(?:\.\d+)?Y)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?W)?(\d+(?:\.\d+)?D)?"
    r"(T(?=\d)(\d+(?:\.\d+)?H)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?S)?)?$"
)
_FULL_BACKEND_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.ApiManagement/service/"
    r"(?P<svc>[^/]+)/backends/(?P<name>[^/]+)/?$",
    re.IGNORECASE,
)
_SHORT_BACKEND_ID = re.compile(r"^/?backends/(?P<name>[^/]+)/?$", re.IGNORECASE)


@dataclass(frozen=True)
class ServiceScope:
    subscription_id: str
    resource_group: str
    name: str
    sku: str


def is_iso8601_duration(value: object) -> bool:
    return isinstance(value, str) and _DURATION.match(value) is not None


def pool_member_name(member_id: str, scope: ServiceScope) -> str | None:
    """The backend id a pool member names in this service, or None when it names another service.

    APIM takes the full ARM id (REST examples) or '/backends/<id>' (docs' Bicep samples).
    """
    full = _FULL_BACKEND_ID.match(member_id)
    if full is not None:
        same = (
            full["sub"].lower() == scope.subscription_id.lower()
            and full["rg"].lower() == scope.resource_group.lower()
            and full["svc"].lower() == scope.name.lower()
        )
        return full["name"] if same else None
    short = _SHORT_BACKEND_ID.match(member_id)
    return short["name"] if short is not None else None


class _Checker:
    def __init__(self) -> None:
        self.details: list[dict[str, Any]] = []

    def fail(self, target: str, message: str) -> None:
        self.details.append(e.detail(target, message))

    def integer(self, container: dict[str, Any], key: str, field: str, low: int | None, high: int | None) -> None:
        """Coerce container[key] to int in place (APIM accepts "3"), and check its range."""
        value = container.get(key)
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            self.fail(key, e.NOT_AN_INTEGER.format(value=value, field=field))
            return
        if isinstance(value, str):
            if not re.fullmatch(r"\s*[+-]?\d+\s*", value):
                self.fail(key, e.NOT_AN_INTEGER.format(value=value, field=field))
                return
            value = int(value)
            container[key] = value
        if low is not None and high is not None and not low <= value <= high:
            self.fail(key, e.OUT_OF_RANGE.format(field=field, low=low, high=high))

    def duration(self, container: dict[str, Any], key: str, field: str, *, required: bool) -> None:
        value = container.get(key)
        if value is None:
            if required:
                self.fail(key, e.REQUIRED.format(field=field))
            return
        if not is_iso8601_duration(value):
            self.fail(key, e.BAD_DURATION.format(value=value, field=field))

    def obj(self, value: object, target: str, field: str) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(target, e.NOT_OBJECT.format(field=field))
            return None
        return value

    def array(self, value: object, target: str, field: str) -> list[Any] | None:
        if value is None:
            return None
        if not isinstance(value, list):
            self.fail(target, e.NOT_ARRAY.format(field=field))
            return None
        return value


def _failure_response(check: _Checker, container: dict[str, Any]) -> None:
    response = check.obj(container.get("failureResponse"), "failureResponse", "failureResponse")
    if response is not None:
        check.integer(response, "statusCode", "StatusCode", *FAILURE_RESPONSE_RANGE)


def _circuit_breaker(check: _Checker, breaker: dict[str, Any]) -> None:
    rules = check.array(breaker.get("rules"), "circuitBreaker", "circuitBreaker.rules")
    if rules is None:
        return
    if len(rules) > MAX_RULES:
        check.fail("circuitBreaker", e.ONE_RULE_ONLY.format(count=len(rules)))
    for rule in rules:
        if check.obj(rule, "circuitBreaker", "circuitBreaker.rules[]") is None:
            continue
        condition = check.obj(rule.get("failureCondition"), "failureCondition", "failureCondition")
        if condition is None:
            check.fail("failureCondition", e.REQUIRED.format(field="failureCondition"))
        else:
            check.integer(condition, "count", "Count", 1, 2**63 - 1)
            check.integer(condition, "percentage", "Percentage", 1, 100)
            if condition.get("count") is None and condition.get("percentage") is None:
                check.fail("failureCondition", e.COUNT_OR_PERCENTAGE)
            check.duration(condition, "interval", "interval", required=True)
            ranges = check.array(condition.get("statusCodeRanges"), "statusCodeRanges", "statusCodeRanges")
            if ranges is not None:
                if len(ranges) > MAX_STATUS_CODE_RANGES:
                    check.fail(
                        "statusCodeRanges",
                        e.TOO_MANY_ITEMS.format(
                            field="statusCodeRanges", limit=MAX_STATUS_CODE_RANGES, count=len(ranges)
                        ),
                    )
                for item in ranges:
                    if check.obj(item, "statusCodeRanges", "statusCodeRanges[]") is None:
                        continue
                    check.integer(item, "min", "Min", *STATUS_CODE_RANGE)
                    check.integer(item, "max", "Max", *STATUS_CODE_RANGE)
                    low, high = item.get("min"), item.get("max")
                    if isinstance(low, int) and isinstance(high, int) and low > high:
                        check.fail("statusCodeRanges", e.MIN_ABOVE_MAX.format(low=low, high=high))
            reasons = check.array(condition.get("errorReasons"), "errorReasons", "errorReasons")
            if reasons is not None:
                if len(reasons) > MAX_ERROR_REASONS:
                    check.fail(
                        "errorReasons",
                        e.TOO_MANY_ITEMS.format(field="errorReasons", limit=MAX_ERROR_REASONS, count=len(reasons)),
                    )
                if any(not isinstance(r, str) or len(r) > MAX_ERROR_REASON_LENGTH for r in reasons):
                    check.fail("errorReasons", e.TOO_LONG.format(field="errorReasons[]", limit=MAX_ERROR_REASON_LENGTH))
        check.duration(rule, "tripDuration", "tripDuration", required=True)
        accept = rule.get("acceptRetryAfter")
        if accept is not None and not isinstance(accept, bool):
            check.fail("acceptRetryAfter", e.NOT_BOOLEAN.format(field="acceptRetryAfter"))
        _failure_response(check, rule)


def _pool(check: _Checker, pool: dict[str, Any], scope: ServiceScope, lookup: MemberLookup) -> None:
    if pool.get("services") is None:
        check.fail("pool", e.POOL_EMPTY)
        return
    services = check.array(pool.get("services"), "pool", "pool.services")
    if services is None:
        return
    if not services:
        check.fail("pool", e.POOL_EMPTY)
        return
    for member in services:
        if check.obj(member, "pool", "pool.services[]") is None:
            continue
        member_id = member.get("id")
        if not isinstance(member_id, str) or not member_id:
            check.fail("pool", e.POOL_MEMBER_ID)
        else:
            name = pool_member_name(member_id, scope)
            found = None if name is None else lookup(name)
            shown = name if name is not None else member_id
            if found is None:
                check.fail("pool", e.POOL_MEMBER_NOT_FOUND.format(name=shown))
            elif found == "Pool":
                check.fail("pool", e.POOL_MEMBER_IS_POOL.format(name=shown))
        check.integer(member, "priority", "Priority", *POOL_PRIORITY_RANGE)
        check.integer(member, "weight", "Weight", *POOL_WEIGHT_RANGE)
    _failure_response(check, pool)


def backend_kind(properties: dict[str, Any]) -> BackendKind:
    return "Pool" if str(properties.get("type") or "").lower() == "pool" else "Single"


def normalize_backend(body: object, scope: ServiceScope, lookup: MemberLookup) -> dict[str, Any]:
    """The `properties` APIM stores (and answers) for this PUT body; raises APIM's ValidationError.

    `lookup(name)` tells whether a backend named `name` exists in the service, and its kind.
    """
    check = _Checker()
    if not isinstance(body, dict):
        raise e.validation_error([e.detail("properties", e.NOT_OBJECT.format(field="The request body"))])
    sent = body.get("properties")
    if sent is None:
        sent = {}
    if not isinstance(sent, dict):
        raise e.validation_error([e.detail("properties", e.NOT_OBJECT.format(field="properties"))])
    properties = {k: copy.deepcopy(v) for k, v in sent.items() if k in KNOWN_PROPERTIES}

    raw_type = properties.get("type")
    if raw_type is not None:
        if not isinstance(raw_type, str) or raw_type.lower() not in ("single", "pool"):
            check.fail("type", e.BAD_TYPE.format(value=raw_type))
        else:
            properties["type"] = "Pool" if raw_type.lower() == "pool" else "Single"
    kind = backend_kind(properties)

    if kind == "Pool":
        if properties.get("url") is not None:
            check.fail("url", e.POOL_URL)
        if properties.get("protocol") is not None:
            check.fail("protocol", e.POOL_PROTOCOL)
        if properties.get("pool") is None:
            check.fail("pool", e.POOL_EMPTY)
        else:
            pool = check.obj(properties["pool"], "pool", "pool")
            if pool is not None:
                _pool(check, pool, scope, lookup)
        # A pool answers these as null (2023-09-01-preview example response).
        properties.setdefault("title", None)
        properties["url"] = None
        properties["protocol"] = None
    else:
        url = properties.get("url")
        if url is None or url == "":
            check.fail("url", e.REQUIRED.format(field="Url"))
        elif not isinstance(url, str) or not _absolute_url(url):
            check.fail("url", e.BAD_URL.format(value=url))
        protocol = properties.get("protocol")
        if protocol is None:
            check.fail("protocol", e.REQUIRED.format(field="Protocol"))
        elif protocol not in PROTOCOLS:
            check.fail("protocol", e.BAD_PROTOCOL.format(value=protocol))

    breaker = check.obj(properties.get("circuitBreaker"), "circuitBreaker", "circuitBreaker")
    if breaker is not None:
        if scope.sku.lower() == "consumption":
            check.fail("circuitBreaker", e.CONSUMPTION_TIER.format(feature="The backend circuit breaker"))
        _circuit_breaker(check, breaker)
    if kind == "Pool" and scope.sku.lower() == "consumption":
        check.fail("type", e.CONSUMPTION_TIER.format(feature="A backend pool"))

    if check.details:
        raise e.validation_error(check.details)
    return properties


def _absolute_url(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme) and bool(parts.netloc)


_SET_BACKEND_SERVICE = re.compile(
    r"<set-backend-service\b[^>]*?\bbackend-id\s*=\s*(?:\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)')", re.DOTALL
)


@dataclass(frozen=True)
class BackendReference:
    backend_id: str
    line: int  # 1-based, as APIM's message gives it
    column: int  # 1-based position of the element name, as .NET's XmlReader reports it


def policy_backend_references(policy: str) -> list[BackendReference]:
    """Every literal `backend-id` of a `set-backend-service` element; expressions and named values are skipped
    because APIM resolves them at run time."""
    found: list[BackendReference] = []
    for match in _SET_BACKEND_SERVICE.finditer(policy):
        backend_id = match["dq"] if match["dq"] is not None else match["sq"]
        if backend_id.startswith("@") or "{{" in backend_id:
            continue
        start = match.start()
        line_start = policy.rfind("\n", 0, start) + 1
        found.append(BackendReference(backend_id, policy.count("\n", 0, start) + 1, start - line_start + 2))
    return found


def policy_xml_problem(policy: str) -> str | None:
    """Why a policy in format 'xml' is not well-formed, or None. ('rawxml' holds unescaped expressions: not parsed.)"""
    try:
        ElementTree.fromstring(policy)
    except ElementTree.ParseError as exc:
        return str(exc)
    return None
