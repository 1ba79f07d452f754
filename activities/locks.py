"""The rollout's per-target lock, from the orchestration's side: confirm it first, release (or hold) it last.

The HTTP starter takes the lock before it starts the orchestration (orchestrators/rollout_http.py); see
breakerpanel/core/target_lock.py for why a store record and not a Durable entity.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import azure.durable_functions as df

from activities.outcomes import Outcome, reports_failures
from breakerpanel import rollout_lock
from breakerpanel.store.base import StoreUnavailableError
from breakerpanel.store.factory import open_store

bp = df.Blueprint()


def _now(payload: dict[str, Any]) -> datetime:
    # The orchestration's time, passed in: the record says when the rollout (not this delivery) took it.
    return datetime.fromisoformat(str(payload["at"]).replace("Z", "+00:00"))


@bp.activity_trigger(input_name="payload")
@reports_failures
def rollout_lock_targets(payload: dict[str, Any]) -> Outcome:
    """{"op": "confirm"|"release", "holder", "rolloutId", "keys", "at", "hold"?: {key: [deployments]}}."""
    try:
        store = open_store()
        try:
            holder, keys = str(payload["holder"]), list(payload["keys"])
            if payload["op"] == "confirm":
                others = rollout_lock.confirm(store, keys, holder, str(payload.get("rolloutId") or ""),
                                              _now(payload))
                return {"outcome": "ok", "heldByOthers": others}
            held = payload.get("hold") or {}
            kept = [key for key, deployments in held.items()
                    if rollout_lock.hold(store, key, holder, deployments, _now(payload))]
            rollout_lock.release(store, [k for k in keys if k not in held], holder)
            return {"outcome": "ok", "held": kept}
        finally:
            store.close()
    except StoreUnavailableError as exc:
        return {"outcome": "transient", "status": None, "retryAfterSeconds": None,
                "error": {"code": "StoreUnavailable", "message": str(exc)[:500]}}
