"""Whether a resource-centric Log Analytics answer holds every workspace's rows, from its `permissions` section.

A query on a resource (`/v1/{resourceId}/query`) looks in every workspace that holds the resource's logs, but
answers a normal 200 with the workspaces and tables the caller may not read silently left out
(https://learn.microsoft.com/azure/azure-monitor/logs/api/azure-resource-queries#partial-access): a workspace
in "Require workspace permissions" mode without a workspace role, or a table denied by granular RBAC. Asked with
`Prefer: include-permissions=true`, the answer says so:

    "permissions": {
      "resources":   [{"resourceId": R, "dataSources": [W1, W2], "denyTables": [...]?}],
      "dataSources": [{"resourceId": W1, "denyTables": [...]?}]        <- the workspaces the caller may query

so W2 above is left out. Counting the rest as the whole gateway would call a backend's failures fewer than they
are, or its traffic none: the watchdog reports such an answer as not known, never as complete. An answer without
`permissions` (a service that does not report it) is judged as before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence


def _key(resource_id: object) -> str:
    # ARM ids compare ignoring case; a trailing slash names the same resource.
    return str(resource_id).strip().rstrip("/").lower()


def _ids(items: object) -> list[Mapping[str, object]]:
    return [item for item in items if isinstance(item, Mapping)] if isinstance(items, list) else []


def _names(values: object) -> set[str]:
    return {value.lower() for value in values if isinstance(value, str)} if isinstance(values, list) else set()


def left_out(permissions: object, resource_ids: Sequence[str], table: str) -> str | None:
    """Why the answer misses some of `table`'s rows for `resource_ids`, in words; None when nothing is left out
    (or `permissions` says nothing about these resources)."""
    if not isinstance(permissions, Mapping):
        return None
    readable = {_key(d["resourceId"]): d for d in _ids(permissions.get("dataSources")) if d.get("resourceId")}
    wanted = {_key(rid) for rid in resource_ids}
    reasons: list[str] = []
    for entry in _ids(permissions.get("resources")):
        resource = _key(entry.get("resourceId") or "")
        if resource not in wanted:
            continue
        if table.lower() in _names(entry.get("denyTables")):
            reasons.append(f"the app may not read {table} of {resource}")
        listed = entry.get("dataSources")
        sources = [s for s in listed if isinstance(s, str)] if isinstance(listed, list) else []
        denied = [s for s in sources if _key(s) not in readable]
        if denied:
            reasons.append(f"the app may not read workspace(s) {', '.join(denied)} holding the logs of {resource}")
        filtered = [s for s in sources if _key(s) in readable
                    and table.lower() in _names(readable[_key(s)].get("denyTables"))]
        if filtered:
            reasons.append(f"the app may not read {table} in workspace(s) {', '.join(filtered)}")
    if not reasons:
        return None
    return "; ".join(reasons) + ": Log Analytics left those rows out of its answer"


def missing_table_fix(message: str, table: str) -> str | None:
    """What to do when Log Analytics refused the query because the workspace has no `table` (its SemanticError
    "Failed to resolve table or column expression named '<table>'"); None for any other refusal."""
    if not re.search(rf"Failed to resolve table(?: or column)? expression named '{re.escape(table)}'", message,
                     re.IGNORECASE):
        return None
    return (
        f"the workspace has no {table} table: send the APIM instance's GatewayLogs to it through a diagnostic "
        "setting whose destination table is 'Resource specific' (logAnalyticsDestinationType 'Dedicated', as "
        "infra/gateway deploys it) — in 'Azure diagnostics' mode the gateway logs land in AzureDiagnostics, which "
        "the watchdog does not read; the table appears once the first rows arrive"
    )
