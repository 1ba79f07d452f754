"""What only the Table store has: the entity layout, and every way the service can fail → StoreUnavailableError."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from azure.data.tables import TableClient

from breakerpanel.store import INCIDENT, StoreUnavailableError, open_store
from breakerpanel.store.table_store import CHUNK_CHARS, TableStore

AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _connection_string(port: int, key: str = AZURITE_KEY) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};"
            f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")


def _store(connection_string: str, table: str | None = None) -> TableStore:
    store = open_store({"BREAKERPANEL_STORE": "table", "AzureWebJobsStorage": connection_string,
                        "BREAKERPANEL_STORE_TABLE": table or "t" + uuid.uuid4().hex[:20],
                        "BREAKERPANEL_STORE_RETRY_TOTAL": "0"})
    assert isinstance(store, TableStore)
    return store


def _every_operation(store: TableStore) -> list[tuple[str, object]]:
    return [
        ("get", lambda: store.get(INCIDENT, "k")),
        ("insert", lambda: store.insert(INCIDENT, "k", {})),
        ("replace", lambda: store.replace(INCIDENT, "k", {}, 'W/"datetime\'2025-01-01T00%3A00%3A00Z\'"')),
        ("delete", lambda: store.delete(INCIDENT, "k")),
        ("list", lambda: store.list(INCIDENT, "a/")),
        ("lease", lambda: store.try_acquire_lease("watchdog", "run", datetime(2025, 1, 1, tzinfo=UTC), 60)),
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_endpoint_is_store_unavailable_not_an_sdk_error() -> None:
    store = _store(_connection_string(_free_port()))  # nothing listens there
    for name, operation in _every_operation(store):
        with pytest.raises(StoreUnavailableError, match="failed") as caught:
            operation()  # type: ignore[operator]
        assert caught.value.__cause__ is not None, name


class _Unreadable(BaseHTTPRequestHandler):
    """A proxy or captive portal in the way: 200 OK with a body that is not what the SDK expects."""

    body = b"{not json"
    content_type = "application/json;odata=minimalmetadata"
    status = 200

    def _answer(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_MERGE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def unreadable_server() -> Iterator[type[_Unreadable]]:
    handler = type("Handler", (_Unreadable,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    handler.port = server.server_address[1]  # type: ignore[attr-defined]
    yield handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (200, "application/json;odata=minimalmetadata", b"{not json"),
        (200, "text/html", b"<html><body>Sign in to the hotel wifi</body></html>"),
        (200, "application/json", b"[1, 2, 3]"),
        (503, "application/json", b'{"odata.error": {"code": "ServerBusy", "message": {"value": "busy"}}}'),
        (500, "text/plain", b"oops"),
    ],
)
def test_an_unreadable_or_failing_answer_is_store_unavailable(
    unreadable_server: type[_Unreadable], status: int, content_type: str, body: bytes
) -> None:
    unreadable_server.status, unreadable_server.content_type, unreadable_server.body = status, content_type, body
    store = _store(_connection_string(unreadable_server.port))  # type: ignore[attr-defined]
    store._table_ready = True  # skip table creation: this is about reading entity answers
    for _name, operation in _every_operation(store):
        try:
            operation()  # type: ignore[operator]
        except StoreUnavailableError:
            continue
        except Exception as error:  # the point of the test: nothing else may escape
            pytest.fail(f"{_name} raised {type(error).__name__}: {error}")


def test_a_wrong_account_key_is_store_unavailable_and_says_so(azurite: str) -> None:
    wrong_key = "A" * 86 + "=="
    store = _store(azurite.replace(AZURITE_KEY, wrong_key))
    with pytest.raises(StoreUnavailableError, match=r"not authorised|403"):
        store.get(INCIDENT, "k")


def test_a_table_deleted_under_a_running_store_is_unavailable_not_empty(azurite: str) -> None:
    store = _store(azurite)
    store.insert(INCIDENT, "k", {"open": True})
    TableClient.from_connection_string(azurite, store.table_name).delete_table()
    # "No incident recorded" must not be concluded from a missing table.
    with pytest.raises(StoreUnavailableError, match="TableNotFound"):
        store.get(INCIDENT, "k")
    with pytest.raises(StoreUnavailableError):
        store.insert(INCIDENT, "other", {})


def test_entity_layout_encoded_row_key_and_value_chunks(azurite: str) -> None:
    store = _store(azurite)
    key = "sub/rg/apim:BreakerStuckOpen:aoai-eastus"
    value = {"evidence": "e" * (2 * CHUNK_CHARS + 5)}
    store.insert(INCIDENT, key, value)
    raw = TableClient.from_connection_string(azurite, store.table_name)
    [entity] = list(raw.list_entities())
    assert entity["PartitionKey"] == "incident"
    assert entity["RowKey"] == "sub~2Frg~2Fapim:BreakerStuckOpen:aoai-eastus"
    assert set(entity) == {"PartitionKey", "RowKey", "chunks", "v0", "v1", "v2"}
    assert entity["chunks"] == 3
    assert [len(entity[f"v{i}"]) for i in range(3)] == [CHUNK_CHARS, CHUNK_CHARS, len('{"evidence":""}') + 5]
    raw.delete_table()


def test_two_stores_on_one_table_share_records_and_creating_it_twice_is_fine(azurite: str) -> None:
    table = "t" + uuid.uuid4().hex[:20]
    first, second = _store(azurite, table), _store(azurite, table)
    first.insert(INCIDENT, "k", {"n": 1})
    assert second.get(INCIDENT, "k") == first.get(INCIDENT, "k")
    TableClient.from_connection_string(azurite, table).delete_table()
