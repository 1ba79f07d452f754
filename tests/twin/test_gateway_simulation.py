"""The twin's gateway simulation: scenarios loaded over the control API (or in-process), their gateway-log rows
read back through the real LogsQueryClient, their backends through ApiManagementClient, their failed deployments
through DeploymentsMgmtClient, their breaker events compared with Microsoft's published event.

Expectations come from APIM's documented semantics (priority groups, Retry-After, 503 without a backend call),
checked on what a user of the logs would look at, not on the simulation's internals.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.monitor.query import LogsQueryStatus

from breakerpanel.azure.logs_rows import rows_from_result
from twin.app import Twin
from twin.gateway import scenarios
from twin.gateway.behaviour import Failing, Script, Throttled, TimingOut, at
from twin.gateway.breaker import CircuitBreaker
from twin.gateway.config import parse_backend, parse_rule
from twin.gateway.events import to_cloudevent
from twin.gateway.loader import LoadedScenario, load_scenario
from twin.gateway.service import Service
from twin.gateway.simulation import GatewaySimulation, Traffic, TrafficPhase
from twin.log_analytics.schema import COLUMNS

DATA = Path(__file__).parent / "data"
START = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
WORKSPACE = scenarios.WORKSPACE
APIM = scenarios.APIM
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _load(twin_server: Any, name: str, **extra: Any) -> dict[str, Any]:
    reply = requests.post(
        f"{twin_server.url}/_twin/gateway/scenario",
        json={"name": name, "start": START.isoformat().replace("+00:00", "Z"), **extra},
        verify=str(twin_server.ca_path),
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def _query(logs: Any, kql: str, workspace: str = WORKSPACE) -> list[dict[str, Any]]:
    result = logs.query_workspace(workspace, kql, timespan=None)
    assert result.status == LogsQueryStatus.SUCCESS
    return rows_from_result(result)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _expected(loaded: dict[str, Any], kind: str, subject: str) -> dict[str, Any]:
    [found] = [i for i in loaded["expected"] if i["kind"] == kind and i["subject"] == subject]
    return found


# --- the pool's documented semantics, as the logs show them -----------------------------------------------


def test_pool_exhausted_answers_503_without_a_backend_call(twin, twin_server, logs):
    loaded = _load(twin_server, "pool-exhausted")
    exhausted = _expected(loaded, "PoolExhausted", scenarios.POOL)
    rows = _query(
        logs,
        "ApiManagementGatewayLogs | where isnull(BackendResponseCode) "
        "| project TimeGenerated, ResponseCode, BackendId, BackendUrl, BackendTime, IsRequestSuccess",
    )
    assert rows, "an exhausted pool answers without calling a backend"
    assert {r["ResponseCode"] for r in rows} == {503}
    assert {r["BackendId"] for r in rows} == {scenarios.POOL}
    assert all(r["BackendUrl"] is None and r["IsRequestSuccess"] is False for r in rows)
    # The last attempt decides the backend columns; BackendTime sums every attempt's backend I/O, so requests
    # that never reached a backend show 0 and those whose first try did show that try's time.
    assert any(r["BackendTime"] == 0 for r in rows)
    # They all fall in the exhausted spell (a request that arrived just before it retries into it).
    onset, end = _instant(exhausted["onset"]), _instant(exhausted["end"])
    assert all(onset - timedelta(seconds=5) <= r["TimeGenerated"] <= end for r in rows)
    # Outside that spell every request reached a backend.
    healthy = _query(logs, "ApiManagementGatewayLogs | where TimeGenerated < datetime(2024-05-01T10:19:00Z) "
                     "| summarize calls=countif(isnotnull(BackendResponseCode)), n=count()")
    assert healthy[0]["calls"] == healthy[0]["n"] > 0


def test_failure_response_code_replaces_503_when_the_pool_sets_one():
    service = Service(scenarios.SUBSCRIPTION, "rg", "apim-x", WORKSPACE)
    bodies = scenarios.openai_backends()
    bodies[-1]["properties"]["pool"]["failureResponse"] = {"statusCode": 599}
    backends = [parse_backend(b) for b in bodies]
    down = Script((at(0, None, Throttled(retry_after=600)),))
    result = GatewaySimulation(
        service, backends, target=scenarios.POOL, scripts={n: down for n, *_ in scenarios.MEMBERS},
        traffic=Traffic(), start=START, duration=timedelta(minutes=5), seed=1,
    ).run()
    gateway_answered = [r for r in result.rows if r["BackendResponseCode"] is None]
    assert gateway_answered and {r["ResponseCode"] for r in gateway_answered} == {599}
    # 599 is not in the policy's retry condition (429/503): one attempt, no backend time.
    assert all(r["BackendTime"] == 0 for r in gateway_answered)


def test_a_weight_0_member_is_sent_nothing_while_a_weighted_peer_of_its_group_is_closed():
    """backends.md: "distribute requests based on the relative weight of each backend"; BackendPoolItem.weight
    is 0..100. The watchdog reads a weight-0 member's empty bins the same way (test_watch_model)."""
    service = Service(scenarios.SUBSCRIPTION, "rg", "apim-x", WORKSPACE)
    bodies = scenarios.openai_backends()
    bodies[-1]["properties"]["pool"]["services"][1]["weight"] = 0  # aoai-westus
    backends = [parse_backend(b) for b in bodies]
    result = GatewaySimulation(
        service, backends, target=scenarios.POOL, scripts={}, traffic=Traffic(), start=START,
        duration=timedelta(minutes=10), seed=1,
    ).run()
    assert {r["BackendId"] for r in result.rows} == {"aoai-eastus"}


def test_priority_2_member_serves_only_while_group_1_is_open(twin, twin_server, logs):
    loaded = _load(twin_server, "quota-exhausted")
    degraded = _expected(loaded, "PoolDegraded", scenarios.POOL)
    per_backend = _query(logs, "ApiManagementGatewayLogs | where ResponseCode == 200 "
                         "| summarize n=count(), firstSeen=min(TimeGenerated), lastSeen=max(TimeGenerated) "
                         "by BackendId")
    sweden = next(r for r in per_backend if r["BackendId"] == "aoai-swedencentral")
    onset, end = _instant(degraded["onset"]), _instant(degraded["end"])
    assert onset - timedelta(seconds=5) <= sweden["firstSeen"] and sweden["lastSeen"] <= end
    # While group 1 is open it gets nothing; before and after it carries the traffic.
    inside = _query(logs, "ApiManagementGatewayLogs "
                    f"| where TimeGenerated between (datetime({degraded['onset']}) .. datetime({degraded['end']})) "
                    "| where BackendId in ('aoai-eastus', 'aoai-westus') | summarize ok=countif(ResponseCode == 200)")
    assert inside == [{"ok": 0}]
    assert {r["BackendId"] for r in per_backend} == {"aoai-eastus", "aoai-westus", "aoai-swedencentral"}
    # The requests whose every try met a member just out of its trip (and out of quota) end in its 429, with
    # Azure OpenAI's Retry-After passed back to the client.
    throttled = _query(logs, "ApiManagementGatewayLogs | where BackendResponseCode == 429 "
                       "| project BackendId, ResponseCode, backend=tostring(BackendResponseHeaders['Retry-After']), "
                       "client=tostring(ResponseHeaders['Retry-After'])")
    assert throttled and {(r["ResponseCode"], r["backend"], r["client"]) for r in throttled} == {(429, "600", "600")}
    assert {r["BackendId"] for r in throttled} <= {"aoai-eastus", "aoai-westus"}


def test_healthy_pool_never_reaches_priority_2(twin, twin_server, logs):
    _load(twin_server, "healthy", durationMinutes=10)
    got = _query(logs, "ApiManagementGatewayLogs | summarize n=count() by BackendId | order by BackendId asc")
    assert [r["BackendId"] for r in got] == ["aoai-eastus", "aoai-westus"]
    east, west = (r["n"] for r in got)
    assert abs(east - west) < 0.25 * (east + west)  # weights 50/50


def test_accept_retry_after_keeps_the_breaker_open_for_retry_after(twin, twin_server, logs):
    loaded = _load(twin_server, "burst-429")
    events = requests.get(f"{twin_server.url}/_twin/gateway/events", verify=str(twin_server.ca_path), timeout=10)
    opened, closed = events.json()
    assert (opened["eventType"], closed["eventType"]) == (
        "Microsoft.ApiManagement.CircuitBreaker.Opened", "Microsoft.ApiManagement.CircuitBreaker.Closed"
    )
    assert opened["data"]["circuitBreaker"]["rules"][scenarios.RULE]["tripDuration"] == "00:00:30"  # not PT1M
    open_for = _instant(closed["eventTime"]) - _instant(opened["eventTime"])
    assert open_for == timedelta(seconds=30)
    assert loaded["expected"] == []  # one short trip is not an incident
    # While open, no request reached aoai-eastus; the 429s carried Retry-After.
    start = opened["eventTime"][:26] + "Z"
    stop = (_instant(closed["eventTime"]) - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    during = _query(logs, "ApiManagementGatewayLogs "
                    f"| where TimeGenerated between (datetime({start}) .. datetime({stop})) "
                    "| summarize east=countif(BackendId == 'aoai-eastus'), n=count()")
    assert during[0]["n"] > 0 and during[0]["east"] == 0
    # The policy retried every 429 of the burst on another member: no client saw one, so no row shows one.
    assert _query(logs, "ApiManagementGatewayLogs | where ResponseCode != 200 | count") == [{"Count": 0}]


def test_breaker_without_accept_retry_after_uses_the_trip_duration():
    body = scenarios.breaker_rule()
    body["acceptRetryAfter"] = False
    breaker = CircuitBreaker("b", parse_rule("b", {"rules": [body]}))
    trips = [breaker.record(START + timedelta(seconds=s), 429, None, 600) for s in (0, 10, 20)]
    assert trips[:2] == [None, None] and trips[2] is not None
    assert trips[2].duration == timedelta(minutes=1)
    assert breaker.is_open(START + timedelta(seconds=79)) and not breaker.is_open(START + timedelta(seconds=80))


def test_failures_spread_wider_than_the_interval_do_not_trip():
    breaker = CircuitBreaker("b", parse_rule("b", {"rules": [scenarios.breaker_rule()]}))
    assert all(breaker.record(START + timedelta(seconds=s), 503, None, None) is None for s in (0, 40, 80, 120))
    assert breaker.trips == []


@pytest.mark.parametrize("reasons", [[], ["Timeout"]])
def test_timeouts_log_500_without_a_backend_response_and_trip_only_a_rule_listing_the_reason(reasons):
    """A timeout has no backend answer (BackendResponseCode null; the 500 is the gateway's own): the rule's
    statusCodeRanges ("The failure http status code range") cannot match it, only its errorReasons ("The error
    reasons which are considered as failure", CircuitBreakerFailureCondition) can."""
    service = Service(scenarios.SUBSCRIPTION, "rg", "apim-x", WORKSPACE)
    body = scenarios.openai_backends()[0]
    body["properties"]["circuitBreaker"]["rules"][0]["failureCondition"]["errorReasons"] = reasons
    backend = parse_backend(body)
    result = GatewaySimulation(
        service, [backend], target="aoai-eastus",
        scripts={"aoai-eastus": Script((at(0, None, TimingOut(timeout_s=20)),))},
        traffic=Traffic((TrafficPhase(timedelta(0), None, 30.0),)), start=START, duration=timedelta(minutes=4), seed=3,
    ).run()
    timed_out = [r for r in result.rows if r["LastErrorReason"] == "Timeout"]
    assert timed_out and all(r["ResponseCode"] == 500 and r["BackendResponseCode"] is None for r in timed_out)
    assert all(r["LastErrorSource"] == "forward-request" and r["BackendTime"] == 20_000 for r in timed_out)
    refused = [r for r in result.rows if r["BackendResponseCode"] is None and r["LastErrorReason"] is None]
    if reasons:
        # The rule lists the reason: the Single backend trips, and the gateway answers 503 itself, BackendId
        # naming the backend.
        assert refused and {(r["ResponseCode"], r["BackendId"]) for r in refused} == {(503, "aoai-eastus")}
    else:
        # The 500-599 range does not see them: the breaker never trips (a blind spot), every request is tried.
        assert refused == [] and "aoai-eastus" not in result.timeline.trips
        assert len(result.timeline.uncounted_failures["aoai-eastus"]) == len(timed_out)


# --- blind spot, two gateways, failed deployment ----------------------------------------------------------


def test_401_misconfiguration_never_trips_the_breaker(twin, twin_server, logs):
    loaded = _load(twin_server, "identity-401")
    assert loaded["events"] == 0
    blind = _expected(loaded, "BreakerBlindSpot", "aoai-eastus")
    assert blind["onsetOffsetSeconds"] >= 600 and blind["end"] is None
    got = _query(logs, "ApiManagementGatewayLogs | where BackendResponseCode == 401 "
                 "| summarize n=count(), firstSeen=min(TimeGenerated) by BackendId, ResponseCode, IsRequestSuccess")
    [row] = got
    assert (row["BackendId"], row["ResponseCode"], row["IsRequestSuccess"]) == ("aoai-eastus", 401, False)
    assert row["n"] > 100 and row["firstSeen"] >= START + timedelta(minutes=10)


def test_two_gateways_keep_their_rows_in_their_own_workspaces(twin, twin_server, logs):
    loaded = _load(twin_server, "two-gateways")
    eu, us = loaded["targets"]
    assert (eu["apimName"], us["apimName"]) == ("apim-gateway-eu", "apim-gateway-us")
    assert [(i["kind"], i["target"], i["subject"]) for i in loaded["expected"]] == [
        ("BreakerStuckOpen", "apim-gateway-us", "aoai-westus")
    ]
    kql = "ApiManagementGatewayLogs | summarize n=count(), bad=countif(ResponseCode >= 500) by _ResourceId, TenantId"
    [eu_rows] = _query(logs, kql, eu["logAnalyticsWorkspaceId"])
    [us_rows] = _query(logs, kql, us["logAnalyticsWorkspaceId"])
    assert eu_rows["_ResourceId"].endswith("/service/apim-gateway-eu") and eu_rows["bad"] == 0
    assert us_rows["_ResourceId"].endswith("/service/apim-gateway-us") and us_rows["bad"] > 0
    assert eu_rows["TenantId"] == eu["logAnalyticsWorkspaceId"]
    assert loaded["rows"] == {eu["logAnalyticsWorkspaceId"]: eu_rows["n"], us["logAnalyticsWorkspaceId"]: us_rows["n"]}
    # Resource-centric: the APIM id as ARM spells it finds its rows (Log Analytics stores it lower-cased).
    us_id = (f"/subscriptions/{us['subscriptionId']}/resourceGroups/{us['resourceGroup']}"
             f"/providers/Microsoft.ApiManagement/service/{us['apimName']}")
    by_resource = rows_from_result(logs.query_resource(us_id, "ApiManagementGatewayLogs | count", timespan=None))
    assert by_resource == [{"Count": us_rows["n"]}]


def test_backends_read_back_through_apim_client(twin, twin_server, apim):
    loaded = _load(twin_server, "two-gateways", durationMinutes=1)
    us = loaded["targets"][1]
    member = apim.backend.get(us["resourceGroup"], us["apimName"], "aoai-westus")
    [rule] = member.circuit_breaker.rules
    assert rule.name == scenarios.RULE and rule.accept_retry_after is True
    assert rule.failure_condition.count == 3  # sent as "3": APIM coerces it
    pool = apim.backend.get(us["resourceGroup"], us["apimName"], scenarios.POOL)
    assert pool.type_properties_type == "Pool"
    assert [(s.priority, s.weight) for s in pool.pool.services] == [(1, 50), (1, 50), (2, 100)]


def test_failed_deployment_by_someone_else_is_in_arm(twin, twin_server, deployments, logs):
    loaded = _load(twin_server, "failed-deployment")
    failed = _expected(loaded, "ProvisioningFailed", "hotfix-add-northeurope")
    assert failed["onsetOffsetSeconds"] == 720
    listed = {d.name: d for d in deployments.deployments.list_by_resource_group(scenarios.RESOURCE_GROUP)}
    deployment = listed["hotfix-add-northeurope"]
    assert deployment.properties.provisioning_state == "Failed"
    assert deployment.properties.timestamp == START + timedelta(minutes=12)
    [operation] = [
        o for o in deployments.deployment_operations.list(
            scenarios.RESOURCE_GROUP, "hotfix-add-northeurope")
        if o.properties.provisioning_state == "Failed"
    ]
    error = operation.properties.status_message.error
    assert error.code == "ValidationError"
    assert any("aoai-northeurope" in (d.message or "") for d in error.details)
    # The pool was refused: APIM still holds the three members, and traffic stayed healthy.
    assert _query(logs, "ApiManagementGatewayLogs | summarize bad=countif(ResponseCode != 200)") == [{"bad": 0}]


# --- rows, events, determinism ----------------------------------------------------------------------------


def test_rows_carry_all_59_columns(twin, twin_server, logs):
    _load(twin_server, "burst-429", durationMinutes=25)
    result = logs.query_workspace(WORKSPACE, "ApiManagementGatewayLogs | take 3", timespan=None)
    table = result.tables[0]
    assert list(table.columns) == [name for name, _ in COLUMNS]
    [row, *_] = rows_from_result(result)
    assert row["Category"] == "GatewayLogs" and row["Type"] == "ApiManagementGatewayLogs"
    assert row["ApiId"] == "azure-openai" and row["Method"] == "POST" and GUID.match(row["CorrelationId"])
    assert row["_ResourceId"] == f"/subscriptions/{scenarios.SUBSCRIPTION}/resourcegroups/rg-gateway/providers/" \
        "microsoft.apimanagement/service/apim-gateway"
    assert row["TenantId"] == WORKSPACE and row["Region"] == "East US"
    assert row["BackendUrl"].startswith("https://aoai-") and row["TotalTime"] >= row["BackendTime"]


def _shape(value: Any) -> Any:
    """Keys (in order) and value types of a JSON document, values themselves left out."""
    if isinstance(value, dict):
        return [(key, _shape(item)) for key, item in value.items()]
    return type(value).__name__


def _published(name: str) -> dict[str, Any]:
    published = json.loads((DATA / name).read_text())
    rules = published["data"]["circuitBreaker"]["rules"]
    rules[scenarios.RULE] = rules.pop("{rule-name}")  # the documented placeholder, named
    return published


def test_events_match_the_published_event_key_for_key(twin, twin_server):
    _load(twin_server, "region-down")
    verify = str(twin_server.ca_path)
    events = requests.get(f"{twin_server.url}/_twin/gateway/events", verify=verify, timeout=10).json()
    cloud = requests.get(f"{twin_server.url}/_twin/gateway/events?schema=cloudevents", verify=verify, timeout=10).json()
    published = _published("eventgrid_apim_CircuitBreakerOpened_eventgrid-schema.json")
    published_cloud = _published("eventgrid_apim_CircuitBreakerOpened_cloudevent-schema.json")
    assert events and len(cloud) == len(events)
    topic = f"/subscriptions/{scenarios.SUBSCRIPTION}/resourceGroups/rg-gateway/providers/" \
        "Microsoft.ApiManagement/service/apim-gateway"
    for event, cloud_event in zip(events, cloud, strict=True):
        assert _shape(event) == _shape(published) and _shape(cloud_event) == _shape(published_cloud)
        assert event["topic"] == topic and cloud_event["source"] == topic
        assert event["subject"] == f"/backends/aoai-westus/circuit-breaker/rules/{scenarios.RULE}"
        assert event["data"]["backendName"] == "aoai-westus"
        trip = event["data"]["circuitBreaker"]["rules"][scenarios.RULE]["tripDuration"]
        assert re.match(r"^\d{2}:\d{2}:\d{2}$", trip)
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$", event["eventTime"])
        assert (event["dataVersion"], event["metadataVersion"], cloud_event["specVersion"]) == ("1", "1", "1.0")
        assert GUID.match(event["id"]) and cloud_event == to_cloudevent(event)
    assert len({e["id"] for e in events}) == len(events)
    kinds = [e["eventType"].rsplit(".", 1)[1] for e in events]
    assert kinds[0] == "Opened" and all(a != b for a, b in itertools.pairwise(kinds))  # they alternate


def _fingerprint(loaded: LoadedScenario) -> Any:
    rows = [r for result in loaded.results for r in result.rows]
    return (json.dumps(rows, default=str, sort_keys=True), loaded.events, loaded.rest())


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_every_scenario_is_deterministic_and_produces_its_intent(name):
    twin = Twin()
    a = load_scenario(twin, name, start=START, seed=7)
    rows_a = twin.logs.row_count
    twin.reset()
    b = load_scenario(twin, name, start=START, seed=7)
    twin.reset()
    c = load_scenario(twin, name, start=START, seed=8)
    assert _fingerprint(a) == _fingerprint(b)
    assert [r["CorrelationId"] for r in a.results[0].rows] != [r["CorrelationId"] for r in c.results[0].rows]
    intent = sorted(scenarios.get(name).intent)
    for loaded in (a, c):  # the intent holds under another seed too: it is the scenario's, not the dice's
        assert sorted((i.kind, i.target, i.subject) for i in loaded.expected) == intent
    assert all(len(row) == len(COLUMNS) for result in a.results for row in result.rows)
    assert rows_a == sum(a.rows.values()) > 0


def test_start_is_the_callers_not_the_wall_clock():
    later = START + timedelta(days=3, hours=5)
    twin = Twin()
    a = load_scenario(twin, "region-down", start=START, seed=2)
    twin.reset()
    b = load_scenario(twin, "region-down", start=later, seed=2)
    shift = later - START
    assert [r["TimeGenerated"] + shift for r in a.results[0].rows] == [r["TimeGenerated"] for r in b.results[0].rows]
    assert [(i.onset + shift, i.end and i.end + shift) for i in a.expected] == [(i.onset, i.end) for i in b.expected]


def test_scenario_list_and_reset(twin, twin_server):
    verify = str(twin_server.ca_path)
    listed = requests.get(f"{twin_server.url}/_twin/gateway/scenarios", verify=verify, timeout=10).json()["value"]
    assert {s["name"] for s in listed} == {
        "healthy", "burst-429", "quota-exhausted", "region-down", "pool-exhausted", "identity-401", "flapping",
        "low-traffic", "two-gateways", "failed-deployment",
    }
    assert all(s["description"] and s["defaultDurationMinutes"] >= 60 for s in listed)
    _load(twin_server, "burst-429")
    assert twin.gateway.events
    requests.post(f"{twin_server.url}/_twin/reset", verify=verify, timeout=10)
    assert twin.gateway.events == [] and twin.logs.row_count == 0
    bad = requests.post(f"{twin_server.url}/_twin/gateway/scenario",
                        json={"name": "nope", "start": "2024-05-01T10:00Z"}, verify=verify, timeout=10)
    assert bad.status_code == 400 and "healthy" in bad.json()["error"]["message"]


def test_ingestion_delay_hides_the_newest_scenario_rows(twin, twin_server, logs):
    loaded = _load(twin_server, "healthy", durationMinutes=20)
    now = START + timedelta(minutes=15)
    twin.logs.set_now(now)
    twin.logs.set_ingestion_delay(timedelta(minutes=3))
    got = _query(logs, "ApiManagementGatewayLogs | summarize n=count(), newest=max(TimeGenerated)")
    [result] = twin.gateway.loaded[-1].results
    visible = [r for r in result.rows if r["TimeGenerated"] <= now - timedelta(minutes=3)]
    assert got == [{"n": len(visible), "newest": max(r["TimeGenerated"] for r in visible)}]
    assert len(visible) < loaded["rows"][WORKSPACE]


def test_a_503_with_retry_after_holds_the_breaker_open_for_it_and_logs_the_header():
    """backends.md: "If a Retry-After header is present in the response, the circuit breaker accepts the value" —
    any response, not only a 429."""
    service = Service(scenarios.SUBSCRIPTION, "rg", "apim-x", WORKSPACE)
    backend = parse_backend(scenarios.openai_backends()[0])
    result = GatewaySimulation(
        service, [backend], target="aoai-eastus",
        scripts={"aoai-eastus": Script((at(0, None, Failing((503,), retry_after=300)),))},
        traffic=Traffic(), start=START, duration=timedelta(minutes=10), seed=2,
    ).run()
    trips = result.timeline.trips["aoai-eastus"]
    assert trips and all(t.retry_after and t.duration == timedelta(seconds=300) for t in trips)
    failed = [r for r in result.rows if r["BackendResponseCode"] == 503]
    assert failed and all(r["BackendResponseHeaders"]["Retry-After"] == "300" for r in failed)
