"""The CLI against the app's real HTTP functions with a function key (a local host, BREAKERPANEL_AUTH=
functionKey): start, status, approve through the gate, wait, reject, cancel, list, and a wrong key."""

from __future__ import annotations

import json
from typing import Any

from tests.app_client.conftest import APIMS, KEY, Stack, rollout_request


def _posts(stack: Stack, suffix: str) -> list[dict[str, Any]]:
    return [s for s in stack.server.seen if s["method"] == "POST" and s["path"].endswith(suffix)]


def test_start_status_approve_and_wait_to_succeeded(key_stack: Stack, twin: Any) -> None:
    started = key_stack.cli("deploy", "--app", key_stack.url,
                            "--request", key_stack.request_file(rollout_request(approval="required")))
    assert started.code == 0, started
    instance_id = started.out.split()[1]
    assert instance_id.startswith("rollout-")
    assert f"breakerpanel status {instance_id} --wait" in started.out

    status = key_stack.cli("status", instance_id, "--app", key_stack.url)
    assert status.code == 0, status
    assert "awaitingApproval" in status.out
    shown = key_stack.cli("status", instance_id, "--app", key_stack.url, "--json").json
    digest = shown["approval"]["whatIfDigest"]
    assert digest.startswith("sha256:") and digest in status.out
    assert twin.captured("arm.deployments.put") == []  # nothing deployed before the approval

    approved = key_stack.cli("approve", instance_id, "--app", key_stack.url, "--wait", "--interval", "0",
                             "--comment", "reviewed the what-if")
    assert approved.code == 0, approved
    # It says what it approves, and sends exactly that: the wave and digest GET showed.
    assert f"Approving rollout {instance_id}" in approved.out
    assert "wave 1" in approved.out and digest in approved.out
    (answer,) = _posts(key_stack, "/approve")
    assert answer["headers"]["x-functions-key"] == KEY and "authorization" not in answer["headers"]
    assert "SUCCEEDED" in approved.out
    assert len(twin.captured("arm.deployments.put")) == 1
    final = key_stack.cli("status", instance_id, "--app", key_stack.url, "--json").json
    assert (final["runtimeStatus"], final["status"]) == ("Completed", "succeeded")


def test_deploy_wait_json_is_machine_readable_and_exits_with_the_result(key_stack: Stack) -> None:
    run = key_stack.cli("deploy", "--app", key_stack.url, "--request", key_stack.request_file(rollout_request()),
                        "--wait", "--interval", "0", "--json")

    assert run.code == 0, run
    body = run.json  # stdout is one JSON document, nothing else
    assert body["instanceId"].startswith("rollout-")
    assert body["rollout"]["status"] == "succeeded"
    assert "links" in body and "webhooks" not in run.out and KEY not in run.out + run.err


def test_bare_app_flag_takes_the_url_from_the_setting(key_stack: Stack, monkeypatch: Any) -> None:
    monkeypatch.setenv("BREAKERPANEL_APP_URL", key_stack.url)
    run = key_stack.cli("deploy", "--app", "--request", key_stack.request_file(rollout_request()), "--json")
    assert run.code == 0, run
    assert key_stack.server.seen[-1]["path"] == "/api/rollouts"


def test_reject_ends_the_rollout_as_rejected_and_wait_exits_1(key_stack: Stack, twin: Any) -> None:
    instance_id = key_stack.start(rollout_request(approval="required"))

    rejected = key_stack.cli("reject", instance_id, "--app", key_stack.url, "--comment", "not today")
    assert rejected.code == 0, rejected
    assert f"Rejecting rollout {instance_id}" in rejected.out
    waited = key_stack.cli("status", instance_id, "--app", key_stack.url, "--wait", "--interval", "0")

    assert waited.code == 1, waited
    assert "rejected" in waited.out
    assert twin.captured("arm.deployments.put") == []
    again = key_stack.cli("approve", instance_id, "--app", key_stack.url)
    assert again.code == 1 and "not waiting for an approval" in again.err


def test_cancel_ends_the_rollout_as_cancelled(key_stack: Stack, twin: Any) -> None:
    instance_id = key_stack.start(rollout_request(approval="required"))

    cancelled = key_stack.cli("cancel", instance_id, "--app", key_stack.url, "--comment", "wrong day",
                              "--wait", "--interval", "0")

    assert cancelled.code == 1, cancelled
    assert "cancel sent" in cancelled.out
    final = key_stack.cli("status", instance_id, "--app", key_stack.url, "--json").json
    assert final["status"] == "cancelled"
    assert twin.captured("arm.deployments.put") == []
    # Cancelling what already ended: the app's 409 reason, exit 1.
    again = key_stack.cli("cancel", instance_id, "--app", key_stack.url)
    assert again.code == 1, again
    assert "409 RolloutFinished" in again.err and "already" in again.err


def test_list_shows_rollouts_newest_first_and_filters_by_target(key_stack: Stack) -> None:
    first = key_stack.start(rollout_request(APIMS[0]))
    second = key_stack.start(rollout_request(APIMS[1], approval="required"))

    listed = key_stack.cli("list", "--app", key_stack.url, "--json").json
    ids = [entry["instanceId"] for entry in listed["rollouts"]]
    assert set(ids) == {first, second}
    assert all("backends" not in json.dumps(entry) for entry in listed["rollouts"])
    one = key_stack.cli("list", "--app", key_stack.url, "--target", APIMS[1], "--json").json
    assert [entry["instanceId"] for entry in one["rollouts"]] == [second]
    active = key_stack.cli("list", "--app", key_stack.url, "--active", "--json").json
    assert [entry["instanceId"] for entry in active["rollouts"]] == [second]
    table = key_stack.cli("list", "--app", key_stack.url)
    assert table.code == 0 and first in table.out and second in table.out and "2 rollout(s)" in table.out
    bad = key_stack.cli("list", "--app", key_stack.url, "--target", "no/such/thing/here")
    assert bad.code == 2 and "target" in bad.err


def test_a_wrong_key_is_a_clear_401_without_the_key(key_stack: Stack, monkeypatch: Any) -> None:
    monkeypatch.setenv("BREAKERPANEL_APP_KEY", "not-the-key-987654321")

    run = key_stack.cli("list", "--app", key_stack.url)

    assert run.code == 2
    assert run.err.count("\n") == 1 and "Traceback" not in run.err
    assert "401" in run.err and "refused the function key" in run.err and "BREAKERPANEL_APP_KEY" in run.err
    assert "not-the-key-987654321" not in run.out + run.err


def test_an_unknown_rollout_is_a_404_and_a_malformed_id_is_refused_before_any_call(key_stack: Stack) -> None:
    missing = key_stack.cli("status", "rollout-does-not-exist", "--app", key_stack.url)
    assert missing.code == 2 and "404 RolloutNotFound" in missing.err and "breakerpanel list" in missing.err

    calls = len(key_stack.server.seen)
    malformed = key_stack.cli("approve", "../admin", "--app", key_stack.url)
    assert malformed.code == 2 and "ID '../admin'" in malformed.err
    assert len(key_stack.server.seen) == calls


def test_a_bad_request_lists_every_problem_with_its_fix(key_stack: Stack) -> None:
    body = rollout_request()
    body["backends"][0]["url"] = "http://aoai-eastus.openai.azure.com/openai"
    body["poolName"] = ""

    run = key_stack.cli("deploy", "--app", key_stack.url, "--request", key_stack.request_file(body))

    assert run.code == 2, run
    assert "400 InvalidRolloutRequest" in run.err
    assert "backends[0].url" in run.err and "fix:" in run.err


def test_wait_in_a_terminal_draws_the_live_view(key_stack: Stack, monkeypatch: Any) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # what rich reads to treat stdout as a terminal

    run = key_stack.cli("deploy", "--app", key_stack.url, "--request", key_stack.request_file(rollout_request()),
                        "--wait", "--interval", "0")

    assert run.code == 0, run
    assert "\x1b[" in run.out  # drawn with terminal control sequences, not appended lines
    assert "apim-cli-one" in run.out and "SUCCEEDED" in run.out


def test_a_request_saved_as_utf16_by_a_windows_editor_is_read(key_stack: Stack) -> None:
    path = key_stack.tmp / "utf16.json"
    path.write_bytes(json.dumps(rollout_request()).encode("utf-16"))

    run = key_stack.cli("deploy", "--app", key_stack.url, "--request", str(path), "--json")

    assert run.code == 0, run
    assert run.json["instanceId"].startswith("rollout-")


def test_a_request_file_that_is_not_json_is_exit_2_before_any_call(key_stack: Stack) -> None:
    path = key_stack.tmp / "request.yaml"
    path.write_text("targets:\n  - apim-cli-one\n")

    run = key_stack.cli("deploy", "--app", key_stack.url, "--request", str(path))

    assert run.code == 2 and "not a JSON document" in run.err
    assert key_stack.server.seen == []


def test_approve_flag_of_the_local_runner_is_refused_with_app(key_stack: Stack) -> None:
    run = key_stack.cli("deploy", "--app", key_stack.url, "--request", key_stack.request_file(rollout_request()),
                        "--approve")

    assert run.code == 2 and "--approve is for the local runner" in run.err
    assert key_stack.server.seen == []
