"""The watchdog's state store: JSON documents keyed by (kind, key), with optimistic concurrency.

Two overlapping watchdog runs must never both open (and alert on) the same incident, so every write is a
compare-and-swap: `insert` only creates, `replace` only succeeds with the etag that was read. A caller that
loses the race gets `ConflictError`, re-reads and decides again. Storage that cannot be reached or read raises
`StoreUnavailableError`, never "no record": the caller then treats the run as unknown instead of concluding
that an incident does not exist.

`SqliteStore` (a file, for the CLI on a laptop) and `TableStore` (Azure Table storage, Azurite locally) are
the implementations; tests/store/test_store_contract.py runs one suite against both.
"""

from __future__ import annotations

import builtins  # the stores have a method named `list`, which shadows the builtin in their bodies
import json
from abc import ABC, abstractmethod
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from breakerpanel.store.keys import check_key, check_kind

# The kinds the watchdog keeps. Use these names rather than literals so a typo is an import error, not a
# silently separate namespace.
INCIDENT = "incident"
WATERMARK = "watermark"
BREAKER_EVENT = "breaker_event"
RESULT = "result"
LEASE = "lease"
OUTBOX = "outbox"

# A value is at most this many characters of ASCII JSON. Table storage keeps strings as UTF-16 within a
# 1 MiB entity, so 480,000 characters (15 properties of 32,000) leave room for keys and metadata. Both stores
# enforce it so nothing that works locally fails only in Azure.
MAX_VALUE_CHARS = 480_000


@dataclass(frozen=True)
class Record:
    key: str
    value: dict[str, Any]
    etag: str


class ConflictError(Exception):
    """Insert of an existing key, or replace/delete with an etag that is no longer current."""


class StoreUnavailableError(Exception):
    """The storage could not be reached or its answer could not be read: the run's outcome is unknown."""


class Store(Protocol):
    def get(self, kind: str, key: str) -> Record | None: ...

    def insert(self, kind: str, key: str, value: dict[str, Any]) -> Record:
        """Create the record; `ConflictError` if the key exists."""
        ...

    def replace(self, kind: str, key: str, value: dict[str, Any], etag: str) -> Record:
        """Overwrite the record read with `etag`; `ConflictError` if it changed or is gone."""
        ...

    def delete(self, kind: str, key: str, etag: str | None = None) -> None:
        """Remove the record (a missing one is already removed); with `etag`, `ConflictError` if it changed."""
        ...

    def list(self, kind: str, prefix: str = "") -> builtins.list[Record]:
        """Every record of `kind` whose key starts with `prefix`, sorted by key (code point order)."""
        ...

    def try_acquire_lease(self, name: str, holder: str, now: datetime, ttl_seconds: float) -> bool:
        """True if the lease was free, expired or already `holder`'s; it is then `holder`'s until now + ttl."""
        ...

    def release_lease(self, name: str, holder: str) -> None:
        """Free the lease if `holder` still holds it; otherwise leave it alone."""
        ...


def dump_value(value: dict[str, Any]) -> str:
    """The stored form: compact ASCII JSON (ASCII so that characters, bytes and UTF-16 units agree)."""
    if not isinstance(value, dict):
        raise TypeError(f"a store value must be a dict, not {type(value).__name__}")
    text = json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    if len(text) > MAX_VALUE_CHARS:
        raise ValueError(f"store value is {len(text)} characters of JSON, at most {MAX_VALUE_CHARS}")
    return text


def load_value(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as error:
        # Damaged storage is not "no record": the caller must learn that it cannot know.
        raise StoreUnavailableError(f"stored value is not readable JSON: {error}") from error
    if not isinstance(value, dict):
        raise StoreUnavailableError(f"stored value is not a JSON object: {text[:80]!r}")
    return value


def check_address(kind: str, key: str) -> None:
    check_kind(kind)
    check_key(key)


class BaseStore(ABC):
    """The record primitives each store implements, and leases built on them once for both.

    A lease is the record (LEASE, name) = {"holder", "expiresAt"}. Taking it is an insert when it does not
    exist and a replace with the read etag when it is expired or ours, so of two racing takers exactly one
    wins; the loser re-reads and sees the winner. Time is passed in: the watchdog's clock decides, and tests
    move it.
    """

    # Each lost race means another holder wrote in between; a few re-reads settle who holds it now.
    _ATTEMPTS = 5

    @abstractmethod
    def get(self, kind: str, key: str) -> Record | None: ...

    @abstractmethod
    def insert(self, kind: str, key: str, value: dict[str, Any]) -> Record: ...

    @abstractmethod
    def replace(self, kind: str, key: str, value: dict[str, Any], etag: str) -> Record: ...

    @abstractmethod
    def delete(self, kind: str, key: str, etag: str | None = None) -> None: ...

    @abstractmethod
    def list(self, kind: str, prefix: str = "") -> builtins.list[Record]: ...

    def close(self) -> None:  # noqa: B027 - optional hook, deliberately not abstract
        """Release connections the store holds (none by default)."""

    def try_acquire_lease(self, name: str, holder: str, now: datetime, ttl_seconds: float) -> bool:
        if now.tzinfo is None:
            raise ValueError("lease time must be timezone-aware (UTC): a naive time would compare wrongly")
        if not ttl_seconds > 0:
            raise ValueError(f"lease ttl_seconds must be positive, not {ttl_seconds}")
        if not holder:
            raise ValueError("lease holder must be a non-empty string")
        value = {"holder": holder, "expiresAt": (now + timedelta(seconds=ttl_seconds)).isoformat()}
        for _ in range(self._ATTEMPTS):
            current = self.get(LEASE, name)
            try:
                if current is None:
                    self.insert(LEASE, name, value)
                    return True
                if current.value.get("holder") != holder and _expires_at(current) > now:
                    return False
                self.replace(LEASE, name, value, current.etag)
                return True
            except ConflictError:
                continue
        return False

    def release_lease(self, name: str, holder: str) -> None:
        current = self.get(LEASE, name)
        if current is None or current.value.get("holder") != holder:
            return
        # A conflict means someone took it over after it expired: it is theirs now, not ours to free.
        with suppress(ConflictError):
            self.delete(LEASE, name, etag=current.etag)


def _expires_at(record: Record) -> datetime:
    try:
        expires = datetime.fromisoformat(str(record.value["expiresAt"]))
    except (KeyError, ValueError) as error:
        raise StoreUnavailableError(f"lease {record.key!r} holds an unreadable expiry: {record.value!r}") from error
    if expires.tzinfo is None:
        raise StoreUnavailableError(f"lease {record.key!r} holds a naive expiry: {record.value!r}")
    return expires
