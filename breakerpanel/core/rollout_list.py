"""Decisions of GET /api/rollouts: the query's meaning and what one listed rollout shows (pure)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from breakerpanel.core.caller import identity
from breakerpanel.core.model import Problem

MAX_DAYS = 90
DEFAULT_DAYS = 7
# The Durable Python client reads one page of the extension's instance query and drops its continuation
# token; a page is 100 instances (Azure/azure-functions-durable-python#580), child orchestrations included. The
# Azure Storage provider's instances table is keyed by instance id, so the page is the first 100 ids of the
# window in id order: rollout ids begin with their start time, so the oldest come first and the newest are left.
DURABLE_PAGE = 100
# ARM's own limits: APIM names 1-50 of letters, digits, hyphens; resource groups 1-90 of word characters,
# hyphens, periods and parentheses; subscription ids are GUIDs.
_APIM = r"[A-Za-z0-9-]{1,50}"
_TARGET = re.compile(rf"^(?:[0-9A-Fa-f-]{{36}}/[\w().-]{{1,90}}/)?{_APIM}$")
_TARGET_FIX = "give an APIM name (apim-gateway) or subscriptionId/resourceGroup/apimName"


@dataclass(frozen=True)
class ListQuery:
    target: str | None
    days: int
    active: bool


def parse_list_query(params: Mapping[str, str]) -> ListQuery | Problem:
    """The list's query string, or the first problem with it (naming the parameter and the fix)."""
    unknown = sorted(set(params) - {"target", "days", "active", "code"})
    if unknown:
        return Problem(unknown[0], f"unknown query parameter '{unknown[0]}'", "use target, days or active")
    target = (params.get("target") or "").strip() or None
    if target is not None and not _TARGET.match(target):
        return Problem("target", f"{target[:120]!r} is not an APIM name or subscription/group/name", _TARGET_FIX)
    raw_days = (params.get("days") or "").strip()
    days = DEFAULT_DAYS
    if raw_days:
        if not raw_days.isdigit() or not 1 <= int(raw_days) <= MAX_DAYS:
            return Problem("days", f"{raw_days[:20]!r} is not a whole number of days 1..{MAX_DAYS}",
                           f"give days=1..{MAX_DAYS}")
        days = int(raw_days)
    raw_active = (params.get("active") or "").strip().lower()
    if raw_active not in ("", "true", "false"):
        return Problem("active", f"{raw_active[:20]!r} is not true or false", "give active=true or active=false")
    return ListQuery(target, days, raw_active == "true")


def _decoded(value: object) -> object:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def list_entry(status: Mapping[str, Any]) -> dict[str, Any]:
    """One rollout as the list shows it: who, which targets, how far — no backends, URLs or results.

    `status` is the Durable status as a dict (instanceId, runtimeStatus, input, customStatus, output, times)."""
    spec = _decoded(status.get("input"))
    spec = spec if isinstance(spec, Mapping) else {}
    progress = _decoded(status.get("output"))
    if not isinstance(progress, Mapping):
        progress = _decoded(status.get("customStatus"))
    progress = progress if isinstance(progress, Mapping) else {}
    request = spec.get("request") if isinstance(spec.get("request"), Mapping) else {}
    targets = []
    for item in request.get("targets") or []:
        if isinstance(item, Mapping):
            targets.append({k: item.get(k) for k in ("subscriptionId", "resourceGroup", "apimName", "wave")})
    return {
        "instanceId": status.get("instanceId"),
        "rolloutId": spec.get("rolloutId"),
        "runtimeStatus": status.get("runtimeStatus"),
        "phase": progress.get("phase"),
        "status": progress.get("status"),
        "wave": progress.get("wave"),
        "startedBy": identity(spec.get("startedBy")),
        "targets": targets,
        "createdTime": status.get("createdTime"),
        "lastUpdatedTime": status.get("lastUpdatedTime"),
    }


def _created(entry: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(entry.get("createdTime")))
    except ValueError:
        return None


def matches(entry: Mapping[str, Any], query: ListQuery, since: datetime) -> bool:
    """Whether a listed rollout answers the query. The window is checked here too: the Durable extension
    filters by creation time, but an answer outside the window asked for is still not what was asked."""
    created = _created(entry)
    if created is not None and created.tzinfo is not None and created < since:
        return False
    if query.target is None:
        return True
    wanted = query.target.lower().split("/")
    for target in entry.get("targets") or []:
        key = [str(target.get(k) or "").lower() for k in ("subscriptionId", "resourceGroup", "apimName")]
        if key[-len(wanted):] == wanted:
            return True
    return False


def list_answer(
    entries: list[dict[str, Any]], query: ListQuery, since: datetime, instances_read: int
) -> dict[str, Any]:
    """The list's body: the matching rollouts newest first, and whether the task hub may hold more than it
    answered (one full page read, in instance-id order: the newest rollouts of the window can be missing, so the
    caller narrows it - fewer days moves the window's start past the oldest)."""
    found = sorted((e for e in entries if matches(e, query, since)), key=lambda e: str(e.get("createdTime") or ""),
                   reverse=True)
    body: dict[str, Any] = {"rollouts": found, "days": query.days, "active": query.active, "target": query.target,
                            "truncated": instances_read >= DURABLE_PAGE}
    if body["truncated"]:
        body["note"] = (f"the task hub answered one page of {DURABLE_PAGE} instances, oldest rollouts first (child "
                        "orchestrations count too): the newest rollouts of the window may be missing; ask for fewer "
                        "days or active=true")
    return body
