"""The store in Azure Table storage (the app's storage account in Azure, Azurite locally and in tests).

One table; PartitionKey = kind, RowKey = the key encoded by `breakerpanel.store.keys` (Table keys forbid
/ \\ # ? and control characters; the encoding keeps ordinary keys readable in Storage Explorer). The key is
not stored again as a property: a raw key may hold control characters, and every other property is printable
ASCII, so nothing reaches the service that Azurite accepts and Azure might not. An entity holds:

    chunks    how many value properties follow
    v0..vN    the value as ASCII JSON, cut into 32,000-character pieces: a string property holds 64 KiB of
              UTF-16, so 32K characters is its limit, and 15 of them stay under the 1 MiB entity limit

Concurrency is the service's ETag: insert is `create_entity` (409 if it exists), replace and delete send
If-Match with the etag that was read (412 if it changed). Every other failure of the service or of the way
to it becomes `StoreUnavailableError`, so callers never see a raw SDK exception.
"""

from __future__ import annotations

import builtins  # `list` is a method here, which shadows the builtin in the class body
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    DeserializationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, UpdateMode

from breakerpanel.store.base import (
    BaseStore,
    ConflictError,
    Record,
    StoreUnavailableError,
    check_address,
    dump_value,
    load_value,
)
from breakerpanel.store.keys import check_kind, decode_key, encode_key, prefix_range

CHUNK_CHARS = 32_000


def _entity(kind: str, key: str, text: str) -> dict[str, Any]:
    pieces = [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]
    entity: dict[str, Any] = {"PartitionKey": kind, "RowKey": encode_key(key), "chunks": len(pieces)}
    entity.update({f"v{index}": piece for index, piece in enumerate(pieces)})
    return entity


def _record(entity: Mapping[str, Any]) -> Record:
    try:
        key = decode_key(entity["RowKey"])
        text = "".join(entity[f"v{index}"] for index in range(int(entity["chunks"])))
        etag = entity.metadata["etag"]  # type: ignore[attr-defined]
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        raise StoreUnavailableError(f"unreadable entity {entity.get('RowKey')!r}: {error!r}") from error
    return Record(key, load_value(text), etag)


def _code(error: HttpResponseError) -> str:
    # The SDK sets `error_code` to a TableErrorCode member when it knows the code, to the raw text otherwise.
    code = getattr(error, "error_code", None) or ""
    return str(getattr(code, "value", code))


class TableStore(BaseStore):
    def __init__(self, client: TableClient) -> None:
        self._client = client
        self._table_ready = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TableStore(table={self._client.table_name!r}, account={self._client.account_name!r})"

    @property
    def table_name(self) -> str:
        return self._client.table_name

    def close(self) -> None:
        self._client.close()

    @contextmanager
    def _service(self, action: str) -> Iterator[None]:
        """Whatever goes wrong between us and the service, the caller sees StoreUnavailableError."""
        try:
            yield
        except (ConflictError, StoreUnavailableError):
            raise
        except ClientAuthenticationError as error:
            raise StoreUnavailableError(
                f"table {self.table_name!r}: {action} was not authorised ({_first_line(error)}); the identity "
                "needs 'Storage Table Data Contributor' on the storage account"
            ) from error
        except HttpResponseError as error:
            raise StoreUnavailableError(
                f"table {self.table_name!r}: {action} failed with HTTP {error.status_code} {_code(error)}: "
                f"{_first_line(error)}"
            ) from error
        except AzureError as error:
            # Connection refused, DNS, TLS, timeouts, a body the SDK could not decode.
            raise StoreUnavailableError(f"table {self.table_name!r}: {action} failed: {_first_line(error)}") from error
        except (DeserializationError, json.JSONDecodeError) as error:
            # Not AzureErrors (they derive from ValueError): a body of the wrong shape (a proxy's HTML page, a
            # JSON array) fails in the SDK's deserializer, and some paths call the json module directly.
            raise StoreUnavailableError(f"table {self.table_name!r}: {action}: unreadable response: {error}") from error

    def _ready(self) -> None:
        # Created on first use rather than at construction, so building a store does no I/O; two processes
        # creating it at once is fine (the loser sees 409).
        if self._table_ready:
            return
        with self._lock, self._service("creating the table"):
            if self._table_ready:
                return
            with suppress(ResourceExistsError):
                self._client.create_table()
            self._table_ready = True

    def get(self, kind: str, key: str) -> Record | None:
        check_address(kind, key)
        self._ready()
        with self._service(f"reading {kind} {key!r}"):
            try:
                entity = self._client.get_entity(kind, encode_key(key))
            except ResourceNotFoundError as error:
                # A missing table is not an empty one: "no incident recorded" must not follow from it.
                if _code(error) == "TableNotFound":
                    raise
                return None
            return _record(entity)

    def insert(self, kind: str, key: str, value: dict[str, Any]) -> Record:
        check_address(kind, key)
        text = dump_value(value)
        self._ready()
        with self._service(f"inserting {kind} {key!r}"):
            try:
                metadata = self._client.create_entity(_entity(kind, key, text))
            except ResourceExistsError:
                raise ConflictError(f"{kind} {key!r} already exists") from None
            return Record(key, load_value(text), metadata["etag"])

    def replace(self, kind: str, key: str, value: dict[str, Any], etag: str) -> Record:
        check_address(kind, key)
        text = dump_value(value)
        self._ready()
        with self._service(f"replacing {kind} {key!r}"):
            try:
                metadata = self._client.update_entity(
                    _entity(kind, key, text), mode=UpdateMode.REPLACE, etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceModifiedError:
                raise ConflictError(f"{kind} {key!r} changed since it was read (etag {etag!r})") from None
            except ResourceNotFoundError as error:
                if _code(error) == "TableNotFound":
                    raise
                raise ConflictError(f"{kind} {key!r} was deleted since it was read") from None
            except HttpResponseError as error:
                if error.status_code == 412:
                    raise ConflictError(f"{kind} {key!r} changed since it was read (etag {etag!r})") from None
                raise
            return Record(key, load_value(text), metadata["etag"])

    def delete(self, kind: str, key: str, etag: str | None = None) -> None:
        check_address(kind, key)
        self._ready()
        condition = {} if etag is None else {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        # The SDK treats 404 as success: a record that is gone already is what delete wants.
        with self._service(f"deleting {kind} {key!r}"):
            try:
                self._client.delete_entity(partition_key=kind, row_key=encode_key(key), **condition)
            except ResourceModifiedError:
                raise ConflictError(f"{kind} {key!r} changed since it was read (etag {etag!r})") from None
            except HttpResponseError as error:
                if error.status_code == 412:
                    raise ConflictError(f"{kind} {key!r} changed since it was read (etag {etag!r})") from None
                raise

    def list(self, kind: str, prefix: str = "") -> builtins.list[Record]:
        check_kind(kind)
        self._ready()
        if prefix:
            low, high = prefix_range(prefix)
            query = "PartitionKey eq @kind and RowKey ge @low and RowKey lt @high"
            parameters = {"kind": kind, "low": low, "high": high}
        else:
            query, parameters = "PartitionKey eq @kind", {"kind": kind}
        with self._service(f"listing {kind} {prefix!r}"):
            records = [_record(entity) for entity in self._client.query_entities(query, parameters=parameters)]
        # Escaped characters do not sort as their originals, so order by the decoded key (code points).
        return sorted(records, key=lambda record: record.key)


def _first_line(error: Exception) -> str:
    text = str(getattr(error, "message", None) or error)
    return text.splitlines()[0] if text else type(error).__name__
