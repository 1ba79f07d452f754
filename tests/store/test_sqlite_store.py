"""What only the SQLite store has: a file shared by processes, WAL, and local failures → StoreUnavailableError."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from breakerpanel.store import WATERMARK, ConflictError, StoreUnavailableError
from breakerpanel.store.sqlite_store import SqliteStore


def _increment_50_times(path: str) -> None:
    store = SqliteStore(path)
    for _ in range(50):
        while True:
            current = store.get(WATERMARK, "counter")
            assert current is not None
            try:
                store.replace(WATERMARK, "counter", {"n": current.value["n"] + 1}, current.etag)
                break
            except ConflictError:
                pass


def test_two_processes_racing_compare_and_swap_lose_no_increment(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    SqliteStore(path).insert(WATERMARK, "counter", {"n": 0})
    # fork: the child needs no import of this test module; the store keeps no connection to inherit.
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_increment_50_times, args=(str(path),)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert SqliteStore(path).get(WATERMARK, "counter").value == {"n": 100}  # type: ignore[union-attr]


def test_the_file_is_in_wal_mode_and_the_path_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = SqliteStore(Path("nested/dir/state.sqlite3"))
    assert store.path == tmp_path / "nested/dir/state.sqlite3"
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"this is not a database, it is a text file someone saved here" * 100)
    with pytest.raises(StoreUnavailableError, match="not a database"):
        SqliteStore(path)


def test_a_writer_holding_the_lock_past_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.sqlite3", busy_timeout_seconds=0.1)
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailableError, match="locked"):
            store.insert(WATERMARK, "k", {})
        assert store.get(WATERMARK, "k") is None  # WAL: readers are not blocked by the writer
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.insert(WATERMARK, "k", {})


def test_a_state_directory_that_cannot_be_created_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreUnavailableError, match="not usable"):
        SqliteStore(blocker / "state.sqlite3")


def test_a_damaged_row_is_unavailable_not_missing(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.sqlite3")
    store.insert(WATERMARK, "k", {"n": 1})
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE records SET value = '{truncated'")
    with pytest.raises(StoreUnavailableError, match="not readable JSON"):
        store.get(WATERMARK, "k")
    with pytest.raises(StoreUnavailableError):
        store.list(WATERMARK)
