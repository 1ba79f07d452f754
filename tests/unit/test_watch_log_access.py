"""breakerpanel.core.watch.access: reading the `permissions` section of a resource-centric Log Analytics answer,
in the shape of Microsoft's example (learn.microsoft.com/azure/azure-monitor/logs/api/azure-resource-queries
#partial-access)."""

from __future__ import annotations

from breakerpanel.core.watch.access import left_out

_WS = "/subscriptions/s/resourceGroups/g/providers/Microsoft.OperationalInsights/workspaces/"
VM1 = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/VM1"
VM2 = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/VM2"
# Microsoft's example: VM2 sends to WS2 and WS3, the caller may query WS1 and WS2 only; WS1 denies Tables.Custom.
EXAMPLE = {
    "resources": [
        {"resourceId": VM1, "dataSources": [_WS + "WS1"]},
        {"resourceId": VM2, "denyTables": ["SecurityEvent", "SecurityBaseline"],
         "dataSources": [_WS + "WS2", _WS + "WS3"]},
    ],
    "dataSources": [{"resourceId": _WS + "WS1", "denyTables": ["Tables.Custom"]}, {"resourceId": _WS + "WS2"}],
}


def test_a_workspace_the_caller_may_not_query_is_named() -> None:
    reason = left_out(EXAMPLE, [VM2.upper()], "ApiManagementGatewayLogs")
    assert reason is not None and _WS + "WS3" in reason and "WS2" not in reason.replace("WS3", "")
    # Ids compare as ARM compares them: ignoring case and a trailing slash.
    spelled = {**EXAMPLE, "dataSources": [{"resourceId": (_WS + "WS2/").upper()}, {"resourceId": _WS + "ws3"}]}
    assert left_out(spelled, [VM2 + "/"], "ApiManagementGatewayLogs") is None


def test_denied_tables_count_only_for_the_table_read() -> None:
    assert left_out(EXAMPLE, [VM1], "ApiManagementGatewayLogs") is None
    assert "Tables.Custom" in (left_out(EXAMPLE, [VM1], "Tables.Custom") or "")
    # Table names compare ignoring case; VM2's own denial is reported even with every workspace readable.
    readable = {**EXAMPLE, "dataSources": [{"resourceId": _WS + "WS2"}, {"resourceId": _WS + "WS3"}]}
    assert "securityevent of" in (left_out(readable, [VM2], "securityevent") or "")
    assert left_out(readable, [VM2], "ApiManagementGatewayLogs") is None


def test_no_section_or_another_resource_says_nothing() -> None:
    for permissions in (None, {}, "x", {"resources": "x", "dataSources": None}, {"resources": [None, 3]}):
        assert left_out(permissions, [VM2], "ApiManagementGatewayLogs") is None
    assert left_out(EXAMPLE, ["/subscriptions/s/other"], "ApiManagementGatewayLogs") is None
