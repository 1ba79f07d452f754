"""The workbook's workspace picker lists workspaces: a type-5 resource parameter filled by a Resource Graph query
(queryType 1 over microsoft.resourcegraph/resources), run here by a real KQL engine over a small `resources`
table — without the query the Portal's dropdown can be empty."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb_kql

WORKBOOK = Path(__file__).resolve().parents[2] / "infra" / "app" / "workbook.json"


def workspace_parameter() -> dict[str, Any]:
    workbook = json.loads(WORKBOOK.read_text())
    [found] = [p for item in workbook["items"] if item.get("type") == 9
               for p in item["content"]["parameters"] if p["name"] == "Workspace"]
    return found


def test_the_workspace_parameter_is_a_resource_graph_picker_over_every_subscription() -> None:
    parameter = workspace_parameter()
    assert parameter["type"] == 5 and parameter["isRequired"] is True
    assert parameter["queryType"] == 1 and parameter["resourceType"] == "microsoft.resourcegraph/resources"
    assert parameter["crossComponentResources"] == ["value::all"]
    assert parameter["typeSettings"]["resourceTypeFilter"] == {"microsoft.operationalinsights/workspaces": True}


def test_its_query_lists_the_workspaces_and_nothing_else() -> None:
    con = duckdb_kql.connect()
    con.execute("create table resources (id varchar, name varchar, type varchar, resourceGroup varchar)")
    # Resource Graph returns types in any case (lower case in `resources`, as ARM spelled them elsewhere).
    con.execute("insert into resources values "
                "('/subscriptions/s/resourceGroups/rg-b/providers/Microsoft.OperationalInsights/workspaces/logs-b',"
                " 'logs-b', 'microsoft.operationalinsights/workspaces', 'rg-b'),"
                "('/subscriptions/s/resourceGroups/rg-a/providers/Microsoft.OperationalInsights/workspaces/logs-a',"
                " 'logs-a', 'Microsoft.OperationalInsights/workspaces', 'rg-a'),"
                "('/subscriptions/s/resourceGroups/rg-a/providers/Microsoft.ApiManagement/service/apim',"
                " 'apim', 'microsoft.apimanagement/service', 'rg-a')")
    rows = duckdb_kql.kql(con, workspace_parameter()["query"]).fetchall()
    assert [(row[1], row[2]) for row in rows] == [("logs-a", "rg-a"), ("logs-b", "rg-b")]
    assert all(row[0].endswith(f"/workspaces/{row[1]}") for row in rows)
