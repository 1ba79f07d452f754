"""GET /api/rollouts' decisions (breakerpanel/core/rollout_list.py): the query and what one entry shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from breakerpanel.core.model import Problem
from breakerpanel.core.rollout_list import DURABLE_PAGE, ListQuery, list_answer, list_entry, matches, parse_list_query

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
SUB = "00000000-0000-0000-0000-0000000000cc"


def _status(created: datetime, *apims: str) -> dict[str, object]:
    spec = {
        "rolloutId": "20261203t120000z-abc",
        "request": {"targets": [{"subscriptionId": SUB, "resourceGroup": "rg-cli", "apimName": a, "wave": 1}
                                for a in apims],
                    "backends": [{"name": "b", "url": "https://b.openai.azure.com/openai?api-version=1"}]},
        "startedBy": {"objectId": "oid", "upn": "ada@contoso.com", "name": "Ada", "via": "easyAuth"},
        "plan": {"waves": []},
    }
    return {"instanceId": "rollout-20261203t120000z-abc", "runtimeStatus": "Running", "input": json.dumps(spec),
            "customStatus": {"phase": "awaitingApproval", "wave": 1, "status": None},
            "output": None, "createdTime": created.isoformat(), "lastUpdatedTime": created.isoformat()}


def test_an_entry_names_who_and_which_targets_and_never_the_backends() -> None:
    entry = list_entry(_status(NOW, "apim-one"))

    assert entry["startedBy"]["upn"] == "ada@contoso.com"
    assert entry["targets"] == [{"subscriptionId": SUB, "resourceGroup": "rg-cli", "apimName": "apim-one",
                                 "wave": 1}]
    assert (entry["phase"], entry["wave"]) == ("awaitingApproval", 1)
    assert "openai.azure.com" not in json.dumps(entry) and "plan" not in entry


def test_the_output_wins_over_the_custom_status_once_it_ended() -> None:
    status = {**_status(NOW, "apim-one"), "runtimeStatus": "Completed",
              "output": {"phase": "done", "status": "succeeded"}}
    assert list_entry(status)["status"] == "succeeded"


@pytest.mark.parametrize(("target", "hit"), [
    ("apim-one", True), ("APIM-ONE", True), (f"{SUB}/rg-cli/apim-one", True), (f"{SUB}/RG-CLI/apim-one", True),
    ("apim-two", False), (f"{SUB}/rg-other/apim-one", False),
])
def test_a_target_is_an_apim_name_or_its_full_key_case_insensitive(target: str, hit: bool) -> None:
    query = parse_list_query({"target": target})
    assert isinstance(query, ListQuery)
    assert matches(list_entry(_status(NOW, "apim-one")), query, NOW - timedelta(days=7)) is hit


def test_rollouts_created_before_the_window_are_left_out() -> None:
    query = parse_list_query({"days": "1"})
    assert isinstance(query, ListQuery) and query.days == 1
    since = NOW - timedelta(days=query.days)
    assert matches(list_entry(_status(NOW - timedelta(hours=2))), query, since)
    assert not matches(list_entry(_status(NOW - timedelta(days=2))), query, since)


@pytest.mark.parametrize(("params", "field"), [
    ({"days": "0"}, "days"), ({"days": "91"}, "days"), ({"days": "7d"}, "days"), ({"active": "yes"}, "active"),
    ({"target": "a/b"}, "target"), ({"target": "apim one"}, "target"), ({"status": "Running"}, "status"),
])
def test_a_bad_query_names_the_parameter_and_the_fix(params: dict[str, str], field: str) -> None:
    problem = parse_list_query(params)
    assert isinstance(problem, Problem)
    assert problem.field == field and problem.fix


def test_defaults_and_the_key_parameter_the_host_reads() -> None:
    assert parse_list_query({"code": "function-key"}) == ListQuery(None, 7, False)
    assert parse_list_query({"active": "true", "days": "30"}) == ListQuery(None, 30, True)


def test_a_full_page_from_the_task_hub_is_said_to_be_truncated() -> None:
    query = parse_list_query({})
    assert isinstance(query, ListQuery)
    entries = [list_entry(_status(NOW - timedelta(minutes=m), "apim-one")) for m in (5, 1, 3)]
    since = NOW - timedelta(days=7)

    short = list_answer(entries, query, since, instances_read=12)
    full = list_answer(entries, query, since, instances_read=DURABLE_PAGE)

    assert [e["createdTime"] for e in short["rollouts"]] == sorted((e["createdTime"] for e in entries), reverse=True)
    assert short["truncated"] is False and "note" not in short
    assert full["truncated"] is True and "fewer days" in full["note"]
