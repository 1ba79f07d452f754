"""The watchdog's state: one small document-store interface, SQLite on a laptop, Table storage in Azure."""

from breakerpanel.store.base import (
    BREAKER_EVENT,
    INCIDENT,
    LEASE,
    OUTBOX,
    RESULT,
    WATERMARK,
    ConflictError,
    Record,
    Store,
    StoreUnavailableError,
)
from breakerpanel.store.factory import open_store

__all__ = [
    "BREAKER_EVENT",
    "INCIDENT",
    "LEASE",
    "OUTBOX",
    "RESULT",
    "WATERMARK",
    "ConflictError",
    "Record",
    "Store",
    "StoreUnavailableError",
    "open_store",
]
