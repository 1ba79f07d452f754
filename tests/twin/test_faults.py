"""Injected faults as the real SDK client sees them: throttling, server errors, latency, dropped connections,
and when a rule fires (skip / count / probability under a seed)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, IncompleteReadError, ServiceResponseError
from azure.mgmt.resource.deployments.models import Deployment, DeploymentProperties

from breakerpanel.azure.clients import deployments_client
from tests.twin_instance import APIM, RESOURCE_GROUP, SUBSCRIPTION
from twin.faults import FaultRule

pytestmark = pytest.mark.twin


def _request(url: str = "https://b1.example") -> Deployment:
    template = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.ApiManagement/service/backends",
                "apiVersion": "2024-05-01",
                "name": f"{APIM}/b1",
                "properties": {"url": url, "protocol": "http"},
            }
        ],
    }
    return Deployment(properties=DeploymentProperties(mode="Incremental", template=template, parameters={}))


@pytest.fixture
def deployed(twin: Any, deployments: Any) -> Any:
    """A twin with one finished deployment 'gw' to read, and nothing captured yet."""
    twin.apim.create_service(SUBSCRIPTION, RESOURCE_GROUP, APIM)
    deployments.deployments.begin_create_or_update(RESOURCE_GROUP, "gw", _request()).result()
    twin.clear_captured()
    return twin


@pytest.fixture
def retrying(settings: Any) -> Any:
    """A client with SDK retries on, as the product would build one with BREAKERPANEL_SDK_RETRY_TOTAL=2."""
    return deployments_client(dataclasses.replace(settings, sdk_retry_total=2), SUBSCRIPTION)


def _statuses(twin: Any, route: str) -> list[int]:
    return [entry["status"] for entry in twin.captured(route)]


def test_throttle_answers_429_with_retry_after(deployed: Any, deployments: Any) -> None:
    deployed.add_fault(FaultRule(route="arm.deployments.get", kind="throttle", retry_after=7, count=1))

    with pytest.raises(HttpResponseError) as raised:
        deployments.deployments.get(RESOURCE_GROUP, "gw")

    assert raised.value.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert raised.value.error.code == "TooManyRequests"
    assert deployments.deployments.get(RESOURCE_GROUP, "gw").name == "gw"  # count=1: the next call passes


def test_retrying_client_rides_out_a_throttled_put_and_the_twin_sees_the_retry(deployed: Any, retrying: Any) -> None:
    deployed.add_fault(FaultRule(route="arm.deployments.put", kind="throttle", retry_after=0, count=1))

    result = retrying.deployments.begin_create_or_update(RESOURCE_GROUP, "gw-2", _request()).result()

    assert result.properties.provisioning_state == "Succeeded"
    assert _statuses(deployed, "arm.deployments.put") == [429, 201]
    assert [entry["fault"] for entry in deployed.captured("arm.deployments.put")] == ["throttle", None]


@pytest.mark.parametrize(("status", "code"), [(500, "InternalServerError"), (503, "ServiceUnavailable")])
def test_server_errors_reach_the_caller(deployed: Any, deployments: Any, status: int, code: str) -> None:
    deployed.add_fault(FaultRule(route="arm.operations.list", kind="error", status=status, count=1))

    with pytest.raises(HttpResponseError) as raised:
        list(deployments.deployment_operations.list(RESOURCE_GROUP, "gw"))

    assert raised.value.status_code == status
    assert raised.value.error.code == code


def test_retrying_client_rides_out_a_503(deployed: Any, retrying: Any) -> None:
    deployed.add_fault(FaultRule(route="arm.deployments.get", kind="error", status=503, retry_after=0, count=1))

    assert retrying.deployments.get(RESOURCE_GROUP, "gw").properties.provisioning_state == "Succeeded"
    assert _statuses(deployed, "arm.deployments.get") == [503, 200]


def test_latency_delays_but_answers(deployed: Any, deployments: Any) -> None:
    deployed.add_fault(FaultRule(route="arm.deployments.get", kind="latency", latency_ms=150, count=1))

    answer = deployments.deployments.get(RESOURCE_GROUP, "gw")

    assert answer.properties.provisioning_state == "Succeeded"
    [rule] = deployed.faults.describe()
    assert (rule["kind"], rule["fired"], rule["latencyMs"]) == ("latency", 1, 150)
    assert [entry["fault"] for entry in deployed.captured("arm.deployments.get")] == ["latency"]


def test_dropped_connection_raises_a_transport_error(deployed: Any, deployments: Any) -> None:
    deployed.add_fault(FaultRule(route="arm.deployments.get", kind="drop", count=1))

    with pytest.raises((ServiceResponseError, IncompleteReadError)):
        deployments.deployments.get(RESOURCE_GROUP, "gw")

    assert [entry["dropped"] for entry in deployed.captured("arm.deployments.get")] == [True]
    assert deployments.deployments.get(RESOURCE_GROUP, "gw").name == "gw"


def test_skip_then_count_decides_which_calls_fail(deployed: Any, deployments: Any) -> None:
    deployed.add_fault(FaultRule(route="arm.deployments.*", kind="error", status=500, skip=1, count=2))

    outcomes = []
    for _ in range(4):
        try:
            deployments.deployments.get(RESOURCE_GROUP, "gw")
            outcomes.append("ok")
        except HttpResponseError as exc:
            outcomes.append(str(exc.status_code))

    assert outcomes == ["ok", "500", "500", "ok"]


def _fired_sequence(twin: Any, deployments: Any, seed: int, calls: int = 20) -> list[bool]:
    twin.faults.clear()
    twin.add_fault(FaultRule(route="arm.deployments.get", kind="error", status=503, probability=0.5, seed=seed))
    fired = []
    for _ in range(calls):
        try:
            deployments.deployments.get(RESOURCE_GROUP, "gw")
            fired.append(False)
        except HttpResponseError:
            fired.append(True)
    return fired


def test_probability_with_a_seed_replays_the_same_sequence(deployed: Any, deployments: Any) -> None:
    first = _fired_sequence(deployed, deployments, seed=42)
    second = _fired_sequence(deployed, deployments, seed=42)

    assert first == second
    assert True in first and False in first  # a coin, not always or never


# ------------------------------------------------------------------ issue 9: answers that cannot be read


@pytest.mark.parametrize("kind", ["empty", "html", "truncated"])
def test_an_unreadable_200_raises_from_the_sdk(deployed: Any, settings: Any, kind: str) -> None:
    deployed.add_fault(FaultRule(route="arm.deployments.get", kind=kind, count=1))

    # A client of its own, closed here: a connection left mid-way by an unreadable answer must not linger
    # until interpreter exit (OpenSSL's teardown then aborts the process).
    with deployments_client(settings, SUBSCRIPTION) as client:
        with pytest.raises(Exception) as raised:  # which one is the point of the lines below
            client.deployments.get(RESOURCE_GROUP, "gw")

        # Not an Azure error the caller can classify by status: a decoding failure of a 200.
        assert not isinstance(raised.value, ServiceResponseError)
        del raised
        assert [entry["fault"] for entry in deployed.captured("arm.deployments.get")] == [kind]
        assert client.deployments.get(RESOURCE_GROUP, "gw").name == "gw"


def test_a_reset_connection_answers_nothing(deployed: Any, settings: Any) -> None:
    deployed.add_fault(FaultRule(route="arm.deployments.get", kind="reset", count=1))

    with deployments_client(settings, SUBSCRIPTION) as client:
        with pytest.raises((ServiceResponseError, HttpResponseError)):
            client.deployments.get(RESOURCE_GROUP, "gw")
        assert client.deployments.get(RESOURCE_GROUP, "gw").name == "gw"


@pytest.mark.parametrize(("status", "code"), [(401, "ExpiredAuthenticationToken"), (403, "AuthorizationFailed")])
def test_injected_auth_errors_carry_arm_codes(deployed: Any, settings: Any, status: int, code: str) -> None:
    deployed.add_fault(FaultRule(route="arm.deployments.get", kind="error", status=status, count=1))

    with deployments_client(settings, SUBSCRIPTION) as client:
        with pytest.raises(HttpResponseError) as raised:
            client.deployments.get(RESOURCE_GROUP, "gw")
        assert raised.value.status_code == status
        assert raised.value.error.code == code
        del raised


def test_an_applied_fault_carries_the_call_out_then_answers_an_error(deployed: Any, settings: Any) -> None:
    deployed.add_fault(FaultRule(route="arm.deployments.put", kind="applied", status=500, count=1))

    with deployments_client(settings, SUBSCRIPTION) as client:
        with pytest.raises(HttpResponseError) as raised:
            client.deployments.begin_create_or_update(RESOURCE_GROUP, "gw-applied", _request(), polling=False)
        assert raised.value.status_code == 500
        del raised
        # ARM has the deployment all the same.
        assert client.deployments.get(RESOURCE_GROUP, "gw-applied").name == "gw-applied"
