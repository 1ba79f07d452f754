"""The outbox: every notification is a record in the state store before any sink sees it.

Record (OUTBOX, "<target key>|<idempotency key>"), value:
    {"notification": {...payloads form...}, "stagedAt", "sinks": {name: {"state", "attempts",
     "nextAttemptAt", "lastError", "lastStatus", "deliveredAt"}}, "claim": {"by", "until"} | None}
A sink's state is `pending` (due at nextAttemptAt), `delivered`, `rejected` (the receiver refused it for
good: a 4xx a retry cannot change) or `expired` (still failing after RETENTION).

Why these rules:
- The key is the notification's idempotency key, so staging twice (the watchdog step and the reconciliation
  after it; two overlapping runs) is one record: `insert` refuses the second.
- A delivery first *claims* the record with a compare-and-swap on its etag; of two overlapping runs exactly
  one wins and sends, the other skips the record. The claim expires (a run that died mid-delivery does not
  hold a record forever); after that, and only then, it can be sent again — the idempotency key lets the
  receiver drop that rare repeat.
- A failure keeps the record pending with exponential backoff (honouring Retry-After) for later runs.
- Delivered records stay as tombstones for RETENTION, longer than the reconciliation window, so
  reconciliation never re-creates — and re-sends — a notification that was delivered.
Delivery times (claims, backoff) follow the wall clock; staging, reconciliation and pruning follow the run's
`at`, so `watch --once --at` replays stay consistent with the incidents they replay.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from breakerpanel.alerts.payloads import incident_notification
from breakerpanel.store.base import INCIDENT, OUTBOX, ConflictError, Record, Store, StoreUnavailableError

BACKOFF_BASE = timedelta(seconds=60)
BACKOFF_MAX = timedelta(hours=1)
# A receiver's Retry-After is honoured past BACKOFF_MAX (README: "longer when the receiver says Retry-After"),
# but not without bound: a wrong or hostile header must not park a notification for the rest of RETENTION.
RETRY_AFTER_MAX = timedelta(hours=6)
RETENTION = timedelta(days=7)
CLAIM_MIN = timedelta(seconds=120)
# An incident transition younger than this with no outbox record is staged again: the incident write
# succeeded but its outbox insert did not (storage failed in between, the process died).
RECONCILE_WINDOW = timedelta(days=1)
_FINAL = frozenset({"delivered", "rejected", "expired"})


@dataclass(frozen=True)
class Delivery:
    ok: bool
    final: bool = False  # a refusal a retry cannot change
    status: int | None = None
    error: str | None = None  # never a secret or a URL
    retry_after: float | None = None


class Sink(Protocol):
    name: str
    # The longest one delivery may take (its connect and read timeouts, a token): a claim outlives it.
    max_seconds: float

    def deliver(self, notification: Mapping[str, Any]) -> Delivery: ...

    def close(self) -> None: ...


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(text: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def entry_key(notification: Mapping[str, Any]) -> str:
    return f"{notification.get('targetKey') or '-'}|{notification['idempotencyKey']}"


def stage(store: Store, notification: Mapping[str, Any], sinks: Sequence[str], wall: datetime) -> bool:
    """Write the notification to the outbox; False when it is there already. Store errors propagate."""
    value = {
        "notification": dict(notification),
        "stagedAt": _iso(wall),
        "sinks": {name: {"state": "pending", "attempts": 0, "nextAttemptAt": None, "lastError": None,
                         "lastStatus": None, "deliveredAt": None} for name in sinks},
        "claim": None,
    }
    try:
        store.insert(OUTBOX, entry_key(notification), value)
    except ConflictError:
        return False
    return True


def stage_incident(store: Store, view: Mapping[str, Any], sinks: Sequence[str], wall: datetime) -> bool:
    notification = incident_notification(view)
    return False if notification is None else stage(store, notification, sinks, wall)


def reconcile(store: Store, target_key: str, at: datetime, sinks: Sequence[str], wall: datetime) -> int:
    """Stage the notifications of recent incident transitions that have no outbox record; how many."""
    from breakerpanel.core.watch.run import incident_view

    staged = 0
    for record in store.list(INCIDENT, prefix=target_key + "|"):
        changes = [("opened", record.value.get("openedAt"))]
        if record.value.get("state") == "resolved":
            changes.append(("resolved", record.value.get("resolvedAt")))
        for change, when in changes:
            moment = _parse(when)
            if moment is None or not (at - RECONCILE_WINDOW <= moment <= at):
                continue
            notification = incident_notification(incident_view(record.value, change))
            if notification is None or store.get(OUTBOX, entry_key(notification)) is not None:
                continue
            staged += stage(store, notification, sinks, wall)
    return staged


def _backoff(attempts: int, retry_after: float | None) -> timedelta:
    """1 min doubling to BACKOFF_MAX; a longer Retry-After wins, up to RETRY_AFTER_MAX."""
    # The exponent stops growing once BACKOFF_MAX is reached: 60 s * 2**41 does not fit a timedelta, and a
    # receiver down for a day and a half reaches 42 attempts.
    doublings = min(max(attempts - 1, 0), 20)
    delay = min(BACKOFF_BASE * (2 ** doublings), BACKOFF_MAX)
    if retry_after is not None and retry_after == retry_after:  # NaN compares unequal to itself
        # Clamped as a number first: timedelta(seconds=1e20) (a "Retry-After: 1e20") overflows.
        seconds = min(max(retry_after, 0.0), RETRY_AFTER_MAX.total_seconds())
        delay = max(delay, timedelta(seconds=seconds))
    return delay


def _due(value: Mapping[str, Any], sinks: Mapping[str, Sink], wall: datetime) -> list[str]:
    due = []
    for name, state in (value.get("sinks") or {}).items():
        if name not in sinks or state.get("state") != "pending":
            continue
        next_at = _parse(state.get("nextAttemptAt")) if state.get("nextAttemptAt") else None
        if next_at is None or next_at <= wall:
            due.append(name)
    return due


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    skipped_claimed: int = 0
    expired: int = 0
    problems: list[dict[str, Any]] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"delivered": self.delivered, "failed": self.failed, "claimedElsewhere": self.skipped_claimed,
                "expired": self.expired, "problems": self.problems or []}


def _apply(state: dict[str, Any], result: Delivery, wall: datetime, staged_at: datetime | None) -> str:
    state["attempts"] = int(state.get("attempts") or 0) + 1
    state["lastStatus"] = result.status
    if result.ok:
        state.update(state="delivered", deliveredAt=_iso(wall), lastError=None, nextAttemptAt=None)
    elif result.final:
        state.update(state="rejected", lastError=result.error, nextAttemptAt=None)
    elif staged_at is not None and wall - staged_at > RETENTION:
        state.update(state="expired", lastError=result.error, nextAttemptAt=None)
    else:
        state.update(lastError=result.error,
                     nextAttemptAt=_iso(wall + _backoff(state["attempts"], result.retry_after)))
    return str(state["state"])


def deliver(store: Store, sinks: Mapping[str, Sink], *, prefix: str = "", wall: datetime | None = None,
            holder: str | None = None, claim_seconds: float | None = None) -> DeliveryReport:
    """Send every due record under `prefix` to its pending sinks; never raises (problems are reported).

    A record's claim lasts `claim_seconds`, by default longer than sending it to every sink can take: a claim
    that expired while its holder was still sending would let an overlapping run send the record again."""
    wall = wall or datetime.now(UTC)
    if claim_seconds is None:
        claim_seconds = max(CLAIM_MIN.total_seconds(),
                            sum(float(getattr(s, "max_seconds", 0.0)) for s in sinks.values()) + 30.0)
    holder = holder or f"deliver-{uuid.uuid4().hex[:12]}"
    report = DeliveryReport(problems=[])
    assert report.problems is not None
    try:
        records = store.list(OUTBOX, prefix=prefix)
    except StoreUnavailableError as exc:
        report.problems.append({"source": "outbox", "code": "StoreUnavailable", "message": str(exc)[:300]})
        return report
    for record in records:
        try:
            _deliver_one(store, record, sinks, wall, holder, claim_seconds, report)
        except StoreUnavailableError as exc:
            report.problems.append({"source": "outbox", "code": "StoreUnavailable", "message": str(exc)[:300]})
        except Exception as exc:  # one bad record must not stop the others
            report.problems.append({"source": "outbox", "code": type(exc).__name__, "key": record.key})
    return report


def _deliver_one(store: Store, record: Record, sinks: Mapping[str, Sink], wall: datetime, holder: str,
                 claim_seconds: float, report: DeliveryReport) -> None:
    value = record.value
    due = _due(value, sinks, wall)
    if not due:
        return
    claim = value.get("claim") or {}
    until = _parse(claim.get("until")) if claim else None
    if claim and claim.get("by") != holder and until is not None and until > wall:
        report.skipped_claimed += 1
        return
    claimed_value = {**value, "claim": {"by": holder, "until": _iso(wall + timedelta(seconds=claim_seconds))}}
    try:
        claimed = store.replace(OUTBOX, record.key, claimed_value, record.etag)
    except ConflictError:
        report.skipped_claimed += 1  # another run claimed (or finished) it between our read and our claim
        return
    staged_at = _parse(value.get("stagedAt"))
    outcomes: dict[str, dict[str, Any]] = {}
    for name in due:
        state = dict(value["sinks"][name])
        result = sinks[name].deliver(value["notification"])
        final = _apply(state, result, wall, staged_at)
        outcomes[name] = state
        if final == "delivered":
            report.delivered += 1
        elif final == "expired":
            report.expired += 1
        else:
            report.failed += 1
    _finish(store, record.key, claimed, outcomes, holder)


def _finish(store: Store, key: str, claimed: Record, outcomes: Mapping[str, dict[str, Any]], holder: str) -> None:
    """Record what was sent and drop the claim. The etag is the claim's; if the claim expired and another run
    took the record over, merge: a delivery we made is never forgotten."""
    current = claimed
    for _ in range(5):
        sinks = {**current.value.get("sinks", {})}
        for name, state in outcomes.items():
            if sinks.get(name, {}).get("state") not in _FINAL or state["state"] == "delivered":
                sinks[name] = state
        claim = current.value.get("claim")
        value = {**current.value, "sinks": sinks, "claim": None if (claim or {}).get("by") == holder else claim}
        try:
            store.replace(OUTBOX, key, value, current.etag)
            return
        except ConflictError:
            found = store.get(OUTBOX, key)
            if found is None:
                return
            current = found


def prune(store: Store, at: datetime, prefix: str = "") -> int:
    """Delete records whose every sink is final and whose notification is older than RETENTION."""
    removed = 0
    for record in store.list(OUTBOX, prefix=prefix):
        sinks = record.value.get("sinks") or {}
        moment = _parse((record.value.get("notification") or {}).get("time"))
        if moment is None or at - moment <= RETENTION:
            continue
        if all(s.get("state") in _FINAL for s in sinks.values()):
            try:
                store.delete(OUTBOX, record.key, etag=record.etag)
                removed += 1
            except ConflictError:
                pass  # changed since read: a later run decides
    return removed
