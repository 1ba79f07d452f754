"""APIM backends, APIs and policies in the twin, driven by the real ApiManagementClient over HTTPS."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.apimanagement import ApiManagementClient
from azure.mgmt.apimanagement.models import (
    ApiCreateOrUpdateParameter,
    BackendCircuitBreaker,
    BackendContract,
    BackendPool,
    BackendPoolItem,
    BackendUpdateParameters,
    CircuitBreakerFailureCondition,
    CircuitBreakerRule,
    FailureStatusCodeRange,
    PolicyContract,
)

from breakerpanel.azure.clients import apim_client
from breakerpanel.settings import load_settings
from tests.twin_instance import APIM, APIM_ID, RESOURCE_GROUP, SUBSCRIPTION

pytestmark = pytest.mark.twin

# Copied from tests/conftest.py (it is not importable).
SERVICE_PATH = APIM_ID


def create_service(base_url: str, ca_path: str, name: str = APIM, sku: str = "Developer") -> requests.Response:
    return requests.post(
        f"{base_url}/_twin/apim/services",
        json={"subscriptionId": SUBSCRIPTION, "resourceGroup": RESOURCE_GROUP, "name": name, "sku": sku},
        verify=ca_path,
        timeout=10,
    )


@pytest.fixture
def service(twin: Any, twin_server: Any) -> str:
    answer = create_service(twin_server.url, str(twin_server.ca_path))
    assert answer.status_code == 201, answer.text
    return APIM


def with_status(pipeline_response: Any, deserialized: Any, headers: Any) -> tuple[int, Any, Any]:
    """`cls=` hook of the SDK: keep the HTTP status and headers beside the model."""
    return pipeline_response.http_response.status_code, deserialized, headers


def breaker_rule() -> CircuitBreakerRule:
    return CircuitBreakerRule(
        name="openai-breaker",
        failure_condition=CircuitBreakerFailureCondition(
            count=3,
            interval=dt.timedelta(minutes=1),
            status_code_ranges=[FailureStatusCodeRange(min=429, max=429), FailureStatusCodeRange(min=500, max=599)],
            error_reasons=["Server errors"],
        ),
        trip_duration=dt.timedelta(minutes=1),
        accept_retry_after=True,
    )


def single(url: str, *, breaker: bool = True) -> BackendContract:
    return BackendContract(
        title="Azure OpenAI",
        description="an Azure OpenAI endpoint",
        url=url,
        protocol="http",
        type_properties_type="Single",
        circuit_breaker=BackendCircuitBreaker(rules=[breaker_rule()]) if breaker else None,
    )


def test_single_backend_with_breaker_reads_back_field_for_field(apim: ApiManagementClient, service: str) -> None:
    status, created, headers = apim.backend.create_or_update(
        RESOURCE_GROUP, service, "aoai-eastus", single("https://aoai-eastus.openai.azure.com/openai"), cls=with_status
    )
    assert status == 201
    assert headers["ETag"]

    got = apim.backend.get(RESOURCE_GROUP, service, "aoai-eastus")
    assert got.id == f"{SERVICE_PATH}/backends/aoai-eastus"
    assert got.name == "aoai-eastus"
    assert got.type == "Microsoft.ApiManagement/service/backends"
    assert got.type_properties_type == "Single"
    assert got.url == "https://aoai-eastus.openai.azure.com/openai"
    assert got.protocol == "http"
    assert got.title == "Azure OpenAI"
    assert got.description == "an Azure OpenAI endpoint"
    (rule,) = got.circuit_breaker.rules
    assert rule.name == "openai-breaker"
    assert rule.failure_condition.count == 3
    assert rule.failure_condition.percentage is None
    assert rule.failure_condition.interval == dt.timedelta(minutes=1)
    assert [(r.min, r.max) for r in rule.failure_condition.status_code_ranges] == [(429, 429), (500, 599)]
    assert rule.failure_condition.error_reasons == ["Server errors"]
    assert rule.trip_duration == dt.timedelta(minutes=1)
    assert rule.accept_retry_after is True
    assert got.as_dict() == created.as_dict()


def test_second_put_updates_with_200_and_a_new_etag(apim: ApiManagementClient, service: str) -> None:
    _, _, first = apim.backend.create_or_update(
        RESOURCE_GROUP, service, "b1", single("https://one.example/openai"), cls=with_status
    )
    status, updated, second = apim.backend.create_or_update(
        RESOURCE_GROUP, service, "b1", single("https://two.example/openai", breaker=False), cls=with_status
    )
    assert status == 200
    assert second["ETag"] != first["ETag"]
    assert updated.url == "https://two.example/openai"
    assert apim.backend.get(RESOURCE_GROUP, service, "b1").circuit_breaker is None


def test_if_match_must_name_the_current_version(apim: ApiManagementClient, service: str) -> None:
    _, _, headers = apim.backend.create_or_update(
        RESOURCE_GROUP, service, "b1", single("https://one.example/"), cls=with_status
    )
    with pytest.raises(HttpResponseError) as stale:
        apim.backend.create_or_update(
            RESOURCE_GROUP, service, "b1", single("https://two.example/"), if_match='"AAAAAAAAAAA="'
        )
    assert stale.value.status_code == 412
    assert stale.value.error.code == "PreconditionFailed"
    updated = apim.backend.create_or_update(
        RESOURCE_GROUP, service, "b1", single("https://two.example/"), if_match=headers["ETag"]
    )
    assert updated.url == "https://two.example/"


def test_entity_tag_is_served_by_head(apim: ApiManagementClient, service: str) -> None:
    apim.backend.create_or_update(RESOURCE_GROUP, service, "b1", single("https://one.example/"))
    _, _, get_headers = apim.backend.get(RESOURCE_GROUP, service, "b1", cls=with_status)
    _, _, head_headers = apim.backend.get_entity_tag(RESOURCE_GROUP, service, "b1", cls=with_status)
    assert head_headers["ETag"] == get_headers["ETag"]
    assert apim.backend.get_entity_tag(RESOURCE_GROUP, service, "b1") is True
    with pytest.raises(ResourceNotFoundError):
        apim.backend.get_entity_tag(RESOURCE_GROUP, service, "absent")


def test_pool_of_two_backends_with_breakers(apim: ApiManagementClient, service: str) -> None:
    for name in ("aoai-eastus", "aoai-westus"):
        apim.backend.create_or_update(RESOURCE_GROUP, service, name, single(f"https://{name}.openai.azure.com/openai"))
    pool = BackendContract(
        description="Azure OpenAI pool",
        type_properties_type="Pool",
        pool=BackendPool(
            services=[
                BackendPoolItem(id=f"{SERVICE_PATH}/backends/aoai-eastus", priority=1, weight=50),
                BackendPoolItem(id="/backends/aoai-westus", priority=2, weight=50),
            ]
        ),
    )
    status, _, _ = apim.backend.create_or_update(RESOURCE_GROUP, service, "aoai-pool", pool, cls=with_status)
    assert status == 201

    got = apim.backend.get(RESOURCE_GROUP, service, "aoai-pool")
    assert got.type_properties_type == "Pool"
    assert got.url is None
    assert got.protocol is None
    assert got.description == "Azure OpenAI pool"
    assert [(m.id, m.priority, m.weight) for m in got.pool.services] == [
        (f"{SERVICE_PATH}/backends/aoai-eastus", 1, 50),
        ("/backends/aoai-westus", 2, 50),
    ]
    member = apim.backend.get(RESOURCE_GROUP, service, "aoai-westus")
    assert member.circuit_breaker.rules[0].failure_condition.count == 3


def test_ids_and_paths_are_case_insensitive(apim: ApiManagementClient, service: str, twin_server: Any) -> None:
    apim.backend.create_or_update(RESOURCE_GROUP, service, "Aoai-EastUS", single("https://one.example/"))
    got = apim.backend.get(RESOURCE_GROUP.upper(), service.upper(), "aoai-eastus")
    assert got.name == "Aoai-EastUS"  # the first spelling is kept
    answer = requests.get(
        f"{twin_server.url}{SERVICE_PATH.lower()}/backends/AOAI-EASTUS?api-version=2024-05-01",
        headers={"Authorization": "Bearer twin-token"},
        verify=str(twin_server.ca_path),
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.json()["name"] == "Aoai-EastUS"


def test_missing_backend_is_404_resource_not_found(apim: ApiManagementClient, service: str) -> None:
    with pytest.raises(ResourceNotFoundError) as missing:
        apim.backend.get(RESOURCE_GROUP, service, "absent")
    assert missing.value.status_code == 404
    assert missing.value.error.code == "ResourceNotFound"
    assert missing.value.error.message == "Backend not found."


def test_backends_of_a_missing_service_are_404_like_arm(apim: ApiManagementClient, twin: Any) -> None:
    expected = (
        "The Resource 'Microsoft.ApiManagement/service/apim-nowhere' under resource group 'rg-gateway' was not "
        "found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
    )
    calls = [
        lambda: apim.backend.get(RESOURCE_GROUP, "apim-nowhere", "b1"),
        lambda: list(apim.backend.list_by_service(RESOURCE_GROUP, "apim-nowhere")),
        lambda: apim.backend.create_or_update(RESOURCE_GROUP, "apim-nowhere", "b1", single("https://x.example/")),
        lambda: apim.backend.delete(RESOURCE_GROUP, "apim-nowhere", "b1", if_match="*"),
        lambda: apim.api_management_service.get(RESOURCE_GROUP, "apim-nowhere"),
    ]
    for call in calls:
        with pytest.raises(ResourceNotFoundError) as missing:
            call()
        assert missing.value.error.code == "ResourceNotFound"
        assert missing.value.error.message == expected


def test_delete_answers_200_then_204(apim: ApiManagementClient, service: str) -> None:
    apim.backend.create_or_update(RESOURCE_GROUP, service, "b1", single("https://one.example/"))
    statuses = [
        apim.backend.delete(RESOURCE_GROUP, service, "b1", if_match="*", cls=with_status)[0] for _ in range(2)
    ]
    assert statuses == [200, 204]
    with pytest.raises(ResourceNotFoundError):
        apim.backend.get(RESOURCE_GROUP, service, "b1")


def test_deleting_a_pool_member_is_allowed_and_leaves_the_pool(apim: ApiManagementClient, service: str) -> None:
    # What APIM does here is not documented; the twin allows it and keeps the pool unchanged.
    apim.backend.create_or_update(RESOURCE_GROUP, service, "b1", single("https://one.example/"))
    pool = BackendContract(type_properties_type="Pool", pool=BackendPool(services=[BackendPoolItem(id="/backends/b1")]))
    apim.backend.create_or_update(RESOURCE_GROUP, service, "pool", pool)
    apim.backend.delete(RESOURCE_GROUP, service, "b1", if_match="*")
    assert [m.id for m in apim.backend.get(RESOURCE_GROUP, service, "pool").pool.services] == ["/backends/b1"]


def test_list_is_one_page_by_default_with_count(apim: ApiManagementClient, service: str, twin: Any) -> None:
    for name in ("c", "a", "b"):
        apim.backend.create_or_update(RESOURCE_GROUP, service, name, single(f"https://{name}.example/"))
    twin.clear_captured()
    assert [b.name for b in apim.backend.list_by_service(RESOURCE_GROUP, service)] == ["a", "b", "c"]
    (call,) = twin.captured("apim.backends.list")
    assert call["status"] == 200


def test_top_limits_the_page_and_next_link_pages_on(apim: ApiManagementClient, service: str, twin: Any) -> None:
    for name in ("a", "b", "c"):
        apim.backend.create_or_update(RESOURCE_GROUP, service, name, single(f"https://{name}.example/"))
    twin.clear_captured()
    assert [b.name for b in apim.backend.list_by_service(RESOURCE_GROUP, service, top=2)] == ["a", "b", "c"]
    calls = twin.captured("apim.backends.list")
    assert [(c["query"].get("$top"), c["query"].get("$skip")) for c in calls] == [("2", None), ("2", "2")]


@pytest.fixture(scope="module")
def small_pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A twin of its own whose APIM pages hold 2 backends, so paging shows with few backends."""
    from twin.app import TwinConfig
    from twin.server import TwinServer

    server = TwinServer(tmp_path_factory.mktemp("twin-pages"), config=TwinConfig(page_size=2))
    server.start()
    yield server
    server.stop()


def test_list_pages_by_page_size_and_counts_all(small_pages: Any) -> None:
    assert create_service(small_pages.url, str(small_pages.ca_path)).status_code == 201
    client = apim_client(load_settings(small_pages.environment()), SUBSCRIPTION)
    names = [f"aoai-{i}" for i in range(5)]
    for name in reversed(names):
        client.backend.create_or_update(RESOURCE_GROUP, APIM, name, single(f"https://{name}.example/"))
    small_pages.twin.clear_captured()

    pages = list(client.backend.list_by_service(RESOURCE_GROUP, APIM).by_page())
    assert [[b.name for b in page] for page in pages] == [names[0:2], names[2:4], names[4:5]]
    calls = small_pages.twin.captured("apim.backends.list")
    assert [c["query"].get("$skip") for c in calls] == [None, "2", "4"]

    raw = requests.get(
        f"{small_pages.url}{SERVICE_PATH}/backends?api-version=2024-05-01",
        headers={"Authorization": "Bearer twin-token"},
        verify=str(small_pages.ca_path),
        timeout=10,
    ).json()
    assert raw["count"] == 5
    assert len(raw["value"]) == 2
    assert "$skip=2" in raw["nextLink"]


def test_requests_without_a_token_are_401(twin_server: Any, service: str) -> None:
    answer = requests.get(
        f"{twin_server.url}{SERVICE_PATH}/backends?api-version=2024-05-01", verify=str(twin_server.ca_path), timeout=10
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "AuthenticationFailed"


def test_api_versions_before_circuit_breakers_are_refused(apim: ApiManagementClient, service: str) -> None:
    with pytest.raises(HttpResponseError) as old:
        apim.backend.get(RESOURCE_GROUP, service, "b1", api_version="2022-08-01")
    assert old.value.status_code == 400
    assert old.value.error.code == "UnsupportedApiVersionForTwin"
    assert "2022-08-01" in old.value.error.message


def test_failure_response_of_2025_03_01_preview_is_stored(twin_server: Any, service: str) -> None:
    rule = breaker_rule().serialize()
    rule["failureResponse"] = {"statusCode": 599}
    body = {"properties": {"url": "https://one.example/", "protocol": "http", "circuitBreaker": {"rules": [rule]}}}
    url = f"{twin_server.url}{SERVICE_PATH}/backends/b1?api-version=2025-03-01-preview"
    auth = {"Authorization": "Bearer twin-token"}
    put = requests.put(url, json=body, headers=auth, verify=str(twin_server.ca_path), timeout=10)
    assert put.status_code == 201, put.text
    got = requests.get(url, headers=auth, verify=str(twin_server.ca_path), timeout=10).json()
    assert got["properties"]["circuitBreaker"]["rules"][0]["failureResponse"] == {"statusCode": 599}


def test_service_resource_is_served(apim: ApiManagementClient, service: str) -> None:
    got = apim.api_management_service.get(RESOURCE_GROUP, service)
    assert got.id == SERVICE_PATH
    assert got.name == APIM
    assert got.sku.name == "Developer"
    assert got.provisioning_state == "Succeeded"


def test_control_route_creates_then_keeps_a_service(twin_server: Any, twin: Any) -> None:
    ca = str(twin_server.ca_path)
    assert create_service(twin_server.url, ca, sku="Premium").status_code == 201
    again = create_service(twin_server.url, ca, sku="StandardV2")
    assert again.status_code == 200
    assert again.json()["sku"]["name"] == "StandardV2"
    bad = create_service(twin_server.url, ca, sku="Gold")
    assert bad.status_code == 400
    assert "Gold" in bad.json()["error"]["message"]


POLICY = """<policies>
  <inbound>
    <base />
    <set-backend-service backend-id="{backend}" />
  </inbound>
  <backend>
    <retry condition="@(context.Response.StatusCode == 429)" count="2" interval="1">
      <forward-request buffer-request-body="true" />
    </retry>
  </backend>
  <outbound><base /></outbound>
  <on-error><base /></on-error>
</policies>"""


def test_api_and_policy_routing_to_the_pool(apim: ApiManagementClient, service: str) -> None:
    apim.backend.create_or_update(RESOURCE_GROUP, service, "b1", single("https://one.example/"))
    pool = BackendContract(type_properties_type="Pool", pool=BackendPool(services=[BackendPoolItem(id="/backends/b1")]))
    apim.backend.create_or_update(RESOURCE_GROUP, service, "aoai-pool", pool)

    api = apim.api.begin_create_or_update(
        RESOURCE_GROUP,
        service,
        "azure-openai",
        ApiCreateOrUpdateParameter(display_name="Azure OpenAI", path="openai", protocols=["https"]),
    ).result()
    assert api.name == "azure-openai"
    assert api.path == "openai"
    assert apim.api.get(RESOURCE_GROUP, service, "azure-openai").display_name == "Azure OpenAI"

    xml = POLICY.format(backend="aoai-pool")
    status, _, _ = apim.api_policy.create_or_update(
        RESOURCE_GROUP, service, "azure-openai", "policy", PolicyContract(value=xml, format="rawxml"), cls=with_status
    )
    assert status == 201
    got = apim.api_policy.get(RESOURCE_GROUP, service, "azure-openai", "policy", format="rawxml")
    assert got.value == xml
    assert got.format == "rawxml"

    apim.api_policy.delete(RESOURCE_GROUP, service, "azure-openai", "policy", if_match="*")
    with pytest.raises(ResourceNotFoundError):
        apim.api_policy.get(RESOURCE_GROUP, service, "azure-openai", "policy")
    apim.api.begin_delete(RESOURCE_GROUP, service, "azure-openai", if_match="*").result()
    with pytest.raises(ResourceNotFoundError) as gone:
        apim.api.get(RESOURCE_GROUP, service, "azure-openai")
    assert gone.value.error.message == "Api not found."


def test_policy_of_a_missing_api_is_404(apim: ApiManagementClient, service: str) -> None:
    with pytest.raises(ResourceNotFoundError) as missing:
        apim.api_policy.create_or_update(
            RESOURCE_GROUP, service, "nope", "policy", PolicyContract(value=POLICY.format(backend="x"))
        )
    assert missing.value.error.message == "Api not found."


def test_backend_bodies_sent_as_bytes_are_taken_as_they_are(apim: ApiManagementClient, service: str) -> None:
    body = {"properties": {"url": "https://one.example/", "protocol": "http", "unknownField": 1}}
    got = apim.backend.create_or_update(RESOURCE_GROUP, service, "b1", io.BytesIO(json.dumps(body).encode()))
    assert got.url == "https://one.example/"


def test_state_interface_serves_the_arm_helper(twin: Any, service: str) -> None:
    # The deployment helper materializes templates through these calls; the HTTP API reads what they wrote.
    apim_state = twin.apim
    assert apim_state.supports("microsoft.apimanagement/service/BACKENDS")
    assert not apim_state.supports("Microsoft.Web/sites")
    backend_id = f"{SERVICE_PATH}/backends/b1"
    first = {"properties": {"url": "https://one.example/", "protocol": "http"}}
    body, created = apim_state.put_resource(backend_id, first)
    assert created and body["id"] == backend_id
    _, created_again = apim_state.put_resource(
        backend_id, {"properties": {"url": "https://two.example/", "protocol": "http"}}
    )
    assert created_again is False
    assert apim_state.get_resource(backend_id.replace("resourceGroups", "resourcegroups"))["properties"]["url"] == (
        "https://two.example/"
    )
    listed = apim_state.list_resources(SUBSCRIPTION, RESOURCE_GROUP, APIM)
    assert [(r["id"], r["type"]) for r in listed] == [(backend_id, "Microsoft.ApiManagement/service/backends")]
    assert apim_state.delete_resource(backend_id) is True
    assert apim_state.delete_resource(backend_id) is False
    assert apim_state.get_resource(backend_id) is None
    assert apim_state.has_service(SUBSCRIPTION.upper(), RESOURCE_GROUP.upper(), APIM.upper())


def test_patch_replaces_only_the_properties_sent(apim: ApiManagementClient, service: str) -> None:
    apim.backend.create_or_update(RESOURCE_GROUP, service, "b1", single("https://one.example/"))
    updated = apim.backend.update(
        RESOURCE_GROUP, service, "b1", "*", BackendUpdateParameters(description="patched")
    )
    assert updated.description == "patched"
    assert updated.url == "https://one.example/"
    assert updated.circuit_breaker.rules[0].name == "openai-breaker"
    with pytest.raises(HttpResponseError) as refused:
        apim.backend.update(RESOURCE_GROUP, service, "b1", "*", BackendUpdateParameters(protocol="ftp"))
    assert refused.value.error.details[0].target == "protocol"
