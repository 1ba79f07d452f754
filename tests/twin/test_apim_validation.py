"""APIM's validation of backends and policies, as the real ApiManagementClient meets it in the twin.

Texts verified against real APIM answers: the ValidationError envelope, "Url/Protocol is not supported for backend
pool.", "Backend Entity 'x' not found." and the set-backend-service message (sources in twin/apim/errors.py).
The others are the twin's wording of APIM's documented limits.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.apimanagement import ApiManagementClient
from azure.mgmt.apimanagement.models import ApiCreateOrUpdateParameter, PolicyContract

from tests.twin_instance import APIM, APIM_ID, RESOURCE_GROUP, SUBSCRIPTION
from twin.apim.validation import is_iso8601_duration
from twin.errors import TwinError

pytestmark = pytest.mark.twin

SERVICE_PATH = APIM_ID
ENVELOPE_MESSAGE = "One or more fields contain incorrect values:"


def create_service(twin_server: Any, sku: str = "Developer") -> None:
    answer = requests.post(
        f"{twin_server.url}/_twin/apim/services",
        json={"subscriptionId": SUBSCRIPTION, "resourceGroup": RESOURCE_GROUP, "name": APIM, "sku": sku},
        verify=str(twin_server.ca_path),
        timeout=10,
    )
    assert answer.status_code in (200, 201), answer.text


@pytest.fixture
def service(twin: Any, twin_server: Any) -> str:
    create_service(twin_server)
    return APIM


def put(apim: ApiManagementClient, name: str, body: dict[str, Any]) -> Any:
    """PUT the body exactly as written (numbers as strings included) through the SDK."""
    return apim.backend.create_or_update(RESOURCE_GROUP, APIM, name, io.BytesIO(json.dumps(body).encode()))


def single_body(**extra: Any) -> dict[str, Any]:
    return {"properties": {"url": "https://one.example/openai", "protocol": "http", **extra}}


def rule(**overrides: Any) -> dict[str, Any]:
    condition = {"count": 3, "interval": "PT1M", "statusCodeRanges": [{"min": 500, "max": 599}], "errorReasons": []}
    condition.update(overrides.pop("failureCondition", {}))
    base = {"name": "breaker", "failureCondition": condition, "tripDuration": "PT1M", "acceptRetryAfter": True}
    return {**base, **overrides}


def breaker(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"circuitBreaker": {"rules": list(rules)}}


def pool_body(*members: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"properties": {"type": "Pool", "pool": {"services": list(members)}, **extra}}


def details_of(error: HttpResponseError) -> list[tuple[str | None, str | None, str | None]]:
    return [(d.code, d.target, d.message) for d in error.error.details]


CASES: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    (
        "pool with url and protocol",
        pool_body({"id": "/backends/member"}, url="https://x.example/", protocol="http"),
        [
            ("url", "Url is not supported for backend pool."),
            ("protocol", "Protocol is not supported for backend pool."),
        ],
    ),
    (
        "pool member that does not exist",
        pool_body({"id": f"{SERVICE_PATH}/backends/ghost", "priority": 1, "weight": 50}),
        [("pool", "Backend Entity 'ghost' not found.")],
    ),
    (
        "pool member of another service",
        pool_body({"id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-other/providers/"
                         "Microsoft.ApiManagement/service/apim-other/backends/member"}),
        [(
            "pool",
            f"Backend Entity '/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-other/providers/"
            "Microsoft.ApiManagement/service/apim-other/backends/member' not found.",
        )],
    ),
    (
        "pool inside a pool",
        pool_body({"id": "/backends/inner-pool"}),
        [("pool", "Backend Entity 'inner-pool' is a backend pool; a pool can only contain backends of type Single.")],
    ),
    ("pool without members", pool_body(), [("pool", "Backend pool must contain at least one backend.")]),
    (
        "priority and weight out of range",
        pool_body({"id": "/backends/member", "priority": 101, "weight": -1}),
        [("priority", "The field Priority must be between 0 and 100."),
         ("weight", "The field Weight must be between 0 and 100.")],
    ),
    (
        "pool failureResponse status code out of range",
        pool_body({"id": "/backends/member"}, pool={"services": [{"id": "/backends/member"}],
                                                    "failureResponse": {"statusCode": 99}}),
        [("statusCode", "The field StatusCode must be between 100 and 599.")],
    ),
    (
        "two breaker rules",
        single_body(**breaker(rule(name="a"), rule(name="b"))),
        [("circuitBreaker", "Only one rule can be configured for a backend circuit breaker; 2 were sent.")],
    ),
    (
        "protocol https",
        {"properties": {"url": "https://one.example/", "protocol": "https"}},
        [("protocol", "Protocol 'https' is not supported. Supported values are 'http' and 'soap'.")],
    ),
    (
        "single backend without url",
        {"properties": {"protocol": "http", "type": "Single"}},
        [("url", "Url is required.")],
    ),
    (
        "single backend with a relative url",
        {"properties": {"url": "/openai", "protocol": "http"}},
        [("url", "Url '/openai' is not a valid absolute URL.")],
    ),
    (
        "unknown backend type",
        {"properties": {"url": "https://one.example/", "protocol": "http", "type": "Cluster"}},
        [("type", "Backend type 'Cluster' is not supported. Supported values are 'Single' and 'Pool'.")],
    ),
    (
        "status codes outside 200..599",
        single_body(**breaker(rule(failureCondition={"statusCodeRanges": [{"min": 199, "max": 600}]}))),
        [("min", "The field Min must be between 200 and 599."), ("max", "The field Max must be between 200 and 599.")],
    ),
    (
        "status code range upside down",
        single_body(**breaker(rule(failureCondition={"statusCodeRanges": [{"min": 599, "max": 500}]}))),
        [("statusCodeRanges", "The status code range min 599 is greater than max 500.")],
    ),
    (
        "eleven status code ranges",
        single_body(**breaker(rule(failureCondition={"statusCodeRanges": [{"min": 500, "max": 500}] * 11}))),
        [("statusCodeRanges", "statusCodeRanges can contain at most 10 items; 11 were sent.")],
    ),
    (
        "eleven error reasons",
        single_body(**breaker(rule(failureCondition={"errorReasons": ["Server errors"] * 11}))),
        [("errorReasons", "errorReasons can contain at most 10 items; 11 were sent.")],
    ),
    (
        "durations that are not ISO 8601",
        single_body(**breaker(rule(failureCondition={"interval": "1 minute"}, tripDuration="00:01:00"))),
        [("interval", "The value '1 minute' of interval is not a valid ISO 8601 duration such as 'PT1M'."),
         ("tripDuration", "The value '00:01:00' of tripDuration is not a valid ISO 8601 duration such as 'PT1M'.")],
    ),
    (
        "rule failureResponse status code out of range",
        single_body(**breaker(rule(failureResponse={"statusCode": 600}))),
        [("statusCode", "The field StatusCode must be between 100 and 599.")],
    ),
    (
        "count that is not a number",
        single_body(**breaker(rule(failureCondition={"count": "three"}))),
        [("count", "The value 'three' of Count is not an integer.")],
    ),
    (
        "neither count nor percentage",
        single_body(**breaker(rule(failureCondition={"count": None}))),
        [("failureCondition", "A failure condition needs 'count' or 'percentage'.")],
    ),
    (
        "percentage above 100",
        single_body(**breaker(rule(failureCondition={"count": None, "percentage": 150}))),
        [("percentage", "The field Percentage must be between 1 and 100.")],
    ),
]


@pytest.mark.parametrize(("body", "expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_backend_rule_is_enforced_with_apims_error(
    apim: ApiManagementClient, service: str, body: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    put(apim, "member", single_body())
    put(apim, "inner-pool", pool_body({"id": "/backends/member"}))
    with pytest.raises(HttpResponseError) as rejected:
        put(apim, "candidate", body)
    assert rejected.value.status_code == 400
    assert rejected.value.error.code == "ValidationError"
    assert rejected.value.error.message == ENVELOPE_MESSAGE
    assert details_of(rejected.value) == [("ValidationError", target, message) for target, message in expected]
    with pytest.raises(HttpResponseError):
        apim.backend.get(RESOURCE_GROUP, APIM, "candidate")  # nothing was stored


def test_numbers_written_as_strings_are_stored_as_numbers(apim: ApiManagementClient, service: str) -> None:
    put(apim, "member", single_body())
    stored = put(apim, "pool", pool_body({"id": "/backends/member", "priority": "2", "weight": "40"}))
    assert (stored.pool.services[0].priority, stored.pool.services[0].weight) == (2, 40)


def test_consumption_tier_has_no_breaker_and_no_pool(apim: ApiManagementClient, twin: Any, twin_server: Any) -> None:
    create_service(twin_server, sku="Consumption")
    with pytest.raises(HttpResponseError) as breaker_refused:
        put(apim, "b1", single_body(**breaker(rule())))
    assert details_of(breaker_refused.value) == [
        ("ValidationError", "circuitBreaker",
         "The backend circuit breaker is not supported in the Consumption tier of API Management.")
    ]
    put(apim, "b1", single_body())
    with pytest.raises(HttpResponseError) as pool_refused:
        put(apim, "pool", pool_body({"id": "/backends/b1"}))
    assert details_of(pool_refused.value) == [
        ("ValidationError", "type", "A backend pool is not supported in the Consumption tier of API Management.")
    ]


POLICY = """<policies>
  <inbound>
    <base />
    <set-backend-service backend-id="{backend}" />
  </inbound>
  <backend><forward-request /></backend>
</policies>"""


@pytest.fixture
def api(apim: ApiManagementClient, service: str) -> str:
    apim.api.begin_create_or_update(
        RESOURCE_GROUP, APIM, "azure-openai", ApiCreateOrUpdateParameter(display_name="Azure OpenAI", path="openai")
    ).result()
    return "azure-openai"


def test_policy_naming_an_unknown_backend_is_refused(apim: ApiManagementClient, api: str) -> None:
    with pytest.raises(HttpResponseError) as rejected:
        apim.api_policy.create_or_update(
            RESOURCE_GROUP, APIM, api, "policy", PolicyContract(value=POLICY.format(backend="ghost"), format="xml")
        )
    assert rejected.value.status_code == 400
    assert rejected.value.error.code == "ValidationError"
    assert details_of(rejected.value) == [
        (
            "ValidationError",
            "set-backend-service",
            "Error in element 'set-backend-service' on line 4, column 6: Backend with id 'ghost' could not be found.",
        )
    ]


def test_policy_backend_chosen_by_expression_is_not_checked(apim: ApiManagementClient, api: str) -> None:
    backend = '@(context.Variables.GetValueOrDefault<string>("backend"))'
    # rawxml: the expression's '<' stays unescaped, as APIM's rawxml format allows.
    policy = PolicyContract(value=POLICY.replace('"{backend}"', f"'{backend}'"), format="rawxml")
    stored = apim.api_policy.create_or_update(RESOURCE_GROUP, APIM, api, "policy", policy)
    assert backend in stored.value


def test_policy_that_is_not_xml_is_refused(apim: ApiManagementClient, api: str) -> None:
    with pytest.raises(HttpResponseError) as rejected:
        apim.api_policy.create_or_update(RESOURCE_GROUP, APIM, api, "policy", PolicyContract(value="<policies>"))
    ((code, target, message),) = details_of(rejected.value)
    assert (code, target) == ("ValidationError", "representation")
    assert message.startswith("The policy document is not well-formed XML:")


def test_deployments_meet_the_same_validation(twin: Any, service: str) -> None:
    # The ARM helper calls put_resource for a template's backends: the same error must come out, to be wrapped
    # in DeploymentFailed.
    with pytest.raises(TwinError) as rejected:
        twin.apim.put_resource(
            f"{SERVICE_PATH}/backends/pool",
            {
                "properties": {
                    "type": "Pool",
                    "url": "https://x.example/",
                    "pool": {"services": [{"id": "/backends/x"}]},
                }
            },
        )
    assert rejected.value.status == 400
    assert rejected.value.envelope() == {
        "error": {
            "code": "ValidationError",
            "message": ENVELOPE_MESSAGE,
            "details": [
                {"code": "ValidationError", "target": "url", "message": "Url is not supported for backend pool."},
                {"code": "ValidationError", "target": "pool", "message": "Backend Entity 'x' not found."},
            ],
        }
    }


@pytest.mark.parametrize(
    ("value", "valid"),
    [("PT1M", True), ("PT1H", True), ("P1D", True), ("PT0.5S", True), ("P1DT2H", True),
     ("PT", False), ("P", False), ("1M", False), ("00:01:00", False), ("PT1X", False), (60, False)],
)
def test_iso8601_durations(value: object, valid: bool) -> None:
    assert is_iso8601_duration(value) is valid
