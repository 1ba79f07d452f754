"""The embedded store: one SQLite file, for the CLI on a machine without any Azure storage.

Several processes (a cron'd `watch --once` overlapping a manual one) and threads may use the same file:
WAL mode lets readers run beside the single writer, every write waits up to `busy_timeout_seconds` for the
lock instead of failing at once, and each compare-and-swap is one atomic statement (or a BEGIN IMMEDIATE
transaction, which takes the write lock before reading, where a read decides the write).

Each operation opens its own short-lived connection: sqlite3 connections must not cross threads, and a
connection opened before a fork must not be used after it, so nothing is cached but the path.
"""

from __future__ import annotations

import builtins  # `list` is a method here, which shadows the builtin in the class body
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from breakerpanel.store.base import (
    BaseStore,
    ConflictError,
    Record,
    StoreUnavailableError,
    check_address,
    dump_value,
    load_value,
)
from breakerpanel.store.keys import check_kind

DATABASE_FILE = "state.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind  TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    etag  TEXT NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID
"""


def _new_etag() -> str:
    # Random, not a per-record counter: a record deleted and re-inserted must not get back an etag that a
    # stale reader of the old record still holds.
    return secrets.token_hex(12)


class SqliteStore(BaseStore):
    def __init__(self, path: Path | str, busy_timeout_seconds: float = 10.0) -> None:
        self.path = Path(path).expanduser().resolve()
        self._busy_timeout = busy_timeout_seconds
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connection() as db:
                # WAL is a property of the file: set once, every later connection uses it.
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(_SCHEMA)
        except OSError as error:
            raise StoreUnavailableError(f"state directory {self.path.parent} is not usable: {error}") from error

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            # isolation_level=None: autocommit, so the module opens no implicit transactions and the
            # explicit BEGIN IMMEDIATE below is the only one.
            db = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
        except sqlite3.Error as error:
            raise StoreUnavailableError(f"cannot open the state file {self.path}: {error}") from error
        try:
            yield db
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as error:
            # Locked past the busy timeout, disk full, not a database: the caller cannot know the state.
            raise StoreUnavailableError(f"state file {self.path}: {error}") from error
        finally:
            db.close()

    def get(self, kind: str, key: str) -> Record | None:
        check_address(kind, key)
        with self._connection() as db:
            row = db.execute("SELECT value, etag FROM records WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        return None if row is None else Record(key, load_value(row[0]), row[1])

    def insert(self, kind: str, key: str, value: dict[str, Any]) -> Record:
        check_address(kind, key)
        text, etag = dump_value(value), _new_etag()
        try:
            with self._connection() as db:
                db.execute("INSERT INTO records (kind, key, value, etag) VALUES (?, ?, ?, ?)", (kind, key, text, etag))
        except sqlite3.IntegrityError:
            raise ConflictError(f"{kind} {key!r} already exists") from None
        return Record(key, load_value(text), etag)

    def replace(self, kind: str, key: str, value: dict[str, Any], etag: str) -> Record:
        check_address(kind, key)
        text, new_etag = dump_value(value), _new_etag()
        with self._connection() as db:
            # One conditional UPDATE is the compare-and-swap: SQLite runs it atomically under the write lock.
            changed = db.execute(
                "UPDATE records SET value = ?, etag = ? WHERE kind = ? AND key = ? AND etag = ?",
                (text, new_etag, kind, key, etag),
            ).rowcount
        if changed != 1:
            raise ConflictError(f"{kind} {key!r} changed or was deleted since it was read (etag {etag!r})")
        return Record(key, load_value(text), new_etag)

    def delete(self, kind: str, key: str, etag: str | None = None) -> None:
        check_address(kind, key)
        with self._connection() as db:
            if etag is None:
                db.execute("DELETE FROM records WHERE kind = ? AND key = ?", (kind, key))
                return
            # Read and delete under one write lock, so "gone already" and "changed" are told apart exactly.
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT etag FROM records WHERE kind = ? AND key = ?", (kind, key)).fetchone()
                if row is not None and row[0] != etag:
                    raise ConflictError(f"{kind} {key!r} changed since it was read (etag {etag!r})")
                if row is not None:
                    db.execute("DELETE FROM records WHERE kind = ? AND key = ?", (kind, key))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def list(self, kind: str, prefix: str = "") -> builtins.list[Record]:
        check_kind(kind)
        records: list[Record] = []
        with self._connection() as db:
            # BINARY collation orders by UTF-8 bytes, which is code point order: the keys starting with
            # `prefix` are one contiguous run from `prefix` on, so stop at the first that does not.
            rows = db.execute(
                "SELECT key, value, etag FROM records WHERE kind = ? AND key >= ? ORDER BY key", (kind, prefix)
            )
            for key, text, etag in rows:
                if not key.startswith(prefix):
                    break
                records.append(Record(key, load_value(text), etag))
        return records
