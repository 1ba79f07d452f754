"""The twin's Log Analytics against Microsoft's published payloads (tests/unit/data, copied from ../shared/fixtures):
- twin/log_analytics/schema.py is the ApiManagementGatewayLogs table reference (ApiManagementGatewayLogs_schema.json);
- the twin answers in the shape of the operationalinsights v1 example (loganalytics_v1_oms-post-example.json);
- breakerpanel.azure.logs_rows reads that example's body as published: long/real/bool cells as strings, a null cell.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.monitor.query import LogsQueryError, LogsQueryPartialResult, LogsQueryResult
from azure.monitor.query._utils.model_base import _deserialize
from azure.monitor.query.models._models import QueryResults

from breakerpanel.azure.logs_rows import LogsRowError, PartialLogsResultError, rows_from_result, rows_from_table
from twin.log_analytics.schema import COLUMNS

# Same location tests/conftest.py reads the fixtures from.
FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "data"


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def _oms_example_body() -> dict[str, Any]:
    return _fixture("loganalytics_v1_oms-post-example.json")["responses"]["200"]["body"]


def test_schema_module_equals_the_table_reference():
    published = _fixture("ApiManagementGatewayLogs_schema.json")
    assert published["table"] == "ApiManagementGatewayLogs"
    assert [(c["name"], c["type"]) for c in published["columns"]] == list(COLUMNS)
    assert len(COLUMNS) == 59


def _shape(value: Any) -> Any:
    """Keys, nesting and JSON types, without the values."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def test_twin_answer_has_the_published_shape(twin, twin_server):
    twin.logs.append_rows(
        [{"TimeGenerated": "2024-05-01T10:00:00Z", "BackendId": "aoai-eastus", "Region": "East US"}]
    )
    reply = requests.post(
        f"{twin_server.url}/v1/workspaces/63613592-b6f7-4c3d-a390-22ba13102111/query",
        json={"query": "ApiManagementGatewayLogs | project Region, BackendId, TimeGenerated", "timespan": None},
        headers={"Authorization": "Bearer t"},
        verify=str(twin_server.ca_path),
        timeout=10,
    )
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json()
    published = _oms_example_body()
    # Same keys and nesting, table by table; string cells are strings in both.
    assert _shape(body)["tables"][0].keys() == _shape(published)["tables"][0].keys()
    assert _shape(body["tables"][0]["columns"]) == _shape(published["tables"][0]["columns"])
    assert body["tables"][0]["name"] == published["tables"][0]["name"] == "PrimaryResult"
    assert body["tables"][0]["rows"] == [["East US", "aoai-eastus", "2024-05-01T10:00:00Z"]]
    # datetime cells written like the example's: "2017-08-24T06:59:59Z".
    published_time = published["tables"][0]["rows"][0][2]
    assert len(body["tables"][0]["rows"][0][2]) == len(published_time) and published_time.endswith("Z")


def test_logs_rows_reads_the_published_body_through_the_sdk_model():
    body = _oms_example_body()
    # The SDK's own path: the generated model deserializes the JSON, then LogsQueryResult wraps it.
    generated = _deserialize(QueryResults, body)
    result = LogsQueryResult._from_generated(generated)
    rows = rows_from_result(result)

    assert len(rows) == len(body["tables"][0]["rows"]) == 2
    first = rows[0]
    assert first["Computer"] == "ContosoSQLSrv1"
    assert first["TimeGenerated"] == datetime(2017, 8, 24, 6, 59, 59, tzinfo=UTC)
    assert first["BatchesWithinSla"] == 1 and type(first["BatchesWithinSla"]) is int  # published as "1"
    assert first["AvgLatencyInSeconds"] == pytest.approx(1.286)  # published as "1.286"
    assert first["IsBillable"] is True  # published as "true"
    assert first["LinkedResourceUri"] is None  # published as null
    assert rows[1]["Quantity"] == pytest.approx(0.106767)
    assert list(first) == [c["name"] for c in body["tables"][0]["columns"]]


class _Table:
    """A LogsTable-shaped value, for cells the published example does not carry."""

    def __init__(self, columns: list[tuple[str, str]], rows: list[list[Any]]) -> None:
        self.columns = [name for name, _ in columns]
        self.columns_types = [kind for _, kind in columns]
        self.rows = rows


def test_logs_rows_reads_every_log_analytics_type():
    table = _Table(
        [("s", "string"), ("i", "int"), ("l", "long"), ("r", "real"), ("b", "bool"), ("d", "datetime"),
         ("t", "timespan"), ("g", "guid"), ("dy", "dynamic"), ("n", "real")],
        [
            ["x", 7, "9007199254740993", "NaN", False, "2024-05-01T10:00:00.1234567Z", "1.02:03:04.5000000",
             "00000000-0000-0000-0000-000000000001", '{"a":[1,2]}', None],
            [None, None, None, 2, "false", None, "None", "None", "plain text", "-Infinity"],
        ],
    )
    first, second = rows_from_table(table)
    assert first["i"] == 7 and first["l"] == 9007199254740993
    assert first["r"] != first["r"]  # NaN
    assert first["d"] == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert first["t"] == timedelta(days=1, hours=2, minutes=3, seconds=4, milliseconds=500)
    assert first["dy"] == {"a": [1, 2]} and first["n"] is None
    # The SDK turns a null guid/timespan cell into the text "None": read back as null.
    assert second["t"] is None and second["g"] is None
    assert second["b"] is False and second["r"] == 2.0 and second["dy"] == "plain text"
    assert second["n"] == float("-inf")


def test_logs_rows_names_the_cell_it_cannot_read():
    table = _Table([("TimeGenerated", "datetime"), ("requests", "long")], [[None, "12"], [None, "twelve"]])
    with pytest.raises(LogsRowError, match=r"row 1, column 'requests' \(long\): 'twelve'"):
        rows_from_table(table)


def test_gateway_query_cells_as_published_reach_the_bins_typed():
    # The one parser: long cells written as text (as the published example writes them) are read by logs_rows,
    # and the watchdog's bins take them from there.
    from breakerpanel.core.watch.bins import bins_from_rows

    columns = [("Resource", "string"), ("Backend", "string"), ("Bin", "datetime"), ("Requests", "long"),
               ("Successes", "long"), ("Counted", "long"), ("Ignored", "long"), ("Throttled", "long"),
               ("MaxRetryAfter", "long"), ("GatewayOnly", "long"), ("LastSuccess", "datetime")]
    table = _Table(columns, [["/subscriptions/s/x", "east", "2026-12-03T11:00:00.0000000Z", "12", "10", "2", "0",
                              "2", "30", "0", None]])
    (item,) = bins_from_rows(rows_from_table(table))
    assert (item.requests, item.successes, item.counted, item.throttled, item.max_retry_after) == (12, 10, 2, 2, 30)
    assert item.start == datetime(2026, 12, 3, 11, 0, tzinfo=UTC) and item.last_success is None


def test_partial_result_is_refused_unless_allowed():
    """Log Analytics answers 200 with tables plus error.code "PartialError" (shape from
    Azure/azure-sdk-for-python#25137); the twin never produces one, so the SDK model is built directly."""
    body = _oms_example_body() | {
        "error": {
            "code": "PartialError",
            "message": "There were some errors when processing your query.",
            "details": [
                {"code": "EngineError", "message": "Something went wrong processing your query on the server."}
            ],
        }
    }
    partial = LogsQueryPartialResult._from_generated(_deserialize(QueryResults, body), LogsQueryError)
    with pytest.raises(PartialLogsResultError, match="PartialError"):
        rows_from_result(partial)
    assert len(rows_from_result(partial, allow_partial=True)) == 2
