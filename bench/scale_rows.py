"""Gateway-log rows in bulk for bench_watch_scale.py: a fleet of 20 Azure OpenAI backends behind two pools.

The twin's gateway simulation (twin/gateway/) walks every request through APIM's policy, breakers and
retries in Python — right for detection quality, far too slow for 10^7 rows. Here the same row shape
(twin/gateway/rows.py: all 59 ApiManagementGatewayLogs columns, what APIM writes in each) is drawn
statistically by one DuckDB SELECT, loaded through the twin's bulk path (LogsState.append_select), so ten
million rows take seconds and never exist as Python objects.

Traffic (per request, independently): 70 % to the chat pool, 30 % to the embeddings pool; within a pool, a
member by its weight; arrivals evenly spread over the span with jitter. Outcomes: mostly 200; 429 with a
`Retry-After` (1–60 s; the hot member more often, up to 300 s); a few 500/502/503; a few backend timeouts
(no response, LastErrorReason "Timeout", the gateway answers 500); a few gateway-answered 503s with no
backend call (BackendId is the pool); and one member misconfigured, answering 401 to everything — a blind
spot of its 429/5xx rule. Every member's rule trips on a percentage, so what the watchdog concludes does
not change with traffic volume.

Deterministic under a seed: every random draw is DuckDB's `hash(seed, row, draw)`, so the same seed, row
count and DuckDB version give the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SUBSCRIPTION = "00000000-0000-0000-0000-0000000000bb"
RESOURCE_GROUP = "rg-scale"
APIM = "apim-scale"
WORKSPACE = "7e3d1a52-4c6b-4f1e-8d2a-9b0c1d2e3f40"
RULE = "openai-breaker"
BACKEND_PATH = "/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
CLIENT_PATH = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
# What a backend answers (per-mille of its requests); the rest are 200.
_NORMAL = {"p429": 15, "p5xx": 3, "ptimeout": 1}


@dataclass(frozen=True)
class Member:
    name: str
    pool: str
    weight: int
    p429: int  # per mille
    p5xx: int
    ptimeout: int
    retry_after_max: int
    unauthorized: bool = False

    @property
    def url(self) -> str:
        return f"https://{self.name}.openai.azure.com/openai"


def _members() -> tuple[Member, ...]:
    found: list[Member] = []
    for index in range(12):
        name = f"aoai-chat-{index + 1:02d}"
        weight = (30, 20, 10)[index % 3]
        hot = index == 6  # one member near its quota: 429s ten times as often, and long Retry-After
        found.append(Member(name, "aoai-chat-pool", weight, 150 if hot else _NORMAL["p429"], _NORMAL["p5xx"],
                            _NORMAL["ptimeout"], 300 if hot else 60, unauthorized=index == 2))
    for index in range(8):
        found.append(Member(f"aoai-embed-{index + 1:02d}", "aoai-embed-pool", (25, 15)[index % 2],
                            _NORMAL["p429"], _NORMAL["p5xx"], _NORMAL["ptimeout"], 60))
    return tuple(found)


MEMBERS = _members()
POOLS = ("aoai-chat-pool", "aoai-embed-pool")
POOL_SHARE = (70, 30)  # percent of client requests
GATEWAY_ONLY_PER_100K = 50  # gateway-answered 503s (breaker open somewhere), per 100,000 requests
SLOTS = 1000  # weight slots per pool


def resource_id(apim: str = APIM) -> str:
    return (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
            f"/providers/Microsoft.ApiManagement/service/{apim}")


def backend_bodies() -> list[dict[str, Any]]:
    """The 20 Single backends (each with its percentage rule) then the two pools, as APIM PUT bodies."""
    rule = {
        "name": RULE,
        "failureCondition": {
            "percentage": 50,
            "interval": "PT1M",
            "statusCodeRanges": [{"min": 429, "max": 429}, {"min": 500, "max": 599}],
        },
        "tripDuration": "PT1M",
        "acceptRetryAfter": True,
    }
    bodies: list[dict[str, Any]] = [
        {"name": m.name, "properties": {"url": m.url, "protocol": "http", "circuitBreaker": {"rules": [rule]}}}
        for m in MEMBERS
    ]
    for pool in POOLS:
        services = [{"id": f"/backends/{m.name}", "priority": 1, "weight": m.weight} for m in MEMBERS if m.pool == pool]
        bodies.append({"name": pool, "properties": {"type": "Pool", "pool": {"services": services}}})
    return bodies


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _slots() -> str:
    """(pool, slot, member) rows: each pool's SLOTS weight slots, so picking a member is an equality join."""
    values: list[str] = []
    for pool_index, pool in enumerate(POOLS):
        members = [(i, m) for i, m in enumerate(MEMBERS) if m.pool == pool]
        total = sum(m.weight for _, m in members)
        # Largest remainder: each member's slots are its weight's share of SLOTS, summing to SLOTS exactly.
        exact = [(index, m.weight * SLOTS / total) for index, m in members]
        counts = {index: int(share) for index, share in exact}
        by_remainder = sorted(exact, key=lambda item: item[1] - int(item[1]), reverse=True)
        for index, _ in by_remainder[: SLOTS - sum(counts.values())]:
            counts[index] += 1
        slot = 0
        for index, _ in members:
            values += [f"({pool_index}, {slot + k}, {index})" for k in range(counts[index])]
            slot += counts[index]
    return ", ".join(values)


def _members_table() -> str:
    rows = []
    for index, m in enumerate(MEMBERS):
        rows.append(
            f"({index}, {_sql_string(m.name)}, {_sql_string(m.url + BACKEND_PATH)}, {m.p429}, {m.p5xx}, "
            f"{m.ptimeout}, {m.retry_after_max}, {str(m.unauthorized).lower()})"
        )
    return ", ".join(rows)


def select_rows(
    count: int, *, seed: int, start: datetime, span: timedelta, apim: str = APIM, workspace: str = WORKSPACE
) -> tuple[str, dict[str, Any]]:
    """A DuckDB SELECT (and its named parameters) yielding `count` rows of `apim` over [start, start + span)."""
    start_us = int((start.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000
    span_us = int(span.total_seconds() * 1_000_000)
    resource = resource_id(apim).lower()
    pools = ", ".join(f"({i}, {_sql_string(p)}, {POOL_SHARE[i]})" for i, p in enumerate(POOLS))
    # u(k): the k-th uniform draw in [0, 1) of a row; hash() is DuckDB's 64-bit hash of (seed, row, k).
    def u(k: int) -> str:
        return f"((hash($seed, i, {k}) % 1000000007) / 1000000007.0)"

    select = f"""
WITH
  members(m, name, url, p429, p5xx, ptimeout, retry_max, unauthorized) AS (VALUES {_members_table()}),
  pools(p, pool, share) AS (VALUES {pools}),
  slots(p, slot, m) AS (VALUES {_slots()}),
  draws AS (
    SELECT i,
      make_timestamp($start_us + CAST(floor((i + {u(0)}) * $span_us / $count) AS BIGINT)) AS t,
      CASE WHEN {u(1)} * 100 < {POOL_SHARE[0]} THEN 0 ELSE 1 END AS p,
      CAST(floor({u(2)} * {SLOTS}) AS INTEGER) AS slot,
      {u(3)} AS outcome, {u(4)} AS detail, {u(5)} AS latency, {u(6)} AS size,
      hash($seed, i, 7) AS ident
    FROM range($count) AS r(i)
  ),
  requests AS (
    SELECT d.*, pools.pool, members.name, members.url, members.retry_max,
      CASE
        WHEN d.outcome * 100000 < {GATEWAY_ONLY_PER_100K} THEN 'gateway'
        WHEN members.unauthorized THEN 'unauthorized'
        WHEN d.outcome * 1000 < members.p429 THEN 'throttled'
        WHEN d.outcome * 1000 < members.p429 + members.p5xx THEN 'error'
        WHEN d.outcome * 1000 < members.p429 + members.p5xx + members.ptimeout THEN 'timeout'
        ELSE 'ok'
      END AS kind
    FROM draws d
    JOIN pools ON pools.p = d.p
    JOIN slots ON slots.p = d.p AND slots.slot = d.slot
    JOIN members ON members.m = slots.m
  ),
  shaped AS (
    SELECT *,
      CASE kind WHEN 'ok' THEN 200 WHEN 'throttled' THEN 429 WHEN 'unauthorized' THEN 401
        WHEN 'error' THEN [500, 502, 503][1 + CAST(floor(detail * 3) AS INTEGER)] ELSE NULL END AS backend_code,
      CASE kind WHEN 'ok' THEN 400 + CAST(latency * 6000 AS INTEGER) WHEN 'timeout' THEN 30000
        WHEN 'gateway' THEN 0 ELSE 5 + CAST(latency * 60 AS INTEGER) END AS backend_ms,
      CAST(1 + floor(detail * retry_max) AS INTEGER) AS retry_after,
      md5(CAST(ident AS VARCHAR)) AS hex
    FROM requests
  )
SELECT
  'azure-openai' AS ApiId,
  ['chat-frontend', 'batch-summarizer', 'support-bot'][1 + CAST(ident % 3 AS INTEGER)] AS ApimSubscriptionId,
  '1' AS ApiRevision,
  CASE WHEN kind = 'gateway' THEN pool ELSE name END AS BackendId,
  CASE WHEN kind = 'gateway' THEN NULL ELSE 'POST' END AS BackendMethod,
  CASE WHEN kind = 'gateway' THEN NULL ELSE 'HTTP/1.1' END AS BackendProtocol,
  backend_code AS BackendResponseCode,
  CASE WHEN backend_code = 429 THEN json_object('Content-Type', 'application/json', 'Retry-After',
         CAST(retry_after AS VARCHAR))
       WHEN backend_code IS NOT NULL THEN json_object('Content-Type', 'application/json') END
    AS BackendResponseHeaders,
  backend_ms AS BackendTime,
  CASE WHEN kind = 'gateway' THEN NULL ELSE url END AS BackendUrl,
  CAST(1100 + (ident >> 8) % 800 AS DOUBLE) AS _BilledSize,
  'none' AS Cache, 0 AS CacheTime,
  '10.' || ((ident >> 16) % 256) || '.' || ((ident >> 24) % 256) || '.' || ((ident >> 32) % 254 + 1)
    AS CallerIpAddress,
  'GatewayLogs' AS Category, 'HTTP/1.1' AS ClientProtocol, CAST((ident >> 40) % 4 AS BIGINT) AS ClientTime,
  '1.2' AS ClientTlsVersion,
  substr(hex, 1, 8) || '-' || substr(hex, 9, 4) || '-' || substr(hex, 13, 4) || '-' || substr(hex, 17, 4)
    || '-' || substr(hex, 21, 12) AS CorrelationId,
  CASE WHEN kind = 'timeout' THEN json_array(json_object('elapsed', backend_ms, 'source', 'forward-request',
         'reason', 'Timeout', 'message', 'Request to the backend service timed out', 'scope', 'api',
         'section', 'backend')) END AS Errors,
  'True' AS _IsBillable,
  false AS IsMasterTrace,
  CASE WHEN kind = 'ok' THEN true ELSE false END AS IsRequestSuccess,
  false AS IsTraceAllowed, false AS IsTraceExpired, false AS IsTraceRequested,
  CASE WHEN kind = 'timeout' THEN CAST(backend_ms AS BIGINT) END AS LastErrorElapsed,
  CASE WHEN kind = 'timeout' THEN 'Request to the backend service timed out' END AS LastErrorMessage,
  CASE WHEN kind = 'timeout' THEN 'Timeout' END AS LastErrorReason,
  CASE WHEN kind = 'timeout' THEN 'api' END AS LastErrorScope,
  CASE WHEN kind = 'timeout' THEN 'backend' END AS LastErrorSection,
  CASE WHEN kind = 'timeout' THEN 'forward-request' END AS LastErrorSource,
  'POST' AS Method, 'post-all' AS OperationId, 'POST' AS OperationName,
  'East US' AS Region,
  CAST(600 + (ident >> 12) % 1800 AS INTEGER) AS RequestSize,
  {_sql_string(resource)} AS _ResourceId,
  CASE kind WHEN 'ok' THEN 200 WHEN 'gateway' THEN 503 WHEN 'timeout' THEN 500 ELSE backend_code END
    AS ResponseCode,
  CASE WHEN backend_code = 429 THEN json_object('Content-Type', 'application/json', 'Retry-After',
         CAST(retry_after AS VARCHAR))
       ELSE json_object('Content-Type', 'application/json') END AS ResponseHeaders,
  CAST(CASE WHEN kind = 'ok' THEN 900 + size * 3100 ELSE 150 + size * 250 END AS INTEGER) AS ResponseSize,
  'Azure' AS SourceSystem,
  {_sql_string(SUBSCRIPTION)} AS _SubscriptionId,
  {_sql_string(workspace)} AS TenantId,
  t AS TimeGenerated, t AS Timestamp,
  backend_ms + 1 + CAST((ident >> 44) % 6 AS BIGINT) AS TotalTime,
  'ApiManagementGatewayLogs' AS Type,
  {_sql_string(f"https://{apim}.azure-api.net{CLIENT_PATH}")} AS Url,
  {_sql_string(workspace)} AS WorkspaceId
FROM shaped
"""
    parameters = {"seed": seed, "count": count, "start_us": start_us, "span_us": span_us}
    return select, parameters
