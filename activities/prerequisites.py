"""The rollout's prerequisite reads for one target, before validate: what a template cannot fix.

Each read is made on its own, so one the identity may not make (a 403) leaves the others standing; the pure
core (breakerpanel/core/prerequisites.py) turns the reads into findings with their fixes. Only reads: nothing
here changes Azure. The same payload check as every activity runs first.
"""

from __future__ import annotations

import contextlib
from typing import Any

import azure.durable_functions as df

from activities.outcomes import Outcome, call_azure, reports_failures
from activities.policy import refused
from breakerpanel.azure.clients import (
    apim_client,
    authorization_client,
    eventgrid_client,
    monitor_client,
    resources_client,
)
from breakerpanel.core import prerequisites
from breakerpanel.settings import load_settings

bp = df.Blueprint()


def _text(value: Any) -> str | None:
    # SDK enums (identity type, registration state) compare as their REST value.
    return None if value is None else str(getattr(value, "value", value))


def _service(client: Any, group: str, name: str) -> dict[str, Any]:
    body = client.api_management_service.get(group, name)
    identity = body.identity
    return {"service": {
        "id": body.id,
        "location": body.location,
        "sku": {"name": _text(body.sku.name) if body.sku is not None else None},
        "identity": None if identity is None else {"type": _text(identity.type), "principalId": identity.principal_id},
    }}


def _assignments(client: Any, principal_id: str) -> dict[str, Any]:
    listed = client.role_assignments.list_for_subscription(filter=f"principalId eq '{principal_id}'")
    return {"assignments": [{"scope": a.scope, "roleDefinitionId": a.role_definition_id,
                             "principalId": a.principal_id} for a in listed]}


def _provider(client: Any, namespace: str) -> dict[str, Any]:
    return {"registrationState": _text(client.providers.get(namespace).registration_state)}


def _topics(client: Any, group: str) -> dict[str, Any]:
    return {"topics": [{"name": t.name, "source": t.source, "location": t.location}
                       for t in client.system_topics.list_by_resource_group(group)]}


def _settings(client: Any, resource_id: str) -> dict[str, Any]:
    # The operation's path is "/{resourceUri}/providers/...": the id without its leading slash.
    listed = client.diagnostic_settings.list(resource_id.lstrip("/"))
    return {"settings": [{
        "name": s.name,
        "properties": {
            "workspaceId": s.workspace_id,
            "logs": [{"category": item.category, "categoryGroup": item.category_group, "enabled": item.enabled}
                     for item in s.logs or []],
            "metrics": [{"category": item.category, "enabled": item.enabled} for item in s.metrics or []],
        },
    } for s in listed]}


def _read(opened: contextlib.ExitStack, settings: Any, payload: dict[str, Any], wanted: prerequisites.Needs
          ) -> dict[str, Any]:
    """Each read on its own, so one the identity may not make leaves the others standing."""
    target = payload["target"]
    subscription, group, name = target["subscriptionId"], target["resourceGroup"], target["apimName"]
    reads: dict[str, Any] = {}
    apim = opened.enter_context(apim_client(settings, subscription))
    reads["service"] = call_azure(lambda: _service(apim, group, name))
    service = reads["service"].get("service") or {}
    principal = (service.get("identity") or {}).get("principalId")
    if principal:
        authorization = opened.enter_context(authorization_client(settings, subscription))
        reads["roleAssignments"] = call_azure(lambda: _assignments(authorization, principal))
    if wanted.providers:
        resources = opened.enter_context(resources_client(settings, subscription))
        reads["providers"] = {
            namespace: call_azure(lambda ns=namespace: _provider(resources, ns)) for namespace in wanted.providers
        }
    if wanted.system_topic is not None:
        eventgrid = opened.enter_context(eventgrid_client(settings, subscription))
        reads["systemTopics"] = call_azure(lambda: _topics(eventgrid, group))
    if wanted.workspace_id is not None:
        monitor = opened.enter_context(monitor_client(settings, subscription))
        apim_id = (f"/subscriptions/{subscription}/resourceGroups/{group}"
                   f"/providers/Microsoft.ApiManagement/service/{name}")
        reads["diagnosticSettings"] = call_azure(lambda: _settings(monitor, apim_id))
    return reads


@bp.activity_trigger(input_name="payload")
@reports_failures
def arm_prerequisites(payload: dict[str, Any]) -> Outcome:
    """Findings for the target of a rollout call ({target, deploymentName, parameters}), and the parameters to
    send instead. Transient when a read went unanswered (the orchestration tries again on a timer)."""
    if (refusal := refused(payload, with_parameters=True)) is not None:
        return refusal
    settings = load_settings()
    wanted = prerequisites.needs(payload["parameters"])
    # Every client is closed when the reads are done: no pooled TLS connection outlives the activity.
    with contextlib.ExitStack() as opened:
        reads = _read(opened, settings, payload, wanted)
    assessed = prerequisites.assess(payload, reads)
    outcomes = [reads["service"], reads.get("roleAssignments"), *(reads.get("providers") or {}).values(),
                reads.get("systemTopics"), reads.get("diagnosticSettings")]
    unanswered = next((o for o in outcomes if o is not None and o.get("outcome") == "transient"), None)
    if unanswered is not None:
        return {**{k: unanswered.get(k) for k in ("outcome", "status", "error", "retryAfterSeconds")}, **assessed}
    return {"outcome": "ok", **assessed}
