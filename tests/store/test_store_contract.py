"""One contract, two stores: SQLite in a temporary directory, and Table storage on the real Azurite.

Every test here runs against both through `open_store`, so what the CLI's embedded store does on a laptop is
what the Functions app gets from Azure Table storage.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from breakerpanel.store import INCIDENT, LEASE, WATERMARK, ConflictError, Store, open_store

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

# Every character Table keys forbid, the escape character itself, quoting characters, Unicode in and beyond
# the BMP, and case.
AWKWARD_KEYS = [
    "sub/rg/apim:BreakerStuckOpen:aoai-eastus",
    "back\\slash", "hash#tag", "what?now", "100%", "it's", 'say "hi"', "<a&b>", "tilde~7E", "~",
    "with space", " leading and trailing ", "tab\there", "new\nline", "del\x7f", "c1\x85",
    "Ünïcødé", "東京/大阪", "emoji 🙂", "CASE", "case", "Case",
    "ends/", "/starts", "a" * 300,
]


def _table_env(connection_string: str) -> dict[str, str]:
    return {
        "BREAKERPANEL_STORE": "table",
        "AzureWebJobsStorage": connection_string,
        # A fresh table per test: no test sees another's records.
        "BREAKERPANEL_STORE_TABLE": "t" + uuid.uuid4().hex[:20],
        "BREAKERPANEL_STORE_RETRY_TOTAL": "0",
    }


@pytest.fixture(params=["sqlite", "table"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        yield open_store({"BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(tmp_path / "state")})
        return
    connection_string = request.getfixturevalue("azurite")
    table = open_store(_table_env(connection_string))
    yield table
    table._client.delete_table()  # type: ignore[attr-defined]
    table.close()  # type: ignore[attr-defined]


@pytest.fixture
def make_store(request: pytest.FixtureRequest, store: Store, tmp_path: Path) -> Callable[[], Store]:
    """Another, independent handle on the same storage as `store` (another run of the watchdog)."""
    if type(store).__name__ == "SqliteStore":
        return lambda: open_store({"BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(tmp_path / "state")})
    env = _table_env(request.getfixturevalue("azurite"))
    env["BREAKERPANEL_STORE_TABLE"] = store.table_name  # type: ignore[attr-defined]
    return lambda: open_store(env)


def test_insert_get_replace_delete_round_trip(store: Store) -> None:
    value = {"state": "opened", "count": 1, "ratio": 0.5, "flags": [True, None], "nested": {"é": "ü"}}
    inserted = store.insert(INCIDENT, "k", value)
    assert inserted.key == "k" and inserted.value == value and inserted.etag
    assert store.get(INCIDENT, "k") == inserted

    replaced = store.replace(INCIDENT, "k", {"state": "ongoing"}, inserted.etag)
    assert replaced.etag != inserted.etag
    assert store.get(INCIDENT, "k") == replaced
    assert store.get(INCIDENT, "k").value == {"state": "ongoing"}  # type: ignore[union-attr]

    store.delete(INCIDENT, "k", etag=replaced.etag)
    assert store.get(INCIDENT, "k") is None
    assert store.list(INCIDENT) == []


def test_a_missing_record_is_none_and_deleting_it_is_a_no_op(store: Store) -> None:
    assert store.get(INCIDENT, "nothing") is None
    store.delete(INCIDENT, "nothing")
    gone = store.insert(INCIDENT, "gone", {})
    store.delete(INCIDENT, "gone")
    store.delete(INCIDENT, "gone", etag=gone.etag)


def test_kinds_are_separate_namespaces(store: Store) -> None:
    store.insert(INCIDENT, "same", {"kind": "incident"})
    store.insert(WATERMARK, "same", {"kind": "watermark"})
    assert store.get(INCIDENT, "same").value == {"kind": "incident"}  # type: ignore[union-attr]
    assert [r.value for r in store.list(WATERMARK)] == [{"kind": "watermark"}]


def test_insert_of_an_existing_key_conflicts_and_keeps_the_first(store: Store) -> None:
    first = store.insert(INCIDENT, "k", {"n": 1})
    with pytest.raises(ConflictError):
        store.insert(INCIDENT, "k", {"n": 2})
    assert store.get(INCIDENT, "k") == first


def test_a_stale_etag_conflicts_on_replace_and_delete(store: Store) -> None:
    first = store.insert(INCIDENT, "k", {"n": 1})
    second = store.replace(INCIDENT, "k", {"n": 2}, first.etag)
    with pytest.raises(ConflictError):
        store.replace(INCIDENT, "k", {"n": 3}, first.etag)
    with pytest.raises(ConflictError):
        store.delete(INCIDENT, "k", etag=first.etag)
    assert store.get(INCIDENT, "k") == second


def test_replace_of_a_deleted_record_conflicts_even_when_the_key_is_back(store: Store) -> None:
    first = store.insert(INCIDENT, "k", {"n": 1})
    store.delete(INCIDENT, "k")
    with pytest.raises(ConflictError):
        store.replace(INCIDENT, "k", {"n": 2}, first.etag)
    # Re-created under the same key: the old etag must not match the new record (no ABA).
    store.insert(INCIDENT, "k", {"n": 3})
    with pytest.raises(ConflictError):
        store.replace(INCIDENT, "k", {"n": 4}, first.etag)


def test_two_writers_racing_compare_and_swap_lose_no_increment(store: Store, make_store: Callable[[], Store]) -> None:
    store.insert(WATERMARK, "counter", {"n": 0})

    def increment_50_times(own: Store, worker: int) -> int:
        conflicts = 0
        for _ in range(50):
            while True:
                current = own.get(WATERMARK, "counter")
                assert current is not None
                try:
                    own.replace(WATERMARK, "counter", {"n": current.value["n"] + 1}, current.etag)
                    break
                except ConflictError:
                    conflicts += 1
        return conflicts

    # Each writer has its own client/connection, as two overlapping runs would.
    _race(make_store, 2, increment_50_times)
    assert store.get(WATERMARK, "counter").value == {"n": 100}  # type: ignore[union-attr]


def _race(make_store: Callable[[], Store], workers: int, action: Callable[[Store, int], Any]) -> list[Any]:
    """Run `action(own store, worker)` in `workers` threads released together; their results, in any order."""
    start = threading.Barrier(workers)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        own = make_store()
        start.wait()
        try:
            results.append(action(own, worker))
        except BaseException as error:  # re-raised below: an exception in a thread would otherwise vanish
            errors.append(error)

    threads = [threading.Thread(target=run, args=(worker,)) for worker in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


def test_two_inserts_racing_for_one_key_have_exactly_one_winner(store: Store, make_store: Callable[[], Store]) -> None:
    for round_ in range(5):
        def insert(own: Store, worker: int, key: str = f"race-{round_}") -> str:
            try:
                own.insert(INCIDENT, key, {"winner": worker})
                return "won"
            except ConflictError:
                return "conflict"

        assert sorted(_race(make_store, 2, insert)) == ["conflict", "won"]


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_awkward_keys_round_trip_exactly(store: Store, key: str) -> None:
    inserted = store.insert(INCIDENT, key, {"key": key})
    assert store.get(INCIDENT, key) == inserted
    assert [r.key for r in store.list(INCIDENT)] == [key]
    assert [r.key for r in store.list(INCIDENT, key)] == [key]
    replaced = store.replace(INCIDENT, key, {"key": key, "n": 2}, inserted.etag)
    store.delete(INCIDENT, key, etag=replaced.etag)
    assert store.get(INCIDENT, key) is None


def test_keys_differing_only_in_case_or_escaping_are_distinct(store: Store) -> None:
    keys = ["CASE", "case", "Case", "a/b", "a~2Fb", "a%2Fb", "ab", "é", "e\u0301"]
    for key in keys:
        store.insert(INCIDENT, key, {"key": key})
    listed = store.list(INCIDENT)
    assert [r.key for r in listed] == sorted(keys)
    assert all(r.value == {"key": r.key} for r in listed)


def test_prefix_listing_is_exact_and_sorted(store: Store) -> None:
    keys = ["a", "a/", "a/a", "a/b", "a/b/", "a/b/c", "a/b/é", "a/b~", "a/bc", "a/b c", "a/b#", "a/c", "a0",
            "a~", "a.", "b", "B/a", "a/b/🙂", "sub/rg/apim:BreakerStuckOpen:aoai-eastus",
            "sub/rg/apim:BreakerStuckOpen:aoai-eastus2", "sub/rg/apim2:BreakerStuckOpen:aoai-eastus"]
    for key in keys:
        store.insert(INCIDENT, key, {"key": key})
    store.insert(WATERMARK, "a/b/other-kind", {})

    def listed(prefix: str) -> list[str]:
        return [r.key for r in store.list(INCIDENT, prefix)]

    for prefix in ["", "a", "a/", "a/b", "a/b/", "a/bc", "a/b~", "a/b ", "a/b#", "a~", "b", "B", "z", "a/b/c/d",
                   "sub/rg/apim:", "sub/rg/apim:BreakerStuckOpen:aoai-eastus"]:
        assert listed(prefix) == sorted(k for k in keys if k.startswith(prefix)), prefix
    assert listed("a/b/") == ["a/b/", "a/b/c", "a/b/é", "a/b/🙂"]
    assert listed("a/bc") == ["a/bc"]


def test_a_200_kb_value_round_trips_and_shrinks_again(store: Store) -> None:
    big = {"rows": [{"backend": f"aoai-{i}", "failures": i, "note": "x" * 180} for i in range(1000)],
           "unicode": "東京é🙂" * 2000}
    inserted = store.insert(INCIDENT, "big", big)
    assert store.get(INCIDENT, "big") == inserted
    assert store.get(INCIDENT, "big").value == big  # type: ignore[union-attr]
    assert store.list(INCIDENT)[0].value == big
    small = store.replace(INCIDENT, "big", {"small": True}, inserted.etag)
    assert store.get(INCIDENT, "big") == small and small.value == {"small": True}


def test_limits_are_the_same_in_both_stores(store: Store) -> None:
    from breakerpanel.store.base import MAX_VALUE_CHARS

    store.insert(INCIDENT, "at-limit", {"s": "x" * (MAX_VALUE_CHARS - 8)})  # {"s":"..."} is 8 characters more
    assert len(store.get(INCIDENT, "at-limit").value["s"]) == MAX_VALUE_CHARS - 8  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="at most"):
        store.insert(INCIDENT, "too-big", {"s": "x" * MAX_VALUE_CHARS})
    store.insert(INCIDENT, "k" * 512, {})
    with pytest.raises(ValueError, match="too long"):
        store.insert(INCIDENT, "k" * 513, {})
    with pytest.raises(ValueError, match="too long"):
        store.insert(INCIDENT, "/" * 171, {})  # each / is stored as three characters


@pytest.mark.parametrize(
    ("kind", "key", "value", "error"),
    [
        ("Incident", "k", {}, ValueError),
        ("in/cident", "k", {}, ValueError),
        ("", "k", {}, ValueError),
        (INCIDENT, "", {}, ValueError),
        (INCIDENT, "lone \ud800 surrogate", {}, ValueError),
        (INCIDENT, "k", ["not", "a", "dict"], TypeError),
        (INCIDENT, "k", {"nan": float("nan")}, ValueError),
        (INCIDENT, "k", {"when": datetime(2025, 1, 1)}, TypeError),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(store: Store, kind: str, key: str, value: Any,
                                                        error: type[Exception]) -> None:
    with pytest.raises(error):
        store.insert(kind, key, value)
    assert store.list(INCIDENT) == []


def test_a_lease_is_exclusive_until_it_expires(store: Store) -> None:
    assert store.try_acquire_lease("watchdog", "run-a", T0, ttl_seconds=60)
    assert not store.try_acquire_lease("watchdog", "run-b", T0 + timedelta(seconds=59), ttl_seconds=60)
    # The holder renews it: from now on it lasts 60 s from the renewal.
    assert store.try_acquire_lease("watchdog", "run-a", T0 + timedelta(seconds=30), ttl_seconds=60)
    assert not store.try_acquire_lease("watchdog", "run-b", T0 + timedelta(seconds=89), ttl_seconds=60)
    assert store.try_acquire_lease("watchdog", "run-b", T0 + timedelta(seconds=91), ttl_seconds=60)
    assert not store.try_acquire_lease("watchdog", "run-a", T0 + timedelta(seconds=92), ttl_seconds=60)
    # Other lease names are independent.
    assert store.try_acquire_lease("watchdog/other-target", "run-a", T0, ttl_seconds=60)


def test_release_frees_a_lease_only_for_its_holder(store: Store) -> None:
    assert store.try_acquire_lease("watchdog", "run-a", T0, ttl_seconds=300)
    store.release_lease("watchdog", "run-b")  # not theirs: nothing happens
    assert not store.try_acquire_lease("watchdog", "run-b", T0, ttl_seconds=300)
    store.release_lease("watchdog", "run-a")
    assert store.get(LEASE, "watchdog") is None
    assert store.try_acquire_lease("watchdog", "run-b", T0, ttl_seconds=300)
    store.release_lease("nobody-holds-this", "run-a")


def test_an_expired_holder_cannot_release_its_successors_lease(store: Store) -> None:
    assert store.try_acquire_lease("watchdog", "run-a", T0, ttl_seconds=60)
    assert store.try_acquire_lease("watchdog", "run-b", T0 + timedelta(seconds=61), ttl_seconds=60)
    store.release_lease("watchdog", "run-a")
    assert not store.try_acquire_lease("watchdog", "run-c", T0 + timedelta(seconds=62), ttl_seconds=60)


def test_racing_lease_takers_have_exactly_one_winner(store: Store, make_store: Callable[[], Store]) -> None:
    for round_ in range(5):
        def take(own: Store, worker: int, name: str = f"lease-{round_}") -> bool:
            return own.try_acquire_lease(name, f"run-{worker}", T0, ttl_seconds=60)

        assert sorted(_race(make_store, 3, take)) == [False, False, True]


def test_lease_arguments_are_checked(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone"):
        store.try_acquire_lease("watchdog", "run-a", datetime(2025, 1, 1), ttl_seconds=60)
    with pytest.raises(ValueError, match="positive"):
        store.try_acquire_lease("watchdog", "run-a", T0, ttl_seconds=0)
    with pytest.raises(ValueError, match="holder"):
        store.try_acquire_lease("watchdog", "", T0, ttl_seconds=60)
