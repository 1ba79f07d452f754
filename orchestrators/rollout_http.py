"""The rollout's HTTP API: start, read, approve, reject, terminate.

POST /api/rollouts                      validate completely, then start (202) — or 400 / 409
GET  /api/rollouts/{id}                 a readable summary of the rollout
POST /api/rollouts/{id}/approve|reject  answer the approval gate
POST /api/rollouts/{id}/terminate       stop it (ARM deployments already submitted keep running)

Function keys guard every route. With BREAKERPANEL_AUTH=easyAuth (the default) the caller must also be a
principal App Service Authentication vouches for (only while the platform says it is on) holding the route's
app role; see breakerpanel/core/caller.py. Only /api/rollouts URLs leave this API: never the Durable
extension's management links, which carry the task hub's system key.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func

from breakerpanel.core import rollout_api as api
from breakerpanel.core.caller import Caller, authorize, display, same_person
from breakerpanel.core.gate import approval_event
from breakerpanel.core.naming import new_rollout_id
from breakerpanel.core.request import bad_request_body, check_rollout_request, read_json_body
from breakerpanel.core.summary import redact
from breakerpanel.settings import Settings, SettingsError, load_settings
from breakerpanel.targets import load_targets

bp = df.Blueprint()
_log = logging.getLogger(__name__)
ORCHESTRATOR = "rollout_orchestrator"
_ACTIVE = [
    df.OrchestrationRuntimeStatus.Pending,
    df.OrchestrationRuntimeStatus.Running,
    df.OrchestrationRuntimeStatus.ContinuedAsNew,
]
_ACTIVE_NAMES = {status.value for status in _ACTIVE}


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, indent=2), status_code=status, mimetype="application/json", headers=headers or {}
    )


def _error(status: int, code: str, message: str, **extra: Any) -> func.HttpResponse:
    return _json(status, {"error": {"code": code, "message": message, **extra}})


def _misconfigured(exc: SettingsError) -> func.HttpResponse:
    # A misconfigured app is the operator's problem, not the caller's: say which setting and the fix, never
    # its value (an endpoint may carry a SAS query, the targets a path), which SettingsError quotes.
    message = str(exc)
    raw = os.environ.get(exc.variable, "")
    for form in sorted({raw, raw.strip(), repr(raw.strip())[1:-1]} - {""}, key=len, reverse=True):
        message = message.replace(form, "<the value>")
    message = redact(message)
    _log.error("rollout API refused a call: %s", message)
    return _error(500, "Misconfigured", message, setting=exc.variable)


def _settings() -> Settings | func.HttpResponse:
    try:
        return load_settings()
    except SettingsError as exc:
        return _misconfigured(exc)


def _denied(req: func.HttpRequest, settings: Settings, role: str) -> tuple[func.HttpResponse | None, Caller]:
    verdict, caller = authorize(dict(req.headers), role, mode=settings.auth,
                                platform_easy_auth=settings.platform_easy_auth)
    if not verdict.allowed or caller is None:
        if verdict.status == 500:
            _log.error("rollout API refused a call: %s", verdict.reason)
            return _error(500, "Misconfigured", verdict.reason, setting="BREAKERPANEL_AUTH"), Caller(
                "", "", "", frozenset(), "easyAuth")
        code = "Forbidden" if verdict.status == 403 else "Unauthorized"
        return _error(verdict.status, code, verdict.reason), Caller("", "", "", frozenset(), "easyAuth")
    return None, caller


def _origin(req: func.HttpRequest) -> str:
    parts = urlsplit(req.url)
    return f"{parts.scheme}://{parts.netloc}"


def _input_of(status: dict[str, Any]) -> dict[str, Any]:
    raw = status.get("input")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    return raw if isinstance(raw, dict) else {}


def _status_dict(status: Any) -> dict[str, Any]:
    return {
        "instanceId": status.instance_id,
        "name": status.name,
        "runtimeStatus": status.runtime_status.value if status.runtime_status is not None else None,
        "input": status.input_,
        "output": status.output,
        "customStatus": status.custom_status,
        "createdTime": status.created_time.isoformat() if status.created_time else None,
        "lastUpdatedTime": status.last_updated_time.isoformat() if status.last_updated_time else None,
    }


async def _status(client: df.DurableOrchestrationClient, instance_id: str) -> dict[str, Any] | None:
    status = await client.get_status(instance_id)
    if status is None or status.runtime_status is None:
        return None
    return _status_dict(status)


def _in_progress(req: func.HttpRequest, conflict: dict[str, Any]) -> func.HttpResponse:
    # The app's own status URL for that rollout, on the origin the caller reached.
    links = api.rollout_links(_origin(req), conflict["instanceId"])
    return _error(
        409,
        "RolloutInProgress",
        f"rollout {conflict['instanceId']} is still {conflict['runtimeStatus']} on "
        f"{', '.join(conflict['overlap'])}; wait for it, or terminate it, before starting another",
        instanceId=conflict["instanceId"],
        statusUri=links["status"],
    )


@bp.route(route="rollouts", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def start_rollout(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    settings = _settings()
    if isinstance(settings, func.HttpResponse):
        return settings
    denied, started_by = _denied(req, settings, settings.deployer_role)
    if denied is not None:
        return denied
    body, unreadable = read_json_body(req.get_body())
    if unreadable:
        return _json(400, bad_request_body(unreadable))
    try:
        allowed = load_targets()
    except SettingsError as exc:
        return _misconfigured(exc)
    check = check_rollout_request(body, [entry.target for entry in allowed], backend_hosts=settings.backend_hosts)
    if check.request is None:
        return _json(400, bad_request_body(check.errors))

    instance_id = api.instance_id_for(check.request)
    # The instance's own status first: a status query pages, and the SDK does not follow its continuation.
    own = await _status(client, instance_id)
    targets = ["/".join(t.key) for t in check.request.targets]
    if own is not None and own["runtimeStatus"] in _ACTIVE_NAMES:
        return _in_progress(req, {**own, "overlap": targets})
    running = [_status_dict(s) for s in await client.get_status_by(runtime_status=_ACTIVE)]
    conflict = api.conflicting_rollout(check.request, running, ORCHESTRATOR)
    if conflict is not None:
        return _in_progress(req, conflict)

    now = datetime.now(UTC)
    rollout_id = new_rollout_id(now, uuid.uuid4().hex)
    spec = api.orchestration_input(rollout_id, check.request, allowed, settings, started_by.to_dict(), now)
    try:
        await client.start_new(ORCHESTRATOR, instance_id, spec)
    except Exception as exc:  # the client raises bare Exception for any refusal of the task hub
        # Another POST for the same target won the race between the check above and this start.
        racing = await _status(client, instance_id)
        if racing is not None and racing["runtimeStatus"] in _ACTIVE_NAMES:
            return _in_progress(req, {**racing, "overlap": targets})
        raise RuntimeError(f"the task hub refused to start rollout {instance_id}") from exc
    links = api.rollout_links(_origin(req), instance_id)
    body_out = {
        "instanceId": instance_id,
        "rolloutId": rollout_id,
        "startedBy": started_by.to_dict(),
        "warnings": [p.to_dict() for p in check.warnings],
        "links": links,
    }
    return _json(202, body_out, headers={"Location": links["status"]})


async def _existing_rollout(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, role: Literal["deployer", "approver"]
) -> tuple[dict[str, Any], Caller, Settings] | func.HttpResponse:
    """The rollout named in the route, and who asks — or the response refusing them (500, 401/403, 400, 404)."""
    settings = _settings()
    if isinstance(settings, func.HttpResponse):
        return settings
    denied, by = _denied(req, settings, settings.deployer_role if role == "deployer" else settings.approver_role)
    if denied is not None:
        return denied
    instance_id = req.route_params.get("instance_id")
    problem = api.instance_id_problem(instance_id)
    if problem is not None:
        return _error(400, "InvalidRolloutId", f"instance_id: {problem}", field="instance_id")
    status = await _status(client, str(instance_id))
    if status is None or status["name"] != ORCHESTRATOR:
        return _error(404, "RolloutNotFound", f"no rollout with id {instance_id!r}")
    return status, by, settings


@bp.route(route="rollouts/{instance_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def get_rollout(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    found = await _existing_rollout(req, client, "deployer")
    if isinstance(found, func.HttpResponse):
        return found
    return _json(200, api.readable_status(found[0]))


async def _answer_gate(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, approved: bool
) -> func.HttpResponse:
    found = await _existing_rollout(req, client, "approver")
    if isinstance(found, func.HttpResponse):
        return found
    status, by, settings = found
    instance_id = status["instanceId"]
    answer, problems = api.answer_from(req.get_body())
    if answer is None:
        return _json(400, {"error": {"code": "InvalidAnswer", "message": "the answer names no question",
                                     "problems": [p.to_dict() for p in problems]}})
    if not api.awaiting_approval(status):
        return _error(409, "NotAwaitingApproval", f"rollout {instance_id} is not waiting for an approval now")
    mismatch = api.gate_mismatch(status, answer)
    if mismatch is not None:
        return _error(409, "ApprovalMismatch", mismatch)
    started_by = _input_of(status).get("startedBy")
    if approved and same_person(by.to_dict(), started_by) is not False and not settings.allow_self_approval:
        return _error(
            403,
            "FourEyes",
            f"{display(by.to_dict())} cannot approve rollout {instance_id}: it was started by "
            f"{display(started_by)}, and four eyes needs another approver (a caller without an Entra identity "
            "cannot be told apart). Labs with one operator may set BREAKERPANEL_ALLOW_SELF_APPROVAL=true.",
        )
    await client.raise_event(
        instance_id,
        approval_event(answer["wave"]),
        {"approved": approved, "wave": answer["wave"], "whatIfDigest": answer["whatIfDigest"],
         "by": by.to_dict(), "comment": answer["comment"]},
    )
    return _json(202, {"instanceId": instance_id, "approved": approved, "wave": answer["wave"],
                       "by": by.to_dict()})


@bp.route(route="rollouts/{instance_id}/approve", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def approve_rollout(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await _answer_gate(req, client, approved=True)


@bp.route(route="rollouts/{instance_id}/reject", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def reject_rollout(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await _answer_gate(req, client, approved=False)


@bp.route(route="rollouts/{instance_id}/terminate", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def terminate_rollout(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    found = await _existing_rollout(req, client, "approver")
    if isinstance(found, func.HttpResponse):
        return found
    status, by, _ = found
    instance_id = status["instanceId"]
    if status["runtimeStatus"] not in _ACTIVE_NAMES:
        return _error(409, "RolloutFinished", f"rollout {instance_id} is already {status['runtimeStatus']}")
    await client.terminate(instance_id, f"terminated by {display(by.to_dict())}")
    return _json(202, {"instanceId": instance_id, "terminatedBy": by.to_dict()})
