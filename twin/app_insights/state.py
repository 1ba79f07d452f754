"""What the twin's Application Insights holds: the components (instrumentation key → component resource id
and workspace), the envelopes ingested, and a duckdb-kql engine — the same KQL engine as the twin's Log
Analytics — over them.

Every accepted `EventData` envelope becomes one `customEvents` row (the component's view) and one
`AppEvents` row (its workspace's view). Other telemetry types are counted as received and accepted, as
ingestion does, and kept only as raw envelopes. A query sees the rows inside its timespan and the rows
already visible at the twin's Log Analytics clock (its pinned `now` and ingestion delay), so an alert
rule's evaluation at an instant T sees what Azure Monitor would.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb
import duckdb_kql

from twin.app_insights.schema import APP_EVENTS, CUSTOM_EVENTS, DUCKDB_TYPES, TABLES
from twin.log_analytics import results
from twin.log_analytics.engine import QueryRejected, kql_connection
from twin.log_analytics.timespan import parse_timespan

if TYPE_CHECKING:
    from twin.log_analytics.state import LogsState

DEFAULT_IKEY = "00000000-0000-4000-8000-0000000a1b2c"
DEFAULT_COMPONENT = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-breakerpanel"
                     "/providers/microsoft.insights/components/appi-breakerpanel")
DEFAULT_WORKSPACE = "7d1f0c2e-3b4a-4c5d-8e6f-708192a3b4c5"
_EVENT_BASE_TYPE = "EventData"
_MAX_EVENT_NAME = 512
_MAX_PROPERTY_NAME = 150
_MAX_PROPERTY_VALUE = 8192
# Ingestion refuses an item whose time is more than 48 h before its clock, per item, with this message (what
# Breeze answers: "103: Field 'time' on type 'Envelope' is older than the allowed min date. Expected: now -
# 172800000ms"). The twin's clock is its Log Analytics clock, pinned by replays and by any test that sets the
# scenario's time; only then is the age checked, because tests that post fixed instants without a clock
# (tests/rbac) would otherwise be refused by the real date.
_MAX_AGE = timedelta(milliseconds=172_800_000)


@dataclass(frozen=True)
class Component:
    ikey: str
    resource_id: str
    workspace_id: str
    app_id: str


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _parse_time(raw: Any) -> datetime:
    text = str(raw).replace("Z", "+00:00")
    # Envelope times carry 7 fractional digits at most (.NET); Python takes 6.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits):]
        text = f"{head}.{digits[:6]}{zone}"
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).replace(tzinfo=None)


class AppInsightsState:
    def __init__(self, logs: LogsState) -> None:
        self._logs = logs  # its clock and ingestion delay decide what a query sees
        self._lock = threading.Lock()
        self._con = kql_connection()
        for table, (columns, _) in TABLES.items():
            cols = ", ".join(f"{_quote(n)} {DUCKDB_TYPES[t]}" for n, t in columns)
            self._con.execute(f"CREATE TABLE {_quote('_twin_' + table)} ({cols})")
        self.envelopes: list[dict[str, Any]] = []
        self.components: dict[str, Component] = {}
        self.reset()

    def reset(self) -> None:
        with self._lock:
            for table in TABLES:
                self._con.execute(f"DELETE FROM {_quote('_twin_' + table)}")
            self.envelopes.clear()
            self.components = {DEFAULT_IKEY: Component(DEFAULT_IKEY, DEFAULT_COMPONENT, DEFAULT_WORKSPACE,
                                                       str(uuid.UUID(int=1)))}

    def add_component(self, ikey: str, resource_id: str, workspace_id: str) -> Component:
        with self._lock:
            component = Component(ikey.lower(), resource_id, workspace_id.lower(), str(uuid.uuid4()))
            self.components[component.ikey] = component
            return component

    def connection_string(self, base_url: str, ikey: str = DEFAULT_IKEY) -> str:
        return f"InstrumentationKey={ikey};IngestionEndpoint={base_url}/;LiveEndpoint={base_url}/"

    def track(self, envelopes: list[Any]) -> dict[str, Any]:
        """Ingest what the exporter POSTed; the answer Breeze (the ingestion service) gives."""
        errors: list[dict[str, Any]] = []
        rows: dict[str, list[dict[str, Any]]] = {CUSTOM_EVENTS: [], APP_EVENTS: []}
        for index, envelope in enumerate(envelopes):
            problem = self._rows_of(envelope, rows)
            if problem:
                errors.append({"index": index, "statusCode": 400, "message": problem})
        with self._lock:
            self.envelopes.extend(e for i, e in enumerate(envelopes) if i not in {x["index"] for x in errors})
            for table, table_rows in rows.items():
                columns = [n for n, _ in TABLES[table][0]]
                for row in table_rows:
                    values = [json.dumps(row[c]) if isinstance(row.get(c), dict) else row.get(c) for c in columns]
                    marks = ", ".join("?" for _ in columns)
                    self._con.execute(f"INSERT INTO {_quote('_twin_' + table)} VALUES ({marks})", values)
        return {"itemsReceived": len(envelopes), "itemsAccepted": len(envelopes) - len(errors), "errors": errors}

    def _rows_of(self, envelope: Any, rows: dict[str, list[dict[str, Any]]]) -> str | None:
        if not isinstance(envelope, dict):
            return "the envelope is not a JSON object"
        ikey = str(envelope.get("iKey") or "").lower()
        component = self.components.get(ikey)
        if component is None:
            return f"Invalid instrumentation key {ikey!r}"
        try:
            moment = _parse_time(envelope.get("time"))
        except ValueError:
            return "Field 'time' on type Envelope is required and must be an ISO 8601 time"
        pinned = self._logs.pinned_now
        age = None if pinned is None else pinned.astimezone(UTC).replace(tzinfo=None) - moment
        if age is not None and age > _MAX_AGE:
            return ("103: Field 'time' on type 'Envelope' is older than the allowed min date. Expected: now - "
                    f"172800000ms, Actual: now - {int(age.total_seconds() * 1000)}ms")
        data = envelope.get("data") or {}
        if data.get("baseType") != _EVENT_BASE_TYPE:
            return None  # other telemetry: accepted, not modelled
        base = data.get("baseData") or {}
        name = base.get("name")
        if not isinstance(name, str) or not name:
            return "Field 'name' on type EventData is required"
        tags = envelope.get("tags") or {}
        # The documented limits of the data model (learn.microsoft.com/azure/azure-monitor/app/data-model-complete):
        # an event name keeps 512 characters, a custom property's name 150 and its value 8192; ingestion keeps
        # what fits, so the twin does too and a sender relying on more fails here as it would in Azure.
        name = name[:_MAX_EVENT_NAME]
        properties = {str(k)[:_MAX_PROPERTY_NAME]: str(v)[:_MAX_PROPERTY_VALUE]
                      for k, v in (base.get("properties") or {}).items()}
        measurements = {str(k): float(v) for k, v in (base.get("measurements") or {}).items()}
        item_id = str(uuid.uuid4())
        rows[CUSTOM_EVENTS].append({
            "timestamp": moment, "name": name, "itemType": "customEvent", "customDimensions": properties,
            "customMeasurements": measurements, "operation_Id": tags.get("ai.operation.id"),
            "operation_ParentId": tags.get("ai.operation.parentId"), "operation_Name": tags.get("ai.operation.name"),
            "cloud_RoleName": tags.get("ai.cloud.role"), "cloud_RoleInstance": tags.get("ai.cloud.roleInstance"),
            "sdkVersion": tags.get("ai.internal.sdkVersion"), "appId": component.app_id,
            "appName": component.resource_id.rsplit("/", 1)[-1], "iKey": component.ikey, "itemId": item_id,
            "itemCount": 1, "client_Type": "PC", "_ResourceId": component.resource_id.lower(),
        })
        rows[APP_EVENTS].append({
            "TimeGenerated": moment, "Name": name, "Properties": properties, "Measurements": measurements,
            "OperationId": tags.get("ai.operation.id"), "ParentId": tags.get("ai.operation.parentId"),
            "OperationName": tags.get("ai.operation.name"), "AppRoleName": tags.get("ai.cloud.role"),
            "AppRoleInstance": tags.get("ai.cloud.roleInstance"), "SDKVersion": tags.get("ai.internal.sdkVersion"),
            "IKey": component.ikey, "ItemCount": 1, "ClientType": "PC", "SourceSystem": "Azure",
            "Type": APP_EVENTS, "TenantId": component.workspace_id, "_ResourceId": component.resource_id.lower(),
        })
        return None

    def count(self, table: str = CUSTOM_EVENTS) -> int:
        with self._lock:
            found = self._con.execute(f"SELECT count(*) FROM {_quote('_twin_' + table)}").fetchone()
        return int(found[0]) if found else 0

    def query(self, kql: str, timespan: str | None = None, *, table: str = CUSTOM_EVENTS,
              resource_id: str | None = None, workspace_id: str | None = None) -> dict[str, Any]:
        """Run KQL over `table` (customEvents for a component, AppEvents for a workspace) as Azure Monitor
        would: rows inside `timespan`, already ingested at the twin's clock; {"tables": [...]}."""
        now = self._logs.now()
        visible_until = (now - self._logs.ingestion_delay).astimezone(UTC).replace(tzinfo=None)
        bounds = None if timespan is None else parse_timespan(timespan, now)
        _, time_column = TABLES[table]
        clauses = [f"{_quote(time_column)} <= ?"]
        params: list[Any] = [visible_until]
        if bounds is not None:
            clauses.append(f"{_quote(time_column)} BETWEEN ? AND ?")
            params += [b.astimezone(UTC).replace(tzinfo=None) for b in bounds]
        if resource_id is not None:
            clauses.append('lower("_ResourceId") = ?')
            params.append(resource_id.lower())
        if workspace_id is not None:
            clauses.append('"TenantId" = ?')
            params.append(workspace_id.lower())
        with self._lock:
            # Views take no parameters: a temporary table holds this query's rows instead.
            self._con.execute(f"CREATE OR REPLACE TEMP TABLE {_quote(table)} AS SELECT * FROM "
                              f"{_quote('_twin_' + table)} WHERE {' AND '.join(clauses)}", params)
            try:
                relation = duckdb_kql.kql(self._con, kql, query_now=now,
                                          allow_write=False)
                answer = results.table(list(relation.columns), list(relation.types), relation.fetchall())
            except duckdb_kql.KqlSyntaxError as exc:
                raise QueryRejected("syntax", str(exc)) from None
            except duckdb_kql.KqlUnsupportedError as exc:
                raise QueryRejected("unsupported", str(exc)) from None
            except (duckdb_kql.KqlSchemaError, duckdb.BinderException, duckdb.CatalogException) as exc:
                raise QueryRejected("semantic", str(exc)) from None
            except (duckdb_kql.KqlError, duckdb.Error) as exc:
                raise QueryRejected("runtime", str(exc)) from None
            finally:
                self._con.execute(f"DROP TABLE IF EXISTS {_quote(table)}")
        return {"tables": [answer]}


def event_window(end: datetime, window: timedelta) -> str:
    """The ISO 8601 interval an alert rule's evaluation at `end` covers."""
    def iso(moment: datetime) -> str:
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")

    return f"{iso(end - window)}/{iso(end)}"
