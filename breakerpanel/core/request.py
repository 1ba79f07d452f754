"""Reading a rollout request: every problem found in one pass, before anything starts.

Shape and types are checked here, plus the product's own policy (allowlisted targets, safe backend URLs);
what APIM itself would reject comes from lint.py, run on whatever parts could be read.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from breakerpanel.core import apim_limits as lim
from breakerpanel.core.backend_urls import DEFAULT_BACKEND_HOSTS, check_backend_url
from breakerpanel.core.lint import lint_backends, lint_breaker_rule, lint_pool
from breakerpanel.core.model import (
    APPROVAL_MODES,
    ApprovalMode,
    BackendSpec,
    BreakerRule,
    Problem,
    RolloutRequest,
    StatusCodeRange,
    Target,
)

TOP_FIELDS = ("targets", "backends", "breakerRule", "poolName", "approval", "rollbackOnFailure")
TARGET_FIELDS = ("subscriptionId", "resourceGroup", "apimName", "wave")
BACKEND_FIELDS = ("name", "url", "priority", "weight")
RULE_FIELDS = (
    "name",
    "failureCount",
    "failurePercentage",
    "interval",
    "statusCodeRanges",
    "errorReasons",
    "tripDuration",
    "acceptRetryAfter",
    "failureResponseStatusCode",
)
RANGE_FIELDS = ("min", "max")
DEFAULT_APPROVAL: ApprovalMode = "onDestructive"
_MISSING = object()


@dataclass(frozen=True)
class RequestCheck:
    """The outcome of reading a request: the request when it has no errors, and every problem found."""

    request: RolloutRequest | None
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")


def parse_rollout_request(
    body: object, allowed_targets: Sequence[Target], *, backend_hosts: Sequence[str] = DEFAULT_BACKEND_HOSTS
) -> RolloutRequest | list[Problem]:
    """The request, or — if anything is wrong — every problem (errors first, then warnings)."""
    check = check_rollout_request(body, allowed_targets, backend_hosts=backend_hosts)
    if check.request is not None:
        return check.request
    return list(check.problems)


def check_rollout_request(
    body: object, allowed_targets: Sequence[Target], *, backend_hosts: Sequence[str] = DEFAULT_BACKEND_HOSTS
) -> RequestCheck:
    """Read and validate completely; warnings come back even when the request is accepted.

    `backend_hosts`: the host names / domain suffixes a backend URL may point at (BREAKERPANEL_BACKEND_HOSTS).
    """
    reader = _Reader(tuple(backend_hosts))
    request = reader.rollout(body, allowed_targets)
    problems = sorted(reader.problems, key=lambda p: p.severity != "error")
    if any(p.severity == "error" for p in problems):
        return RequestCheck(None, tuple(problems))
    return RequestCheck(request, tuple(problems))


def bad_request_body(problems: Sequence[Problem]) -> dict[str, object]:
    """The JSON body of a 400 answer: ARM-like error envelope listing every problem with its path and fix."""
    errors = [p for p in problems if p.severity == "error"]
    return {
        "error": {
            "code": "InvalidRolloutRequest",
            "message": f"The rollout request has {len(errors)} error(s); nothing was started.",
            "problems": [p.to_dict() for p in problems],
        }
    }


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON text (strings skipped), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _not_json(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def read_json_body(raw: bytes) -> tuple[object, list[Problem]]:
    """The JSON a request body holds, or the problems that make it unreadable (never an exception).

    UTF-8 with or without a byte-order mark; at most MAX_BODY_BYTES and MAX_BODY_DEPTH deep; a key twice in
    one object is refused (which one would win differs between parsers, so the validated value might not be
    the one deployed).
    """
    fix = "send the rollout request as one UTF-8 JSON object"
    if len(raw) > lim.MAX_BODY_BYTES:
        return None, [Problem("(body)", f"the body is {len(raw):,} bytes; at most {lim.MAX_BODY_BYTES:,} are read",
                              "send one rollout request (30 backends at most)")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, [Problem("(body)", "the body is not JSON (not UTF-8 text)", fix)]
    if _depth(text) > lim.MAX_BODY_DEPTH:
        return None, [Problem("(body)", f"the JSON nests deeper than {lim.MAX_BODY_DEPTH} levels", fix)]
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_not_json), []
    except _DuplicateKey as exc:
        return None, [Problem("(body)", f"the JSON has the key '{exc}' twice in one object",
                              "give every field once")]
    except (ValueError, RecursionError):
        return None, [Problem("(body)", "the body is not JSON", fix)]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class _Reader:
    def __init__(self, backend_hosts: tuple[str, ...] = DEFAULT_BACKEND_HOSTS) -> None:
        self.backend_hosts = backend_hosts
        self.problems: list[Problem] = []
        # Backends readable enough to lint (name, priority, weight), even when their URL is refused: the
        # 400 must list a duplicate name or an out-of-range priority on the same backend as a bad URL.
        self.lintable: list[tuple[int, BackendSpec]] = []

    def add(self, field: str, problem: str, fix: str) -> None:
        self.problems.append(Problem(field or "(body)", problem, fix))

    # -- generic field readers -------------------------------------------------------------------

    def mapping(self, value: object, path: str, known: Sequence[str], example: str) -> Mapping[str, object] | None:
        if not isinstance(value, Mapping):
            self.add(path, f"expected an object, got {_type_name(value)}", f"write it as an object, e.g. {example}")
            return None
        for key in value:
            if key not in known:
                self.unknown(str(key), path, known)
        return value

    def unknown(self, key: str, path: str, known: Sequence[str]) -> None:
        by_case = {k.lower(): k for k in known}
        guess = by_case.get(key.lower()) or next(iter(difflib.get_close_matches(key, known, n=1, cutoff=0.6)), None)
        listing = ", ".join(known)
        fix = f"did you mean '{guess}'? (known fields: {listing})" if guess else f"remove it (known fields: {listing})"
        self.add(_join(path, key), f"unknown field '{key}'", fix)

    def field(self, obj: Mapping[str, object], key: str, path: str, required: bool, example: str) -> object:
        if key in obj:
            return obj[key]
        if required:
            self.add(_join(path, key), "required field is missing", f'add "{key}": {example}')
        return _MISSING

    def string(self, obj: Mapping[str, object], key: str, path: str, example: str, required: bool = True) -> str | None:
        value = self.field(obj, key, path, required, f'"{example}"')
        if value is _MISSING:
            return None
        if not isinstance(value, str):
            self.add(_join(path, key), f"expected a string, got {_type_name(value)}", f'write it as "{example}"')
            return None
        if not value.strip():
            self.add(_join(path, key), "the value is empty", f'write a value such as "{example}"')
            return None
        return value

    def integer(
        self,
        obj: Mapping[str, object],
        key: str,
        path: str,
        example: int,
        *,
        required: bool = True,
        nullable: bool = False,
        default: int | None = None,
    ) -> tuple[bool, int | None]:
        """(ok, value); a null or absent optional field reads as `default`."""
        value = self.field(obj, key, path, required, str(example))
        if value is _MISSING:
            return (not required, default)
        if value is None and nullable:
            return (True, None)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            hint = f"write {value} without quotes" if isinstance(value, str) and value.strip().isdigit() else ""
            self.add(
                _join(path, key),
                f"expected a whole number, got {_type_name(value)}",
                hint or f"write a whole number, e.g. {example}" + (" or null" if nullable else ""),
            )
            return (False, None)
        return (True, value)

    def boolean(self, obj: Mapping[str, object], key: str, path: str, default: bool) -> bool | None:
        value = self.field(obj, key, path, False, "true")
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            self.add(_join(path, key), f"expected true or false, got {_type_name(value)}", "write true or false")
            return None
        return value

    def array(
        self, obj: Mapping[str, object], key: str, path: str, example: str, required: bool = True
    ) -> list[object] | None:
        value = self.field(obj, key, path, required, example)
        if value is _MISSING:
            return None if required else []
        if not isinstance(value, list):
            self.add(_join(path, key), f"expected an array, got {_type_name(value)}", f"write it as {example}")
            return None
        return value

    # -- the request ------------------------------------------------------------------------------

    def rollout(self, body: object, allowed_targets: Sequence[Target]) -> RolloutRequest | None:
        top = self.mapping(body, "", TOP_FIELDS, '{"targets": [...], "backends": [...], ...}')
        if top is None:
            return None
        targets = self.targets(top, allowed_targets)
        backends = self.backends(top)
        rule = self.rule(top)
        pool_name = self.string(top, "poolName", "", "aoai-pool")
        approval = self.approval(top)
        rollback = self.boolean(top, "rollbackOnFailure", "", True)

        if rule is not None:
            self.problems += lint_breaker_rule(rule)
        indexed = [(i, b) for i, b in backends if b is not None] if backends is not None else []
        # An empty list is linted too (it says the pool would have no members); a list whose every entry
        # is unreadable already has a problem per entry and needs no claim that it is empty.
        if backends is not None and (not backends or self.lintable):
            self.problems += lint_backends(self.lintable)
        if pool_name is not None:
            self.problems += lint_pool(pool_name, self.lintable)

        complete = (
            targets is not None
            and None not in targets
            and backends is not None
            and all(b is not None for _, b in backends)
            and rule is not None
            and pool_name is not None
            and approval is not None
            and rollback is not None
        )
        if not complete:
            return None
        return RolloutRequest(
            targets=tuple(t for t in targets or () if t is not None),
            backends=tuple(b for _, b in indexed),
            breaker_rule=rule,  # type: ignore[arg-type]  # checked by `complete`
            pool_name=pool_name,  # type: ignore[arg-type]
            approval=approval,  # type: ignore[arg-type]
            rollback_on_failure=bool(rollback),
        )

    def approval(self, top: Mapping[str, object]) -> ApprovalMode | None:
        value = self.field(top, "approval", "", False, '"onDestructive"')
        if value is _MISSING:
            return DEFAULT_APPROVAL
        for mode in APPROVAL_MODES:
            if value == mode:
                return mode
        choices = ", ".join(f"'{m}'" for m in APPROVAL_MODES)
        guess = next((m for m in APPROVAL_MODES if isinstance(value, str) and m.lower() == value.lower()), None)
        fix = f"write '{guess}' (values are case-sensitive)" if guess else f"use one of {choices}"
        self.add("approval", f"{value!r} is not an approval mode", fix)
        return None

    def targets(self, top: Mapping[str, object], allowed: Sequence[Target]) -> list[Target | None] | None:
        items = self.array(top, "targets", "", '[{"subscriptionId": ..., "resourceGroup": ..., "apimName": ...}]')
        if items is None:
            return None
        if not items:
            self.add("targets", "no targets", "add at least one APIM instance to roll out to")
            return None
        allowed_keys = {t.key for t in allowed}
        seen: dict[tuple[str, str, str], int] = {}
        result: list[Target | None] = []
        for i, item in enumerate(items):
            target = self.target(item, f"targets[{i}]")
            result.append(target)
            if target is None:
                continue
            if target.key in seen:
                self.add(
                    f"targets[{i}]",
                    f"same APIM instance as targets[{seen[target.key]}]",
                    "list each APIM instance once",
                )
                continue
            seen[target.key] = i
            if target.key not in allowed_keys:
                self.add(
                    f"targets[{i}]",
                    f"'{target.apim_name}' in resource group '{target.resource_group}' "
                    "is not in this app's allowlist of targets",
                    "use an allowlisted target, or ask an operator to add this one to the allowlist",
                )
        return result

    def target(self, item: object, path: str) -> Target | None:
        obj = self.mapping(item, path, TARGET_FIELDS, '{"subscriptionId": "...", "resourceGroup": "...", ...}')
        if obj is None:
            return None
        sub = self.string(obj, "subscriptionId", path, "00000000-0000-0000-0000-000000000000")
        rg = self.string(obj, "resourceGroup", path, "rg-gateway")
        apim = self.string(obj, "apimName", path, "apim-gateway")
        ok, wave = self.integer(obj, "wave", path, 1, required=False, default=1)
        if sub is not None and not lim.SUBSCRIPTION_ID.match(sub):
            self.add(
                f"{path}.subscriptionId",
                f"'{sub}' is not a subscription id (a GUID)",
                "copy the id from `az account show --query id`",
            )
            sub = None
        if rg is not None and (
            len(rg) > lim.MAX_RESOURCE_GROUP_NAME_LENGTH or rg.endswith(".") or not lim.RESOURCE_GROUP_NAME.match(rg)
        ):
            self.add(
                f"{path}.resourceGroup",
                f"'{rg}' is not a valid resource group name",
                "use up to 90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'",
            )
            rg = None
        if apim is not None and (len(apim) > lim.MAX_APIM_SERVICE_NAME_LENGTH or not lim.APIM_SERVICE_NAME.match(apim)):
            self.add(
                f"{path}.apimName",
                f"'{apim}' is not a valid API Management service name",
                "use up to 50 letters, digits and hyphens, starting with a letter",
            )
            apim = None
        if ok and wave is not None and wave < 1:
            self.add(f"{path}.wave", f"wave {wave} is below 1", "use 1 for the first wave, 2 for the next…")
            ok = False
        if sub is None or rg is None or apim is None or not ok or wave is None:
            return None
        return Target(sub, rg, apim, wave)

    def backends(self, top: Mapping[str, object]) -> list[tuple[int, BackendSpec | None]] | None:
        items = self.array(top, "backends", "", '[{"name": ..., "url": ..., "priority": 1, "weight": 50}]')
        if items is None:
            return None
        if len(items) > lim.MAX_POOL_BACKENDS:
            self.add("backends", f"{len(items)} backends; an APIM pool holds at most {lim.MAX_POOL_BACKENDS}",
                     "split the endpoints over several gateways, or keep the 30 that matter")
            return None
        result: list[tuple[int, BackendSpec | None]] = []
        for i, item in enumerate(items):
            result.append((i, self.backend(item, i)))
        return result

    def backend(self, item: object, index: int) -> BackendSpec | None:
        path = f"backends[{index}]"
        obj = self.mapping(item, path, BACKEND_FIELDS, '{"name": "aoai-eastus", "url": "https://...", ...}')
        if obj is None:
            return None
        name = self.string(obj, "name", path, "aoai-eastus")
        url = self.string(obj, "url", path, "https://aoai-eastus.openai.azure.com/openai")
        ok_p, priority = self.integer(obj, "priority", path, 1)
        ok_w, weight = self.integer(obj, "weight", path, 50)
        url_ok = url is not None
        if url is not None:
            url_problems = check_backend_url(url, f"{path}.url", self.backend_hosts)
            self.problems += url_problems
            url_ok = not url_problems
        if name is None or not (ok_p and ok_w) or priority is None or weight is None:
            return None
        spec = BackendSpec(name, url or "", priority, weight)
        self.lintable.append((index, spec))
        return spec if url_ok else None

    def rule(self, top: Mapping[str, object]) -> BreakerRule | None:
        path = "breakerRule"
        value = self.field(top, path, "", True, '{"name": "openai-breaker", "failureCount": 3, ...}')
        if value is _MISSING:
            return None
        obj = self.mapping(value, path, RULE_FIELDS, '{"name": "openai-breaker", "failureCount": 3, ...}')
        if obj is None:
            return None
        name = self.string(obj, "name", path, "openai-breaker")
        ok_c, count = self.integer(obj, "failureCount", path, 3, required=False, nullable=True)
        ok_p, percentage = self.integer(obj, "failurePercentage", path, 50, required=False, nullable=True)
        interval = self.string(obj, "interval", path, "PT1M")
        trip = self.string(obj, "tripDuration", path, "PT1M")
        ranges = self.ranges(obj, path)
        reasons = self.reasons(obj, path)
        accept = self.boolean(obj, "acceptRetryAfter", path, False)
        ok_f, failure_code = self.integer(obj, "failureResponseStatusCode", path, 599, required=False, nullable=True)
        if None in (name, interval, trip, ranges, reasons, accept) or not (ok_c and ok_p and ok_f):
            return None
        return BreakerRule(
            name=name or "",
            failure_count=count,
            failure_percentage=percentage,
            interval=interval or "",
            status_code_ranges=tuple(ranges or ()),
            error_reasons=tuple(reasons or ()),
            trip_duration=trip or "",
            accept_retry_after=bool(accept),
            failure_response_status_code=failure_code,
        )

    def ranges(self, obj: Mapping[str, object], path: str) -> list[StatusCodeRange] | None:
        items = self.array(obj, "statusCodeRanges", path, '[{"min": 429, "max": 429}, {"min": 500, "max": 599}]')
        if items is None:
            return None
        result: list[StatusCodeRange] = []
        failed = False
        for i, item in enumerate(items):
            at = f"{path}.statusCodeRanges[{i}]"
            r = self.mapping(item, at, RANGE_FIELDS, '{"min": 500, "max": 599}')
            if r is None:
                failed = True
                continue
            ok_min, low = self.integer(r, "min", at, 500)
            ok_max, high = self.integer(r, "max", at, 599)
            if ok_min and ok_max and low is not None and high is not None:
                result.append(StatusCodeRange(low, high))
            else:
                failed = True
        return None if failed else result

    def reasons(self, obj: Mapping[str, object], path: str) -> list[str] | None:
        items = self.array(obj, "errorReasons", path, '["Server errors"]', required=False)
        if items is None:
            return None
        bad = [i for i, r in enumerate(items) if not isinstance(r, str)]
        for i in bad:
            self.add(
                f"{path}.errorReasons[{i}]",
                f"expected a string, got {_type_name(items[i])}",
                'write the reason as a string, e.g. "Server errors"',
            )
        return None if bad else [str(r) for r in items]
