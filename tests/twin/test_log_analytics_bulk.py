"""The twin's Log Analytics bulk path (LogsState.append_select) stores what append_rows stores.

Two sources: the gateway simulation's rows (twin/gateway, every one of the 59 columns, datetimes aware,
dynamic columns as Python values) read by DuckDB from a JSON-lines file, and the scale benchmark's generator
(bench/scale_rows.py), whose rows are also fetched into Python and sent through append_rows. Equality is
judged by what a KQL query answers over the two workspaces: every column of every row.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from twin.app import Twin, TwinConfig
from twin.gateway.loader import load_scenario
from twin.log_analytics.schema import COLUMNS
from twin.log_analytics.state import LogsState

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import scale_rows

START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
WORKSPACE = "11111111-2222-4333-8444-555555555555"
# How DuckDB reads each Kusto type from JSON text: datetimes carry their offset, dynamic stays JSON.
_READ_AS = {"string": "VARCHAR", "int": "INTEGER", "long": "BIGINT", "real": "DOUBLE", "bool": "BOOLEAN",
            "datetime": "TIMESTAMPTZ", "dynamic": "JSON"}
EVERYTHING = "ApiManagementGatewayLogs | order by TimeGenerated asc, CorrelationId asc"


def _answer(logs: LogsState) -> dict[str, Any]:
    return logs.query(EVERYTHING, workspace_id=WORKSPACE)["tables"][0]


def _simulated_rows() -> list[dict[str, Any]]:
    twin = Twin()
    loaded = load_scenario(twin, "quota-exhausted", start=START, seed=3)
    rows = [row for result in loaded.results for row in result.rows]
    assert len(rows) > 100 and any(row["BackendResponseHeaders"] for row in rows)
    return rows


def test_simulated_rows_loaded_in_bulk_equal_append_rows(tmp_path: Path) -> None:
    rows = _simulated_rows()
    one, bulk = LogsState(TwinConfig()), LogsState(TwinConfig())
    assert one.append_rows(rows, WORKSPACE) == len(rows)
    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps(row, default=lambda v: v.isoformat()) + "\n" for row in rows))
    columns = ", ".join(f"'{name}': '{_READ_AS[kind]}'" for name, kind in COLUMNS)
    select = f"SELECT * FROM read_json($path, format = 'newline_delimited', columns = {{{columns}}})"
    assert bulk.append_select(select, {"path": str(source)}, WORKSPACE) == len(rows)
    assert bulk.row_count == len(rows) and bulk.workspace_rows() == {WORKSPACE: len(rows)}
    expected, found = _answer(one), _answer(bulk)
    assert found["columns"] == expected["columns"] and len(expected["columns"]) == 59
    assert found["rows"] == expected["rows"]


def _fetched(select: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
    """The generator's rows as Python values append_rows accepts (JSON text parsed, datetimes made UTC)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    relation = con.execute(select, parameters)
    names = [d[0] for d in relation.description]
    kinds = dict(COLUMNS)
    out = []
    for values in relation.fetchall():
        row: dict[str, Any] = {}
        for name, value in zip(names, values, strict=True):
            if value is not None and kinds[name] == "dynamic":
                value = json.loads(value)
            elif isinstance(value, datetime):
                value = value.replace(tzinfo=UTC)
            row[name] = value
        out.append(row)
    con.close()
    return out


def test_the_scale_generator_through_both_paths_is_the_same_and_deterministic() -> None:
    select, parameters = scale_rows.select_rows(400, seed=5, start=START, span=timedelta(minutes=10),
                                                workspace=WORKSPACE)
    rows = _fetched(select, parameters)
    one, bulk = LogsState(TwinConfig()), LogsState(TwinConfig())
    assert one.append_rows(rows, WORKSPACE) == 400
    assert bulk.append_select(select, parameters, WORKSPACE) == 400
    assert _answer(bulk) == _answer(one)
    # The same seed gives the same rows; another seed does not.
    again = LogsState(TwinConfig())
    again.append_select(select, parameters, WORKSPACE)
    assert _answer(again) == _answer(bulk)
    other_select, other_parameters = scale_rows.select_rows(400, seed=6, start=START, span=timedelta(minutes=10),
                                                            workspace=WORKSPACE)
    other = LogsState(TwinConfig())
    other.append_select(other_select, other_parameters, WORKSPACE)
    assert _answer(other) != _answer(bulk)
    # The realistic mix is there: successes, 429s with Retry-After, 401s, 5xx, gateway-answered 503s.
    codes = {row["BackendResponseCode"] for row in rows}
    assert {200, 401, 429} <= codes
    assert all(row["BackendResponseHeaders"]["Retry-After"].isdigit() for row in rows
               if row["BackendResponseCode"] == 429)


def test_bulk_rows_go_to_their_workspace_only() -> None:
    logs = LogsState(TwinConfig())
    logs.append_select("SELECT TIMESTAMP '2026-12-01 10:00:00' AS TimeGenerated, 'a' AS BackendId", None, WORKSPACE)
    logs.append_select("SELECT TIMESTAMP '2026-12-01 10:00:01' AS TimeGenerated, 'b' AS BackendId")
    mine = logs.query("ApiManagementGatewayLogs | project BackendId, Type", workspace_id=WORKSPACE)
    assert mine["tables"][0]["rows"] == [["a", "ApiManagementGatewayLogs"]]
    other = "00000000-0000-4000-8000-0000000000aa"  # no rows of its own: the default workspace answers it
    default = logs.query("ApiManagementGatewayLogs | project BackendId", workspace_id=other)
    assert default["tables"][0]["rows"] == [["b"]]


@pytest.mark.parametrize(
    ("select", "message"),
    [
        ("SELECT TIMESTAMP '2026-12-01 10:00:00' AS TimeGenerated, 1 AS NoSuchColumn", "NoSuchColumn"),
        ("SELECT 'a' AS BackendId", "TimeGenerated"),
        ("SELECT TIMESTAMP '2026-12-01 10:00:00' AS TimeGenerated, 'x' AS BackendResponseCode", "do not fit"),
        ("SELECT * FROM (VALUES (TIMESTAMP '2026-12-01 10:00:00'), (NULL)) AS t(TimeGenerated)", "TimeGenerated"),
        ("SELECT FROM nowhere", "does not run"),
    ],
)
def test_a_bulk_batch_that_does_not_fit_adds_nothing(select: str, message: str) -> None:
    logs = LogsState(TwinConfig())
    with pytest.raises(ValueError, match=message):
        logs.append_select(select, None, WORKSPACE)
    assert logs.row_count == 0 and logs.workspace_rows() == {}
