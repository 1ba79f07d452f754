"""External event data reaches a Python orchestrator in Azure as the JSON text the client posted
(Azure/azure-functions-durable-python#295): the cancel's who and why must survive that."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from breakerpanel.core import rollout_flow as flow

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
BY = {"objectId": "22222222-2222-2222-2222-222222222222", "upn": "grace@contoso.com", "name": "Grace",
      "via": "easyAuth"}
EVENT = {"by": BY, "reason": "cancelled by Grace"}
JOB = {"key": "k", "call": {"target": {"apimName": "apim-one"}, "deploymentName": "d"}}


def test_event_text_is_decoded_and_anything_else_is_left_alone() -> None:
    assert flow.event_payload(json.dumps(EVENT)) == EVENT
    assert flow.event_payload(EVENT) == EVENT
    assert flow.event_payload("not json") == "not json"
    assert flow.event_payload("[1]") == "[1]"
    assert flow.event_payload(None) is None


def test_a_cancel_given_as_text_keeps_who_and_why() -> None:
    noted = flow.cancel_requested({}, json.dumps(EVENT), NOW)
    assert noted["cancel"]["reason"] == "cancelled by Grace" and noted["cancel"]["by"]["upn"] == "grace@contoso.com"
    stopped = flow.stop_polling({}, "cancelled", NOW, json.dumps(EVENT))
    assert stopped["stop"]["by"]["upn"] == "grace@contoso.com"


def test_a_cancel_before_submit_given_as_text_is_reported_not_a_crash() -> None:
    # dict(<the event's text>) raised ValueError, failing the deploy child instead of reporting it cancelled.
    result = flow.target_result(JOB, started=None, cancel=json.dumps(EVENT))
    assert result["status"] == "cancelled" and result["cancel"]["reason"] == "cancelled by Grace"
    assert flow.target_result(JOB, started=None, cancel="garbled")["cancel"] == {}
