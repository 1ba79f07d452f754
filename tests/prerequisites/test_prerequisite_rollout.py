"""Rollouts through the real Durable replay engine with the real activities on the twin: prerequisites stop a
target before validate, and breaker events are wired to this app's breaker_events function (an instance's own
system topic reused)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from prereq_target import APIM, APIM_ID, GROUP, REQUEST, SUB, WORKSPACE

import function_app
from activities.policy import current_policy
from breakerpanel.core.model import Target
from breakerpanel.core.request import check_rollout_request
from breakerpanel.core.rollout_api import orchestration_input, rollout_instance_id
from breakerpanel.core.summary import render_summary
from breakerpanel.localrun import LocalDurableHost
from breakerpanel.settings import load_settings

SITE = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Web/sites/func-breakerpanel"
STARTER = {"objectId": "11111111-1111-1111-1111-111111111111", "upn": "ada@contoso.com", "name": "Ada",
           "via": "easyAuth"}
TOPIC = "Microsoft.EventGrid/systemTopics"


@pytest.fixture
def rollout(twin: Any, twin_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    for name, value in twin_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BREAKERPANEL_STORE", "sqlite")
    monkeypatch.setenv("BREAKERPANEL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("BREAKERPANEL_BACKEND_HOSTS", raising=False)
    monkeypatch.setenv("BREAKERPANEL_TARGETS", json.dumps(
        [{"subscriptionId": SUB, "resourceGroup": GROUP, "apimName": APIM, "logAnalyticsWorkspaceId": WORKSPACE}]))
    monkeypatch.setenv("BREAKERPANEL_EVENTS_FUNCTION_ID", SITE)
    twin.apim.create_service(SUB, GROUP, APIM)
    host = LocalDurableHost(function_app.app, start_time=datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
    count = iter(range(1, 100))

    def run() -> dict[str, Any]:
        check = check_rollout_request(REQUEST, [Target(SUB, GROUP, APIM)])
        assert check.request is not None
        settings = load_settings()
        rollout_id = f"p{next(count)}"
        instance_id = rollout_instance_id(rollout_id)
        spec = orchestration_input(rollout_id, check.request, [], settings, STARTER, host.now,
                                   policy=current_policy(), instance_id=instance_id)
        host.start("rollout_orchestrator", spec, instance_id=instance_id)
        status = host.run_until_idle(instance_id)
        assert status is not None
        [entry] = status["output"]["targets"].values()
        return {"status": status["output"]["status"], "entry": entry, "output": status["output"]}

    return run


def topics(twin: Any) -> list[dict[str, Any]]:
    return [r for r in twin.arm.resources.in_group(SUB, GROUP) if r["type"].lower() == TOPIC.lower()]


def subscriptions(twin: Any) -> list[dict[str, Any]]:
    return [r for r in twin.arm.resources.all() if r["type"].lower() == f"{TOPIC}/eventSubscriptions".lower()]


def test_a_rollout_wires_breaker_events_to_this_apps_function(rollout: Any, twin: Any) -> None:
    done = rollout()

    assert done["status"] == "succeeded"
    [topic] = topics(twin)
    assert topic["name"] == f"{APIM}-events" and topic["properties"]["source"].lower() == APIM_ID.lower()
    [subscription] = subscriptions(twin)
    destination = subscription["properties"]["destination"]
    assert destination == {"endpointType": "AzureFunction", "properties": {
        "resourceId": f"{SITE}/functions/breaker_events", "maxEventsPerBatch": 1, "preferredBatchSizeInKilobytes": 64}}
    assert subscription["properties"]["filter"]["includedEventTypes"] == [
        "Microsoft.ApiManagement.CircuitBreaker.Opened", "Microsoft.ApiManagement.CircuitBreaker.Closed"]
    checks = {f["check"] for f in done["entry"]["prerequisites"]}
    assert {"systemTopic", "provider"} <= checks
    # Event Grid and Insights both checked: the template deploys a system topic and a diagnostic setting.
    assert sorted(r["path"].rsplit("/", 1)[-1] for r in twin.captured("arm.providers.get")) == [
        "Microsoft.EventGrid", "Microsoft.Insights"]


def test_the_instances_existing_system_topic_is_reused_not_duplicated(rollout: Any, twin: Any) -> None:
    existing = f"/subscriptions/{SUB}/resourceGroups/{GROUP}/providers/{TOPIC}/apim-prereq-f00d"
    twin.arm.resources.put_body(existing, TOPIC, {"location": "eastus", "properties": {
        "source": APIM_ID, "topicType": "Microsoft.ApiManagement.Service"}})

    done = rollout()

    assert done["status"] == "succeeded"
    assert [t["name"] for t in topics(twin)] == ["apim-prereq-f00d"]
    [subscription] = subscriptions(twin)
    assert subscription["id"].startswith(existing + "/eventSubscriptions/")
    # Validate and the deployment both carried the reused name.
    sent = {r["route"]: r["body"]["properties"]["parameters"].get("systemTopicName")
            for r in twin.captured("arm.deployments.*") if r["method"] in ("PUT", "POST") and r["body"]}
    assert set(sent) == {"arm.deployments.validate", "arm.deployments.whatif", "arm.deployments.put"}
    assert all(value == {"value": "apim-prereq-f00d"} for value in sent.values()), sent
    # And in the instance's location (the template's default would be the group's).
    located = {r["body"]["properties"]["parameters"].get("location", {}).get("value")
               for r in twin.captured("arm.deployments.*") if r["method"] in ("PUT", "POST") and r["body"]}
    assert located == {twin.apim.service(SUB, GROUP, APIM).location}


def test_an_unregistered_event_grid_provider_stops_the_target_before_validate(rollout: Any, twin: Any) -> None:
    twin.prerequisites.set_registration(SUB, "Microsoft.EventGrid", "NotRegistered")

    done = rollout()

    assert done["status"] == "failed"
    assert done["entry"]["failure"]["stage"] == "prerequisites"
    assert twin.captured("arm.deployments.*") == []
    summary = "\n".join(render_summary(done["output"]))
    assert "Microsoft.EventGrid is NotRegistered" in summary
    assert "az provider register --namespace Microsoft.EventGrid" in summary
