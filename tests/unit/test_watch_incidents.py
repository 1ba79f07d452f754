"""Incidents: opened once, quiet while open, resolved once; deployments; Event Grid payloads; the KQL text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from unit_helpers import load

from breakerpanel.core.watch.config import gateway_config
from breakerpanel.core.watch.detect import Observation, observe_deployments
from breakerpanel.core.watch.events import BreakerEventError, parse_breaker_event
from breakerpanel.core.watch.incidents import advance
from breakerpanel.core.watch.kql import QueryTarget, bin_seconds_for, gateway_query, kql_string
from breakerpanel.core.watch.run import status_of

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
TARGET = {"subscriptionId": "s", "resourceGroup": "rg", "apimName": "apim"}


def _obs(state: str, since: datetime | None = NOW - timedelta(minutes=10)) -> Observation:
    return Observation("BreakerStuckOpen", "backend", "east", "warning", state, since, {"requests": 3})  # type: ignore[arg-type]


def _apply(previous: dict[str, tuple[dict[str, Any], str]], transitions: list[Any]) -> dict[str, Any]:
    out = dict(previous)
    for t in transitions:
        out[t.key] = (t.value, f"etag-{len(out)}-{t.change}")
    return out


def _run(previous: dict[str, Any], observation: Observation | None, at: datetime, *, known: bool = True) -> tuple[
        list[str], dict[str, Any]]:
    transitions = advance(TARGET, "s/rg/apim", [observation] if observation else [], previous, now=at,
                          logs_known=known, deployments_known=True)
    return [t.change for t in transitions], _apply(previous, transitions)


def test_an_incident_opens_once_stays_quiet_and_resolves_once() -> None:
    changes, state = _run({}, _obs("pending"), NOW)
    assert changes == []
    changes, state = _run(state, _obs("active"), NOW)
    assert changes == ["opened"]
    (record, _), = state.values()
    assert record["state"] == "open" and record["since"] == "2026-12-03T11:50:00Z" and record["runbook"]
    changes, state = _run(state, _obs("active"), NOW + timedelta(minutes=5))
    assert changes == ["ongoing"]
    changes, state = _run(state, _obs("quiet", None), NOW + timedelta(minutes=10))
    assert changes == ["ongoing"]  # no traffic proves nothing: still open
    changes, state = _run(state, _obs("recovered", None), NOW + timedelta(minutes=15))
    assert changes == ["resolved"]
    changes, state = _run(state, _obs("recovered", None), NOW + timedelta(minutes=20))
    assert changes == []  # a resolved incident is reported once, in the run that resolved it


def test_a_condition_that_returns_after_a_resolve_is_a_new_incident() -> None:
    _, state = _run({}, _obs("active"), NOW)
    first = next(iter(state.values()))[0]["id"]
    _, state = _run(state, _obs("recovered", None), NOW + timedelta(minutes=10))
    changes, state = _run(state, _obs("active", NOW + timedelta(minutes=20)), NOW + timedelta(minutes=30))
    assert changes == ["opened"]
    assert next(iter(state.values()))[0]["id"] != first


def test_unknown_data_never_resolves_and_never_opens() -> None:
    _, state = _run({}, _obs("active"), NOW)
    changes, state = _run(state, None, NOW + timedelta(minutes=5), known=False)
    assert changes == ["ongoing"]
    record = next(iter(state.values()))[0]
    assert record["state"] == "open" and record["dataUnknown"] is True
    assert status_of([], state, complete=False) == "unknown"
    assert status_of([], state, complete=True) == "warning"


def test_a_subject_gone_from_the_configuration_resolves_its_incident() -> None:
    _, state = _run({}, _obs("active"), NOW)
    changes, _ = _run(state, None, NOW + timedelta(minutes=5), known=True)
    assert changes == ["resolved"]


def _deployment(name: str, state: str, at: datetime) -> dict[str, Any]:
    return {"id": f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Resources/deployments/{name}",
            "name": name, "properties": {"provisioningState": state, "timestamp": at.isoformat()}}


FAILED_OPERATION = {
    "operationId": "A1B2",
    "properties": {
        "provisioningState": "Failed",
        "timestamp": "2026-12-03T11:40:00Z",
        "statusCode": "BadRequest",
        "statusMessage": {"error": {"code": "ValidationError", "message": "Backend Entity 'aoai-x' not found."}},
        "targetResource": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim/"
                                 "backends/aoai-pool", "resourceType": "Microsoft.ApiManagement/service/backends",
                           "resourceName": "apim/aoai-pool"},
    },
}


def test_a_failed_deployment_by_anyone_opens_one_incident_with_the_shared_diagnosis() -> None:
    failed = _deployment("main", "Failed", NOW - timedelta(minutes=20))
    found = observe_deployments([failed, _deployment("other", "Succeeded", NOW - timedelta(minutes=30))],
                                {"main": [FAILED_OPERATION]}, [], NOW)
    assert len(found) == 1
    incident = found[0]
    assert (incident.kind, incident.subject, incident.severity) == ("ProvisioningFailed", "main", "critical")
    operation = incident.evidence["failedOperations"][0]
    assert operation["code"] == "ValidationError"
    assert "not found" in operation["message"] and operation["cause"] and operation["fix"]


def test_a_failed_deployment_resolves_when_the_same_deployment_later_succeeds() -> None:
    failed_at = NOW - timedelta(minutes=20)
    listed = [_deployment("main", "Succeeded", NOW - timedelta(minutes=5))]
    found = observe_deployments(listed, {}, [("main", failed_at.isoformat())], NOW)
    assert [(o.state, o.discriminator) for o in found] == [("recovered", failed_at.isoformat())]
    # As of before the fix, it is still open.
    assert observe_deployments(listed, {}, [("main", failed_at.isoformat())], NOW - timedelta(minutes=10)) == []


def test_a_failed_deployment_resolves_when_a_later_one_deploys_what_failed() -> None:
    failed_at = NOW - timedelta(minutes=20)
    pool = FAILED_OPERATION["properties"]["targetResource"]["id"]  # type: ignore[index]
    fixed = _deployment("bp-rollout-2", "Succeeded", NOW - timedelta(minutes=5))
    fixed["properties"]["outputResources"] = [{"id": pool.upper()}]
    unrelated = _deployment("storage", "Succeeded", NOW - timedelta(minutes=5))
    assert observe_deployments([unrelated], {}, [("bp-rollout-1", failed_at.isoformat(), [pool])], NOW) == []
    found = observe_deployments([fixed, unrelated], {}, [("bp-rollout-1", failed_at.isoformat(), [pool])], NOW)
    assert [o.state for o in found] == ["recovered"]


def test_deployments_after_the_evaluated_instant_are_ignored() -> None:
    later = _deployment("main", "Failed", NOW + timedelta(minutes=1))
    assert observe_deployments([later], {}, [], NOW) == []


@pytest.mark.parametrize("fixture", ["eventgrid_apim_CircuitBreakerOpened_eventgrid-schema.json",
                                     "eventgrid_apim_CircuitBreakerOpened_cloudevent-schema.json"])
def test_both_event_grid_schemas_of_the_published_event_parse_to_the_same_transition(fixture: str) -> None:
    transition = parse_breaker_event(load(fixture))
    assert transition.event_id == "92c502f2-a966-42a7-a428-d3b319844544"
    assert transition.opened is True
    assert (transition.backend, transition.rule) == ("{backend-name}", "{rule-name}")
    assert transition.trip_seconds == 1.0
    assert transition.resource_id.endswith("/providers/microsoft.apimanagement/service/{your-apim-instance}")
    assert transition.at.year == 2025


def test_an_event_that_is_not_a_breaker_transition_is_refused_naming_the_field() -> None:
    event = load("eventgrid_apim_CircuitBreakerOpened_eventgrid-schema.json")
    with pytest.raises(BreakerEventError, match="eventType"):
        parse_breaker_event({**event, "eventType": "Microsoft.ApiManagement.APICreated"})
    with pytest.raises(BreakerEventError, match="subject"):
        parse_breaker_event({**event, "subject": "/apis/echo"})


def test_values_enter_the_query_only_as_escaped_literals() -> None:
    assert kql_string('a"b\\c') == '"a\\"b\\\\c"'
    hostile = gateway_config([{"name": 'x" or 1==1 | take 1 --', "properties": {
        "url": 'https://e.example.com/"; drop', "circuitBreaker": {"rules": [{
            "name": "r", "failureCondition": {"count": 1, "interval": "PT1M",
                                              "statusCodeRanges": [{"min": 500, "max": 599}]},
            "tripDuration": "PT1M"}]}}}])
    text = gateway_query([QueryTarget("/subscriptions/s/rg", hostile)], NOW - timedelta(hours=1), NOW, 60)
    assert '"x\\" or 1==1 | take 1 --"' in text
    assert '"https://e.example.com/\\"; drop"' in text
    with pytest.raises(ValueError, match="control characters"):
        kql_string("a\x00b")


def test_the_bin_is_never_wider_than_the_shortest_rule_interval() -> None:
    def config(interval: str) -> Any:
        return gateway_config([{"name": "b", "properties": {"url": "https://b", "circuitBreaker": {"rules": [{
            "name": "r", "failureCondition": {"count": 1, "interval": interval}, "tripDuration": "PT1M"}]}}}])

    assert bin_seconds_for([config("PT1M")]) == 60
    assert bin_seconds_for([config("PT30S"), config("PT1H")]) == 30
    assert bin_seconds_for([config("PT1H")]) == 300
    assert bin_seconds_for([]) == 60


def test_a_failed_module_is_one_incident_under_the_deployment_that_ran_it() -> None:
    # A Bicep module in the same resource group: ARM lists the module's own deployment next to the one a person
    # ran, both Failed; the parent's failed operation is the nested deployment, its details the module's error.
    parent = _deployment("main", "Failed", NOW - timedelta(minutes=20))
    module = _deployment("backends-module", "Failed", NOW - timedelta(minutes=21))
    nested_operation = {
        "operationId": "C3D4",
        "properties": {
            "provisioningState": "Failed", "timestamp": "2026-12-03T11:40:05Z", "statusCode": "BadRequest",
            "statusMessage": {"status": "Failed", "error": {
                "code": "DeploymentFailed", "message": "At least one resource deployment operation failed.",
                "details": [{"code": "ValidationError", "message": "Backend Entity 'aoai-x' not found."}]}},
            "targetResource": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Resources/deployments/"
                                     "backends-module", "resourceType": "Microsoft.Resources/deployments",
                               "resourceName": "backends-module"},
        },
    }

    found = observe_deployments([parent, module], {"main": [nested_operation], "backends-module": [FAILED_OPERATION]},
                                [], NOW)

    assert [(o.kind, o.subject) for o in found] == [("ProvisioningFailed", "main")]
    assert [op["code"] for op in found[0].evidence["failedOperations"]] == ["ValidationError"]
    # A module deployment nobody's failed deployment ran is still its own incident.
    alone = observe_deployments([module], {"backends-module": [FAILED_OPERATION]}, [], NOW)
    assert [o.subject for o in alone] == ["backends-module"]
