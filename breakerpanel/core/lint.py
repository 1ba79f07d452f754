"""Preflight lint: what APIM would reject (errors) and what it accepts but will hurt (warnings).

Every limit used here is in apim_limits.py with the spec it was read from.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from urllib.parse import urlsplit

from breakerpanel.core import apim_limits as lim
from breakerpanel.core.durations import DurationError, humanize_seconds, parse_iso8601_duration
from breakerpanel.core.model import BackendSpec, BreakerRule, Problem, RolloutRequest

# Azure OpenAI answers 429 with Retry-After values from seconds up to a day: "Please retry after 86400
# seconds" (github.com/alex-wolf-ps/dbchatprov2 issue #2, github.com/jasonacox/TinyLLM issue #17), "after
# 45 seconds" (github.com/icereed/paperless-gpt issue #814). With acceptRetryAfter the breaker stays open
# for whatever the backend says, and APIM has no cap for it.
LONGEST_SEEN_AOAI_RETRY_AFTER_SECONDS = 86400
# Regional endpoints carry the region in the host; custom-subdomain endpoints (<name>.openai.azure.com) don't.
_REGIONAL_HOST = re.compile(r"^(?P<region>[a-z0-9]+)\.api\.cognitive\.microsoft\.com$")
_NOT_DISTINCTIVE_CODES = frozenset({429, 500, 502, 503, 504})
# The gateway's API (infra/gateway/main.bicep: path 'openai', operations '/*') forwards what follows /openai/
# (deployments/{id}/chat/completions, v1/responses, ...) onto the backend URL, and Azure OpenAI serves those
# under /openai: "servers": [{"url": "https://contoso.openai.azure.com/openai"}] (learn.microsoft.com, Import
# an Azure OpenAI API; the portal import appends /openai to the base URL). APIM accepts any path, so a URL
# without it deploys cleanly and every call then answers 404, which the breaker (429/5xx) never counts.
BACKEND_URL_PATH = "/openai"
# The rule's interval and tripDuration are "format": "duration" in the ApiManagement spec: xsd:duration (W3C XML
# Schema Part 2, 3.2.6: PnYnMnDTnHnMnS, upper-case designators, a decimal fraction on the seconds only). Years,
# months and weeks are refused earlier with their own fix (durations.py).
_XSD_DURATION = re.compile(r"^-?P(?=\d|T\d)(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?$")


def lint_rollout_request(request: RolloutRequest) -> list[Problem]:
    """All preflight problems of a built request: errors first, then warnings."""
    indexed = list(enumerate(request.backends))
    problems = [
        *lint_breaker_rule(request.breaker_rule),
        *lint_backends(indexed),
        *lint_pool(request.pool_name, indexed),
    ]
    return sorted(problems, key=lambda p: p.severity != "error")


def lint_breaker_rule(rule: BreakerRule, path: str = "breakerRule") -> list[Problem]:
    problems: list[Problem] = []
    if not rule.name.strip():
        problems.append(Problem(f"{path}.name", "the rule name is empty", "name the rule, e.g. 'openai-breaker'"))
    elif "/" in rule.name or len(rule.name) > lim.MAX_BACKEND_ID_LENGTH:
        problems.append(
            Problem(
                f"{path}.name",
                "the rule name contains '/' or is longer than 80 characters",
                "use letters, digits and hyphens (the name appears in Event Grid subjects)",
            )
        )
    problems += _lint_threshold(rule, path)
    interval = _duration(rule.interval, f"{path}.interval", problems)
    trip = _duration(rule.trip_duration, f"{path}.tripDuration", problems)
    problems += _lint_status_codes(rule, path)
    problems += _lint_error_reasons(rule, path)
    code = rule.failure_response_status_code
    if code is not None:
        field = f"{path}.failureResponseStatusCode"
        if not lim.FAILURE_RESPONSE_STATUS_MIN <= code <= lim.FAILURE_RESPONSE_STATUS_MAX:
            problems.append(
                Problem(
                    field,
                    f"{code} is outside the HTTP status range APIM accepts (100–599)",
                    "use a distinctive code in 100–599, e.g. 599",
                )
            )
        elif code in _NOT_DISTINCTIVE_CODES:
            problems.append(
                Problem(
                    field,
                    f"{code} is also what a failing backend sends, so logs cannot tell 'breaker open' apart",
                    "pick a code no backend returns, e.g. 599",
                    "warning",
                )
            )
    if not rule.status_code_ranges and not rule.error_reasons:
        problems.append(
            Problem(
                f"{path}.statusCodeRanges",
                "the rule has no status codes and no error reasons, so it can never trip",
                'add {"min": 429, "max": 429} and {"min": 500, "max": 599}',
            )
        )
    else:
        problems += _rule_warnings(rule, path, interval, trip)
    return problems


def _lint_threshold(rule: BreakerRule, path: str) -> list[Problem]:
    count, percentage = rule.failure_count, rule.failure_percentage
    if (count is None) == (percentage is None):
        both = "both" if count is not None else "neither"
        return [
            Problem(
                f"{path}.failureCount",
                f"{both} of failureCount and failurePercentage is set; APIM needs exactly one",
                "set failureCount (e.g. 3) and make failurePercentage null",
            )
        ]
    if count is not None and count < 1:
        return [
            Problem(
                f"{path}.failureCount",
                f"failureCount is {count}; the breaker would trip on nothing",
                "use a count of at least 1, e.g. 3",
            )
        ]
    if count is not None and count > lim.FAILURE_COUNT_MAX:
        return [
            Problem(
                f"{path}.failureCount",
                f"failureCount is {count}; above {lim.FAILURE_COUNT_MAX:,} the breaker never trips in practice",
                "use a count between 1 and 10,000, e.g. 3",
            )
        ]
    if percentage is not None and not lim.PERCENTAGE_MIN <= percentage <= lim.PERCENTAGE_MAX:
        return [
            Problem(
                f"{path}.failurePercentage",
                f"failurePercentage is {percentage}; it must be 1–100",
                "use a percentage between 1 and 100, e.g. 50",
            )
        ]
    return []


def _duration(text: str, field: str, problems: list[Problem]) -> float | None:
    try:
        seconds = parse_iso8601_duration(text)
    except DurationError as exc:
        problems.append(Problem(field, str(exc), "write an ISO 8601 duration such as 'PT1M' or 'PT30S'"))
        return None
    if not _XSD_DURATION.match(text):
        # parse_iso8601_duration reads leniently (any case, ',' as a fraction, spaces around); APIM stores the
        # text as sent and reads it as xsd:duration, which has none of that.
        written = text.strip().upper().replace(",", ".")
        problems.append(
            Problem(
                field,
                f"'{text}' is not written as APIM reads a duration (xsd:duration: upper-case P, T, D, H, M, S, "
                "'.' before a fraction of a second, nothing around it)",
                f"write '{written}'",
            )
        )
        return None
    if seconds <= 0:
        problems.append(
            Problem(field, f"'{text}' is not a positive duration", "use a duration above zero, e.g. 'PT1M'")
        )
        return None
    if not lim.RULE_DURATION_MIN_SECONDS <= seconds <= lim.RULE_DURATION_MAX_SECONDS:
        problems.append(
            Problem(
                field,
                f"'{text}' is {humanize_seconds(seconds)}; a breaker duration must be between 1 s and 1 day",
                "use a duration between 'PT1S' and 'P1D', e.g. 'PT1M'",
            )
        )
        return None
    return seconds


def _lint_status_codes(rule: BreakerRule, path: str) -> list[Problem]:
    problems: list[Problem] = []
    ranges = rule.status_code_ranges
    if len(ranges) > lim.MAX_STATUS_CODE_RANGES:
        problems.append(
            Problem(
                f"{path}.statusCodeRanges",
                f"{len(ranges)} ranges; APIM takes at most 10",
                "merge neighbouring ranges, e.g. one {min: 500, max: 599}",
            )
        )
    for i, r in enumerate(ranges):
        at = f"{path}.statusCodeRanges[{i}]"
        for side, value in (("min", r.min), ("max", r.max)):
            if not lim.STATUS_CODE_MIN <= value <= lim.STATUS_CODE_MAX:
                problems.append(
                    Problem(
                        f"{at}.{side}",
                        f"{value} is outside 200–599, the codes APIM can count",
                        "use a status code between 200 and 599",
                    )
                )
        if r.min > r.max:
            problems.append(Problem(at, f"min {r.min} is above max {r.max}", f"swap them: min {r.max}, max {r.min}"))
    return problems


def _lint_error_reasons(rule: BreakerRule, path: str) -> list[Problem]:
    problems: list[Problem] = []
    if len(rule.error_reasons) > lim.MAX_ERROR_REASONS:
        problems.append(
            Problem(
                f"{path}.errorReasons",
                f"{len(rule.error_reasons)} reasons; APIM takes at most 10",
                "keep the 10 reasons that matter",
            )
        )
    for i, reason in enumerate(rule.error_reasons):
        if not reason.strip():
            problems.append(Problem(f"{path}.errorReasons[{i}]", "the error reason is empty", "remove it"))
        elif len(reason) > lim.MAX_ERROR_REASON_LENGTH:
            problems.append(
                Problem(
                    f"{path}.errorReasons[{i}]",
                    f"{len(reason)} characters; APIM takes at most 200",
                    "shorten the reason",
                )
            )
    return problems


def _rule_warnings(rule: BreakerRule, path: str, interval: float | None, trip: float | None) -> list[Problem]:
    problems: list[Problem] = []
    valid = [r for r in rule.status_code_ranges if r.min <= r.max]
    if not any(r.contains(429) for r in valid):
        problems.append(
            Problem(
                f"{path}.statusCodeRanges",
                "no range contains 429, so a throttled Azure OpenAI backend keeps "
                "receiving traffic instead of failing over",
                'add {"min": 429, "max": 429}',
                "warning",
            )
        )
    if not any(r.min <= 599 and r.max >= 500 for r in valid):
        problems.append(
            Problem(
                f"{path}.statusCodeRanges",
                "no range covers 5xx, so a failing backend never trips the breaker",
                'add {"min": 500, "max": 599}',
                "warning",
            )
        )
    if interval is not None and trip is not None and trip < interval:
        problems.append(
            Problem(
                f"{path}.tripDuration",
                f"the trip ({humanize_seconds(trip)}) is shorter than the counting interval "
                f"({humanize_seconds(interval)}): it can close and trip again within one interval (flapping)",
                f"make tripDuration at least the interval, e.g. '{rule.interval}'",
                "warning",
            )
        )
    if rule.accept_retry_after:
        problems.append(
            Problem(
                f"{path}.acceptRetryAfter",
                "with acceptRetryAfter the breaker stays open as long as the backend's Retry-After says; "
                f"Azure OpenAI has sent up to {LONGEST_SEEN_AOAI_RETRY_AFTER_SECONDS} s (a day), "
                "and APIM has no cap",
                f"set acceptRetryAfter to false so the breaker reopens after tripDuration ('{rule.trip_duration}')",
                "warning",
            )
        )
    return problems


def lint_backends(backends: Sequence[tuple[int, BackendSpec]], path: str = "backends") -> list[Problem]:
    """Per-backend APIM rules and cross-backend checks; `backends` keeps each one's index in the request."""
    problems: list[Problem] = []
    if not backends:
        return [
            Problem(
                path,
                "there are no backends, so the pool would have no members",
                "add at least two backends so the pool can fail over",
            )
        ]
    if len(backends) > lim.MAX_POOL_BACKENDS:
        problems.append(
            Problem(
                path,
                f"{len(backends)} backends; an APIM pool holds at most {lim.MAX_POOL_BACKENDS}",
                "split the endpoints over several gateways, or keep the 30 that matter",
            )
        )
    for i, b in backends:
        at = f"{path}[{i}]"
        problems += _lint_name(b.name, f"{at}.name", "backend")
        problems += _lint_url_path(b.url, f"{at}.url")
        if not lim.POOL_PRIORITY_MIN <= b.priority <= lim.POOL_PRIORITY_MAX:
            problems.append(
                Problem(
                    f"{at}.priority",
                    f"{b.priority} is outside 0–100, the range APIM accepts",
                    "use a priority between 0 and 100 (lower is tried first)",
                )
            )
        if not lim.POOL_WEIGHT_MIN <= b.weight <= lim.POOL_WEIGHT_MAX:
            problems.append(
                Problem(
                    f"{at}.weight",
                    f"{b.weight} is outside 0–100, the range APIM accepts",
                    "use a weight between 0 and 100",
                )
            )
    problems += _duplicates(backends, path)
    problems += _group_warnings(backends, path)
    return problems


def _lint_url_path(url: str, field: str) -> list[Problem]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return []  # the URL check already says it cannot be parsed
    if not parts.hostname or parts.path == BACKEND_URL_PATH:
        return []
    base = f"{parts.scheme or 'https'}://{parts.netloc}{BACKEND_URL_PATH}"
    if parts.path == BACKEND_URL_PATH + "/":
        # "Avoid adding a slash at the end to prevent misconfigurations" (Backends in API Management, on the
        # backend URL and base-url): the gateway appends '/deployments/...', and '/openai//deployments' is
        # not a path Azure OpenAI serves.
        return [
            Problem(
                field,
                "the URL ends with a slash: the gateway appends the caller's path after it "
                "('/openai//deployments/...')",
                f"remove the trailing slash: '{base}'",
            )
        ]
    shown = parts.path or "(none)"
    return [
        Problem(
            field,
            f"the URL's path is '{shown}', not '{BACKEND_URL_PATH}': the gateway appends the caller's "
            "deployments/... path to it, and Azure OpenAI serves that only under /openai, so every call "
            "would answer 404",
            f"use the endpoint's base URL with /openai, e.g. '{base}'",
        )
    ]


def _lint_name(name: str, field: str, what: str) -> list[Problem]:
    if lim.BACKEND_NAME.match(name):
        return []
    if not name:
        return [Problem(field, f"the {what} name is empty", "use e.g. 'aoai-eastus'")]
    if len(name) > lim.MAX_BACKEND_ID_LENGTH:
        return [
            Problem(
                field,
                f"'{name[:20]}…' is {len(name)} characters; APIM backend ids take at most 80",
                "shorten the name",
            )
        ]
    return [
        Problem(
            field,
            f"'{name}' is not a valid backend id",
            f"use letters, digits and hyphens, starting with a letter, e.g. '{_suggest_name(name)}'",
        )
    ]


def _suggest_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"b-{cleaned}".rstrip("-")
    return cleaned[: lim.MAX_BACKEND_ID_LENGTH]


def _duplicates(backends: Sequence[tuple[int, BackendSpec]], path: str) -> list[Problem]:
    problems: list[Problem] = []
    first_name: dict[str, int] = {}
    first_url: dict[str, int] = {}
    for i, b in backends:
        key = b.name.lower()
        if key in first_name:
            problems.append(
                Problem(
                    f"{path}[{i}].name",
                    f"'{b.name}' repeats backends[{first_name[key]}].name (APIM ids ignore case)",
                    "give every backend its own name",
                )
            )
        else:
            first_name[key] = i
        url_key = b.url.rstrip("/").lower()
        if url_key in first_url:
            problems.append(
                Problem(
                    f"{path}[{i}].url",
                    f"same endpoint as backends[{first_url[url_key]}]: both "
                    "share one quota, so failing over between them does not help",
                    "point each backend at a different Azure OpenAI resource",
                    "warning",
                )
            )
        else:
            first_url[url_key] = i
    return problems


def _group_warnings(backends: Sequence[tuple[int, BackendSpec]], path: str) -> list[Problem]:
    problems: list[Problem] = []
    if len(backends) == 1:
        i, only = backends[0]
        return [
            Problem(
                f"{path}[{i}]",
                f"the pool has one member ('{only.name}'): when its breaker opens, every request fails",
                "add a second backend in another region",
                "warning",
            )
        ]
    groups: dict[int, list[tuple[int, BackendSpec]]] = defaultdict(list)
    for i, b in backends:
        groups[b.priority].append((i, b))
    top = min(groups)
    if len(groups[top]) == 1:
        i, b = groups[top][0]
        problems.append(
            Problem(
                f"{path}[{i}].priority",
                f"'{b.name}' is alone in the first priority group ({top}): all traffic "
                "goes to it, and nothing in its group takes over while its breaker is open",
                f"give a second backend priority {top} to share the load",
                "warning",
            )
        )
    regions = {_region(b.url) for _, b in backends}
    if len(regions) == 1 and None not in regions:
        problems.append(
            Problem(
                path,
                f"every backend is in region '{regions.pop()}': a regional outage takes the whole pool down",
                "add a backend in another region",
                "warning",
            )
        )
    return problems


def _region(url: str) -> str | None:
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return None
    match = _REGIONAL_HOST.match(host)
    return match.group("region") if match else None


def lint_pool(pool_name: str, backends: Sequence[tuple[int, BackendSpec]], path: str = "poolName") -> list[Problem]:
    problems = _lint_name(pool_name, path, "pool")
    clash = [i for i, b in backends if b.name.lower() == pool_name.lower()]
    if pool_name and clash:
        problems.append(
            Problem(
                path,
                f"'{pool_name}' is also backends[{clash[0]}].name: the pool would replace "
                "that backend (and a pool cannot contain a pool)",
                f"give the pool its own name, e.g. '{pool_name}-pool'",
            )
        )
    return problems
