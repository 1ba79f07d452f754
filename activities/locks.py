"""The rollout's records in the app's store, from the orchestration's side: the per-target lock (confirm it
first, release or hold it last) and the cancel flag (read when a child starts, deleted at the end).

The HTTP starter takes the lock before it starts the orchestration (orchestrators/rollout_http.py); see
breakerpanel/core/target_lock.py for why a store record and not a Durable entity, and
breakerpanel/rollout_cancel.py for why a cancel is a record as well as an event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import azure.durable_functions as df

from activities.outcomes import Outcome, reports_failures
from breakerpanel import rollout_cancel, rollout_lock
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
            # Every child has returned by now: the flag has nobody left to tell.
            rollout_cancel.forget(store, holder)
            return {"outcome": "ok", "held": kept}
        finally:
            store.close()
    except StoreUnavailableError as exc:
        return _store_unavailable(exc)


def _store_unavailable(exc: StoreUnavailableError) -> Outcome:
    return {"outcome": "transient", "status": None, "retryAfterSeconds": None,
            "error": {"code": "StoreUnavailable", "message": str(exc)[:500]}}


@bp.activity_trigger(input_name="payload")
@reports_failures
def rollout_cancel_requested(payload: dict[str, Any]) -> Outcome:
    """{"rollout": instance id} -> {"outcome": "ok", "cancel": the recorded cancel event or None}."""
    try:
        store = open_store()
        try:
            return {"outcome": "ok", "cancel": rollout_cancel.requested(store, str(payload["rollout"]))}
        finally:
            store.close()
    except StoreUnavailableError as exc:
        return _store_unavailable(exc)
