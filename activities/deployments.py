"""ARM deployment activities: validate, what-if, start (or re-attach), read state, cancel, list failed operations.

Each takes and returns plain JSON. The template is read here, from the committed compiled ARM JSON, so it
never travels through orchestration history. Before any call leaves, the payload is checked again (target
allowlisted, parameters valid for it): an activity can be reached by an orchestration started with any input.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import azure.durable_functions as df
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from activities.outcomes import Outcome, call_azure, refused_in_body, reports_failures
from activities.policy import current_policy, refused
from breakerpanel.azure.clients import deployments_client
from breakerpanel.core.instants import format_instant, parse_instant
from breakerpanel.core.polling import canonical_state
from breakerpanel.core.whatif import summarize_what_if
from breakerpanel.settings import load_settings

bp = df.Blueprint()

GATEWAY_TEMPLATE = Path(__file__).resolve().parents[1] / "infra" / "gateway" / "main.json"
_NEVER = datetime.min.replace(tzinfo=UTC)


@cache
def gateway_template() -> dict[str, Any]:
    return json.loads(GATEWAY_TEMPLATE.read_text())


def _properties(payload: dict[str, Any]) -> dict[str, Any]:
    # Incremental, always: the gateway lives inside a resource group holding the APIM instance and more;
    # Complete mode would delete whatever the template does not declare. For the same reason rollback is
    # not ARM's onErrorDeployment, which re-runs the earlier deployment in Complete mode.
    return {"mode": "Incremental", "template": gateway_template(), "parameters": payload["parameters"]}


def _client(payload: dict[str, Any]) -> Any:
    return deployments_client(load_settings(), payload["target"]["subscriptionId"])


@bp.activity_trigger(input_name="payload")
@reports_failures
def rollout_policy(payload: dict[str, Any]) -> Outcome:
    """The allowlist, backend hosts and four-eyes setting, as the settings give them now."""
    return current_policy()


@bp.activity_trigger(input_name="payload")
@reports_failures
def arm_validate(payload: dict[str, Any]) -> Outcome:
    if (refusal := refused(payload, with_parameters=True)) is not None:
        return refusal

    def action() -> dict[str, Any]:
        body = {"properties": _properties(payload)}
        result = _client(payload).deployments.begin_validate(
            payload["target"]["resourceGroup"], payload["deploymentName"], body
        ).result().as_dict()
        validated = (result.get("properties") or {}).get("validatedResources") or []
        return {"validatedResources": [item.get("id") for item in validated], "error": result.get("error")}

    outcome = call_azure(action)
    # DeploymentValidateResult.error is "the deployment validation error" on any answer, not only a 400's
    # (az CLI checks validation_result.error after a validate that did not raise): a result holding one is a
    # refusal, never a pass.
    invalid = outcome.pop("error", None) if outcome.get("outcome") == "ok" else None
    return refused_in_body(200, invalid) if invalid is not None else outcome


@bp.activity_trigger(input_name="payload")
@reports_failures
def arm_what_if(payload: dict[str, Any]) -> Outcome:
    if (refusal := refused(payload, with_parameters=True)) is not None:
        return refusal

    def action() -> dict[str, Any]:
        body = {"properties": _properties(payload)}
        result = _client(payload).deployments.begin_what_if(
            payload["target"]["resourceGroup"], payload["deploymentName"], body
        ).result()
        # Summarised here: the raw result (~16 KB for three backends) never enters orchestration history.
        return {"whatIf": summarize_what_if(result.as_dict()).to_dict(), "summarized": True}

    return call_azure(action)


def _state(deployment: Any) -> dict[str, Any]:
    body = deployment.as_dict()
    properties = body.get("properties") or {}
    return {
        # ARM's words are case-insensitive; the core compares them as the spec spells them.
        "provisioningState": canonical_state(properties.get("provisioningState")),
        "error": properties.get("error"),
        "onErrorDeployment": properties.get("onErrorDeployment"),
        "outputResources": [item.get("id") for item in properties.get("outputResources") or []],
        "timestamp": properties.get("timestamp"),
        "duration": properties.get("duration"),
        "templateHash": properties.get("templateHash"),
    }


@bp.activity_trigger(input_name="payload")
@reports_failures
def arm_start_deployment(payload: dict[str, Any]) -> Outcome:
    """Submit the deployment, or re-attach to it when this activity runs again for the same rollout.

    The name is deterministic per rollout and target, so a deployment that already exists under it is this
    rollout's own: a replayed or redelivered activity must not submit it a second time. The rollback uses
    this same activity: the committed template, with parameters checked like any rollout's.
    """
    if (refusal := refused(payload, with_parameters=True)) is not None:
        return refusal

    def action() -> dict[str, Any]:
        client = _client(payload)
        group, name = payload["target"]["resourceGroup"], payload["deploymentName"]
        try:
            existing = client.deployments.get(group, name)
        except ResourceNotFoundError:
            existing = None
        if existing is not None:
            return {"attached": True, **_state(existing)}
        body = {"properties": _properties(payload)}
        poller = client.deployments.begin_create_or_update(group, name, body, polling=False)
        return {"attached": False, **_state(poller.result())}

    return call_azure(action)


def _values(parameters: dict[str, Any] | None) -> dict[str, Any]:
    """Parameter values as sent, from ARM's echo `{"name": {"type", "value"}}`.

    Secure parameters come back without a value; they are left out so their defaults apply again.
    """
    return {
        name: entry["value"]
        for name, entry in (parameters or {}).items()
        if isinstance(entry, dict) and "value" in entry
    }


@bp.activity_trigger(input_name="payload")
@reports_failures
def arm_rollback_point(payload: dict[str, Any]) -> Outcome:
    """The latest deployment of this target's gateway that the app can trust, as the state to return to.

    Trusted: a breakerpanel name, Succeeded, this APIM instance, and ARM's templateHash equal to the hash ARM
    computes for the committed gateway template (calculateTemplateHash) — a deployment of anyone's own
    template, however it is named, is never a rollback point. Its parameter values are returned for the core
    to re-validate; the template is never exported or re-used. Newer candidates that fail are listed.
    """
    if (refusal := refused(payload, with_parameters=False)) is not None:
        return refusal

    def action() -> dict[str, Any]:
        target = payload["target"]
        client = _client(payload)
        committed = client.deployments.calculate_template_hash(gateway_template()).template_hash
        candidates = []
        for deployment in client.deployments.list_by_resource_group(target["resourceGroup"]):
            body = deployment.as_dict()
            properties = body.get("properties") or {}
            values = _values(properties.get("parameters"))
            if (
                body.get("name", "").startswith("bp-")
                and body.get("name") != payload["deploymentName"]
                and canonical_state(properties.get("provisioningState")) == "Succeeded"
                and str(values.get("apimServiceName", "")).lower() == target["apimName"].lower()
            ):
                candidates.append((properties.get("timestamp"), body["name"], properties, values))
        untrusted = []
        # Newest first by the instant itself (text order breaks on fractional digits); one without a time last.
        for stamp, name, properties, values in sorted(candidates, key=lambda c: parse_instant(c[0]) or _NEVER,
                                                      reverse=True):
            timestamp = format_instant(parse_instant(stamp)) if parse_instant(stamp) else None
            template_hash = properties.get("templateHash")
            if not committed or str(template_hash) != str(committed):
                untrusted.append({"deploymentName": name, "timestamp": timestamp,
                                  "reason": "not deployed from the committed gateway template (templateHash differs)"})
                continue
            return {"deploymentName": name, "timestamp": timestamp, "templateHash": template_hash,
                    "parameters": values, "untrusted": untrusted}
        return {"deploymentName": None, "timestamp": None, "untrusted": untrusted}

    return call_azure(action)


@bp.activity_trigger(input_name="payload")
@reports_failures
def arm_deployment_state(payload: dict[str, Any]) -> Outcome:
    if (refusal := refused(payload, with_parameters=False)) is not None:
        return refusal

    def action() -> dict[str, Any]:
        deployment = _client(payload).deployments.get(payload["target"]["resourceGroup"], payload["deploymentName"])
        return _state(deployment)

    return call_azure(action)


@bp.activity_trigger(input_name="payload")
@reports_failures
def arm_failed_operations(payload: dict[str, Any]) -> Outcome:
    if (refusal := refused(payload, with_parameters=False)) is not None:
        return refusal

    def action() -> dict[str, Any]:
        operations = _client(payload).deployment_operations.list(
            payload["target"]["resourceGroup"], payload["deploymentName"]
        )
        failed = [
            op.as_dict()
            for op in operations
            if canonical_state((op.as_dict().get("properties") or {}).get("provisioningState")) == "Failed"
        ]
        return {"operations": failed}

    return call_azure(action)


@bp.activity_trigger(input_name="payload")
@reports_failures
def arm_cancel_deployment(payload: dict[str, Any]) -> Outcome:
    """Ask ARM to cancel the deployment, then read its state.

    ARM cancels only an Accepted or Running deployment (then Canceled, resources left partially deployed);
    one already terminal answers 409 DeploymentCannotBeCancelled, which here is no failure: the state read
    afterwards says where it ended. A deployment that does not exist (never submitted) is reported as such.
    """
    if (refusal := refused(payload, with_parameters=False)) is not None:
        return refusal

    def action() -> dict[str, Any]:
        client = _client(payload)
        group, name = payload["target"]["resourceGroup"], payload["deploymentName"]
        # The cancel first: it needs no readable answer, and a GET that cannot be read must not keep ARM
        # deploying. 404: never submitted; 409: already terminal.
        try:
            client.deployments.cancel(group, name)
            requested = True
        except ResourceNotFoundError:
            return {"provisioningState": None, "exists": False, "cancelRequested": False}
        except HttpResponseError as exc:
            if exc.status_code != 409:
                raise
            requested = False
        try:
            state = _state(client.deployments.get(group, name))
        except Exception:  # the poller reads the state next; what matters here is that the cancel was sent
            state = {"provisioningState": None}
        return {"exists": True, "cancelRequested": requested, **state}

    return call_azure(action)
