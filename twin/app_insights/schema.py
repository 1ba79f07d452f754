"""The two shapes one custom event has in Azure Monitor, with their Kusto types.

`customEvents`: the Application Insights (classic) schema a component's Logs, its alert rules and workbooks
query (learn.microsoft.com/azure/azure-monitor/app/data-model-complete, "customEvents"). `AppEvents`: the
same event in the Log Analytics workspace of a workspace-based component
(learn.microsoft.com/azure/azure-monitor/reference/tables/appevents). The Kusto language-service check in
tests/alerts uses these definitions too, so a query naming a column not listed here fails there as in Azure.
"""

from __future__ import annotations

CUSTOM_EVENTS = "customEvents"
APP_EVENTS = "AppEvents"

CUSTOM_EVENTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("timestamp", "datetime"), ("name", "string"), ("itemType", "string"), ("customDimensions", "dynamic"),
    ("customMeasurements", "dynamic"), ("operation_Name", "string"), ("operation_Id", "string"),
    ("operation_ParentId", "string"), ("operation_SyntheticSource", "string"), ("session_Id", "string"),
    ("user_Id", "string"), ("user_AuthenticatedId", "string"), ("user_AccountId", "string"),
    ("application_Version", "string"), ("client_Type", "string"), ("client_Model", "string"),
    ("client_OS", "string"), ("client_IP", "string"), ("client_City", "string"),
    ("client_StateOrProvince", "string"), ("client_CountryOrRegion", "string"), ("client_Browser", "string"),
    ("cloud_RoleName", "string"), ("cloud_RoleInstance", "string"), ("appId", "string"), ("appName", "string"),
    ("iKey", "string"), ("sdkVersion", "string"), ("itemId", "string"), ("itemCount", "int"),
    ("_ResourceId", "string"),
)

APP_EVENTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("TenantId", "string"), ("TimeGenerated", "datetime"), ("Name", "string"), ("Properties", "dynamic"),
    ("Measurements", "dynamic"), ("OperationName", "string"), ("OperationId", "string"), ("ParentId", "string"),
    ("SyntheticSource", "string"), ("SessionId", "string"), ("UserId", "string"),
    ("UserAuthenticatedId", "string"), ("UserAccountId", "string"), ("AppVersion", "string"),
    ("AppRoleName", "string"), ("AppRoleInstance", "string"), ("ClientType", "string"),
    ("ClientModel", "string"), ("ClientOS", "string"), ("ClientIP", "string"), ("ClientCity", "string"),
    ("ClientStateOrProvince", "string"), ("ClientCountryOrRegion", "string"), ("ClientBrowser", "string"),
    ("ResourceGUID", "string"), ("IKey", "string"), ("SDKVersion", "string"), ("ItemCount", "int"),
    ("SourceSystem", "string"), ("Type", "string"), ("_ResourceId", "string"),
)

TABLES: dict[str, tuple[tuple[tuple[str, str], ...], str]] = {
    CUSTOM_EVENTS: (CUSTOM_EVENTS_COLUMNS, "timestamp"),
    APP_EVENTS: (APP_EVENTS_COLUMNS, "TimeGenerated"),
}

DUCKDB_TYPES = {"string": "VARCHAR", "datetime": "TIMESTAMP", "dynamic": "JSON", "int": "INTEGER",
                "long": "BIGINT", "real": "DOUBLE", "bool": "BOOLEAN"}
