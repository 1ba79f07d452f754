"""The rollout's HTTP API: start, read, approve, reject, cancel, release.

POST /api/rollouts                      validate completely, take the per-target lock, start (202) — or 400 / 409
GET  /api/rollouts/{id}                 a readable summary of the rollout
POST /api/rollouts/{id}/approve|reject  answer the approval gate
POST /api/rollouts/{id}/cancel          cancel it: no new wave starts, in-flight ARM deployments are cancelled
                                        and waited for, and the result reports what APIM holds afterwards
POST /api/rollouts/{id}/terminate       the same as cancel (a Durable terminate would not reach the children
                                        nor stop ARM, and would leave the target locked)
POST /api/rollouts/{id}/release         free a target an ended rollout kept held because a deployment's state
                                        could not be learned (after a person checked it in ARM)

Every rollout is recorded under its own instance id; one rollout per target is the lock's job
(breakerpanel/core/target_lock.py): created atomically before the orchestration starts, released by it last.

Function keys guard every route. With BREAKERPANEL_AUTH=easyAuth (the default) the caller must also be a
principal App Service Authentication vouches for (only while the platform says it is on) holding the route's
app role; see breakerpanel/core/caller.py. Only /api/rollouts URLs leave this API: never the Durable
extension's management links, which carry the task hub's system key.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func

from activities.policy import current_policy
from breakerpanel import rollout_cancel, rollout_lock
from breakerpanel.core import rollout_api as api
from breakerpanel.core import target_lock
from breakerpanel.core.caller import Caller, authorize, display, same_person
from breakerpanel.core.gate import approval_event
from breakerpanel.core.naming import new_rollout_id
from breakerpanel.core.request import bad_request_body, check_rollout_request, read_json_body
from breakerpanel.core.rollout_flow import CANCEL_EVENT
from breakerpanel.core.summary import redact
from breakerpanel.settings import Settings, SettingsError, load_settings
from breakerpanel.store.base import StoreUnavailableError
from breakerpanel.store.factory import open_store
from breakerpanel.targets import load_targets
from orchestrators.task_hub_errors import TaskHubRefused, answers_task_hub_errors, is_task_hub_error

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


def _denied(
    req: func.HttpRequest, settings: Settings, role: str | tuple[str, ...]
) -> tuple[func.HttpResponse | None, Caller]:
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


async def _raise(client: df.DurableOrchestrationClient, instance_id: str, name: str, data: Any) -> str | None:
    """Raise an event on a rollout read as running a moment ago: None once delivered, or the runtime status it
    ended with meanwhile (the task hub answers 410, which the client raises as a bare Exception)."""
    try:
        await client.raise_event(instance_id, name, data)
        return None
    except Exception as exc:
        if not is_task_hub_error(exc):
            raise
        after = await _status(client, instance_id)
        if after is not None and after["runtimeStatus"] not in _ACTIVE_NAMES:
            return str(after["runtimeStatus"])
        raise TaskHubRefused(f"it did not take the {name} event for {instance_id}: {exc}") from exc


def _in_progress(req: func.HttpRequest, conflict: dict[str, Any]) -> func.HttpResponse:
    # The app's own status URL for that rollout, on the origin the caller reached.
    links = api.rollout_links(_origin(req), conflict["holder"])
    target = conflict["key"].removeprefix(target_lock.PREFIX)
    return _error(
        409,
        conflict["code"],
        f"{target}: {conflict['why']}; wait for it, or cancel it, before starting another",
        instanceId=conflict["holder"],
        statusUri=links["status"],
    )


async def _status_of(client: df.DurableOrchestrationClient, instance_id: str) -> tuple[str | None, list[str]]:
    """A lock holder's runtime status and its children still running (their ids are in its input's plan)."""
    status = await _status(client, instance_id)
    if status is None:
        return None, []
    active = []
    for child in api.child_ids(api.status_input(status)):
        child_status = await _status(client, child)
        if child_status is not None and child_status["runtimeStatus"] in _ACTIVE_NAMES:
            active.append(child)
    return status["runtimeStatus"], active


def _store_unavailable(exc: Exception, record: str = "the per-target lock", nothing: str = "nothing was started"
                       ) -> func.HttpResponse:
    _log.error("rollout API could not reach the store: %s", exc)
    return _error(503, "StoreUnavailable", f"{record} could not be read or written; {nothing} "
                  "(check BREAKERPANEL_STORE and the storage account), then try again", retryAfterSeconds=30)


@bp.route(route="rollouts", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@answers_task_hub_errors
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
    policy = current_policy()
    if policy.get("outcome") != "ok":
        return _error(500, "Misconfigured", str((policy.get("error") or {}).get("message")))

    now = datetime.now(UTC)
    rollout_id = new_rollout_id(now, uuid.uuid4().hex)
    instance_id = api.rollout_instance_id(rollout_id)
    # The plan (names, parameters, child ids) is computed here, once, and travels in the input.
    spec = api.orchestration_input(rollout_id, check.request, allowed, settings, started_by.to_dict(), now,
                                   policy=policy, instance_id=instance_id)
    try:
        store = open_store()
    except SettingsError as exc:
        return _misconfigured(exc)
    try:
        # Atomic: the lock record is created or it is not. Two POSTs for one target: one 202, one 409.
        conflict = await rollout_lock.acquire(store, spec["plan"]["lockKeys"], instance_id, rollout_id, now,
                                              lambda holder: _status_of(client, holder))
        if conflict is not None:
            return _in_progress(req, conflict)
        try:
            await client.start_new(ORCHESTRATOR, instance_id, spec)
        except Exception as exc:  # the client raises bare Exception for any refusal of the task hub
            rollout_lock.release(store, spec["plan"]["lockKeys"], instance_id)
            raise TaskHubRefused(f"it did not start rollout {instance_id}, so nothing was started: {exc}") from exc
    except StoreUnavailableError as exc:
        return _store_unavailable(exc)
    finally:
        store.close()
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
    req: func.HttpRequest, client: df.DurableOrchestrationClient, role: Literal["approver", "reader"]
) -> tuple[dict[str, Any], Caller, Settings] | func.HttpResponse:
    """The rollout named in the route, and who asks — or the response refusing them (500, 401/403, 400, 404)."""
    settings = _settings()
    if isinstance(settings, func.HttpResponse):
        return settings
    # An approver reads what they are asked to approve (the gate's wave and what-if), so either role reads.
    needed = settings.approver_role if role == "approver" else (settings.deployer_role, settings.approver_role)
    denied, by = _denied(req, settings, needed)
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
@answers_task_hub_errors
async def get_rollout(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    found = await _existing_rollout(req, client, "reader")
    if isinstance(found, func.HttpResponse):
        return found
    # What each child waits for now, and, when the status was cut to 16 KB, the waiting wave's what-ifs.
    children = [*api.children_to_read(found[0]), *api.gate_children_to_read(found[0])]
    read = await asyncio.gather(*(_status(client, child) for child in children), return_exceptions=True)
    # A child's status that cannot be read only hides what it waits for: the rollout's own status still answers.
    statuses = {child: None if isinstance(got, BaseException) else got for child, got in zip(children, read,
                                                                                             strict=True)}
    return _json(200, api.readable_status(found[0], statuses))


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
    started_by = api.status_input(status).get("startedBy")
    if approved and same_person(by.to_dict(), started_by) is not False and not settings.allow_self_approval:
        return _error(
            403,
            "FourEyes",
            f"{display(by.to_dict())} cannot approve rollout {instance_id}: it was started by "
            f"{display(started_by)}, and four eyes needs another approver (a caller without an Entra identity "
            "cannot be told apart). Labs with one operator may set BREAKERPANEL_ALLOW_SELF_APPROVAL=true.",
        )
    event = {"approved": approved, "wave": answer["wave"], "whatIfDigest": answer["whatIfDigest"],
             "by": by.to_dict(), "comment": answer["comment"]}
    ended = await _raise(client, instance_id, approval_event(answer["wave"]), event)
    if ended is not None:
        return _error(409, "RolloutFinished", f"rollout {instance_id} ended ({ended}) before the answer reached it; "
                      "nothing was answered")
    return _json(202, {"instanceId": instance_id, "approved": approved, "wave": answer["wave"],
                       "by": by.to_dict()})


@bp.route(route="rollouts/{instance_id}/approve", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@answers_task_hub_errors
async def approve_rollout(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await _answer_gate(req, client, approved=True)


@bp.route(route="rollouts/{instance_id}/reject", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@answers_task_hub_errors
async def reject_rollout(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await _answer_gate(req, client, approved=False)


async def _cancel(req: func.HttpRequest, client: df.DurableOrchestrationClient, verb: str) -> func.HttpResponse:
    found = await _existing_rollout(req, client, "approver")
    if isinstance(found, func.HttpResponse):
        return found
    status, by, _ = found
    instance_id = status["instanceId"]
    if status["runtimeStatus"] not in _ACTIVE_NAMES:
        return _error(409, "RolloutFinished", f"rollout {instance_id} is already {status['runtimeStatus']}")
    reason = api.comment_from(req.get_body())
    event = {"by": by.to_dict(), "reason": reason or f"{verb} by {display(by.to_dict())}"}
    # The flag first, then the events: a child that starts after the listing below (its parent was scheduling
    # it meanwhile) cannot hear an event, and reads the flag when it starts (breakerpanel/rollout_cancel.py).
    try:
        store = open_store()
    except SettingsError as exc:
        return _misconfigured(exc)
    try:
        rollout_cancel.request(store, instance_id, event, datetime.now(UTC))
    except StoreUnavailableError as exc:
        return _store_unavailable(exc, "the rollout's cancel flag", "nothing was cancelled")
    finally:
        store.close()
    reached = [instance_id]
    ended = await _raise(client, instance_id, CANCEL_EVENT, event)
    if ended is not None:
        return _error(409, "RolloutFinished", f"rollout {instance_id} ended ({ended}) before the cancel reached it")
    # Every child that exists and runs hears it too; one that does not exist yet reads the flag when it starts.
    for child in api.child_ids(api.status_input(status)):
        child_status = await _status(client, child)
        if child_status is None or child_status["runtimeStatus"] not in _ACTIVE_NAMES:
            continue
        try:
            await client.raise_event(child, CANCEL_EVENT, event)
            reached.append(child)
        except Exception:  # it finished between the read and the event: nothing to stop
            continue
    links = api.rollout_links(_origin(req), instance_id)
    return _json(202, {"instanceId": instance_id, "cancelledBy": by.to_dict(), f"{verb}By": by.to_dict(),
                       "reached": reached, "statusUri": links["status"],
                       "note": "the rollout stops its deployments and then ends as cancelled; read the status "
                               "for what APIM holds afterwards"}, headers={"Location": links["status"]})


@bp.route(route="rollouts/{instance_id}/cancel", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@answers_task_hub_errors
async def cancel_rollout(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await _cancel(req, client, "cancelled")


@bp.route(route="rollouts/{instance_id}/terminate", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@answers_task_hub_errors
async def terminate_rollout(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await _cancel(req, client, "terminated")


@bp.route(route="rollouts/{instance_id}/release", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@answers_task_hub_errors
async def release_rollout(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Free the targets an ended rollout kept held (inDoubt), once a person has checked the deployment."""
    found = await _existing_rollout(req, client, "approver")
    if isinstance(found, func.HttpResponse):
        return found
    status, by, _ = found
    instance_id = status["instanceId"]
    if status["runtimeStatus"] in _ACTIVE_NAMES:
        return _error(409, "RolloutRunning", f"rollout {instance_id} is still running: cancel it instead")
    plan = api.status_input(status).get("plan") or {}
    keys = list(plan.get("lockKeys") or [])
    try:
        store = open_store()
    except SettingsError as exc:
        return _misconfigured(exc)
    try:
        rollout_lock.release(store, keys, instance_id)
    except StoreUnavailableError as exc:
        return _store_unavailable(exc)
    finally:
        store.close()
    _log.warning("rollout %s: targets released by %s", instance_id, display(by.to_dict()))
    return _json(200, {"instanceId": instance_id, "releasedBy": by.to_dict(),
                       "targets": [k.removeprefix(target_lock.PREFIX) for k in keys]})
