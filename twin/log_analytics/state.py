"""What the twin's Log Analytics holds: gateway-log rows per workspace, a clock, an ingestion delay, and the
engine that queries them.

Workspaces: rows appended with a workspace id (the path's `{workspaceId}`, a GUID, compared ignoring case) are
that workspace's alone. Rows appended without one go to a *default* workspace, which answers every workspace
id that has no rows of its own — so a test that seeds rows and queries any id keeps working, and two
scenarios in two named workspaces never see each other's rows. A resource-centric query
(`/v1/{resourceId}/query`) sees the rows of every workspace, default included, whose `_ResourceId` equals
that id ignoring case, as Log Analytics answers for a resource that sends its logs to several workspaces. A row
appended to a named workspace carries that workspace's id in TenantId, as Log Analytics writes it at ingestion.

Clock: the wall clock unless a test pins it (PUT /_twin/logs/clock); it ends a bare-duration timespan and is
what `ago()` and `now()` read. Ingestion delay (PUT /_twin/logs/ingestion): a row is visible to queries only
once now >= TimeGenerated + delay, as Log Analytics makes rows queryable 30 s to minutes after the event.
Rows are never visible before their TimeGenerated (delay 0), as nothing is logged ahead of time.

Access (PUT /_twin/logs/access): named workspaces the caller may not read. A resource-centric query answers as
Log Analytics documents for partial access — a normal 200 with those workspaces' rows silently left out — and,
when asked with `Prefer: include-permissions=true`, says so in a `permissions` section
(https://learn.microsoft.com/azure/azure-monitor/logs/api/azure-resource-queries#partial-access):
`resources[].dataSources` lists every workspace holding the resource's logs, the top-level `dataSources` only
those the caller may query. A workspace is named there by a resource id the twin makes up from its id
(WORKSPACE_RESOURCE_PREFIX + id; "default" for the default workspace).

Tables (PUT /_twin/logs/tables): named workspaces that have no ApiManagementGatewayLogs table — the APIM instance's
diagnostic setting writes to AzureDiagnostics (destination type not "Dedicated"), and Log Analytics creates a
resource-specific table only once a setting sends to it. A workspace query naming the table is refused as Log
Analytics refuses an unknown table: 400 BadArgumentError / SemanticError / SEM0100 "'where' operator: Failed to
resolve table or column expression named 'ApiManagementGatewayLogs'" (the operator is the one after the table).

Limits (PUT /_twin/logs/limits): the most records one answer holds, 500,000 by default as in Log Analytics and
Kusto ("Query result set has exceeded the internal record count limit"). A bigger result is a partial failure,
not an error status: 200 with the rows cut to the limit and an `error` object (code PartialError, the cause in
its details), the shape of Azure/azure-sdk-for-python#25137.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from twin.log_analytics.engine import LogsEngine, QueryRejected, Scope
from twin.log_analytics.rows import prepare_rows
from twin.log_analytics.schema import TABLE
from twin.log_analytics.timespan import parse_timespan

if TYPE_CHECKING:
    from twin.app import TwinConfig

# The twin holds workspaces by their customer id only; `permissions` names them by this made-up resource id.
WORKSPACE_RESOURCE_PREFIX = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/twin-logs/providers/"
    "Microsoft.OperationalInsights/workspaces/"
)


# Log Analytics' record count limit on one query's result (Azure Monitor service limits; Kusto's result truncation).
MAX_RECORDS = 500_000


def workspace_resource_id(workspace: str | None) -> str:
    return WORKSPACE_RESOURCE_PREFIX + (workspace if workspace is not None else "default")


class LogsState:
    def __init__(self, config: TwinConfig) -> None:
        self.config = config
        self._engine = LogsEngine()
        self._pinned_now: datetime | None = None
        self._delay = timedelta(0)
        self._workspaces: dict[str, int] = {}  # lower-cased id -> rows appended to it
        self._hidden: set[str] = set()  # lower-cased ids of workspaces the caller may not read
        self._tableless: set[str] = set()  # lower-cased ids of workspaces without the gateway-log table
        self._max_records = MAX_RECORDS

    def reset(self) -> None:
        """Forget every row and workspace, go back to the wall clock and to no ingestion delay."""
        self._engine.clear()
        self._pinned_now = None
        self._delay = timedelta(0)
        self._workspaces.clear()
        self._hidden.clear()
        self._tableless.clear()
        self._max_records = MAX_RECORDS

    def append_rows(self, rows: list[dict[str, Any]], workspace_id: str | None = None) -> int:
        """Add ApiManagementGatewayLogs rows to a workspace (None: the default one); all or none.

        ValueError names the row index and column.
        """
        if workspace_id is not None:
            # TenantId is the receiving workspace's id, written by Log Analytics at ingestion, whatever the sender put.
            rows = [{**row, "TenantId": workspace_id.lower()} for row in rows]
        added = self._engine.insert(prepare_rows(rows), None if workspace_id is None else workspace_id.lower())
        if workspace_id is not None:
            key = workspace_id.lower()
            self._workspaces[key] = self._workspaces.get(key, 0) + added
        return added

    def append_select(
        self, select: str, parameters: Mapping[str, Any] | None = None, workspace_id: str | None = None
    ) -> int:
        """Add the rows a DuckDB SELECT yields, the bulk path for benchmarks that need millions of rows.

        `append_rows` converts and checks every value in Python (and its rows are Python objects first), which
        is the right path for tests and the control API but slow at scale (measured: 10^5 rows in 7.5 s and
        1.8 GB of process memory, against 0.6 s here); here DuckDB generates and casts the rows itself. The
        SELECT's columns are named as the table's (any subset; absent ones are null, `Type` defaults to the
        table's name); datetimes are UTC; dynamic columns take JSON. All or none; ValueError names what does
        not fit. Not reachable over HTTP: the SELECT runs on the twin's own connection.
        """
        key = None if workspace_id is None else workspace_id.lower()
        added = self._engine.insert_select(select, parameters, key)
        if key is not None:
            self._workspaces[key] = self._workspaces.get(key, 0) + added
        return added

    @property
    def row_count(self) -> int:
        return self._engine.count()

    def workspace_rows(self) -> dict[str, int]:
        """Rows appended per named workspace (the default workspace is not listed)."""
        return dict(self._workspaces)

    def set_now(self, now: datetime | None) -> None:
        """Pin the clock (aware or naive-UTC), or None for the wall clock."""
        if now is not None and now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        self._pinned_now = None if now is None else now.astimezone(UTC)

    @property
    def pinned_now(self) -> datetime | None:
        return self._pinned_now

    def now(self) -> datetime:
        return self._pinned_now or datetime.now(UTC)

    @property
    def ingestion_delay(self) -> timedelta:
        return self._delay

    def set_ingestion_delay(self, delay: timedelta) -> None:
        if delay < timedelta(0):
            raise ValueError("the ingestion delay cannot be negative")
        self._delay = delay

    @property
    def hidden_workspaces(self) -> list[str]:
        return sorted(self._hidden)

    def set_hidden_workspaces(self, workspace_ids: list[str]) -> None:
        """The named workspaces the caller may not read (replacing the previous list; [] for none)."""
        self._hidden = {workspace_id.lower() for workspace_id in workspace_ids}

    @property
    def max_records(self) -> int:
        return self._max_records

    def set_max_records(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the record limit must be at least 1")
        self._max_records = limit

    def _limited(self, table: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The table cut to the record limit, and the partial-failure error when it had to be cut."""
        if len(table["rows"]) <= self._max_records:
            return table, None
        limit = self._max_records
        error = {
            "code": "PartialError",
            "message": "There were some errors when processing your query.",
            "details": [{
                "code": "EngineError",
                "message": "Something went wrong processing your query on the server.",
                "innererror": {
                    "code": "E_QUERY_RESULT_SET_TOO_LARGE",
                    "message": f"Query result set has exceeded the internal record count limit {limit} "
                               "(E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoquerylimits)",
                    "severity": 2,
                    "severityName": "Error",
                },
            }],
        }
        return {**table, "rows": table["rows"][:limit]}, error

    @property
    def workspaces_without_table(self) -> list[str]:
        return sorted(self._tableless)

    def set_workspaces_without_table(self, workspace_ids: list[str]) -> None:
        """The named workspaces that have no ApiManagementGatewayLogs table (replacing the list; [] for none)."""
        self._tableless = {workspace_id.lower() for workspace_id in workspace_ids}

    @staticmethod
    def _refuse_missing_table(kql: str) -> None:
        named = re.search(rf"(?<![\w.]){TABLE}(?![\w])\s*(?:\|\s*(?P<operator>[A-Za-z][\w-]*))?", kql)
        if named is None:
            return
        operator = named["operator"] or "table"
        raise QueryRejected(
            "semantic", f"'{operator}' operator: Failed to resolve table or column expression named '{TABLE}'"
        )

    def _permissions(self, resource_id: str) -> dict[str, Any]:
        sources = self._engine.workspaces_of(resource_id)
        readable = [s for s in sources if s is None or s not in self._hidden]
        return {
            "resources": [{"resourceId": resource_id, "dataSources": [workspace_resource_id(s) for s in sources]}],
            "dataSources": [{"resourceId": workspace_resource_id(s)} for s in readable],
        }

    def query(
        self,
        kql: str,
        timespan: str | None = None,
        *,
        workspace_id: str | None = None,
        resource_id: str | None = None,
        include_permissions: bool = False,
    ) -> dict[str, Any]:
        """Run KQL as Log Analytics does and answer its response body `{"tables": [...]}`.

        `workspace_id`: a workspace query (see the module docstring for the default workspace);
        `resource_id`: a resource-centric query, which leaves out the hidden workspaces' rows and, with
        `include_permissions`, adds the `permissions` section. Raises TimespanError for a bad timespan and
        QueryRejected when the engine refuses the query.
        """
        now = self.now()
        bounds = None if timespan is None else parse_timespan(timespan, now)
        own = workspace_id is not None and workspace_id.lower() in self._workspaces
        if workspace_id is not None and workspace_id.lower() in self._tableless:
            self._refuse_missing_table(kql)
        scope = Scope(
            workspace=workspace_id.lower() if own and workspace_id is not None else None,
            resource_id=resource_id,
            visible_until=now - self._delay,
            hidden=frozenset(self._hidden) if resource_id is not None else frozenset(),
        )
        table, partial = self._limited(self._engine.run(kql, now=now, bounds=bounds, scope=scope))
        body: dict[str, Any] = {"tables": [table]}
        if partial is not None:
            body["error"] = partial
        if include_permissions and resource_id is not None:
            body["permissions"] = self._permissions(resource_id)
        return body
