"""The KQL engine behind the twin's Log Analytics: DuckDB holding the rows, duckdb-kql running the KQL.

Rows live in a private table, each tagged with the workspace it was sent to (a private column the KQL never
sees). Each query sees `ApiManagementGatewayLogs` as a view of them narrowed to the request's `Scope` — one
workspace, or one resource's rows in every workspace — to the rows already ingested, and to the timespan, so
the same KQL text runs here and in Azure. `ago()` and `now()` read the `now` given to `run` (duckdb-kql's
query_now), so relative time follows the twin's controllable clock.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import duckdb
import duckdb_kql
from duckdb_kql import KqlError, KqlSchemaError, KqlSyntaxError, KqlUnsupportedError

from twin.log_analytics import results
from twin.log_analytics.rows import to_utc_naive
from twin.log_analytics.schema import COLUMN_TYPES, COLUMNS, DUCKDB_TYPES, TABLE

_STORE = "_twin_gateway_rows"
# The workspace a row was appended to; NULL is the default workspace (rows sent without a workspace id).
_WORKSPACE = "_twin_workspace"
# Kusto types bound as text and cast by DuckDB (JSON has no list literal of its own; UUIDs go as strings).
_TEXT_BOUND = frozenset({"dynamic", "guid"})
_LIST_TYPE = {"dynamic": "VARCHAR", "guid": "VARCHAR"}
_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

RejectionKind = Literal["syntax", "semantic", "unsupported", "runtime"]


@dataclass(frozen=True)
class QueryRejected(Exception):
    """The engine refused the query; `message` is the engine's own words."""

    kind: RejectionKind
    message: str
    line: int | None = None
    pos: int | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _timestamp_literal(moment: datetime) -> str:
    return f"TIMESTAMP '{to_utc_naive(moment).strftime(_TIMESTAMP_FORMAT)}'"


def _string_literal(text: str) -> str:
    # View definitions take no bound parameters, so values are written as SQL literals, quotes doubled.
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Scope:
    """Which rows one query may see.

    `workspace`: the rows appended to that workspace id (lower-cased); `None` with `resource_id` None: the
    default workspace's rows. `resource_id`: every row, in any workspace, whose _ResourceId equals it, ignoring
    case (a resource-centric query). `visible_until`: rows with a later TimeGenerated are not ingested yet.
    `hidden`: named workspaces (lower-cased ids) whose rows a resource-centric query leaves out, as Log Analytics
    silently leaves out the workspaces the caller may not read.
    """

    workspace: str | None = None
    resource_id: str | None = None
    visible_until: datetime | None = None
    hidden: frozenset[str] = frozenset()

    def where(self) -> list[str]:
        clauses: list[str] = []
        if self.resource_id is not None:
            clauses.append(f'lower("_ResourceId") = {_string_literal(self.resource_id.lower())}')
            if self.hidden:
                names = ", ".join(_string_literal(name) for name in sorted(self.hidden))
                clauses.append(f"({_WORKSPACE} IS NULL OR {_WORKSPACE} NOT IN ({names}))")
        elif self.workspace is not None:
            clauses.append(f"{_WORKSPACE} = {_string_literal(self.workspace)}")
        else:
            clauses.append(f"{_WORKSPACE} IS NULL")
        if self.visible_until is not None:
            clauses.append(f"TimeGenerated <= {_timestamp_literal(self.visible_until)}")
        return clauses


# Every connection the engines opened, kept until the interpreter exits. The last reference to an engine
# can be dropped by a daemon thread of the HTTPS server while Python finalizes; DuckDB's connection destructor
# then needs the GIL, which that thread can no longer take, and the process aborts ("FATAL: exception not
# rethrown"). Held here, connections are destroyed by the main thread at exit, after being closed by atexit.
_CONNECTIONS: list[duckdb.DuckDBPyConnection] = []


@atexit.register
def _close_all() -> None:
    for con in _CONNECTIONS:
        con.close()


def kql_connection() -> duckdb.DuckDBPyConnection:
    """A duckdb-kql connection that lives until the interpreter exits (see _CONNECTIONS): every twin engine
    opens its connections here."""
    con = duckdb_kql.connect()
    _CONNECTIONS.append(con)
    return con


class LogsEngine:
    def __init__(self) -> None:
        # One connection, used by one thread at a time: DuckDB connections are not safe to share concurrently.
        self._lock = threading.Lock()
        self._con = kql_connection()
        columns = ", ".join(f"{_quote(name)} {DUCKDB_TYPES[kind]}" for name, kind in COLUMNS)
        self._con.execute(f"CREATE TABLE {_STORE} ({columns}, {_WORKSPACE} VARCHAR)")
        self._window(None, None)

    def clear(self) -> None:
        with self._lock:
            self._con.execute(f"DELETE FROM {_STORE}")

    def insert(self, prepared: list[tuple[Any, ...]], workspace: str | None = None) -> int:
        """Append prepared rows to `workspace` (lower-cased id; None: the default workspace)."""
        if not prepared:
            return 0
        # One statement for the whole batch, each column bound as a list and unnested side by side: DuckDB's
        # executemany runs one statement per row, about 250 rows a second here.
        columns = list(zip(*prepared, strict=True))
        lists = [
            list(values) if kind not in _TEXT_BOUND else [None if v is None else str(v) for v in values]
            for (_, kind), values in zip(COLUMNS, columns, strict=True)
        ]
        select = ", ".join(
            f"CAST(unnest(CAST(? AS {_LIST_TYPE.get(kind, DUCKDB_TYPES[kind])}[])) AS {DUCKDB_TYPES[kind]})"
            for _, kind in COLUMNS
        )
        with self._lock:
            tagged = f"{select}, CAST(? AS VARCHAR) AS {_WORKSPACE}"
            self._con.execute(f"INSERT INTO {_STORE} SELECT {tagged}", [*lists, workspace])
        return len(prepared)

    def insert_select(
        self, select: str, parameters: Mapping[str, Any] | None = None, workspace: str | None = None
    ) -> int:
        """Append the rows a DuckDB SELECT yields to `workspace`: the bulk path (see LogsState.append_select).

        The SELECT's columns are named as the table's (any subset, any order); each is cast to its column's
        type by DuckDB, absent ones are null and `Type` defaults to the table's name, as in `insert`.
        ValueError names an unknown column, a value a column cannot hold, or a row without TimeGenerated;
        one INSERT statement, so all or none.
        """
        with self._lock:
            try:
                # DESCRIBE binds the SELECT without running it: the rows are generated once, by the INSERT.
                described = self._con.execute(f"DESCRIBE {select}", dict(parameters or {})).fetchall()
                names = [str(row[0]) for row in described]
            except duckdb.Error as exc:
                raise ValueError(f"the SELECT does not run: {exc}") from None
            unknown = sorted(name for name in names if name not in COLUMN_TYPES)
            if unknown:
                raise ValueError(
                    f"unknown column(s) {unknown} — {TABLE} has no such column (names are case-sensitive)"
                )
            if _WORKSPACE in (parameters or {}):
                raise ValueError(f"the parameter name {_WORKSPACE!r} is the twin's own")
            if len(set(names)) != len(names):
                raise ValueError("the SELECT names a column more than once")
            present = set(names)
            values: list[str] = []
            for name, kind in COLUMNS:
                source = f"_bulk.{_quote(name)}"
                if name == "TimeGenerated":
                    if name not in present:
                        raise ValueError("column 'TimeGenerated' (datetime) is required")
                    # error() aborts the one INSERT, so a batch with a missing TimeGenerated adds nothing.
                    source = f"CASE WHEN {source} IS NULL THEN error('a row has no TimeGenerated') ELSE {source} END"
                elif name == "TenantId" and workspace is not None:
                    # The receiving workspace's id, as Log Analytics writes it at ingestion (LogsState.append_rows).
                    source = f"CAST(${_WORKSPACE} AS VARCHAR)"
                elif name == "Type":
                    default = _string_literal(TABLE)
                    source = f"COALESCE({source}, {default})" if name in present else default
                elif name not in present:
                    source = "NULL"
                values.append(f"CAST({source} AS {DUCKDB_TYPES[kind]})")
            tag = f"CAST(${_WORKSPACE} AS VARCHAR)"
            statement = f"INSERT INTO {_STORE} SELECT {', '.join(values)}, {tag} FROM ({select}) AS _bulk"
            before = self._count_locked()
            try:
                self._con.execute(statement, {**(parameters or {}), _WORKSPACE: workspace})
            except duckdb.Error as exc:
                raise ValueError(f"the rows do not fit {TABLE}: {exc}") from None
            return self._count_locked() - before

    def _count_locked(self) -> int:
        found = self._con.execute(f"SELECT count(*) FROM {_STORE}").fetchone()
        return int(found[0]) if found else 0

    def count(self) -> int:
        with self._lock:
            return self._count_locked()

    def workspaces_of(self, resource_id: str) -> list[str | None]:
        """The workspaces holding rows of `resource_id` (ignoring case; None: the default workspace), sorted."""
        with self._lock:
            found = self._con.execute(
                f'SELECT DISTINCT {_WORKSPACE} FROM {_STORE} WHERE lower("_ResourceId") = ?', [resource_id.lower()]
            ).fetchall()
        return sorted((row[0] for row in found), key=lambda name: (name is not None, name or ""))

    def _window(self, bounds: tuple[datetime, datetime] | None, scope: Scope | None) -> None:
        clauses = [] if scope is None else scope.where()
        if bounds is not None:
            start, end = bounds
            clauses.append(f"TimeGenerated BETWEEN {_timestamp_literal(start)} AND {_timestamp_literal(end)}")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        # The view lists the table's own columns only: the workspace tag stays invisible to KQL.
        visible = ", ".join(_quote(name) for name, _ in COLUMNS)
        self._con.execute(f"CREATE OR REPLACE VIEW {TABLE} AS SELECT {visible} FROM {_STORE}{where}")

    def run(
        self, kql: str, *, now: datetime, bounds: tuple[datetime, datetime] | None, scope: Scope | None = None
    ) -> dict[str, Any]:
        """Run `kql` over the rows `scope` lets it see inside `bounds` (inclusive); Log Analytics' table JSON."""
        with self._lock:
            self._window(bounds, scope)
            try:
                relation = duckdb_kql.kql(self._con, kql, query_now=now, allow_write=False)
                names = list(relation.columns)
                types = list(relation.types)
                rows = relation.fetchall()
            except KqlSyntaxError as exc:
                span = exc.diagnostics[0].span if exc.diagnostics else None
                raise QueryRejected(
                    "syntax", str(exc), span.line if span else None, span.column if span else None
                ) from None
            except KqlUnsupportedError as exc:
                span = exc.span
                raise QueryRejected(
                    "unsupported", str(exc), span.line if span else None, span.column if span else None
                ) from None
            except (KqlSchemaError, duckdb.BinderException, duckdb.CatalogException) as exc:
                raise QueryRejected("semantic", str(exc)) from None
            except (KqlError, duckdb.Error) as exc:
                raise QueryRejected("runtime", str(exc)) from None
            finally:
                self._window(None, None)
        return results.table(names, types, rows)
