"""Prove the permissions offline (issue 12): the product against the twin in RBAC mode, with exactly the role
assignments infra/app creates — read from its Bicep by twin/rbac/infra.py — and with each one removed in turn.

Three targets cover every assignment: apim-one sends its gateway logs to a workspace of its own (the diagnostic
setting's linked check, workspace-access), apim-two names no workspace (its logs are queried resource-centrically:
Log Analytics Reader on the instance), apim-three sends them to the app's own workspace (identity.bicep's reader).
The app's token is a static one the twin maps to the identity's object id, as Azure reads a token's `oid`.
Breaker events are wired to the app as infra/app wires them (BREAKERPANEL_EVENTS_FUNCTION_ID = the function app):
every rollout deploys an Event Grid subscription to its breaker_events function (events-access's linked check), and
every target's prerequisites read Microsoft.EventGrid's registration (subscription-access's providers/read).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from test_rollout_orchestration import (
    SUB,
    Rollouts,
    _cancel,
    _slow_arm,
    only_target,
    request,
    target,
)

from breakerpanel.core.summary import render_summary
from breakerpanel.watchdog.replay import environment, run_pass
from twin.rbac.infra import AppInfra, app_assignments

pytestmark = pytest.mark.twin
PRINCIPAL = "6c1e4a2b-0d3f-4e5a-9b8c-7d6e5f4a3b2c"
TOKEN = "app-identity-token"
GROUP = f"/subscriptions/{SUB}/resourceGroups"
GATEWAY_WORKSPACE = f"{GROUP}/rg-logs/providers/Microsoft.OperationalInsights/workspaces/log-gateway"
APP_WORKSPACE = f"{GROUP}/rg-app/providers/Microsoft.OperationalInsights/workspaces/log-breakerpanel"
APP_INSIGHTS = f"{GROUP}/rg-app/providers/Microsoft.Insights/components/appi-breakerpanel"
STORAGE = f"{GROUP}/rg-app/providers/Microsoft.Storage/storageAccounts/stbreakerpanel"
FUNCTION_APP = f"{GROUP}/rg-app/providers/Microsoft.Web/sites/func-breakerpanel"
TARGETS = [
    {"subscriptionId": SUB, "resourceGroup": "rg-gw", "apimName": "apim-one",
     "logAnalyticsWorkspaceId": GATEWAY_WORKSPACE},
    {"subscriptionId": SUB, "resourceGroup": "rg-gw", "apimName": "apim-two"},
    {"subscriptionId": SUB, "resourceGroup": "rg-gw", "apimName": "apim-three",
     "logAnalyticsWorkspaceId": APP_WORKSPACE},
]
INFRA = {"principalId": PRINCIPAL, "targets": TARGETS, "appWorkspaceId": APP_WORKSPACE,
         "appInsightsId": APP_INSIGHTS, "storageId": STORAGE, "functionAppId": FUNCTION_APP}
WATCH_AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
# What the prerequisites say with exactly infra's roles, word for word (infra/README.md says the same).
OPENAI_ROLE_UNCHECKED = {
    "check": "openaiRole", "status": "couldNotCheck",
    "detail": "could not check: the identity lacks Microsoft.Authorization/roleAssignments/read on "
              f"/subscriptions/{SUB}",
    "fix": "infra/app grants no authorization actions on purpose; to have this checked, grant the app's identity a "
           "role holding Microsoft.Authorization/roleAssignments/read — Reader, or a custom role with that one "
           f"action — on /subscriptions/{SUB}, the subscription holding the Azure OpenAI accounts (accounts in another "
           "subscription are not seen: check their Cognitive Services OpenAI User assignment yourself); or check it "
           "yourself before the rollout",
}


def assignments() -> list[str]:
    infra = AppInfra(PRINCIPAL, TARGETS, APP_WORKSPACE, APP_INSIGHTS, STORAGE, FUNCTION_APP)
    return [a.source for a in app_assignments(infra)]


def _control(twin_env: dict[str, str], method: str, path: str, body: Any = None) -> Any:
    import requests

    answer = requests.request(method, twin_env["BREAKERPANEL_ARM_ENDPOINT"] + path, json=body,
                              verify=twin_env["REQUESTS_CA_BUNDLE"], timeout=30)
    assert answer.status_code < 300, answer.text
    return answer.json() if answer.content else None


@pytest.fixture
def env(twin: Any, twin_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    values = {**twin_env, "BREAKERPANEL_STATIC_TOKEN": TOKEN, "BREAKERPANEL_TARGETS": json.dumps(TARGETS),
              "BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(tmp_path / "state"),
              "BREAKERPANEL_EVENTS_FUNCTION_ID": FUNCTION_APP}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in ("BREAKERPANEL_ALLOW_SELF_APPROVAL", "BREAKERPANEL_BACKEND_HOSTS"):
        monkeypatch.delenv(name, raising=False)
    for apim in ("apim-one", "apim-two", "apim-three"):
        twin.apim.create_service(SUB, "rg-gw", apim)
    return values


def rbac(twin_env: dict[str, str], without: list[str] = ()) -> dict[str, Any]:
    """RBAC mode on, through the control API, with infra/app's assignments less `without`."""
    described: dict[str, Any] = _control(twin_env, "PUT", "/_twin/rbac", {
        "principals": {TOKEN: PRINCIPAL}, "infra": INFRA, "without": list(without),
        "workspaces": {}})
    return described


@pytest.fixture
def rollouts(env: dict[str, str]) -> Iterator[Rollouts]:
    yield Rollouts()


def watch(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """One watchdog pass (`watch --once --json`); each target's report by APIM name."""
    with environment(env):
        result = run_pass(WATCH_AT)
    return {t["target"].rsplit("/", 1)[-1]: t for t in result.report["targets"]}


def test_infra_grants_exactly_enough_for_a_rollout_a_rollback_a_cancel_and_a_watchdog_pass(
    rollouts: Rollouts, twin: Any, env: dict[str, str]
) -> None:
    from twin.arm_deployments.failures import parse_failure

    described = rbac(env)
    assert described["enabled"] and described["principals"] == [PRINCIPAL]
    assert TOKEN not in json.dumps(described), "the control API never shows a token"

    first = rollouts.run(rollouts.start(request(target("apim-one"), target("apim-two"), target("apim-three"))))
    assert first["output"]["status"] == "succeeded", render_summary(first["output"])
    # Every prerequisite passes but one: infra/app grants no authorization action, so whether APIM's identity holds
    # Cognitive Services OpenAI User cannot be read — a warning whose fix says what to grant to have it checked.
    for entry in first["output"]["targets"].values():
        assert [f for f in entry["prerequisites"] if f["status"] != "passed"] == [OPENAI_ROLE_UNCHECKED], entry
        providers = sorted(f["detail"].split()[0] for f in entry["prerequisites"] if f["check"] == "provider")
        assert "Microsoft.EventGrid" in providers, providers
    # Each gateway-logs setting reached its workspace: the linked checks passed.
    settings = [r for r in twin.arm.resources.all() if "diagnosticsettings" in r["id"].lower()]
    assert sorted(s["properties"]["workspaceId"] for s in settings) == sorted([GATEWAY_WORKSPACE, APP_WORKSPACE])

    # A rollback: the second rollout's new backend is refused by APIM, the first one's state is restored.
    twin.arm.failures.add(parse_failure({"resource": "*/backends/aoai-france", "status": 500,
                                         "code": "InternalServerError", "message": "internal error"}))
    changed = request(target("apim-one"), backends=[*request()["backends"], {
        "name": "aoai-france", "url": "https://aoai-france.openai.azure.com/openai", "priority": 2, "weight": 100}])
    second = rollouts.run(rollouts.start(changed))
    rollback = only_target(second)["result"]["rollback"]
    assert (rollback["ran"], rollback.get("provisioningState")) == (True, "Succeeded"), (
        rollback, "\n".join(render_summary(second["output"])))
    # The rollback point had this app's breaker events wired: it is re-validated and re-deployed with them.
    [redeployed] = [c["body"] for c in twin.captured("arm.deployments.put")
                    if c["path"].endswith("/" + rollback["deploymentName"])]
    assert redeployed["properties"]["parameters"]["functionAppResourceId"] == {"value": FUNCTION_APP}

    report = watch(env)
    for name in ("apim-one", "apim-two", "apim-three"):
        assert report[name]["problems"] == [], (name, report[name]["problems"])
        assert report[name]["sources"] == {"gatewayLogs": True, "backends": True, "deployments": True}


def test_a_cancel_with_infras_roles_stops_the_deployment_in_arm(
    rollouts: Rollouts, twin: Any, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    rbac(env)
    _slow_arm(twin, monkeypatch)
    instance_id = rollouts.start(request(target("apim-one")))
    assert rollouts.run(instance_id, horizon=timedelta(minutes=2))["customStatus"]["phase"] == "deploying"
    _cancel(rollouts, instance_id)
    status = rollouts.run(instance_id)
    assert status["output"]["status"] == "cancelled", render_summary(status["output"])
    assert [c["status"] for c in twin.captured("arm.deployments.cancel")] == [204]
    assert all(not d.active for d in twin.arm.all_active())


class Denial(NamedTuple):
    """What removing one assignment breaks, and the words the product must say."""

    apim: str  # the target rolled out
    rollout_fails: bool
    watched: set[str]  # the targets whose watchdog pass reports a problem
    code: str | None  # Azure's error code, where the product repeats it
    action: str | None  # the operation it names
    role: str  # the role the fix names
    # The prerequisites that say "could not check" (a warning, never a block). With infra's roles only openaiRole:
    # infra/app grants no authorization action (see the test above).
    unchecked: frozenset[str] = frozenset({"openaiRole"})


SERVICE_UNREAD = frozenset({"tier", "identity", "diagnosticSetting"})
# Each assignment infra/app creates, and what its absence breaks.
DENIED: dict[str, Denial] = {
    "apim-access.bicep: deploymentsAssignment (rg-gw)": Denial(
        "apim-one", True, {"apim-one", "apim-two", "apim-three"}, "AuthorizationFailed",
        "Microsoft.Resources/deployments/", "'breakerpanel deployments (custom)'",
        frozenset({"openaiRole", "systemTopic"})),
    # Without */read on the instance its GET fails: tier and identity cannot be checked, nor (no principal id to
    # look for) its OpenAI role.
    "apim-access.bicep: gatewayAssignment (rg-gw/apim-one)": Denial(
        "apim-one", True, {"apim-one"}, None, "Microsoft.ApiManagement/service", "'breakerpanel gateway (custom)'",
        SERVICE_UNREAD),
    "workspace-access.bicep: destinationAssignment (log-gateway)": Denial(
        "apim-one", True, set(), "LinkedAuthorizationFailed", "Microsoft.OperationalInsights/workspaces/",
        "'breakerpanel gateway logs destination (custom)'"),
    "workspace-access.bicep: workspaceReader (log-gateway)": Denial(
        "apim-one", False, {"apim-one"}, "InsufficientAccessError", None, "'Log Analytics Reader'"),
    # The watchdog still reads apim-two's backends: Log Analytics Reader on the instance holds */read there.
    "apim-access.bicep: gatewayAssignment (rg-gw/apim-two)": Denial(
        "apim-two", True, set(), None, "Microsoft.ApiManagement/service", "'breakerpanel gateway (custom)'"),
    "apim-access.bicep: resourceLogsReader (rg-gw/apim-two)": Denial(
        "apim-two", False, {"apim-two"}, "InsufficientAccessError", None, "'Log Analytics Reader'"),
    "apim-access.bicep: gatewayAssignment (rg-gw/apim-three)": Denial(
        "apim-three", True, {"apim-three"}, None, "Microsoft.ApiManagement/service",
        "'breakerpanel gateway (custom)'", SERVICE_UNREAD),
    "workspace-access.bicep: destinationAssignment (log-breakerpanel)": Denial(
        "apim-three", True, set(), "LinkedAuthorizationFailed", "Microsoft.OperationalInsights/workspaces/",
        "'breakerpanel gateway logs destination (custom)'"),
    "identity.bicep: workspaceReader (app)": Denial(
        "apim-three", False, {"apim-three"}, "InsufficientAccessError", None, "'Log Analytics Reader'"),
    # apim-two sends no gateway logs: its one provider read is Microsoft.EventGrid's, for the breaker events. The
    # prerequisites cannot read it, say so and go on — validate then says whether the provider is registered.
    f"subscription-access.bicep: prerequisitesAssignment ({SUB.lower()})": Denial(
        "apim-two", False, set(), None, "Microsoft.Resources/subscriptions/providers/read",
        "'breakerpanel prerequisites (custom)'", frozenset({"openaiRole", "provider"})),
    # The event subscription's destination is checked when the deployment creates it; the watchdog never writes.
    "events-access.bicep: destinationAssignment (app)": Denial(
        "apim-two", True, set(), "LinkedAuthorizationFailed", "Microsoft.Web/sites/functions/write",
        "'breakerpanel breaker events destination (custom)'"),
}
# The twin route of the read some "could not check" prerequisites stand for: it answered 403.
UNCHECKED_ROUTES = {"provider": "arm.providers.get", "systemTopic": "eventgrid.systemTopics.list"}
# Assignments whose absence no flow here can show, and why (the test below fails when the list drifts).
NOT_SHOWN = {
    # Application Insights ingestion: proven at the twin's ingestion route in test_rbac_twin.py; the rollout and
    # watchdog flows here send no telemetry.
    "identity.bicep: metricsPublisher (app)",
}


def test_every_assignment_infra_creates_is_covered() -> None:
    assert set(assignments()) == set(DENIED) | NOT_SHOWN


@pytest.mark.parametrize("removed", sorted(DENIED))
def test_without_each_assignment_the_product_names_the_refused_operation_and_the_role(
    rollouts: Rollouts, twin: Any, env: dict[str, str], removed: str
) -> None:
    apim, rollout_fails, watched, code, action, role, expected_unchecked = DENIED[removed]
    rbac(env, [removed])
    status = rollouts.run(rollouts.start(request(target(apim))))
    report = watch(env)

    said = []
    summary = "\n".join(render_summary(status["output"]))
    if rollout_fails:
        assert status["output"]["status"] == "failed", removed
        said.append(summary + json.dumps(only_target(status)))
    else:
        assert status["output"]["status"] == "succeeded", (removed, summary)
    unchecked = [f for f in only_target(status)["prerequisites"] if f["status"] == "couldNotCheck"]
    assert {f["check"] for f in unchecked} == expected_unchecked, (removed, unchecked)
    for finding in unchecked:
        if finding["check"] == "openaiRole":
            continue
        # A read this assignment allows: its warning is on the summary and names the read and the role to grant.
        assert "could not check: the identity lacks " in finding["detail"] and finding["detail"] in summary, finding
        if finding["check"] in UNCHECKED_ROUTES:
            refused = twin.captured(UNCHECKED_ROUTES[finding["check"]])
            assert refused and {c["status"] for c in refused} == {403}, refused
        assert f"grant it {role}" in finding["fix"], (removed, finding)
        if not rollout_fails:
            said.append(json.dumps(finding))
    with_problems = {name for name, t in report.items() if t["problems"]}
    assert with_problems == watched, (removed, {n: report[n]["problems"] for n in with_problems})
    for name in watched:
        problems = report[name]["problems"]
        assert all(p["transient"] is False and p["status"] == 403 for p in problems), problems
        said.append(json.dumps(problems))
    assert said, f"{removed}: nothing the product said to check"
    for text in said:
        if code:
            assert code in text, (removed, text)
        if action:
            assert action in text, (removed, text)
        assert f"grant it {role}" in text, (removed, text)


README = Path(__file__).resolve().parents[2] / "infra" / "README.md"


def test_infra_readme_says_what_to_grant_to_have_the_openai_role_checked() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    unchecked = OPENAI_ROLE_UNCHECKED["detail"].replace(SUB, "<id>")
    assert f'"{unchecked}"' in text
    assert ("grant the app's identity, by hand, a role holding `Microsoft.Authorization/roleAssignments/read` — "
            "*Reader*, or a custom role with that one action — on the target's subscription holding the Azure OpenAI "
            "accounts") in text


def test_every_role_a_fix_names_is_a_row_of_infra_readmes_role_table() -> None:
    from breakerpanel.core import grants

    rows = [line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    named = {g.role for g in vars(grants).values() if isinstance(g, grants.Grant)}
    assert len(named) == 7, named  # Log Analytics Reader is granted at two kinds of scope
    for role in named:
        cell = f"| *{role.removesuffix(' (custom)')}* (custom" if role.endswith(" (custom)") else f"| {role} |"
        assert any(row.startswith(cell) for row in rows), (role, cell)
