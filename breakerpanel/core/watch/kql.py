"""The one Log Analytics query a watchdog run sends per workspace: gateway logs aggregated per backend × bin.

Log Analytics does the counting; the answer has one row per (resource, backend, bin) however many requests
the gateway served, so what the watchdog receives stays flat in traffic volume. It counts per workspace (TenantId)
first and keeps the fullest copy, so an instance logging to two workspaces is not counted twice. Every value that
enters the text (resource ids, backend names, URLs, codes, instants) goes through `kql_string` / typed literals; nothing
from a payload is pasted in raw.

Columns of the answer:
  Resource       the APIM instance (`_ResourceId`, lower-cased)
  Backend        the configured backend the request reached: by BackendUrl when it starts with a backend's
                 URL (true whatever the gateway writes in BackendId for a pool), else BackendId
  Bin            start of the time bin
  Requests       client requests in the bin
  Successes      backend answered 2xx/3xx
  Counted        failures the backend's own breaker rule counts (status ranges; error reasons when no answer)
  Ignored        failures the rule does not count (401/403/404/408, timeouts, 5xx outside its ranges…)
  Throttled      backend answered 429
  MaxRetryAfter  the largest Retry-After (seconds) on a failure the rule counts (a 429, a 503...), when the logs
                 carry the header (either spelling)
  GatewayOnly    the gateway answered 503 (or a configured failure response) without calling any backend
  LastSuccess    the newest successful backend answer in the bin
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from breakerpanel.core.watch.config import GatewayConfig, Rule

TABLE = "ApiManagementGatewayLogs"
# Client mistakes: they are neither the backend failing nor a success.
_NOT_FAILURES = "400, 409, 412, 413, 415, 422"


@dataclass(frozen=True)
class QueryTarget:
    resource_id: str  # the APIM instance's ARM id
    config: GatewayConfig


def kql_string(value: str) -> str:
    """A KQL string literal holding exactly `value`."""
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    )
    if any(ord(ch) < 0x20 for ch in escaped):
        raise ValueError("control characters cannot be placed in a KQL literal")
    return f'"{escaped}"'


def kql_datetime(moment: datetime) -> str:
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"datetime({utc.strftime('%Y-%m-%dT%H:%M:%S.%f')}Z)"


def _code_test(rule: Rule) -> str:
    """The rule's failure test, never null: a request with no backend answer has a null code, and Kusto's
    `countif` skips a null predicate — so a timeout would be neither counted nor uncounted. Answered requests
    are judged on their code, unanswered ones on their error reason."""
    codes = " or ".join(f"BackendResponseCode between ({int(low)} .. {int(high)})" for low, high in rule.status_ranges)
    reasons = [kql_string(reason) for reason in rule.error_reasons if reason.strip()]
    unanswered = f"LastErrorReason in~ ({', '.join(reasons)})" if reasons else "false"
    return f"iff(Answered, {codes or 'false'}, {unanswered})"


def bin_seconds_for(configs: Sequence[GatewayConfig], *, floor: int = 10, ceiling: int = 300) -> int:
    """A bin no wider than any rule's interval (so a trip cannot hide inside one bin), within [floor, ceiling]."""
    shortest = min((c.shortest_interval_seconds for c in configs if c.shortest_interval_seconds), default=60.0)
    seconds = int(max(floor, min(ceiling, shortest)))
    # Whole divisors of a minute (or whole minutes) keep bins aligned across runs.
    for nice in (300, 240, 180, 120, 60, 30, 20, 15, 10):
        if nice <= seconds:
            return nice
    return floor


def gateway_query(targets: Sequence[QueryTarget], start: datetime, end: datetime, bin_seconds: int) -> str:
    """The KQL text for `targets` (all in one workspace) over [start, end)."""
    if not targets:
        raise ValueError("at least one target is needed")
    url_cases: list[str] = []
    rule_cases: list[str] = []
    gateway_codes: set[int] = set()
    for target in targets:
        resource = kql_string(target.resource_id.lower())
        # Longest URL first: a backend whose URL extends another's must win the prefix match.
        for backend in sorted(target.config.backends, key=lambda b: -len(b.url or "")):
            if backend.url:
                url_cases.append(
                    f"Resource == {resource} and BackendUrl startswith {kql_string(backend.url.rstrip('/'))}, "
                    f"{kql_string(backend.name)}"
                )
        for backend in target.config.backends:
            # A backend with no rule has no breaker: nothing it answers is counted, every failure is a blind spot.
            test = _code_test(backend.rule) if backend.rule is not None else "false"
            rule_cases.append(f"Resource == {resource} and Backend =~ {kql_string(backend.name)}, {test}")
        gateway_codes.update(target.config.failure_response_codes)
    backend_expr = f"case({', '.join(url_cases)}, BackendId)" if url_cases else "BackendId"
    # A backend the configuration does not know is judged on 429 and 5xx.
    default = "iff(Answered, BackendResponseCode == 429 or BackendResponseCode between (500 .. 599), false)"
    counted_expr = f"case({', '.join(rule_cases)}, {default})" if rule_cases else default
    codes = ", ".join(str(code) for code in sorted(gateway_codes))
    resources = ", ".join(kql_string(t.resource_id.lower()) for t in targets)
    return "\n".join(
        [
            f"{TABLE}",
            f"| where TimeGenerated >= {kql_datetime(start)} and TimeGenerated < {kql_datetime(end)}",
            "| extend Resource = tolower(_ResourceId)",
            f"| where Resource in ({resources})",
            "| extend Answered = isnotnull(BackendResponseCode) and BackendResponseCode > 0",
            "| extend Attempted = Answered or isnotempty(BackendUrl)",
            f"| extend Backend = {backend_expr}",
            f"| extend IsCounted = Attempted and ({counted_expr})",
            "| extend IsSuccess = Answered and BackendResponseCode between (200 .. 399)",
            "| extend IsFailure = (Answered and BackendResponseCode >= 400"
            f" and not(BackendResponseCode in ({_NOT_FAILURES}))) or (Attempted and not(Answered))",
            # Header names are case-insensitive (Azure OpenAI sends `retry-after`); the bag's keys are not.
            '| extend RetryAfter = toint(coalesce(tostring(BackendResponseHeaders["Retry-After"]),'
            ' tostring(BackendResponseHeaders["retry-after"])))',
            f"| extend IsGatewayOnly = not(Attempted) and ResponseCode in ({codes})",
            "| summarize Requests = count(), Successes = countif(IsSuccess), Counted = countif(IsCounted),"
            " Ignored = countif(IsFailure and not(IsCounted)), Throttled = countif(BackendResponseCode == 429),"
            # The breaker accepts the Retry-After of the response that trips it (backends.md), whatever its code.
            " MaxRetryAfter = max(iff(IsCounted and Answered, RetryAfter, int(null))),"
            " GatewayOnly = countif(IsGatewayOnly),"
            " LastSuccess = max(iff(IsSuccess, TimeGenerated, datetime(null)))"
            f" by Resource, Backend, Bin = bin(TimeGenerated, {int(bin_seconds)}s), TenantId",
            # A resource-centric query reads every workspace the instance sends its logs to: with two diagnostic
            # settings each request is there twice. Counted per workspace (TenantId) first, the fullest copy of
            # each bin wins instead of the copies adding up.
            "| summarize Requests = max(Requests), Successes = max(Successes), Counted = max(Counted),"
            " Ignored = max(Ignored), Throttled = max(Throttled), MaxRetryAfter = max(MaxRetryAfter),"
            " GatewayOnly = max(GatewayOnly), LastSuccess = max(LastSuccess) by Resource, Backend, Bin",
            "| order by Resource asc, Backend asc, Bin asc",
        ]
    )
