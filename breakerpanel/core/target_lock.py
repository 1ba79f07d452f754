"""One rollout per target, atomically: the decisions around the per-target lock record (pure; time passed in).

Each APIM target has one lock record in the app's store (`breakerpanel.store`, kind `lease`, key
`rollout-target:<sub>/<rg>/<apim>`). The HTTP starter *creates* it before it starts the orchestration: create
is atomic (Table storage answers 409 EntityAlreadyExists, SQLite a primary-key violation), so of two
concurrent POSTs for one target exactly one gets it, however the calls interleave and however many
rollouts the task hub holds. The orchestration confirms it holds the lock as its first step and releases it
as its last — after every child orchestration has ended and every deployment it submitted is terminal. When
it cannot tell that (a deployment whose state it could not learn), it does not release: it marks the lock
`inDoubt` with the deployment's name, and nothing new starts on that target until a person has looked.

Why not a Durable entity: the Python SDK has no critical sections (`context.lock`), a client can only
*signal* an entity (no answer to a starter that must say 202 or 409), and breakerpanel's local runner does
not drive entities. A compare-and-swap record in the store the app already has is atomic, survives restarts,
and is readable by a person in Storage Explorer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

KIND = "lease"
PREFIX = "rollout-target:"
# A lock whose holder the task hub does not know yet: the starter created it and is starting the
# orchestration. Past this age the start was lost (the starter crashed between the two) and it may be taken.
START_GRACE = timedelta(minutes=2)
ACTIVE_STATUSES = frozenset({"Pending", "Running", "ContinuedAsNew"})


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def key_for(target: Mapping[str, Any]) -> str:
    parts = [str(target.get(k) or "").lower() for k in ("subscriptionId", "resourceGroup", "apimName")]
    return PREFIX + "/".join(parts)


def keys_for(targets: Iterable[Mapping[str, Any]]) -> list[str]:
    """Sorted, so every starter takes several locks in one order (no two starters each hold half)."""
    return sorted({key_for(t) for t in targets})


def held_by(holder: str, rollout_id: str, now: datetime) -> dict[str, Any]:
    return {"holder": holder, "rolloutId": rollout_id, "since": _iso(now), "state": "held"}


def in_doubt(value: Mapping[str, Any], deployments: Sequence[Mapping[str, Any]], now: datetime) -> dict[str, Any]:
    """The lock kept after its rollout ended because ARM may still deploy into the target."""
    return {**value, "state": "inDoubt", "since": value.get("since"), "inDoubtAt": _iso(now),
            "deployments": [dict(d) for d in deployments]}


def verdict(
    value: Mapping[str, Any],
    holder_status: str | None,
    children_active: Sequence[str],
    now: datetime,
) -> dict[str, Any]:
    """What a starter does about a lock it found: {"take": bool, "why": str, "code": ...}.

    `holder_status` is the holding orchestration's runtime status (None: the task hub has no such
    instance); `children_active` the ids of its child orchestrations still running.
    """
    holder = str(value.get("holder") or "?")
    if value.get("state") == "inDoubt":
        names = ", ".join(str(d.get("deploymentName")) for d in value.get("deployments") or []) or "?"
        return {"take": False, "code": "TargetHeld", "why": (
            f"rollout {holder} ended without learning whether deployment {names} stopped: it may still be running "
            "in this target; check it (az deployment group show -g <resourceGroup> -n <name> --query "
            "properties.provisioningState) and, once it is Succeeded, Failed or Canceled, release the target with "
            f"POST /api/rollouts/{holder}/release")}
    if holder_status in ACTIVE_STATUSES:
        return {"take": False, "code": "RolloutInProgress", "why": f"rollout {holder} is still {holder_status}"}
    if children_active:
        return {"take": False, "code": "RolloutInProgress", "why": (
            f"rollout {holder} is {holder_status} but its child orchestration(s) {', '.join(children_active)} "
            "still run")}
    if holder_status is None:
        since = value.get("since")
        try:
            started = datetime.fromisoformat(str(since).replace("Z", "+00:00"))
        except ValueError:
            started = None
        if started is not None and now - started < START_GRACE:
            return {"take": False, "code": "RolloutInProgress", "why": f"rollout {holder} is being started"}
        return {"take": True, "why": f"rollout {holder} was never started"}
    return {"take": True, "why": f"rollout {holder} is {holder_status} and left the lock behind"}
