"""Issue 9, "a lost credential is retried for two hours": a rollout whose managed identity can get no token
fails at once, permanently, saying what to fix — and is never mistaken for Azure answering the call.

The managed identity is really asked (azure-identity's ManagedIdentityCredential against the local App
Service identity endpoint, which answers as for an identity no longer assigned); the proxy lets nothing out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import function_app
from activities.policy import current_policy
from breakerpanel.core.model import Target
from breakerpanel.core.request import check_rollout_request
from breakerpanel.core.rollout_api import orchestration_input, rollout_instance_id
from breakerpanel.core.summary import render_summary
from breakerpanel.localrun import LocalDurableHost
from breakerpanel.settings import load_settings
from tests.rollout_inputs import rollout_request, target
from tests.security.local_identity import CLIENT_ID, IdentityEndpoint, RefusingProxy, in_azure

SUB = "00000000-0000-0000-0000-0000000000aa"
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
STARTER = {"objectId": "11111111-1111-1111-1111-111111111111", "upn": "ada@contoso.com", "name": "Ada",
           "via": "easyAuth"}


def _start(host: LocalDurableHost, body: dict) -> str:
    allowed = [Target(t["subscriptionId"], t["resourceGroup"], t["apimName"]) for t in body["targets"]]
    check = check_rollout_request(body, allowed)
    assert check.request is not None
    instance_id = rollout_instance_id("lost")
    spec = orchestration_input("lost", check.request, [], load_settings(), STARTER, host.now,
                               policy=current_policy(), instance_id=instance_id)
    return host.start("rollout_orchestrator", spec, instance_id=instance_id)


@pytest.mark.parametrize("refusal", [
    (400, {"error": "invalid_request", "error_description": "Identity not found"}),
])
def test_a_managed_identity_that_gets_no_token_fails_the_rollout_at_once_with_the_fix(
    refusal: tuple[int, dict[str, str]], identity_endpoint: IdentityEndpoint, proxy: RefusingProxy,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    in_azure(monkeypatch, identity_endpoint)
    identity_endpoint.refusal = refusal
    monkeypatch.setenv("BREAKERPANEL_TARGETS", json.dumps(
        [{"subscriptionId": SUB, "resourceGroup": "rg-gw", "apimName": "apim-one"}]))
    monkeypatch.setenv("BREAKERPANEL_STORE", "sqlite")
    monkeypatch.setenv("BREAKERPANEL_STATE_DIR", str(tmp_path / "state"))
    for name in ("BREAKERPANEL_ARM_ENDPOINT", "BREAKERPANEL_LOGS_ENDPOINT", "BREAKERPANEL_CREDENTIAL",
                 "REQUESTS_CA_BUNDLE", "APPLICATIONINSIGHTS_CONNECTION_STRING", "BREAKERPANEL_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    host = LocalDurableHost(function_app.app, start_time=T0)

    instance_id = _start(host, rollout_request([target(SUB, "rg-gw", "apim-one")]))
    status = host.run_until_idle(instance_id)

    assert status is not None and status["runtimeStatus"] == "Completed"
    output = status["output"]
    assert output["status"] == "failed", render_summary(output)
    entry = next(iter(output["targets"].values()))
    error = (entry.get("failure") or {}).get("error") or {}
    assert error.get("code") == "CredentialUnavailable", entry
    assert "ManagedIdentityCredential" in error.get("message", "")
    summary = "\n".join(render_summary(output))
    assert "AZURE_CLIENT_ID" in summary
    # Nothing was retried on timers for hours, and nothing but the identity endpoint was asked.
    assert host.now - T0 < timedelta(minutes=5)
    assert proxy.targets == []
    assert identity_endpoint.requests and {r["client_id"] for r in identity_endpoint.requests} == {CLIENT_ID}
