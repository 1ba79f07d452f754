"""The ApiManagementGatewayLogs table as Log Analytics defines it: 59 columns, each with its Kusto type.

Source: MicrosoftDocs/azure-monitor-docs articles/azure-monitor/reference/tables/apimanagementgatewaylogs.md
(learn.microsoft.com/azure/azure-monitor/reference/tables/apimanagementgatewaylogs), as captured in the
project's ../shared/fixtures/ApiManagementGatewayLogs_schema.json. Copied here, not read from the fixture,
so the twin does not depend on ../shared at runtime; tests/twin/test_logs_fixture_shapes.py checks the two
stay equal. Order is the table reference's (alphabetical, ignoring a leading underscore).
"""

from __future__ import annotations

TABLE = "ApiManagementGatewayLogs"

COLUMNS: tuple[tuple[str, str], ...] = (
    ("ApiId", "string"),
    ("ApimSubscriptionId", "string"),
    ("ApiRevision", "string"),
    ("BackendId", "string"),
    ("BackendMethod", "string"),
    ("BackendProtocol", "string"),
    ("BackendRequestBody", "string"),
    ("BackendRequestHeaders", "dynamic"),
    ("BackendResponseBody", "string"),
    ("BackendResponseCode", "int"),
    ("BackendResponseHeaders", "dynamic"),
    ("BackendTime", "long"),
    ("BackendUrl", "string"),
    ("_BilledSize", "real"),
    ("Cache", "string"),
    ("CacheTime", "long"),
    ("CallerIpAddress", "string"),
    ("Category", "string"),
    ("ClientProtocol", "string"),
    ("ClientTime", "long"),
    ("ClientTlsVersion", "string"),
    ("CorrelationId", "string"),
    ("Errors", "dynamic"),
    ("_IsBillable", "string"),
    ("IsMasterTrace", "bool"),
    ("IsRequestSuccess", "bool"),
    ("IsTraceAllowed", "bool"),
    ("IsTraceExpired", "bool"),
    ("IsTraceRequested", "bool"),
    ("LastErrorElapsed", "long"),
    ("LastErrorMessage", "string"),
    ("LastErrorReason", "string"),
    ("LastErrorScope", "string"),
    ("LastErrorSection", "string"),
    ("LastErrorSource", "string"),
    ("Method", "string"),
    ("OperationId", "string"),
    ("OperationName", "string"),
    ("ProductId", "string"),
    ("Region", "string"),
    ("RequestBody", "string"),
    ("RequestHeaders", "dynamic"),
    ("RequestSize", "int"),
    ("_ResourceId", "string"),
    ("ResponseBody", "string"),
    ("ResponseCode", "int"),
    ("ResponseHeaders", "dynamic"),
    ("ResponseSize", "int"),
    ("SourceSystem", "string"),
    ("_SubscriptionId", "string"),
    ("TenantId", "string"),
    ("TimeGenerated", "datetime"),
    ("Timestamp", "datetime"),
    ("TotalTime", "long"),
    ("TraceRecords", "dynamic"),
    ("Type", "string"),
    ("Url", "string"),
    ("UserId", "string"),
    ("WorkspaceId", "string"),
)

COLUMN_TYPES: dict[str, str] = dict(COLUMNS)

# The Kusto scalar types and the DuckDB type each is stored as. `int` is 32-bit and `long` 64-bit in Kusto;
# datetimes are UTC, stored naive (the connection runs with TimeZone=UTC, as duckdb-kql requires).
DUCKDB_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "long": "BIGINT",
    "real": "DOUBLE",
    "bool": "BOOLEAN",
    "datetime": "TIMESTAMP",
    "dynamic": "JSON",
    "guid": "UUID",
    "timespan": "INTERVAL",
}
