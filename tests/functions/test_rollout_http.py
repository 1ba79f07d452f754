"""The rollout HTTP API as the Python worker runs it: the registered functions, the real Durable client.

Each function is called the way the worker calls it — the decorated callable from `function_app.app`, an
`azure.functions.HttpRequest`, and the durableClient binding as JSON text — so the real
`DurableOrchestrationClient` talks HTTP to LocalTaskHub (the Durable extension's management API over a
LocalDurableHost), and the orchestration runs the real activities against the twin. Assertions are what a
caller sees (status codes, bodies, headers) and what ARM/APIM were asked to do (the twin's captured requests).

The route and auth-level declarations are covered by tests/functions/test_function_app.py.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.durable_functions.models.utils import http_utils

import function_app
from breakerpanel.localrun import LocalDurableHost
from breakerpanel.localrun.taskhub import LocalTaskHub
from tests import rollout_inputs as inputs

SUB = "00000000-0000-0000-0000-0000000000bb"
GROUP = "rg-gw"
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
BASE = "https://breakerpanel-app.azurewebsites.net"
# Long enough for every poll timer, short of the default approval timeout (P1D): the gate stays open.
HORIZON = timedelta(hours=1)
APIMS = ("apim-one", "apim-two", "apim-three")


def target(apim: str, wave: int = 1) -> dict[str, Any]:
    return inputs.target(SUB, GROUP, apim, wave)


def rollout_request(*targets: dict[str, Any], approval: str = "none") -> dict[str, Any]:
    return inputs.rollout_request(list(targets) or [target("apim-one")], approval=approval)


OIDS = {"ada": "11111111-1111-1111-1111-111111111111", "grace": "22222222-2222-2222-2222-222222222222",
        "eve": "33333333-3333-3333-3333-333333333333"}


def principal(name: str, *roles: str, oid: str | None = None) -> str:
    """The X-MS-CLIENT-PRINCIPAL header Easy Auth writes for a signed-in Entra ID user (claims as Entra
    sends them through Easy Auth: long-form object id and UPN types, name, roles)."""
    short = name.split("@")[0]
    upn = name if "@" in name else f"{name}@contoso.com"
    claims = [{"typ": "roles", "val": role} for role in roles] + [
        {"typ": "name", "val": short.title()},
        {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier",
         "val": oid if oid is not None else OIDS.get(short, "44444444-4444-4444-4444-444444444444")},
        {"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "val": upn},
    ]
    payload = {"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def signed_in(name: str, *roles: str, **kw: Any) -> dict[str, str]:
    return {"x-ms-client-principal": principal(name, *roles, **kw)}


ADA = signed_in("ada", "Rollout.Deploy")  # starts rollouts
GRACE = signed_in("grace", "Rollout.Approve")  # approves them


# ------------------------------------------------------------------------------------------- plumbing


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    # The durable SDK keeps one global aiohttp session, bound to the loop that first used it: the whole
    # module shares one loop, as the worker does.
    loop = asyncio.new_event_loop()
    yield loop
    loop.run_until_complete(http_utils._close_session())
    loop.close()


@pytest.fixture(scope="module")
def functions() -> dict[str, Any]:
    app = function_app.app
    app.functions_bindings = None
    return {f.get_function_name(): f.get_user_function() for f in app.get_functions()}


class Api:
    """Calls the HTTP functions as the worker does, and drives the orchestrations behind them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, functions: dict[str, Any], hub: LocalTaskHub) -> None:
        self.loop = loop
        self.functions = functions
        self.hub = hub

    @property
    def host(self) -> LocalDurableHost:
        return self.hub.host

    def call(
        self,
        name: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        route_params: dict[str, str] | None = None,
        client: str | None = None,
    ) -> Response:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        if headers is None:
            headers = ADA if name in ("start_rollout", "get_rollout") else GRACE
        request = func.HttpRequest(
            method,
            f"{BASE}{path}?code=function-key",
            headers={"content-type": "application/json", **headers},
            params={"code": "function-key"},
            route_params=route_params or {},
            body=data,
        )
        function = self.functions[name]
        response = self.loop.run_until_complete(function(req=request, client=client or self.hub.client_binding()))
        return Response(response)

    def start(self, body: Any, **kw: Any) -> Response:
        return self.call("start_rollout", "POST", "/api/rollouts", body=body, **kw)

    def get(self, instance_id: str, **kw: Any) -> Response:
        return self.call(
            "get_rollout", "GET", f"/api/rollouts/{instance_id}", route_params={"instance_id": instance_id}, **kw
        )

    def act(self, action: str, instance_id: str, **kw: Any) -> Response:
        return self.call(
            f"{action}_rollout",
            "POST",
            f"/api/rollouts/{instance_id}/{action}",
            route_params={"instance_id": instance_id},
            **kw,
        )

    def answer(self, action: str, instance_id: str, *, comment: str = "", **kw: Any) -> Response:
        """Approve or reject what the rollout waits on now: its wave and what-if digest, as GET shows them."""
        gate = self.get(instance_id).json["approval"]
        body = {"wave": gate["wave"], "whatIfDigest": gate["whatIfDigest"], "comment": comment}
        return self.act(action, instance_id, body=body, **kw)

    def drive(self, horizon: timedelta | None = HORIZON) -> None:
        with self.hub.lock:
            self.host.run_until_idle(timer_horizon=horizon)


class Response:
    def __init__(self, response: func.HttpResponse) -> None:
        self.status = response.status_code
        self.headers = dict(response.headers)
        self.text = response.get_body().decode()
        self.json: Any = json.loads(self.text) if self.text else None

    def __repr__(self) -> str:
        return f"<{self.status} {self.text[:2000]}>"


@pytest.fixture
def env(twin: Any, twin_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> dict[str, str]:
    for name in ("BREAKERPANEL_DEPLOYER_ROLE", "BREAKERPANEL_APPROVER_ROLE", "BREAKERPANEL_APPROVAL_TIMEOUT",
                 "BREAKERPANEL_AUTH", "BREAKERPANEL_ALLOW_SELF_APPROVAL", "BREAKERPANEL_BACKEND_HOSTS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in twin_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BREAKERPANEL_STORE", "sqlite")
    monkeypatch.setenv("BREAKERPANEL_STATE_DIR", str(tmp_path / "state"))
    # As App Service injects it when authentication is on (infra/app turns it on).
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    allowed = [{"subscriptionId": SUB, "resourceGroup": GROUP, "apimName": apim} for apim in APIMS]
    monkeypatch.setenv("BREAKERPANEL_TARGETS", json.dumps(allowed))
    for apim in APIMS:
        twin.apim.create_service(SUB, GROUP, apim)
    return twin_env


@pytest.fixture
def api(env: dict[str, str], loop: asyncio.AbstractEventLoop, functions: dict[str, Any]) -> Iterator[Api]:
    host = LocalDurableHost(function_app.app, start_time=T0)
    with LocalTaskHub(host) as hub:
        yield Api(loop, functions, hub)


def deployment_puts(twin: Any) -> list[dict[str, Any]]:
    return twin.captured("arm.deployments.put")


def started_input(api: Api, instance_id: str) -> dict[str, Any]:
    raw = api.host.status(instance_id)["input"]
    return json.loads(raw) if isinstance(raw, str) else raw


# ------------------------------------------------------------------------------------------- start


def test_a_valid_request_is_accepted_runs_and_reads_back_as_succeeded(api: Api, twin: Any) -> None:
    accepted = api.start(rollout_request())

    assert accepted.status == 202, accepted
    body = accepted.json
    instance_id = body["instanceId"]
    # Every rollout under its own id: the next one of this target never overwrites this record.
    assert instance_id == f"rollout-{body['rolloutId']}"
    assert body["rolloutId"]
    assert isinstance(body["warnings"], list)
    links = body["links"]
    # Only the app's own routes, on the origin the caller reached: never the Durable management URLs.
    assert links == {
        "status": f"{BASE}/api/rollouts/{instance_id}",
        "approve": f"{BASE}/api/rollouts/{instance_id}/approve",
        "reject": f"{BASE}/api/rollouts/{instance_id}/reject",
        "cancel": f"{BASE}/api/rollouts/{instance_id}/cancel",
        "terminate": f"{BASE}/api/rollouts/{instance_id}/terminate",
    }
    assert accepted.headers["Location"] == links["status"]
    assert "webhooks" not in accepted.text and "code=" not in accepted.text
    assert api.host.status(instance_id)["name"] == "rollout_orchestrator"

    api.drive()
    read = api.get(instance_id)

    assert read.status == 200, read
    status = read.json
    assert status["runtimeStatus"] == "Completed"
    assert (status["phase"], status["status"]) == ("done", "succeeded")
    assert status["rolloutId"] == body["rolloutId"]
    (progress,) = status["targets"].values()
    assert progress["phase"] == "verified"
    assert progress["deploymentName"].startswith(f"bp-{body['rolloutId']}"[:20])
    assert progress["result"]["verify"]["differences"] == []
    summary = "\n".join(status["summary"])
    assert "SUCCEEDED" in summary and "verify: APIM matches the request" in summary
    assert "apim-one" in summary
    assert len(deployment_puts(twin)) == 1
    assert deployment_puts(twin)[0]["params"]["name"] == progress["deploymentName"]


def test_warnings_come_back_with_the_202(api: Api) -> None:
    body = rollout_request()
    body["breakerRule"]["statusCodeRanges"] = [{"min": 500, "max": 599}]

    accepted = api.start(body)

    assert accepted.status == 202, accepted
    warned = {w["field"] for w in accepted.json["warnings"]}
    assert "breakerRule.statusCodeRanges" in warned
    assert all(w["problem"] and w["fix"] for w in accepted.json["warnings"])


# ------------------------------------------------------------------------------------------- 400


def test_a_request_with_many_problems_gets_one_400_listing_them_all_and_starts_nothing(
    api: Api, twin: Any
) -> None:
    body = rollout_request(target("apim-one"), target("apim-elsewhere"))
    body["targets"][1]["resourceGroup"] = "rg-other"
    body["dryRun"] = True
    body["backends"] = [
        {"name": "aoai-eastus", "url": "http://aoai-eastus.openai.azure.com/openai", "priority": 1, "weight": 50},
        {"name": "aoai-meta", "url": "https://169.254.169.254/metadata/identity", "priority": 1, "weight": 50},
        {"name": "aoai-westus", "url": "https://aoai-westus.openai.azure.com/openai", "priority": 101, "weight": 50},
        {"name": "AOAI-WESTUS", "url": "https://aoai-west2.openai.azure.com/openai", "priority": 1, "weight": 50},
        {"name": "aoai-sweden", "url": "https://aoai-sweden.openai.azure.com/openai", "priority": 2, "weight": "100"},
    ]

    refused = api.start(body)

    assert refused.status == 400, refused
    error = refused.json["error"]
    assert error["code"] == "InvalidRolloutRequest"
    problems = error["problems"]
    assert {p["field"] for p in problems} == {
        "dryRun",
        "targets[1]",
        "backends[0].url",
        "backends[1].url",
        "backends[2].priority",
        "backends[3].name",
        "backends[4].weight",
    }
    assert all(p["problem"] and p["fix"] for p in problems)
    by_field = {p["field"]: p for p in problems}
    assert "https" in by_field["backends[0].url"]["problem"]
    # The metadata host is named (its path, not /openai, is a second problem of the same field).
    assert any("169.254.169.254" in p["problem"] for p in problems if p["field"] == "backends[1].url")
    assert "allowlist" in by_field["targets[1]"]["problem"]
    assert f"{len(problems)} error(s)" in error["message"]
    # Nothing was started and ARM was never asked anything.
    assert api.host.statuses() == []
    assert twin.captured() == []


@pytest.mark.parametrize("raw", [b"{not json", b"", b"targets: [apim-one]", b"\xff\xfe{}"])
def test_a_body_that_is_not_json_gets_400(api: Api, twin: Any, raw: bytes) -> None:
    refused = api.start(None, raw=raw)

    assert refused.status == 400, refused
    (problem,) = refused.json["error"]["problems"]
    assert problem["field"] == "(body)" and "JSON" in problem["problem"] and problem["fix"]
    assert api.host.statuses() == []
    assert twin.captured() == []


def test_a_json_body_that_is_not_an_object_gets_400(api: Api) -> None:
    refused = api.start(["apim-one"])

    assert refused.status == 400, refused
    assert refused.json["error"]["problems"][0]["fix"]
    assert api.host.statuses() == []


# ------------------------------------------------------------------------------------------- 409


def test_a_second_rollout_for_a_busy_target_gets_409_until_the_first_finishes(api: Api, twin: Any) -> None:
    first = api.start(rollout_request())
    assert first.status == 202, first
    instance_id = first.json["instanceId"]

    busy = api.start(rollout_request())

    assert busy.status == 409, busy
    error = busy.json["error"]
    assert error["code"] == "RolloutInProgress"
    assert error["instanceId"] == instance_id
    assert error["statusUri"] == first.json["links"]["status"]
    assert "webhooks" not in busy.text and "code=" not in busy.text
    assert "apim-one" in error["message"]
    assert [s["instanceId"] for s in api.host.statuses()] == [instance_id]

    api.drive()
    assert api.get(instance_id).json["status"] == "succeeded"
    again = api.start(rollout_request())

    assert again.status == 202, again
    assert again.json["instanceId"] != instance_id
    assert again.json["rolloutId"] != first.json["rolloutId"]
    api.drive()
    assert api.get(again.json["instanceId"]).json["status"] == "succeeded"
    # The first rollout's record is still there, under its own id.
    assert api.get(instance_id).json["rolloutId"] == first.json["rolloutId"]
    assert len(deployment_puts(twin)) == 2


def test_a_multi_target_rollout_overlapping_a_running_one_gets_409(api: Api) -> None:
    first = api.start(rollout_request(target("apim-two")))
    assert first.status == 202, first

    overlapping = api.start(rollout_request(target("apim-one"), target("apim-two", wave=2)))

    assert overlapping.status == 409, overlapping
    assert overlapping.json["error"]["instanceId"] == first.json["instanceId"]
    assert "apim-two" in overlapping.json["error"]["message"]
    assert "apim-one" not in overlapping.json["error"]["message"]
    # A rollout on targets nobody is touching starts alongside.
    elsewhere = api.start(rollout_request(target("apim-one"), target("apim-three", wave=2)))
    assert elsewhere.status == 202, elsewhere
    assert elsewhere.json["instanceId"] != first.json["instanceId"]


# ------------------------------------------------------------------------------------------- approval


def test_approval_required_waits_for_approve_then_deploys(api: Api, twin: Any) -> None:
    instance_id = api.start(rollout_request(approval="required")).json["instanceId"]
    api.drive()

    waiting = api.get(instance_id).json
    assert waiting["runtimeStatus"] == "Running"
    assert waiting["phase"] == "awaitingApproval"
    assert deployment_puts(twin) == []

    approved = api.answer("approve", instance_id, comment="ship it")

    assert approved.status == 202, approved
    assert approved.json["approved"] is True
    api.drive()
    done = api.get(instance_id).json
    assert (done["phase"], done["status"]) == ("done", "succeeded")
    assert done["approval"]["outcome"] == "approved"
    assert len(deployment_puts(twin)) == 1


def test_reject_ends_the_rollout_with_nothing_deployed(api: Api, twin: Any) -> None:
    instance_id = api.start(rollout_request(approval="required")).json["instanceId"]
    api.drive()

    rejected = api.answer("reject", instance_id, comment="not during the launch")

    assert rejected.status == 202, rejected
    api.drive()
    done = api.get(instance_id).json
    assert done["status"] == "rejected"
    (progress,) = done["targets"].values()
    assert progress["phase"] == "rejected"
    assert "not during the launch" in "\n".join(done["summary"])
    assert deployment_puts(twin) == []


def test_approve_when_nothing_waits_is_409_and_an_unknown_id_is_404(api: Api) -> None:
    instance_id = api.start(rollout_request()).json["instanceId"]
    api.drive()

    late = api.act("approve", instance_id, body={"wave": 1, "whatIfDigest": "sha256:" + "0" * 64})
    assert late.status == 409, late
    assert late.json["error"]["code"] == "NotAwaitingApproval"

    for action in ("approve", "reject", "terminate"):
        unknown = api.act(action, "rollout-nobody-here", body={"wave": 1, "whatIfDigest": "sha256:" + "0" * 64})
        assert unknown.status == 404, (action, unknown)
        assert "rollout-nobody-here" in unknown.json["error"]["message"]
    assert api.get("rollout-nobody-here").status == 404


def test_a_sub_orchestration_id_is_not_a_rollout(api: Api) -> None:
    instance_id = api.start(rollout_request()).json["instanceId"]
    api.drive()
    children = [s["instanceId"] for s in api.host.statuses() if s["instanceId"] != instance_id]
    assert children

    # Not even handed to the Durable client: a sub-orchestration's id is not a rollout id.
    assert api.get(children[0]).status in (400, 404)


# ------------------------------------------------------------------------------------------- auth


def test_easy_auth_deployer_starts_and_is_recorded_by_object_id_and_upn(api: Api) -> None:
    accepted = api.start(rollout_request(), headers=ADA)

    assert accepted.status == 202, accepted
    started_by = started_input(api, accepted.json["instanceId"])["startedBy"]
    assert started_by == {"objectId": OIDS["ada"], "upn": "ada@contoso.com", "name": "Ada", "via": "easyAuth"}
    assert accepted.json["startedBy"] == started_by


def test_a_body_never_names_who_asks(api: Api) -> None:
    body = rollout_request()
    body["startedBy"] = "grace"
    refused = api.start(body, headers=ADA)
    assert refused.status == 400 and refused.json["error"]["problems"][0]["field"] == "startedBy"

    instance_id = api.start(rollout_request(approval="required"), headers=ADA).json["instanceId"]
    api.drive()
    gate = api.get(instance_id).json["approval"]
    forged = api.act("approve", instance_id, body={"wave": gate["wave"], "whatIfDigest": gate["whatIfDigest"],
                                                   "by": "someone else"})
    assert forged.status == 400, forged
    assert api.get(instance_id).json["phase"] == "awaitingApproval"


def test_with_easy_auth_on_a_call_without_a_principal_is_401(api: Api, twin: Any) -> None:
    refused = api.start(rollout_request(), headers={})

    assert refused.status == 401, refused
    assert "Entra" in refused.json["error"]["message"]
    assert api.host.statuses() == []
    assert twin.captured() == []


def test_a_principal_without_an_object_id_is_401(api: Api) -> None:
    refused = api.start(rollout_request(), headers=signed_in("ada", "Rollout.Deploy", oid=""))

    assert refused.status == 401, refused
    assert "object id" in refused.json["error"]["message"]


def test_a_forged_principal_is_never_trusted_while_the_platform_says_easy_auth_is_off(
    api: Api, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBSITE_AUTH_ENABLED")

    for headers in (ADA, {}):
        refused = api.start(rollout_request(), headers=headers)
        assert refused.status == 500, refused
        assert refused.json["error"]["code"] == "Misconfigured"
        assert refused.json["error"]["setting"] == "BREAKERPANEL_AUTH"
        assert "WEBSITE_AUTH_ENABLED" in refused.json["error"]["message"]
    assert api.host.statuses() == []
    assert twin.captured() == []


def test_function_key_mode_is_explicit_and_ignores_principal_headers(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBSITE_AUTH_ENABLED")
    monkeypatch.setenv("BREAKERPANEL_AUTH", "functionKey")

    # A caller without any role, forging a principal, is simply the anonymous operator "function key".
    accepted = api.start(rollout_request(), headers=signed_in("eve"))

    assert accepted.status == 202, accepted
    started_by = started_input(api, accepted.json["instanceId"])["startedBy"]
    assert started_by == {"objectId": "", "upn": "", "name": "function key", "via": "functionKey"}


def test_easy_auth_caller_without_the_role_gets_403_naming_it(api: Api, twin: Any) -> None:
    refused = api.start(rollout_request(), headers=signed_in("eve"))

    assert refused.status == 403, refused
    assert "Rollout.Deploy" in refused.json["error"]["message"]
    assert api.host.statuses() == []
    assert twin.captured() == []


@pytest.mark.parametrize(
    "header",
    [
        "!!not base64!!",
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b"[1, 2]").decode(),
        base64.b64encode(b'{"claims": 5}').decode(),
    ],
)
def test_a_garbled_principal_header_is_401(api: Api, header: str) -> None:
    refused = api.start(rollout_request(), headers={"x-ms-client-principal": header})

    assert refused.status == 401, refused
    assert "x-ms-client-principal" in refused.json["error"]["message"]
    assert api.host.statuses() == []


def test_approving_needs_the_approver_role(api: Api) -> None:
    instance_id = api.start(rollout_request(approval="required")).json["instanceId"]
    api.drive()

    deployer = api.answer("approve", instance_id, headers=signed_in("eve", "Rollout.Deploy"))
    assert deployer.status == 403, deployer
    assert "Rollout.Approve" in deployer.json["error"]["message"]
    assert api.get(instance_id).json["phase"] == "awaitingApproval"

    approver = api.answer("approve", instance_id, headers=GRACE)
    assert approver.status == 202, approver
    assert approver.json["by"]["objectId"] == OIDS["grace"]
    api.drive()
    done = api.get(instance_id).json
    assert done["status"] == "succeeded"
    assert done["approval"]["byIdentity"]["upn"] == "grace@contoso.com"
    assert done["approval"]["fourEyes"] == "kept"


def test_role_names_come_from_the_settings(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BREAKERPANEL_DEPLOYER_ROLE", "Gateway.Rollout")
    as_default = api.start(rollout_request(), headers=signed_in("ada", "Rollout.Deploy"))
    assert as_default.status == 403
    assert "Gateway.Rollout" in as_default.json["error"]["message"]

    configured = api.start(rollout_request(), headers=signed_in("ada", "Gateway.Rollout"))
    assert configured.status == 202, configured


def test_reading_a_rollout_needs_the_deployer_role(api: Api) -> None:
    instance_id = api.start(rollout_request()).json["instanceId"]

    assert api.get(instance_id, headers=signed_in("eve")).status == 403
    readable = api.get(instance_id, headers=ADA)
    assert readable.status == 200, readable


def test_a_running_rollout_shows_what_each_target_waits_for(api: Api, twin: Any, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    # ARM answers Running for a few reads: the poller sits on its poll timer when the caller looks.
    monkeypatch.setattr(twin.arm, "config", dataclasses.replace(twin.arm.config, deployment_poll_steps=4))
    instance_id = api.start(rollout_request()).json["instanceId"]
    api.drive(horizon=timedelta(0))

    running = api.get(instance_id)
    assert running.status == 200, running
    assert running.json["runtimeStatus"] == "Running"
    (progress,) = running.json["targets"].values()
    wait = progress["waiting"]
    assert (wait["reason"], wait["call"], wait["role"]) == ("poll", "deployment GET", "poll"), wait
    assert wait["seconds"] > 0 and wait["until"].startswith("2026-11-24T09:")
    assert "management" not in running.text and "code=" not in running.text

    api.drive()
    done = api.get(instance_id).json
    assert done["status"] == "succeeded"
    (progress,) = done["targets"].values()
    assert "waiting" not in progress and not done.get("waiting")


# ------------------------------------------------------------------------------------------- four eyes


def test_the_starter_cannot_approve_their_own_rollout(api: Api, twin: Any) -> None:
    both_roles = signed_in("ada", "Rollout.Deploy", "Rollout.Approve")
    instance_id = api.start(rollout_request(approval="required"), headers=both_roles).json["instanceId"]
    api.drive()

    own = api.answer("approve", instance_id, headers=both_roles)

    assert own.status == 403, own
    assert own.json["error"]["code"] == "FourEyes"
    api.drive()
    assert api.get(instance_id).json["phase"] == "awaitingApproval"
    assert deployment_puts(twin) == []
    # Rejecting needs no second person.
    assert api.answer("reject", instance_id, headers=both_roles).status == 202


def test_in_function_key_mode_nobody_can_be_told_apart_so_approval_needs_the_lab_setting(
    api: Api, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BREAKERPANEL_AUTH", "functionKey")
    instance_id = api.start(rollout_request(approval="required")).json["instanceId"]
    api.drive()

    assert api.answer("approve", instance_id).status == 403
    assert api.act("terminate", instance_id).status == 202
    api.drive()

    monkeypatch.setenv("BREAKERPANEL_ALLOW_SELF_APPROVAL", "true")
    instance_id = api.start(rollout_request(approval="required")).json["instanceId"]
    api.drive()
    assert api.answer("approve", instance_id).status == 202
    api.drive()
    done = api.get(instance_id).json
    assert done["status"] == "succeeded"
    assert done["approval"]["fourEyes"].startswith("relaxed")
    assert any("four eyes relaxed" in line for line in done["summary"])


# ------------------------------------------------------------------------------------------- one answer, one question


def test_an_answer_must_name_the_wave_and_what_if_it_approves(api: Api) -> None:
    instance_id = api.start(rollout_request(approval="required")).json["instanceId"]
    api.drive()
    gate = api.get(instance_id).json["approval"]
    assert gate["wave"] == 1 and gate["whatIfDigest"].startswith("sha256:") and gate["whatIf"]

    for body, field in (({}, "wave"), ({"wave": 1}, "whatIfDigest"), ({"whatIfDigest": gate["whatIfDigest"]}, "wave")):
        bare = api.act("approve", instance_id, body=body)
        assert bare.status == 400, bare
        assert field in {p["field"] for p in bare.json["error"]["problems"]}

    wrong_wave = api.act("approve", instance_id, body={"wave": 2, "whatIfDigest": gate["whatIfDigest"]})
    assert wrong_wave.status == 409, wrong_wave
    wrong_digest = api.act("approve", instance_id, body={"wave": 1, "whatIfDigest": "sha256:" + "f" * 64})
    assert wrong_digest.status == 409, wrong_digest
    assert wrong_digest.json["error"]["code"] == "ApprovalMismatch"
    api.drive()
    assert api.get(instance_id).json["phase"] == "awaitingApproval"


def test_a_double_click_answers_one_wave_and_a_stale_answer_is_409(api: Api, twin: Any) -> None:
    instance_id = api.start(
        rollout_request(target("apim-one", wave=1), target("apim-two", wave=2), approval="required")
    ).json["instanceId"]
    api.drive()
    first = api.get(instance_id).json["approval"]
    answer = {"wave": first["wave"], "whatIfDigest": first["whatIfDigest"]}

    assert api.act("approve", instance_id, body=answer).status == 202
    assert api.act("approve", instance_id, body=answer).status == 202  # before the rollout read the first
    api.drive()

    waiting = api.get(instance_id).json
    assert waiting["phase"] == "awaitingApproval" and waiting["approval"]["wave"] == 2
    assert len(deployment_puts(twin)) == 1
    stale = api.act("approve", instance_id, body=answer)
    assert stale.status == 409, stale
    assert "wave 2" in stale.json["error"]["message"]

    assert api.answer("approve", instance_id).status == 202
    api.drive()
    assert api.get(instance_id).json["status"] == "succeeded"
    assert len(deployment_puts(twin)) == 2


# ------------------------------------------------------------------------------------------- route parameters


@pytest.mark.parametrize("instance_id", ["../../runtime/webhooks/durabletask/instances", "rollout-a/../b",
                                         "rollout-a?x=1", "rollout-a%2f", "x" * 101, "rollout-A", ""])
def test_a_route_id_that_is_not_a_rollout_id_is_400_before_the_durable_client(
    api: Api, instance_id: str
) -> None:
    for response in (api.get(instance_id), api.act("terminate", instance_id),
                     api.act("approve", instance_id, body={"wave": 1, "whatIfDigest": "sha256:" + "0" * 64})):
        assert response.status == 400, response
        assert response.json["error"]["field"] == "instance_id"


# ------------------------------------------------------------------------------------------- terminate


def test_terminate_stops_a_running_rollout_and_refuses_a_finished_one(api: Api, twin: Any) -> None:
    instance_id = api.start(rollout_request(approval="required")).json["instanceId"]
    api.drive()

    stopped = api.act("terminate", instance_id, headers=GRACE)

    assert stopped.status == 202, stopped
    assert stopped.json["terminatedBy"]["objectId"] == OIDS["grace"]
    # Terminate is a cancel: the rollout ends itself, its children and deployments stopped, the target freed.
    api.drive()
    read = api.get(instance_id).json
    assert read["runtimeStatus"] == "Completed"
    assert read["status"] == "cancelled"
    assert any("cancelled by grace@contoso.com" in line for line in read["summary"])
    assert deployment_puts(twin) == []

    again = api.act("terminate", instance_id)
    assert again.status == 409, again
    assert "Completed" in again.json["error"]["message"]
    # The target is free again.
    assert api.start(rollout_request()).status == 202


def test_terminate_needs_the_approver_role(api: Api) -> None:
    instance_id = api.start(rollout_request()).json["instanceId"]

    refused = api.act("terminate", instance_id, headers=ADA)

    assert refused.status == 403, refused
    assert api.host.status(instance_id)["runtimeStatus"] != "Terminated"


# ------------------------------------------------------------------------------------------- misconfiguration


@pytest.mark.parametrize(
    "value",
    [
        '[{"subscriptionId": "sub", "resourceGroup": "rg", "apimName": "apim", "sig": "s3cr3t-sas-value"',
        '{"sig": "s3cr3t-sas-value"}',
    ],
)
def test_a_broken_targets_setting_is_a_500_naming_it_without_echoing_it(
    api: Api, twin: Any, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("BREAKERPANEL_TARGETS", value)

    failed = api.start(rollout_request())

    assert failed.status == 500, failed
    assert failed.json["error"]["code"] == "Misconfigured"
    assert "BREAKERPANEL_TARGETS" in failed.json["error"]["message"]
    assert "s3cr3t" not in failed.text
    assert api.host.statuses() == []
    assert twin.captured() == []


def test_without_targets_configured_nothing_may_be_touched(
    api: Api, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BREAKERPANEL_TARGETS")

    refused = api.start(rollout_request())

    assert refused.status == 400, refused
    (problem,) = refused.json["error"]["problems"]
    assert problem["field"] == "targets[0]" and "allowlist" in problem["problem"]
    assert twin.captured() == []


def test_a_broken_setting_fails_every_route_with_500(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    instance_id = api.start(rollout_request()).json["instanceId"]
    monkeypatch.setenv("BREAKERPANEL_ARM_ENDPOINT", "https://arm.example/?sig=s3cr3t")

    answer = {"wave": 1, "whatIfDigest": "sha256:" + "0" * 64}
    for response in (api.get(instance_id), api.act("approve", instance_id, body=answer),
                     api.act("terminate", instance_id)):
        assert response.status == 500, response
        assert "BREAKERPANEL_ARM_ENDPOINT" in response.json["error"]["message"]
        assert "s3cr3t" not in response.text


# ------------------------------------------------------------------------------------------- issue 9: lock, cancel


def test_two_rollouts_started_concurrently_for_one_target_one_wins(api: Api, twin: Any) -> None:
    def request_for(*targets: dict[str, Any]) -> func.HttpRequest:
        return func.HttpRequest("POST", f"{BASE}/api/rollouts?code=function-key",
                                headers={"content-type": "application/json", **ADA}, params={"code": "function-key"},
                                route_params={}, body=json.dumps(rollout_request(*targets)).encode())

    start = api.functions["start_rollout"]
    # Different target sets (so different ids), one target shared: only the lock can keep them apart. Both
    # calls interleave at every await of the Durable client.
    async def both() -> list[func.HttpResponse]:
        return list(await asyncio.gather(
            start(req=request_for(target("apim-one")), client=api.hub.client_binding()),
            start(req=request_for(target("apim-two"), target("apim-one", wave=2)), client=api.hub.client_binding()),
        ))

    first, second = api.loop.run_until_complete(both())
    codes = sorted([first.status_code, second.status_code])

    assert codes == [202, 409], (first.get_body(), second.get_body())
    refused = json.loads((first if first.status_code == 409 else second).get_body())
    assert refused["error"]["code"] == "RolloutInProgress"
    assert "apim-one" in refused["error"]["message"]
    assert len(api.host.statuses()) == 1
    api.drive()
    assert len(deployment_puts(twin)) == 1


def test_the_lock_is_atomic_under_threads() -> None:
    import tempfile
    import threading
    from pathlib import Path

    from breakerpanel.core import target_lock
    from breakerpanel.rollout_lock import try_take
    from breakerpanel.store.sqlite_store import SqliteStore

    with tempfile.TemporaryDirectory() as folder:
        won: list[str] = []
        barrier = threading.Barrier(8)

        def take(n: int) -> None:
            store = SqliteStore(Path(folder) / "state.sqlite3")
            barrier.wait()
            if try_take(store, target_lock.PREFIX + "sub/rg/apim", {"holder": f"rollout-{n}"}) is None:
                won.append(f"rollout-{n}")
            store.close()

        threads = [threading.Thread(target=take, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1


def test_cancel_stops_the_deployment_in_arm_and_frees_the_target(
    api: Api, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    monkeypatch.setattr(twin.arm, "config", dataclasses.replace(twin.arm.config, deployment_poll_steps=1000))
    accepted = api.start(rollout_request())
    instance_id = accepted.json["instanceId"]
    api.drive(timedelta(minutes=2))
    assert api.get(instance_id).json["phase"] == "deploying"
    assert api.start(rollout_request()).status == 409

    cancelled = api.act("cancel", instance_id, body={"comment": "wrong pool"}, headers=GRACE)

    assert cancelled.status == 202, cancelled
    assert cancelled.json["cancelledBy"]["objectId"] == OIDS["grace"]
    assert any(r.endswith("-poll") for r in cancelled.json["reached"])
    api.drive()
    read = api.get(instance_id).json
    assert (read["runtimeStatus"], read["status"]) == ("Completed", "cancelled")
    (progress,) = read["targets"].values()
    assert progress["result"]["provisioningState"] == "Canceled"
    assert twin.captured("arm.deployments.cancel")
    assert all(not d.active for d in twin.arm.all_active())
    assert api.act("cancel", instance_id).status == 409
    assert api.start(rollout_request()).status == 202


def test_a_target_held_in_doubt_is_refused_until_released(
    api: Api, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from twin.faults import parse_rule

    monkeypatch.setenv("BREAKERPANEL_DEPLOY_TIMEOUT", "PT10M")
    twin.faults.add(parse_rule({"route": "arm.deployments.get", "kind": "html", "skip": 1}))
    instance_id = api.start(rollout_request()).json["instanceId"]
    api.drive(None)
    assert api.get(instance_id).json["status"] == "unknown"
    twin.faults.clear()

    held = api.start(rollout_request())

    assert held.status == 409, held
    assert held.json["error"]["code"] == "TargetHeld"
    assert "may still be running" in held.json["error"]["message"]
    assert f"/api/rollouts/{instance_id}/release" in held.json["error"]["message"]
    assert api.act("release", instance_id, headers=ADA).status == 403
    released = api.act("release", instance_id, headers=GRACE)
    assert released.status == 200, released
    assert api.start(rollout_request()).status == 202


# ------------------------------------------------------------------ issue 8: secrets never leave the app

SECRET = "k3y5ecretva1ue0123456789"


def test_secrets_never_reach_a_response_the_logs_an_orchestration_input_or_its_history(
    api: Api, twin: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    # The app's own bearer token (the static credential's, on the twin) is a secret like any other.
    monkeypatch.setenv("BREAKERPANEL_STATIC_TOKEN", f"app-token-{SECRET}")

    # A backend URL with a key in its query string: refused, and the refusal names the field, not the key.
    keyed = rollout_request()
    keyed["backends"][0]["url"] = f"https://aoai-eastus.openai.azure.com/openai?api-version=2024-10-21&api-key={SECRET}"
    refused = api.start(keyed)
    assert refused.status == 400, refused
    assert any(p["field"] == "backends[0].url" for p in refused.json["error"]["problems"]), refused
    assert api.host.statuses() == [], "nothing was started"

    # A rollout that runs, started by a caller who also sent a bearer token of their own.
    started = api.start(rollout_request(), headers={**ADA, "Authorization": f"Bearer caller-{SECRET}"})
    assert started.status == 202, started
    instance_id = started.json["instanceId"]
    api.drive(None)
    read = api.get(instance_id)
    assert read.json["status"] == "succeeded", read

    # The activities sent the app's token with every call (the settings they read carry it).
    from breakerpanel.settings import load_settings

    assert load_settings().static_token == f"app-token-{SECRET}" and deployment_puts(twin)
    seen = [refused.text, started.text, read.text, caplog.text]
    seen += [json.dumps(api.host.status(s["instanceId"], show_history=True)) for s in api.host.statuses()]
    leaks = [text[max(0, text.find(SECRET) - 80):text.find(SECRET) + 40] for text in seen if SECRET in text]
    assert leaks == []


# ------------------------------------------------------------------------------------------- the task hub fails


@pytest.mark.parametrize("action", ["approve", "cancel"])
def test_an_answer_that_arrives_as_the_rollout_ends_is_409_not_a_crash(
    api: Api, twin: Any, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    import azure.durable_functions as df

    instance_id = api.start(rollout_request(approval="required")).json["instanceId"]
    api.drive()
    gate = api.get(instance_id).json["approval"]
    real_raise = df.DurableOrchestrationClient.raise_event

    async def after_it_ended(self: Any, instance: str, *args: Any, **kw: Any) -> None:
        # The rollout ends between the route's status read and its event (the approval timed out, say): the
        # real client then meets the task hub's 410 and raises a bare Exception.
        api.host.terminate(instance, "ended meanwhile")
        await real_raise(self, instance, *args, **kw)

    monkeypatch.setattr(df.DurableOrchestrationClient, "raise_event", after_it_ended)
    late = api.act(action, instance_id, body={"wave": gate["wave"], "whatIfDigest": gate["whatIfDigest"]})

    assert late.status == 409, late
    assert late.json["error"]["code"] == "RolloutFinished"
    assert "Terminated" in late.json["error"]["message"] and "before" in late.json["error"]["message"]
    assert deployment_puts(twin) == []


@pytest.mark.parametrize("route", ["start", "get", "list", "approve", "cancel", "release"])
def test_a_task_hub_that_does_not_answer_is_503_with_retry_after(
    api: Api, caplog: pytest.LogCaptureFixture, route: str
) -> None:
    from tests.functions.silent_task_hub import unanswered_binding

    binding = unanswered_binding(api.hub)
    instance_id = "rollout-20261204t100000z-0123abcd"
    body = {"wave": 1, "whatIfDigest": "sha256:" + "0" * 64}
    calls = {
        "start": lambda: api.start(rollout_request(), client=binding),
        "get": lambda: api.get(instance_id, client=binding),
        "list": lambda: api.call("list_rollouts", "GET", "/api/rollouts", client=binding, headers=ADA),
        "approve": lambda: api.act("approve", instance_id, body=body, client=binding),
        "cancel": lambda: api.act("cancel", instance_id, client=binding),
        "release": lambda: api.act("release", instance_id, client=binding),
    }

    answered = calls[route]()

    assert answered.status == 503, answered
    assert answered.json["error"]["code"] == "TaskHubUnavailable"
    assert answered.headers["Retry-After"] == "30"
    assert "Traceback" not in caplog.text and "code=" not in answered.text
    if route == "start":  # the lock taken for it is given back: the next start is not refused as busy
        assert api.start(rollout_request()).status == 202


def test_an_approver_sees_every_targets_what_if_even_when_the_status_is_cut(
    api: Api, twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"apim-big{i:02d}" for i in range(12)]
    monkeypatch.setenv("BREAKERPANEL_TARGETS", json.dumps(
        [{"subscriptionId": SUB, "resourceGroup": GROUP, "apimName": name} for name in names]))
    for name in names:
        twin.apim.create_service(SUB, GROUP, name)
    instance_id = api.start(rollout_request(*[target(name) for name in names], approval="required")).json["instanceId"]
    api.drive()
    custom = api.host.status(instance_id)["customStatus"]
    assert "trimmed" in custom  # Durable's 16 KB: the gate's what-if could not stay whole in the status

    read = api.get(instance_id).json

    gate = read["approval"]
    assert gate["wave"] == 1 and gate["whatIfDigest"] == custom["approval"]["whatIfDigest"]
    assert "preflight" in gate["whatIfFrom"] and "16 KB" in read["trimmed"]
    assert len(gate["whatIf"]) == 12
    for key, lines in gate["whatIf"].items():
        assert lines[0] == "what-if: 8 to create", (key, lines)
        assert len(lines) == 9 and all(line.strip().startswith("Create") for line in lines[1:]), (key, lines)
    # The approver answers what they read: the digest GET showed is the one the gate waits for.
    assert api.answer("approve", instance_id).status == 202
    api.drive()
    assert api.get(instance_id).json["status"] == "succeeded"


def _application(object_id: str, *roles: str) -> dict[str, str]:
    """X-MS-CLIENT-PRINCIPAL for an app-only token (a CI pipeline's service principal or managed identity):
    roles, oid, azp and idtyp app, no upn and no name (learn.microsoft.com, "Access token claims reference")."""
    claims = [{"typ": "roles", "val": role} for role in roles] + [
        {"typ": "azp", "val": "99999999-9999-9999-9999-999999999999"}, {"typ": "idtyp", "val": "app"},
        {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": object_id},
        {"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", "val": object_id},
    ]
    payload = {"auth_typ": "aad", "claims": claims,
               "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
               "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"}
    return {"x-ms-client-principal": base64.b64encode(json.dumps(payload).encode()).decode(),
            "x-ms-client-principal-idp": "aad"}


def test_a_pipelines_service_principal_starts_a_rollout_and_a_person_approves_it(api: Api, twin: Any) -> None:
    pipeline = "77777777-7777-7777-7777-777777777777"
    started = api.start(rollout_request(approval="required"), headers=_application(pipeline, "Rollout.Deploy"))
    assert started.status == 202, started
    assert started.json["startedBy"] == {"objectId": pipeline, "upn": "", "name": pipeline, "via": "easyAuth"}
    instance_id = started.json["instanceId"]
    api.drive()
    assert api.get(instance_id, headers=_application(pipeline, "Rollout.Deploy")).status == 200

    itself = api.answer("approve", instance_id, headers=_application(pipeline, "Rollout.Deploy"))
    assert itself.status == 403, itself  # the approver role is a user's (app-roles.json): no app holds it

    approved = api.answer("approve", instance_id, headers=GRACE)
    assert approved.status == 202, approved
    api.drive()
    done = api.get(instance_id).json
    assert done["status"] == "succeeded"
    assert done["approval"]["fourEyes"] == "kept"
