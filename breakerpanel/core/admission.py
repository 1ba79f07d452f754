"""What may reach Azure: decided again wherever a call is about to leave the app, not only at the HTTP door.

The HTTP API validates a request before it starts a rollout, but an orchestration (or any of its
sub-orchestrations) can also be started by whoever holds the task hub's system key, with any input. So the
orchestrator re-validates its whole input against the policy an activity read from the settings, and every
activity that calls ARM or APIM checks its own payload again: the target must be allowlisted and the gateway
parameters must be what the request validator accepts for that target.

`policy` is plain JSON: {"targets": [{subscriptionId, resourceGroup, apimName, logAnalyticsWorkspaceId?}],
"backendHosts": [".openai.azure.com", ...]}.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from breakerpanel.core.backend_urls import DEFAULT_BACKEND_HOSTS
from breakerpanel.core.model import Problem, Target
from breakerpanel.core.request import RequestCheck, check_rollout_request

GATEWAY_PARAMETERS = ("apimServiceName", "backends", "breakerRule", "poolName", "logAnalyticsWorkspaceId",
                      "functionAppResourceId", "systemTopicName", "location")
# An Event Grid system topic's name (Microsoft.EventGrid/systemTopics: 3-128 letters, digits and hyphens).
_SYSTEM_TOPIC_NAME = re.compile(r"^[A-Za-z0-9-]{3,128}$")
# An Azure location as ARM accepts it: a name ("westeurope") or a display name ("West Europe").
_LOCATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ()-]{0,59}$")


def policy_targets(policy: Mapping[str, Any]) -> list[Target]:
    found = []
    for entry in policy.get("targets") or []:
        if isinstance(entry, Mapping) and all(isinstance(entry.get(k), str) for k in
                                              ("subscriptionId", "resourceGroup", "apimName")):
            found.append(Target(entry["subscriptionId"], entry["resourceGroup"], entry["apimName"]))
    return found


def backend_hosts(policy: Mapping[str, Any]) -> tuple[str, ...]:
    hosts = policy.get("backendHosts")
    if isinstance(hosts, list) and all(isinstance(h, str) for h in hosts):
        return tuple(hosts)
    return DEFAULT_BACKEND_HOSTS


def events_function_id(policy: Mapping[str, Any]) -> str:
    """This app's resource id, when breaker events are wired to it (BREAKERPANEL_EVENTS_FUNCTION_ID)."""
    value = policy.get("eventsFunctionId")
    return value if isinstance(value, str) else ""


def workspace_for(policy: Mapping[str, Any], target: Mapping[str, Any] | Target) -> str:
    key = _key(target)
    for entry in policy.get("targets") or []:
        if isinstance(entry, Mapping) and _key(entry) == key:
            return str(entry.get("logAnalyticsWorkspaceId") or "")
    return ""


def _key(target: Mapping[str, Any] | Target) -> tuple[str, str, str] | None:
    if isinstance(target, Target):
        return target.key
    try:
        return (str(target["subscriptionId"]).lower(), str(target["resourceGroup"]).lower(),
                str(target["apimName"]).lower())
    except (KeyError, TypeError):
        return None


def check_request(request: object, policy: Mapping[str, Any]) -> RequestCheck:
    """The rollout request, validated as the HTTP API validates it, against this policy."""
    return check_rollout_request(request, policy_targets(policy), backend_hosts=backend_hosts(policy))


def target_problems(target: object, policy: Mapping[str, Any]) -> list[Problem]:
    if not isinstance(target, Mapping) or _key(target) is None:
        return [Problem("target", "the call names no target", "call it with the target of a validated rollout")]
    allowed = {t.key for t in policy_targets(policy)}
    if _key(target) not in allowed:
        return [Problem("target", f"'{target.get('apimName')}' in resource group '{target.get('resourceGroup')}' "
                        "is not in this app's allowlist of targets (BREAKERPANEL_TARGETS)",
                        "roll out only to allowlisted targets; an operator changes the allowlist")]
    return []


def request_from_parameters(parameters: Mapping[str, Any], target: Mapping[str, Any]) -> dict[str, Any]:
    """The rollout request a set of gateway parameter values stands for (values, not {"value": …} entries)."""
    return {
        "targets": [{k: target.get(k) for k in ("subscriptionId", "resourceGroup", "apimName")}],
        "backends": parameters.get("backends"),
        "breakerRule": parameters.get("breakerRule"),
        "poolName": parameters.get("poolName"),
        "approval": "none",
        "rollbackOnFailure": False,
    }


def parameter_values(parameters: object) -> dict[str, Any] | None:
    """`{"name": {"value": v}}` → `{"name": v}`; None when the shape is anything else."""
    if not isinstance(parameters, Mapping):
        return None
    values: dict[str, Any] = {}
    for name, entry in parameters.items():
        if not isinstance(entry, Mapping) or set(entry) != {"value"}:
            return None
        values[str(name)] = entry["value"]
    return values


def parameters_problems(values: Mapping[str, Any], target: Mapping[str, Any],
                        policy: Mapping[str, Any]) -> list[Problem]:
    """Every reason these gateway parameter values may not be deployed to `target` (errors only)."""
    problems = target_problems(target, policy)
    if problems:
        return problems
    unknown = sorted(set(values) - set(GATEWAY_PARAMETERS))
    for name in unknown:
        problems.append(Problem(f"parameters.{name}", f"'{name}' is not a gateway template parameter",
                                "send only the parameters the rollout computes"))
    if str(values.get("apimServiceName", "")).lower() != str(target.get("apimName", "")).lower():
        problems.append(Problem("parameters.apimServiceName", "names another APIM instance than the target",
                                "deploy a target's gateway only to that target"))
    workspace = str(values.get("logAnalyticsWorkspaceId") or "")
    if workspace and workspace.lower() != workspace_for(policy, target).lower():
        problems.append(Problem("parameters.logAnalyticsWorkspaceId",
                                "is not the workspace BREAKERPANEL_TARGETS gives this target",
                                "the gateway logs go only to the allowlisted workspace"))
    function_app = str(values.get("functionAppResourceId") or "")
    if function_app and function_app.lower() != events_function_id(policy).lower():
        # Only this app's own function may receive the events: any other destination is someone else's.
        problems.append(Problem("parameters.functionAppResourceId",
                                "is not this app (BREAKERPANEL_EVENTS_FUNCTION_ID)",
                                "leave it out; the rollout sets this app's own resource id"))
    topic = values.get("systemTopicName")
    if topic is not None and (not isinstance(topic, str) or _SYSTEM_TOPIC_NAME.match(topic) is None):
        problems.append(Problem("parameters.systemTopicName", "is not an Event Grid system topic name",
                                "3-128 letters, digits and hyphens: the name of the instance's existing system topic"))
    location = values.get("location")
    if location is not None and (not isinstance(location, str) or _LOCATION.match(location) is None):
        problems.append(Problem("parameters.location", "is not an Azure location",
                                "the APIM instance's location, e.g. westeurope"))
    check = check_request(request_from_parameters(values, target), policy)
    problems += [Problem(f"parameters.{p.field}", p.problem, p.fix) for p in check.errors]
    return problems


def call_problems(payload: object, policy: Mapping[str, Any], *, with_parameters: bool) -> list[Problem]:
    """What is wrong with an activity's payload before it reaches Azure: target, then parameters."""
    if not isinstance(payload, Mapping):
        return [Problem("(payload)", "the activity input is not an object", "call it from the rollout")]
    target = payload.get("target")
    problems = target_problems(target, policy)
    if problems or not with_parameters:
        return problems
    values = parameter_values(payload.get("parameters"))
    if values is None:
        return [Problem("parameters", 'the parameters are not {"name": {"value": ...}}',
                        "call it from the rollout")]
    assert isinstance(target, Mapping)
    return parameters_problems(values, target, policy)


def refusal(problems: Sequence[Problem]) -> dict[str, Any]:
    """An activity outcome that refuses the call: permanent, never retried, nothing sent to Azure."""
    listed = "; ".join(f"{p.field}: {p.problem}" for p in problems)
    return {
        "outcome": "permanent",
        "status": None,
        "retryAfterSeconds": None,
        "error": {"code": "RefusedByBreakerpanel", "message": f"not sent to Azure: {listed}",
                  "details": [p.to_dict() for p in problems]},
    }
