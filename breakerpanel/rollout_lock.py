"""The per-target rollout lock on the app's store: create-only records, compare-and-swap take-over.

Decisions are in breakerpanel.core.target_lock; this module only reads and writes records. Every function
takes the store, so the HTTP starter and the orchestration's lock activity share one implementation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from breakerpanel.core import target_lock as tl
from breakerpanel.store.base import ConflictError, Record, Store


def try_take(store: Store, key: str, value: dict[str, Any]) -> Record | None:
    """Create the lock record: None when this call created it, else the record that holds the target."""
    for _ in range(3):
        try:
            store.insert(tl.KIND, key, value)
            return None
        except ConflictError:
            existing = store.get(tl.KIND, key)
            if existing is not None:
                return existing
            # Released between the insert and the read: try again.
    existing = store.get(tl.KIND, key)
    if existing is None:
        raise ConflictError(f"the lock {key!r} keeps changing; try again")
    return existing


def take_over(store: Store, key: str, found: Record, value: dict[str, Any]) -> bool:
    """Replace a stale lock, only if nobody changed it since it was read."""
    try:
        store.replace(tl.KIND, key, value, found.etag)
        return True
    except ConflictError:
        return False


def release(store: Store, keys: Sequence[str], holder: str) -> None:
    """Free the locks `holder` holds (a lock held by anyone else, or gone, is left as it is)."""
    for key in keys:
        record = store.get(tl.KIND, key)
        if record is None or record.value.get("holder") != holder:
            continue
        with contextlib.suppress(ConflictError):  # changed meanwhile: no longer ours to free
            store.delete(tl.KIND, key, record.etag)


def hold(store: Store, key: str, holder: str, deployments: Sequence[Mapping[str, Any]], now: datetime) -> bool:
    """Keep `holder`'s lock past its rollout's end, marked inDoubt with the deployments ARM may still run."""
    record = store.get(tl.KIND, key)
    value = record.value if record is not None else tl.held_by(holder, "", now)
    if record is not None and value.get("holder") != holder:
        return False
    marked = tl.in_doubt(value, deployments, now)
    try:
        if record is None:
            store.insert(tl.KIND, key, marked)
        else:
            store.replace(tl.KIND, key, marked, record.etag)
    except ConflictError:
        return False
    return True


def confirm(store: Store, keys: Sequence[str], holder: str, rollout_id: str, now: datetime) -> dict[str, str]:
    """The orchestration's own check: take each lock or find it already `holder`'s. Returns {key: other
    holder} for every lock someone else holds (then nothing is taken)."""
    taken: list[str] = []
    others: dict[str, str] = {}
    for key in sorted(keys):
        found = try_take(store, key, tl.held_by(holder, rollout_id, now))
        if found is None:
            taken.append(key)
        elif found.value.get("holder") != holder:
            others[key] = str(found.value.get("holder"))
    if others:
        release(store, taken, holder)
    return others


StatusOf = Callable[[str], Awaitable[tuple[str | None, list[str]]]]


async def acquire(
    store: Store, keys: Sequence[str], holder: str, rollout_id: str, now: datetime, status_of: StatusOf
) -> dict[str, Any] | None:
    """Take every lock for `holder`, or none: None when taken, else {"key", "holder", "code", "why"}.

    `status_of(instance)` answers (runtime status or None, ids of its children still running) so a lock left
    by a finished rollout can be taken over (compare-and-swap on its etag: of two takers, one wins).
    """
    taken: list[str] = []
    value = tl.held_by(holder, rollout_id, now)
    for key in sorted(keys):
        while True:
            found = try_take(store, key, value)
            if found is None:
                taken.append(key)
                break
            other = str(found.value.get("holder") or "")
            status, children_active = await status_of(other) if other else (None, [])
            decision = tl.verdict(found.value, status, children_active, now)
            if not decision["take"]:
                release(store, taken, holder)
                return {"key": key, "holder": other, "code": decision["code"], "why": decision["why"]}
            if take_over(store, key, found, value):
                taken.append(key)
                break
            # Someone else changed it meanwhile: look again.
    return None
