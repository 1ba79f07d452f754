"""The twin answers the prerequisite reads in the shapes of the REST specs' own examples (copied into
tests/unit/data with their sources), read through the real SDK clients' pipelines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from azure.core.rest import HttpRequest
from prereq_target import APIM, APIM_ID, GROUP, OPENAI_USER, SUB, WORKSPACE, account_id

from breakerpanel.azure.clients import (
    apim_client,
    authorization_client,
    eventgrid_client,
    monitor_client,
    resources_client,
)
from breakerpanel.settings import Settings

DATA = Path(__file__).resolve().parents[1] / "unit" / "data"


def example(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def shape(value: Any, wildcard_under: str = "") -> Any:
    """Keys all the way down (a map keyed by resource ids collapses to '*'); lists by their first item."""
    if isinstance(value, dict):
        return {("*" if wildcard_under else k): shape(v, "*" if k == "userAssignedIdentities" else "")
                for k, v in value.items() if not k.startswith("x-")}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return "scalar"


def get(client: Any, settings: Settings, path: str, api_version: str) -> Any:
    with client:
        response = client._client.send_request(
            HttpRequest("GET", f"{settings.arm_endpoint}{path}?api-version={api_version}"))
        response.raise_for_status()
        return response.json()


@pytest.fixture
def prepared(twin: Any, settings: Settings) -> Settings:
    twin.apim.create_service(SUB, GROUP, APIM, identity="SystemAssigned, UserAssigned")
    service = twin.apim.service(SUB, GROUP, APIM)
    twin.prerequisites.assign(f"/subscriptions/{SUB}", OPENAI_USER, service.principal_id)
    twin.prerequisites.assign(account_id("aoai-eastus"), OPENAI_USER, service.principal_id)
    twin.arm.resources.put_body(f"/subscriptions/{SUB}/resourceGroups/{GROUP}/providers/Microsoft.EventGrid/"
                                "systemTopics/apim-topic", "Microsoft.EventGrid/systemTopics",
                                {"location": "eastus", "properties": {"source": APIM_ID,
                                                                      "topicType": "Microsoft.ApiManagement.Service"}})
    twin.arm.resources.put_body(f"{APIM_ID}/providers/Microsoft.Insights/diagnosticSettings/mysetting",
                                "Microsoft.Insights/diagnosticSettings",
                                {"properties": {"workspaceId": WORKSPACE, "logs": [{"categoryGroup": "allLogs",
                                                                                    "enabled": True}]}})
    return settings


def test_the_service_get_has_the_examples_sku_and_identity(prepared: Settings) -> None:
    body = get(apim_client(prepared, SUB), prepared, APIM_ID, "2024-05-01")
    published = example("apim_2024-05-01_ApiManagementServiceGetServiceHavingMsi_TRIMMED.json")
    assert shape(body["identity"]) == shape(published["identity"])
    assert shape(body["sku"]) == shape(published["sku"])
    assert {k for k in published if not k.startswith("x-")} - {"tags"} <= set(body)


def test_providers_get_is_the_examples_shape(prepared: Settings) -> None:
    body = get(resources_client(prepared, SUB), prepared, f"/subscriptions/{SUB}/providers/Microsoft.EventGrid",
               "2025-04-01")
    assert set(body) == set(example("resources_2025-04-01_GetProvider.json"))
    assert body["registrationState"] == "Registered"


def test_system_topics_list_is_the_examples_shape(prepared: Settings) -> None:
    body = get(eventgrid_client(prepared, SUB), prepared,
               f"/subscriptions/{SUB}/resourceGroups/{GROUP}/providers/Microsoft.EventGrid/systemTopics", "2025-02-15")
    assert shape(body) == shape(example("eventgrid_2025-02-15_SystemTopics_ListByResourceGroup.json"))


def test_diagnostic_settings_list_is_the_examples_shape(prepared: Settings) -> None:
    body = get(monitor_client(prepared, SUB), prepared, f"{APIM_ID}/providers/Microsoft.Insights/diagnosticSettings",
               "2021-05-01-preview")
    published = example("monitor_2021-05-01-preview_listDiagnosticSettings.json")
    [item], [expected] = body["value"], published["value"]
    assert set(item) == set(expected)
    assert set(item["properties"]) <= set(expected["properties"])
    assert shape(item["properties"]["logs"][0]) == {"categoryGroup": "scalar", "enabled": "scalar"}


def test_role_assignments_list_is_the_examples_shape(prepared: Settings) -> None:
    service_principal = "principalId eq '{}'"
    with authorization_client(prepared, SUB) as client:
        principal = get(apim_client(prepared, SUB), prepared, APIM_ID, "2024-05-01")["identity"]["principalId"]
        response = client._client.send_request(HttpRequest(
            "GET", f"{prepared.arm_endpoint}/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments",
            params={"api-version": "2022-04-01", "$filter": service_principal.format(principal)}))
        body = response.json()
    published = example("authorization_2022-04-01_RoleAssignments_ListForResourceGroup.json")
    assert shape(body) == shape(published)
    assert [a["properties"]["scope"] for a in body["value"]] == [f"/subscriptions/{SUB}", account_id("aoai-eastus")]
