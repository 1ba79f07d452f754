"""BREAKERPANEL_TARGETS: the APIM instances this app may touch (inline JSON, or a path to a JSON file).

`[{"subscriptionId", "resourceGroup", "apimName", "logAnalyticsWorkspaceId"?}]` — the rollout refuses any
other target, and the watchdog (later) reads the same list with each target's workspace id.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from breakerpanel.core import apim_limits as lim
from breakerpanel.core.model import Target
from breakerpanel.settings import SettingsError

VARIABLE = "BREAKERPANEL_TARGETS"
_FIELDS = {"subscriptionId", "resourceGroup", "apimName", "logAnalyticsWorkspaceId"}


@dataclass(frozen=True)
class AllowedTarget:
    target: Target
    log_analytics_workspace_id: str | None = None


def _fail(problem: str) -> SettingsError:
    return SettingsError(
        VARIABLE,
        problem,
        'give a JSON list like [{"subscriptionId": "...", "resourceGroup": "...", "apimName": "..."}] '
        "inline or as a path to a file holding it",
    )


def parse_targets(raw: str) -> list[AllowedTarget]:
    text = raw.strip()
    if not text:
        return []
    if not text.startswith("["):
        path = Path(text)
        if not path.is_file():
            raise _fail(f"{text!r} is neither a JSON list nor a readable file")
        text = path.read_text()
    try:
        entries: Any = json.loads(text)
    except ValueError as exc:
        raise _fail(f"not valid JSON ({exc})") from None
    if not isinstance(entries, list):
        raise _fail("the JSON is not a list")
    allowed: list[AllowedTarget] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise _fail(f"entry [{index}] is not an object")
        unknown = sorted(set(entry) - _FIELDS)
        if unknown:
            raise _fail(f"entry [{index}] has unknown field(s) {unknown}")
        for field in ("subscriptionId", "resourceGroup", "apimName"):
            if not isinstance(entry.get(field), str) or not entry[field].strip():
                raise _fail(f"entry [{index}].{field} is missing or not a string")
        if not lim.SUBSCRIPTION_ID.match(entry["subscriptionId"]):
            raise _fail(f"entry [{index}].subscriptionId is not a subscription id (a GUID)")
        group = entry["resourceGroup"]
        if len(group) > lim.MAX_RESOURCE_GROUP_NAME_LENGTH or group.endswith(".") or not lim.RESOURCE_GROUP_NAME.match(
            group
        ):
            raise _fail(f"entry [{index}].resourceGroup is not a valid resource group name")
        apim = entry["apimName"]
        if len(apim) > lim.MAX_APIM_SERVICE_NAME_LENGTH or not lim.APIM_SERVICE_NAME.match(apim):
            raise _fail(f"entry [{index}].apimName is not a valid API Management service name")
        workspace = entry.get("logAnalyticsWorkspaceId")
        if workspace is not None and not isinstance(workspace, str):
            raise _fail(f"entry [{index}].logAnalyticsWorkspaceId is not a string")
        target = Target(entry["subscriptionId"], entry["resourceGroup"], entry["apimName"])
        allowed.append(AllowedTarget(target, workspace))
    return allowed


def load_targets(env: Mapping[str, str] | None = None) -> list[AllowedTarget]:
    env = os.environ if env is None else env
    return parse_targets(env.get(VARIABLE, ""))
