"""The twin's Log Analytics: seeded ApiManagementGatewayLogs rows queried with KQL through the real
LogsQueryClient over HTTPS, read back through breakerpanel.azure.logs_rows.

Every expected figure is computed in the test from the rows it seeds, not copied from an answer.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.monitor.query import LogsQueryStatus

from breakerpanel.azure.logs_rows import rows_from_result
from twin.app import TwinConfig
from twin.log_analytics.state import LogsState
from twin.log_analytics.timespan import TimespanError, parse_timespan

WORKSPACE = "63613592-b6f7-4c3d-a390-22ba13102111"
T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)

WATCHDOG_KQL = """ApiManagementGatewayLogs
| summarize requests=count(),
            failures=countif(BackendResponseCode >= 500 or BackendResponseCode == 429),
            throttled=countif(BackendResponseCode == 429),
            lastSeen=max(TimeGenerated)
  by BackendId, bin(TimeGenerated, 1m)
| order by BackendId asc, TimeGenerated asc"""


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _traffic() -> list[dict[str, Any]]:
    """Three backends over four minutes: healthy, throttled (429) and failing (5xx), mixed with 200s."""
    plan = [
        # (seconds after T0, backend, backend status, backend time ms)
        (5, "aoai-eastus", 200, 120),
        (20, "aoai-eastus", 200, 80),
        (50, "aoai-westus", 429, 3),
        (65, "aoai-westus", 429, 4),
        (70, "aoai-westus", 200, 150),
        (90, "aoai-swedencentral", 503, 30),
        (100, "aoai-swedencentral", 500, 31),
        (130, "aoai-eastus", 200, 95),
        (170, "aoai-swedencentral", 502, 29),
        (200, "aoai-westus", 429, 2),
        (230, "aoai-eastus", 200, 101),
    ]
    return [
        {
            "TimeGenerated": _iso(T0 + timedelta(seconds=offset)),
            "BackendId": backend,
            "BackendResponseCode": status,
            "ResponseCode": status,
            "BackendTime": backend_ms,
            "IsRequestSuccess": status < 400,
            "RequestHeaders": {"x-request-id": f"req-{offset}"},
            "Region": "East US",
        }
        for offset, backend, status, backend_ms in plan
    ]


def _minute(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(second=0, microsecond=0)


@pytest.fixture
def seeded(twin: Any, twin_server: Any) -> list[dict[str, Any]]:
    """The twin holding `_traffic()` rows, its clock pinned at NOW; seeded and pinned over the control API."""
    rows = _traffic()
    verify = str(twin_server.ca_path)
    added = requests.post(f"{twin_server.url}/_twin/logs/rows", json={"rows": rows}, verify=verify, timeout=10)
    assert added.status_code == 200 and added.json() == {"added": len(rows)}
    clock = requests.put(f"{twin_server.url}/_twin/logs/clock", json={"now": _iso(NOW)}, verify=verify, timeout=10)
    assert clock.status_code == 200 and clock.json()["pinned"] is True
    return rows


def _query(logs: Any, kql: str, timespan: Any = None) -> list[dict[str, Any]]:
    result = logs.query_workspace(WORKSPACE, kql, timespan=timespan)
    assert result.status == LogsQueryStatus.SUCCESS
    return rows_from_result(result)


# --- the watchdog's aggregation -------------------------------------------------------------------------


def test_watchdog_summarize_per_backend_and_minute(logs, seeded):
    got = _query(logs, WATCHDOG_KQL)

    expected: dict[tuple[str, datetime], dict[str, Any]] = {}
    for row in seeded:
        key = (row["BackendId"], _minute(row["TimeGenerated"]))
        slot = expected.setdefault(key, {"requests": 0, "failures": 0, "throttled": 0, "lastSeen": None})
        code = row["BackendResponseCode"]
        slot["requests"] += 1
        slot["failures"] += int(code >= 500 or code == 429)
        slot["throttled"] += int(code == 429)
        seen = datetime.fromisoformat(row["TimeGenerated"].replace("Z", "+00:00"))
        slot["lastSeen"] = max(filter(None, [slot["lastSeen"], seen]))

    assert [(r["BackendId"], r["TimeGenerated"]) for r in got] == sorted(expected)
    for r in got:
        want = expected[(r["BackendId"], r["TimeGenerated"])]
        assert {k: r[k] for k in want} == want
        assert type(r["requests"]) is int and isinstance(r["lastSeen"], datetime)
        assert r["TimeGenerated"].tzinfo == UTC
    westus_failures = sum(r["failures"] for r in got if r["BackendId"] == "aoai-westus")
    assert westus_failures == 3


def test_watchdog_query_bounded_by_timespan(logs, seeded):
    """timespan=2 minutes ending at the pinned clock keeps rows from NOW-2m .. NOW only."""
    got = _query(logs, WATCHDOG_KQL, timespan=timedelta(minutes=2))
    start = NOW - timedelta(minutes=2)
    inside = [r for r in seeded if datetime.fromisoformat(r["TimeGenerated"].replace("Z", "+00:00")) >= start]
    assert sum(r["requests"] for r in got) == len(inside)
    assert all(r["TimeGenerated"] >= _minute(_iso(start)) for r in got)


# --- one test per KQL construct -------------------------------------------------------------------------


def test_where_project_extend(logs, seeded):
    got = _query(
        logs,
        "ApiManagementGatewayLogs | where BackendResponseCode == 429 "
        "| extend slowMs = BackendTime * 10 | project TimeGenerated, BackendId, slowMs, IsRequestSuccess",
    )
    throttled = [r for r in seeded if r["BackendResponseCode"] == 429]
    assert len(got) == len(throttled)
    assert list(got[0]) == ["TimeGenerated", "BackendId", "slowMs", "IsRequestSuccess"]
    assert sorted(r["slowMs"] for r in got) == sorted(r["BackendTime"] * 10 for r in throttled)
    assert all(r["IsRequestSuccess"] is False and r["BackendId"] == "aoai-westus" for r in got)


def test_arg_max_latest_row_per_backend(logs, seeded):
    got = _query(
        logs,
        "ApiManagementGatewayLogs | summarize arg_max(TimeGenerated, BackendResponseCode) by BackendId "
        "| order by BackendId asc",
    )
    latest: dict[str, dict[str, Any]] = {}
    for row in seeded:
        if row["BackendId"] not in latest or row["TimeGenerated"] > latest[row["BackendId"]]["TimeGenerated"]:
            latest[row["BackendId"]] = row
    assert [r["BackendId"] for r in got] == sorted(latest)
    for r in got:
        assert r["BackendResponseCode"] == latest[r["BackendId"]]["BackendResponseCode"]
        assert _iso(r["TimeGenerated"]) == latest[r["BackendId"]]["TimeGenerated"]


def test_toscalar_in_let(logs, seeded):
    got = _query(
        logs,
        "let busiest = toscalar(ApiManagementGatewayLogs | summarize n=count() by BackendId "
        "| top 1 by n desc | project BackendId);\n"
        "ApiManagementGatewayLogs | where BackendId == busiest | count",
    )
    counts = Counter(r["BackendId"] for r in seeded)
    assert got == [{"Count": counts.most_common(1)[0][1]}]


def test_order_by_and_take(logs, seeded):
    got = _query(logs, "ApiManagementGatewayLogs | order by TimeGenerated desc | take 3 | project TimeGenerated")
    newest = sorted((r["TimeGenerated"] for r in seeded), reverse=True)[:3]
    assert [_iso(r["TimeGenerated"]) for r in got] == newest


def test_distinct(logs, seeded):
    got = _query(logs, "ApiManagementGatewayLogs | distinct BackendId | order by BackendId asc")
    assert [r["BackendId"] for r in got] == sorted({r["BackendId"] for r in seeded})


def test_ago_follows_the_pinned_clock(logs, seeded):
    got = _query(logs, "ApiManagementGatewayLogs | where TimeGenerated > ago(90s) | project TimeGenerated")
    cutoff = NOW - timedelta(seconds=90)
    want = sorted(r["TimeGenerated"] for r in seeded if r["TimeGenerated"] > _iso(cutoff))
    assert want  # the seeded traffic has rows on both sides of the cut-off
    assert sorted(_iso(r["TimeGenerated"]) for r in got) == want


def test_dynamic_column_round_trips_as_json(logs, seeded):
    got = _query(logs, "ApiManagementGatewayLogs | take 1 | project RequestHeaders, Region, Type")
    assert isinstance(got[0]["RequestHeaders"], dict) and got[0]["RequestHeaders"]["x-request-id"].startswith("req-")
    # Log Analytics fills Type with the table's name.
    assert got[0]["Region"] == "East US" and got[0]["Type"] == "ApiManagementGatewayLogs"


# --- the timespan parameter -----------------------------------------------------------------------------


def test_timespan_start_end_and_start_duration(logs, seeded):
    start, end = T0 + timedelta(seconds=60), T0 + timedelta(seconds=120)
    in_window = sum(1 for r in seeded if _iso(start) <= r["TimeGenerated"] <= _iso(end))
    by_end = _query(logs, "ApiManagementGatewayLogs | count", timespan=(start, end))
    by_duration = _query(logs, "ApiManagementGatewayLogs | count", timespan=(start, timedelta(seconds=60)))
    unbounded = _query(logs, "ApiManagementGatewayLogs | count", timespan=None)
    assert by_end == by_duration == [{"Count": in_window}]
    assert unbounded == [{"Count": len(seeded)}]


def test_sdk_request_reaches_the_twin_as_sent(logs, seeded, twin):
    logs.query_workspace(WORKSPACE, "ApiManagementGatewayLogs | take 1", timespan=timedelta(hours=1))
    [call] = twin.captured("logs.query")
    assert call["path"] == f"/v1/workspaces/{WORKSPACE}/query"
    assert call["body"] == {"query": "ApiManagementGatewayLogs | take 1", "timespan": "PT3600.0S", "workspaces": None}


def test_prefer_options_are_accepted(logs, seeded):
    result = logs.query_workspace(
        WORKSPACE, "ApiManagementGatewayLogs | count", timespan=None, server_timeout=30, include_statistics=True
    )
    assert rows_from_result(result) == [{"Count": len(seeded)}]


def test_parse_timespan_forms():
    now = NOW
    assert parse_timespan("PT1H", now) == (now - timedelta(hours=1), now)
    assert parse_timespan("PT3600.0S", now) == (now - timedelta(hours=1), now)
    assert parse_timespan("P1DT30M", now) == (now - timedelta(days=1, minutes=30), now)
    assert parse_timespan("2024-05-01T10:00:00Z/2024-05-01T10:15:00Z", now) == (T0, T0 + timedelta(minutes=15))
    assert parse_timespan("2024-05-01T10:00:00.000Z/PT15M", now) == (T0, T0 + timedelta(minutes=15))
    with pytest.raises(TimespanError, match="'T'"):
        parse_timespan("P1H", now)
    with pytest.raises(TimespanError, match="months"):
        parse_timespan("P1M", now)
    with pytest.raises(TimespanError, match="ends before"):
        parse_timespan("2024-05-01T10:15:00Z/2024-05-01T10:00:00Z", now)


# --- errors ---------------------------------------------------------------------------------------------


def test_syntax_error_is_400_with_the_engine_message(logs, twin):
    with pytest.raises(HttpResponseError) as caught:
        logs.query_workspace(WORKSPACE, "ApiManagementGatewayLogs | wherex", timespan=None)
    assert caught.value.status_code == 400
    assert caught.value.error.code == "BadArgumentError"
    body = caught.value.response.json()["error"]
    assert body["innererror"]["code"] == "SyntaxError" and body["correlationId"]
    # The SDK surfaces the deepest innererror message: the engine's own words with the position.
    assert "mismatched input" in caught.value.model.message
    assert body["innererror"]["innererror"]["line"] == 1


def test_unknown_column_is_a_semantic_400(logs, twin):
    with pytest.raises(HttpResponseError) as caught:
        logs.query_workspace(WORKSPACE, "ApiManagementGatewayLogs | where NoSuchColumn == 1", timespan=None)
    assert caught.value.status_code == 400
    assert caught.value.response.json()["error"]["innererror"]["code"] == "SemanticError"
    assert "NoSuchColumn" in caught.value.model.message


def test_kql_the_engine_cannot_run_is_refused_by_name(logs, twin):
    with pytest.raises(HttpResponseError) as caught:
        logs.query_workspace(
            WORKSPACE,
            "ApiManagementGatewayLogs | make-series n=count() on TimeGenerated step 1m by BackendId",
            timespan=None,
        )
    assert caught.value.status_code == 400
    assert "MakeSeriesOperator" in caught.value.model.message


def test_bad_timespan_is_400(logs, twin, twin_server):
    reply = requests.post(
        f"{twin_server.url}/v1/workspaces/{WORKSPACE}/query",
        json={"query": "ApiManagementGatewayLogs | count", "timespan": "P1H"},
        headers={"Authorization": "Bearer t"},
        verify=str(twin_server.ca_path),
        timeout=10,
    )
    assert reply.status_code == 400
    assert "'T'" in reply.json()["error"]["innererror"]["message"]


def test_throttle_fault_surfaces_as_429(logs, twin, twin_server):
    fault = requests.post(
        f"{twin_server.url}/_twin/faults",
        json={"route": "logs.query", "kind": "throttle", "retryAfter": 7, "count": 1},
        verify=str(twin_server.ca_path),
        timeout=10,
    )
    assert fault.status_code == 201
    with pytest.raises(HttpResponseError) as caught:
        logs.query_workspace(WORKSPACE, "ApiManagementGatewayLogs | count", timespan=None)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "7"
    # count=1: the next call is answered.
    assert rows_from_result(logs.query_workspace(WORKSPACE, "ApiManagementGatewayLogs | count", timespan=None)) == [
        {"Count": 0}
    ]


# --- seeding rows ---------------------------------------------------------------------------------------


def test_append_rows_rejects_unknown_column_naming_row_and_column():
    state = LogsState(TwinConfig())
    good = {"TimeGenerated": "2024-05-01T10:00:00Z", "BackendId": "a"}
    with pytest.raises(ValueError, match=r"row 1: unknown column\(s\) \['backendId'\]"):
        state.append_rows([good, {"TimeGenerated": "2024-05-01T10:00:00Z", "backendId": "a"}])
    assert state.row_count == 0  # all or none


def test_append_rows_checks_value_types():
    state = LogsState(TwinConfig())
    with pytest.raises(ValueError, match=r"row 0: column 'BackendResponseCode' \(int\) cannot hold '503'"):
        state.append_rows([{"TimeGenerated": "2024-05-01T10:00:00Z", "BackendResponseCode": "503"}])
    with pytest.raises(ValueError, match=r"row 0: column 'TimeGenerated' \(datetime\) is required"):
        state.append_rows([{"BackendId": "a"}])
    with pytest.raises(ValueError, match=r"column 'IsRequestSuccess' \(bool\)"):
        state.append_rows([{"TimeGenerated": "2024-05-01T10:00:00Z", "IsRequestSuccess": 1}])
    assert state.append_rows([{"TimeGenerated": T0, "BackendTime": 2**40, "_BilledSize": 3}]) == 1


def test_control_api_refuses_bad_rows_with_the_reason(twin, twin_server):
    reply = requests.post(
        f"{twin_server.url}/_twin/logs/rows",
        json={"rows": [{"TimeGenerated": "yesterday"}]},
        verify=str(twin_server.ca_path),
        timeout=10,
    )
    assert reply.status_code == 400
    assert "row 0: column 'TimeGenerated'" in reply.json()["error"]["message"]


def test_reset_forgets_rows_and_frees_the_clock(twin, seeded):
    assert twin.logs.row_count == len(seeded) and twin.logs.pinned_now == NOW
    twin.reset()
    assert twin.logs.row_count == 0 and twin.logs.pinned_now is None


# --- workspaces, resource-centric queries, ingestion delay ------------------------------------------------

OTHER_WORKSPACE = "0b7e3f6a-9f55-4d0e-8f0c-3f1e2d4c5b6a"
_SERVICES = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-gateway/providers/Microsoft.ApiManagement"  # noqa: E501
APIM_A = _SERVICES + "/service/apim-a"
APIM_B = _SERVICES + "/service/apim-b"


def _post_rows(twin_server: Any, rows: list[dict[str, Any]], workspace: str | None = None) -> None:
    body: dict[str, Any] = {"rows": rows}
    if workspace is not None:
        body["workspaceId"] = workspace
    reply = requests.post(f"{twin_server.url}/_twin/logs/rows", json=body, verify=str(twin_server.ca_path), timeout=10)
    assert reply.status_code == 200, reply.text


def _rows_for(resource_id: str, backend: str, count: int) -> list[dict[str, Any]]:
    return [
        {"TimeGenerated": _iso(T0 + timedelta(seconds=i)), "_ResourceId": resource_id, "BackendId": backend}
        for i in range(count)
    ]




def test_each_workspace_sees_only_its_own_rows(logs, twin, twin_server):
    _post_rows(twin_server, _rows_for(APIM_A, "aoai-a", 3), WORKSPACE)
    _post_rows(twin_server, _rows_for(APIM_B, "aoai-b", 5), OTHER_WORKSPACE.upper())  # ids compare ignoring case
    kql = "ApiManagementGatewayLogs | summarize n=count() by BackendId"
    assert rows_from_result(logs.query_workspace(WORKSPACE, kql, timespan=None)) == [{"BackendId": "aoai-a", "n": 3}]
    assert rows_from_result(logs.query_workspace(OTHER_WORKSPACE, kql, timespan=None)) == [
        {"BackendId": "aoai-b", "n": 5}
    ]
    # A workspace nobody sent rows to answers from the default workspace: empty here.
    third = "11111111-2222-3333-4444-555555555555"
    assert rows_from_result(logs.query_workspace(third, "ApiManagementGatewayLogs | count", timespan=None)) == [
        {"Count": 0}
    ]
    assert twin.logs.workspace_rows() == {WORKSPACE: 3, OTHER_WORKSPACE: 5}


def test_rows_without_a_workspace_answer_every_workspace_without_rows(logs, twin, twin_server):
    _post_rows(twin_server, _rows_for(APIM_A, "aoai-default", 2))
    _post_rows(twin_server, _rows_for(APIM_B, "aoai-own", 1), OTHER_WORKSPACE)
    kql = "ApiManagementGatewayLogs | distinct BackendId"
    assert rows_from_result(logs.query_workspace(WORKSPACE, kql, timespan=None)) == [{"BackendId": "aoai-default"}]
    assert rows_from_result(logs.query_workspace(OTHER_WORKSPACE, kql, timespan=None)) == [{"BackendId": "aoai-own"}]


def test_query_resource_answers_the_rows_of_that_resource_in_any_workspace(logs, twin, twin_server):
    _post_rows(twin_server, _rows_for(APIM_A, "aoai-a", 3), WORKSPACE)
    _post_rows(twin_server, _rows_for(APIM_A.upper(), "aoai-a", 2), OTHER_WORKSPACE)
    _post_rows(twin_server, _rows_for(APIM_B, "aoai-b", 4), OTHER_WORKSPACE)
    result = logs.query_resource(APIM_A.lower(), "ApiManagementGatewayLogs | count", timespan=None)
    assert result.status == LogsQueryStatus.SUCCESS
    assert rows_from_result(result) == [{"Count": 5}]
    [call] = twin.captured("logs.query.resource")
    assert call["path"] == "/v1" + APIM_A.lower() + "/query"
    assert call["body"] == {"query": "ApiManagementGatewayLogs | count", "timespan": None, "workspaces": None}


def test_a_resource_query_silently_leaves_out_a_workspace_the_caller_may_not_read(logs, twin, twin_server):
    """Partial access as documented (learn.microsoft.com/azure/azure-monitor/logs/api/azure-resource-queries
    #partial-access): a normal 200 without the unreadable workspace's rows; `Prefer: include-permissions=true`
    adds `permissions`, whose resource lists every data source and whose top level only the readable ones."""
    from twin.log_analytics.state import workspace_resource_id

    _post_rows(twin_server, _rows_for(APIM_A, "aoai-a", 3), WORKSPACE)
    _post_rows(twin_server, _rows_for(APIM_A, "aoai-a", 2), OTHER_WORKSPACE)
    reply = requests.put(f"{twin_server.url}/_twin/logs/access", json={"hiddenWorkspaces": [OTHER_WORKSPACE.upper()]},
                         verify=str(twin_server.ca_path), timeout=10)
    assert reply.status_code == 200 and reply.json() == {"hiddenWorkspaces": [OTHER_WORKSPACE]}
    result = logs.query_resource(APIM_A, "ApiManagementGatewayLogs | count", timespan=None)
    assert result.status == LogsQueryStatus.SUCCESS and rows_from_result(result) == [{"Count": 3}]
    # The workspace's own query is not narrowed: the twin's RBAC mode decides who may query a workspace.
    assert rows_from_result(logs.query_workspace(OTHER_WORKSPACE, "ApiManagementGatewayLogs | count",
                                                 timespan=None)) == [{"Count": 2}]
    answered: list[Any] = []
    logs.query_resource(
        APIM_A, "ApiManagementGatewayLogs | count", timespan=None,
        raw_request_hook=lambda r: r.http_request.headers.__setitem__("Prefer", "include-permissions=true"),
        raw_response_hook=lambda r: answered.append(r.http_response.json()),
    )
    assert answered[0]["permissions"] == {
        "resources": [{"resourceId": APIM_A,
                       "dataSources": [workspace_resource_id(OTHER_WORKSPACE), workspace_resource_id(WORKSPACE)]}],
        "dataSources": [{"resourceId": workspace_resource_id(WORKSPACE)}],
    }
    twin.reset()
    assert twin.logs.hidden_workspaces == []


def test_a_workspace_without_the_table_refuses_a_query_naming_it_as_log_analytics_does(logs, twin, twin_server):
    """The refusal Log Analytics gives for a table the workspace lacks (BadArgumentError / SemanticError / SEM0100,
    e.g. Azure/azure-quickstart-templates#5174, MicrosoftDocs' api/errors page for the envelope)."""
    _post_rows(twin_server, _rows_for(APIM_A, "aoai-a", 3), WORKSPACE)
    reply = requests.put(f"{twin_server.url}/_twin/logs/tables", json={"workspacesWithoutTable": [WORKSPACE]},
                         verify=str(twin_server.ca_path), timeout=10)
    assert reply.status_code == 200 and reply.json() == {"workspacesWithoutTable": [WORKSPACE]}
    with pytest.raises(HttpResponseError) as refused:
        logs.query_workspace(WORKSPACE, "ApiManagementGatewayLogs\n| where BackendId == 'x' | count", timespan=None)
    assert refused.value.status_code == 400 and refused.value.error.code == "BadArgumentError"
    inner = refused.value.error.innererror
    assert inner["code"] == "SemanticError" and inner["innererror"]["code"] == "SEM0100"
    assert inner["innererror"]["message"] == (
        "'where' operator: Failed to resolve table or column expression named 'ApiManagementGatewayLogs'")
    # Other workspaces are not affected.
    assert rows_from_result(logs.query_workspace(OTHER_WORKSPACE, "ApiManagementGatewayLogs | count",
                                                 timespan=None)) == [{"Count": 0}]
    twin.reset()
    assert twin.logs.workspaces_without_table == []


def test_query_resource_on_a_workspace_id_answers_that_workspaces_rows(logs, twin, twin_server):
    """A workspace named by its resource id is queried in its own context: every row it holds, whatever the
    rows' _ResourceId (the README's "workspace-resource" target kind)."""
    from twin.log_analytics.state import workspace_resource_id

    _post_rows(twin_server, _rows_for(APIM_A, "aoai-a", 3), WORKSPACE)
    _post_rows(twin_server, _rows_for(APIM_B, "aoai-b", 2), WORKSPACE)
    _post_rows(twin_server, _rows_for(APIM_B, "aoai-b", 4), OTHER_WORKSPACE)
    kql = "ApiManagementGatewayLogs | count"
    assert rows_from_result(logs.query_resource(workspace_resource_id(WORKSPACE), kql, timespan=None)) == [
        {"Count": 5}]
    # Named as RBAC mode maps it (customer id -> resource id), as a deployment would name it.
    named = "/subscriptions/s/resourceGroups/rg-logs/providers/Microsoft.OperationalInsights/workspaces/law-eu"
    twin.rbac.workspaces[OTHER_WORKSPACE] = named
    assert rows_from_result(logs.query_resource(named, kql, timespan=None)) == [{"Count": 4}]


def test_a_result_over_the_record_limit_is_a_partial_result(logs, twin, twin_server):
    """200 with the rows cut and error PartialError (its cause in details), which LogsQueryClient returns as a
    LogsQueryPartialResult; the reader refuses it and names the cause."""
    from azure.monitor.query import LogsQueryPartialResult

    from breakerpanel.azure.logs_rows import PartialLogsResultError

    _post_rows(twin_server, _rows_for(APIM_A, "aoai-a", 5), WORKSPACE)
    reply = requests.put(f"{twin_server.url}/_twin/logs/limits", json={"maxRecords": 2},
                         verify=str(twin_server.ca_path), timeout=10)
    assert reply.status_code == 200 and reply.json() == {"maxRecords": 2}
    result = logs.query_workspace(WORKSPACE, "ApiManagementGatewayLogs | project TimeGenerated", timespan=None)
    assert isinstance(result, LogsQueryPartialResult) and result.status == LogsQueryStatus.PARTIAL
    assert result.partial_error.code == "PartialError" and len(result.partial_data[0].rows) == 2
    with pytest.raises(PartialLogsResultError, match="exceeded the internal record count limit 2") as refused:
        rows_from_result(result)
    assert refused.value.code == "PartialError"
    # An aggregate within the limit is whole.
    assert logs.query_workspace(WORKSPACE, "ApiManagementGatewayLogs | count", timespan=None).status == (
        LogsQueryStatus.SUCCESS)
    twin.reset()
    assert twin.logs.max_records == 500_000


def test_ingestion_delay_hides_the_newest_rows(logs, seeded, twin, twin_server):
    verify = str(twin_server.ca_path)
    url = f"{twin_server.url}/_twin/logs/ingestion"
    reply = requests.put(url, json={"delaySeconds": 90}, verify=verify, timeout=10)
    assert reply.status_code == 200 and reply.json() == {"delaySeconds": 90.0}
    got = _query(logs, "ApiManagementGatewayLogs | project TimeGenerated")
    cutoff = NOW - timedelta(seconds=90)
    want = sorted(r["TimeGenerated"] for r in seeded if r["TimeGenerated"] <= _iso(cutoff))
    assert want and len(want) < len(seeded)  # the seeded traffic has rows on both sides of the cut-off
    assert sorted(_iso(r["TimeGenerated"]) for r in got) == want
    # Time passes (the pinned clock moves on): the hidden rows arrive.
    twin.logs.set_now(NOW + timedelta(seconds=90))
    assert _query(logs, "ApiManagementGatewayLogs | count") == [{"Count": len(seeded)}]
    twin.reset()
    assert twin.logs.ingestion_delay == timedelta(0)


def test_ingestion_control_refuses_a_negative_delay(twin, twin_server):
    url = f"{twin_server.url}/_twin/logs/ingestion"
    reply = requests.put(url, json={"delaySeconds": -1}, verify=str(twin_server.ca_path), timeout=10)
    assert reply.status_code == 400
