"""The CLI against the app as infra/app deploys it: https, App Service Authentication on (the adapter writes
the principal headers as the platform does, from the bearer token), roles, four eyes — and the token from
azure-identity's real AzureCliCredential."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.app_client.app_server import principal
from tests.app_client.conftest import CLIENT_ID, KEY, Stack, as_user, rollout_request


def test_deployer_starts_approver_approves_and_the_result_names_both(
    entra_stack: Stack, monkeypatch: pytest.MonkeyPatch, twin: Any
) -> None:
    as_user(monkeypatch, "token-ada")
    instance_id = entra_stack.start(rollout_request(approval="required"))
    start = next(s for s in entra_stack.server.seen if s["method"] == "POST")
    assert start["headers"]["authorization"] == "Bearer token-ada"
    assert start["headers"]["x-functions-key"] == KEY
    # The token was asked for the app registration's resource, as Easy Auth's allowed audience expects.
    asked = [json.loads(line) for line in (entra_stack.tmp / "az.log").read_text().splitlines()]
    assert all(args[args.index("--resource") + 1] == f"api://{CLIENT_ID}" for args in asked)

    as_user(monkeypatch, "token-grace")
    approved = entra_stack.cli("approve", instance_id, "--wait", "--interval", "0")

    assert approved.code == 0, approved
    assert "approved wave 1 as Grace" in approved.out
    final = entra_stack.cli("status", instance_id, "--json").json
    assert final["status"] == "succeeded"
    assert len(twin.captured("arm.deployments.put")) == 1
    listed = entra_stack.cli("list", "--json").json
    (entry,) = listed["rollouts"]
    assert entry["startedBy"]["upn"] == "ada@contoso.com"
    assert "token-" not in approved.out + approved.err


def test_the_starter_cannot_approve_their_own_rollout(entra_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    as_user(monkeypatch, "token-ada")
    instance_id = entra_stack.start(rollout_request(approval="required"))

    # Ada lacks the approver role: the 403 names it and how to get it.
    run = entra_stack.cli("approve", instance_id)
    assert run.code == 2, run
    assert "403" in run.err and "Rollout.Approve" in run.err and "App registration" in run.err

    # With the role too, four eyes still refuses her own rollout, with the app's reason.
    monkeypatch.setitem(entra_stack.server.tokens, "token-ada-approver", principal(
        "ada@contoso.com", "11111111-1111-1111-1111-111111111111", "Rollout.Deploy", "Rollout.Approve"))
    as_user(monkeypatch, "token-ada-approver")
    own = entra_stack.cli("approve", instance_id)
    assert own.code == 1, own
    assert "403 FourEyes" in own.err and "another approver" in own.err


def test_an_approver_without_the_deployer_role_reads_the_gate_and_approves(
    entra_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_user(monkeypatch, "token-ada")
    instance_id = entra_stack.start(rollout_request(approval="required"))
    as_user(monkeypatch, "token-ivy")

    shown = entra_stack.cli("status", instance_id, "--json")
    run = entra_stack.cli("approve", instance_id)

    assert shown.code == 0 and shown.json["phase"] == "awaitingApproval", shown
    assert run.code == 0, run
    assert [s for s in entra_stack.server.seen if s["path"].endswith("/approve")]


def test_a_caller_with_neither_role_cannot_read_a_rollout(
    entra_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_user(monkeypatch, "token-ada")
    instance_id = entra_stack.start(rollout_request(approval="required"))
    as_user(monkeypatch, "token-nobody")

    run = entra_stack.cli("status", instance_id)

    assert run.code == 2, run
    assert "403" in run.err and "Rollout.Deploy" in run.err and "Rollout.Approve" in run.err


def test_a_caller_without_the_deployer_role_is_told_which_role(
    entra_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_user(monkeypatch, "token-ivy")

    run = entra_stack.cli("deploy", "--app", "--request", entra_stack.request_file(rollout_request()))

    assert run.code == 2, run
    assert "403 Forbidden" in run.err and "Rollout.Deploy" in run.err
    assert run.err.count("\n") == 1


def test_a_token_easy_auth_does_not_accept_is_a_401_with_the_fix(
    entra_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_user(monkeypatch, "token-from-another-tenant")

    run = entra_stack.cli("list")

    assert run.code == 2, run
    assert "401" in run.err and "BREAKERPANEL_APP_SCOPE" in run.err and "az login" in run.err
    assert "token-from-another-tenant" not in run.err


def test_signed_out_is_a_clear_message_before_any_call(entra_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    as_user(monkeypatch, None)

    run = entra_stack.cli("list")

    assert run.code == 2, run
    assert "cannot get a Microsoft Entra token" in run.err and "az login" in run.err
    assert entra_stack.server.seen == []


def test_principal_headers_a_caller_sends_are_not_trusted(entra_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter strips them as App Service does; the CLI never sends them anyway — this guards the adapter,
    so the other tests prove what they claim."""
    import urllib.error
    import urllib.request

    forged = principal("mallory@contoso.com", "44444444-4444-4444-4444-444444444444", "Rollout.Deploy")
    request = urllib.request.Request(f"{entra_stack.url}/api/rollouts", headers={**forged, "x-functions-key": KEY})
    context = __import__("ssl").create_default_context(cafile=entra_stack.args[1])
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, context=context, timeout=10)
    assert refused.value.code == 401
