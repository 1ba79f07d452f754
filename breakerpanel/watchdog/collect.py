"""Reading one target's sources. Each reader returns (data, None) or (None, problem): nothing raises."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from breakerpanel.azure.clients import apim_client, deployments_client, logs_client
from breakerpanel.azure.logs_rows import PartialLogsResultError, rows_from_result
from breakerpanel.core.watch.access import left_out, missing_table_fix
from breakerpanel.core.watch.bins import Bin, bins_from_rows
from breakerpanel.core.watch.detect import deployment_time
from breakerpanel.core.watch.events import BreakerTransition
from breakerpanel.core.watch.kql import TABLE, QueryTarget, gateway_query
from breakerpanel.settings import Settings
from breakerpanel.store.base import BREAKER_EVENT, Store
from breakerpanel.targets import AllowedTarget
from breakerpanel.watchdog.errors import problem

# The api-version the gateway template deploys backends with, so fields newer than the SDK's default
# (failureResponse on rules and pools) are read as deployed.
BACKENDS_API_VERSION = "2025-03-01-preview"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Log Analytics throttles per user and workspace; a short Retry-After is worth waiting for inside the run,
# a long one makes this run "unknown" and the next run tries again.
_QUERY_ATTEMPTS = 3
_LONGEST_WAIT_SECONDS = 30.0

Problem = dict[str, Any]


def _raw_json(pipeline_response: Any, deserialized: Any, headers: Any) -> Any:
    return pipeline_response.http_response.json()


def read_backends(settings: Settings, allowed: AllowedTarget) -> tuple[list[dict[str, Any]] | None, Problem | None]:
    target = allowed.target
    try:
        client = apim_client(settings, target.subscription_id)
        group, service = target.resource_group, target.apim_name
        names = sorted(str(b.name) for b in client.backend.list_by_service(group, service))
        bodies = []
        gone: ResourceNotFoundError | None = None
        for name in names:
            try:
                bodies.append(client.backend.get(group, service, name, api_version=BACKENDS_API_VERSION, cls=_raw_json))
            except ResourceNotFoundError as exc:
                # Deleted since the list answered: APIM no longer has it, so it is not part of the configuration.
                gone = exc
        if names and not bodies and gone is not None:
            raise gone  # every one gone: the instance itself went away, which is not an empty configuration
    except Exception as exc:  # every SDK failure, a bare JSONDecodeError included, is reported as data
        return None, problem("backends", exc)
    if not all(isinstance(body, dict) for body in bodies):
        return None, {"source": "backends", "code": "UnreadableBody", "message": "a backend body is not an object",
                      "status": None, "transient": True, "retryAfterSeconds": None}
    return bodies, None


def read_deployments(
    settings: Settings, allowed: AllowedTarget, since: datetime, until: datetime
) -> tuple[tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]] | None, Problem | None]:
    """Deployments of the resource group that ended in [since, until], anyone's, and the failed operations of
    each Failed one (keyed by lower-cased deployment name)."""
    target = allowed.target
    try:
        client = deployments_client(settings, target.subscription_id)
        listed = [d.as_dict() for d in client.deployments.list_by_resource_group(target.resource_group)]
        recent = [d for d in listed if (t := deployment_time(d)) is not None and since <= t <= until]
        failed_operations: dict[str, list[dict[str, Any]]] = {}
        for deployment in recent:
            props = deployment.get("properties") or {}
            if str(props.get("provisioningState") or "").lower() != "failed":
                continue
            name = str(deployment.get("name") or "")
            try:
                operations = [op.as_dict() for op in client.deployment_operations.list(target.resource_group, name)]
            except ResourceNotFoundError:
                # Deleted since the list answered (ARM prunes history near 800 per group; anyone may delete a
                # record): the deployment's own error, in the list's answer, is what is left to diagnose.
                continue
            failed_operations[name.lower()] = [
                op for op in operations
                if str((op.get("properties") or {}).get("provisioningState") or "").lower() == "failed"
            ]
    except Exception as exc:
        return None, problem("deployments", exc)
    return (recent, failed_operations), None


def workspace_kind(workspace: str | None) -> str:
    """"workspace" (a GUID: the customer id), "workspace-resource" (its ARM id), or "resource" (none: the
    query goes resource-centric to the APIM instance)."""
    if workspace is None or not workspace.strip():
        return "resource"
    if _GUID.match(workspace.strip()):
        return "workspace"
    return "workspace-resource"


_ASK_PERMISSIONS = "include-permissions=true"
_ACCESS_FIX = (
    "grant the app's identity Log Analytics Reader on the workspaces named (a workspace in 'Require workspace "
    "permissions' mode ignores roles on the APIM instance), or set their access control mode to 'Use resource or "
    "workspace permissions', or give the target its workspace as logAnalyticsWorkspaceId"
)


def _permission_hooks() -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-call azure-core hooks asking a resource-centric query for its `permissions` section and keeping it.

    LogsQueryClient has no option for that preference and its result has no place for the section, so the
    request gets the preference added to its Prefer header and the section is read from the raw answer.
    """
    answered: dict[str, Any] = {}

    def ask(request: Any) -> None:
        headers = request.http_request.headers
        current = str(headers.get("Prefer") or "").strip()
        headers["Prefer"] = f"{current},{_ASK_PERMISSIONS}" if current else _ASK_PERMISSIONS

    def keep(response: Any) -> None:
        try:
            body = response.http_response.json()
        except Exception:  # not JSON: the SDK reports the answer itself
            return
        if isinstance(body, Mapping) and "permissions" in body:
            answered["permissions"] = body["permissions"]

    return {"raw_request_hook": ask, "raw_response_hook": keep}, answered


def query_gateway_logs(
    settings: Settings, workspace: str | None, targets: Sequence[tuple[AllowedTarget, QueryTarget]],
    start: datetime, end: datetime, bin_seconds: int,
) -> tuple[list[Bin] | None, Problem | None, dict[str, Any]]:
    """ONE query for every target sharing `workspace`. Returns the bins, a problem, and what was received."""
    text = gateway_query([q for _, q in targets], start, end, bin_seconds)
    kind = workspace_kind(workspace)
    stats: dict[str, Any] = {"workspaceKind": kind, "queryChars": len(text), "rows": 0, "queries": 0}
    client = None
    for attempt in range(_QUERY_ATTEMPTS):
        try:
            client = client or logs_client(settings)
            stats["queries"] += 1
            if kind == "workspace":
                assert workspace is not None
                result = client.query_workspace(workspace.strip(), text, timespan=(start, end))
            else:
                # A resource query drops, without an error, the workspaces and tables the app may not read: ask
                # for the permissions section to tell a whole answer from a filtered one.
                queried = workspace.strip() if kind == "workspace-resource" and workspace else targets[0][1].resource_id
                hooks, answered = _permission_hooks()
                result = client.query_resource(queried, text, timespan=(start, end), **hooks)
                missing = left_out(answered.get("permissions"), [queried, *(q.resource_id for _, q in targets)], TABLE)
                if missing is not None:
                    return None, {"source": "gatewayLogs", "code": "PartialAccess", "message": missing[:500],
                                  "status": None, "transient": False, "retryAfterSeconds": None,
                                  "fix": _ACCESS_FIX}, stats
            rows = rows_from_result(result)
            stats["rows"] = len(rows)
            return bins_from_rows(rows), None, stats
        except Exception as exc:
            found = problem("gatewayLogs", exc)
            if isinstance(exc, PartialLogsResultError):
                found["code"] = exc.code  # the service's own code (PartialError), not the exception's name
            if "fix" not in found and (hint := missing_table_fix(str(found.get("message") or ""), TABLE)):
                found["fix"] = hint
            wait = found.get("retryAfterSeconds")
            throttled = found.get("status") == 429 or found.get("code") == "ThrottledError"
            if throttled and attempt + 1 < _QUERY_ATTEMPTS and (wait or 1.0) <= _LONGEST_WAIT_SECONDS:
                time.sleep(wait if wait is not None else 1.0)
                continue
            return None, found, stats
    return None, {"source": "gatewayLogs", "code": "Throttled", "message": "throttled on every attempt",
                  "status": 429, "transient": True, "retryAfterSeconds": None}, stats


def read_transitions(store: Store, resource_id: str) -> list[BreakerTransition]:
    """Every stored breaker transition of one APIM instance (StoreUnavailableError propagates)."""
    found = []
    for record in store.list(BREAKER_EVENT, prefix=event_prefix(resource_id)):
        try:
            transition = BreakerTransition.from_dict(record.value)
        except (KeyError, ValueError, TypeError):
            continue  # a record this version cannot read is not evidence either way
        found.append(transition)
    return found


def event_prefix(resource_id: str) -> str:
    return resource_id.rstrip("/").lower() + "|"


def event_key(transition: BreakerTransition) -> str:
    return f"{event_prefix(transition.resource_id)}{transition.event_id}"


def target_of(allowed: AllowedTarget) -> Mapping[str, str]:
    target = allowed.target
    return {"subscriptionId": target.subscription_id, "resourceGroup": target.resource_group,
            "apimName": target.apim_name}
