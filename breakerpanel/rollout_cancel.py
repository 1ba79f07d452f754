"""A rollout's cancel flag in the app's store: written by the cancel route before it raises any event.

Why a record as well as the event: the cancel route raises CANCEL_EVENT on the rollout and on every child it
finds running, but a child the parent schedules in the same moment (its episode already decided, not yet
committed) is not there to be found, and Durable drops an event raised to an instance that does not exist
yet — or to a poller while it continues as new. Every orchestration of the rollout reads this flag when it
starts (each poller generation too), so a cancel written before the listing reaches whatever starts after
it. The first cancel's record is kept (who, why, when); the rollout deletes it when it ends.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from breakerpanel.store.base import ConflictError, Store

KIND = "rollout_cancel"


def request(store: Store, rollout_instance_id: str, event: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Record the cancel; returns the record in force (an earlier cancel's, if there was one)."""
    value = {**event, "at": now.isoformat()}
    try:
        store.insert(KIND, rollout_instance_id, value)
        return value
    except ConflictError:
        existing = store.get(KIND, rollout_instance_id)
        return existing.value if existing is not None else value


def requested(store: Store, rollout_instance_id: str) -> dict[str, Any] | None:
    """The cancel recorded for the rollout, or None."""
    record = store.get(KIND, rollout_instance_id)
    return record.value if record is not None else None


def forget(store: Store, rollout_instance_id: str) -> None:
    with contextlib.suppress(ConflictError):  # rewritten meanwhile: gone with the next rollout's end
        store.delete(KIND, rollout_instance_id)
