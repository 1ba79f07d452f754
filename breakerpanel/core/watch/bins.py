"""The rows of the gateway query (kql.py) as typed bins, and the per-backend timeline the model reads.

The rows arrive with their cells already typed by breakerpanel/azure/logs_rows.py (long → int, datetime →
aware datetime), the one place Log Analytics cells are parsed; this module checks them, it does not re-read
text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


class BinRowError(ValueError):
    """A row of the aggregated answer that lacks a column or holds a value of the wrong kind."""


@dataclass(frozen=True)
class Bin:
    resource: str
    backend: str
    start: datetime
    requests: int
    successes: int
    counted: int
    ignored: int
    throttled: int
    max_retry_after: int | None
    gateway_only: int
    last_success: datetime | None


def _count(row: Mapping[str, object], name: str, index: int) -> int:
    value = row.get(name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BinRowError(f"row {index}: {name}={value!r} is not a count (a long column read by logs_rows)")
    return value


def _instant(value: object, name: str, index: int, *, optional: bool) -> datetime | None:
    if value is None and optional:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise BinRowError(f"row {index}: {name}={value!r} is not a date-time (a datetime column read by logs_rows)")
    return value


def bins_from_rows(rows: Iterable[Mapping[str, object]]) -> list[Bin]:
    out: list[Bin] = []
    for index, row in enumerate(rows):
        start = _instant(row.get("Bin"), "Bin", index, optional=False)
        assert start is not None
        retry_after = row.get("MaxRetryAfter")
        if retry_after is not None and (isinstance(retry_after, bool) or not isinstance(retry_after, int)):
            raise BinRowError(f"row {index}: MaxRetryAfter={retry_after!r} is not a whole number of seconds")
        out.append(
            Bin(
                resource=str(row.get("Resource") or "").lower(),
                # BackendId is the backend's name; a writer that logs its path ("/backends/x") or ARM id means
                # the same backend.
                backend=str(row.get("Backend") or "").rstrip("/").rsplit("/", 1)[-1],
                start=start,
                requests=_count(row, "Requests", index),
                successes=_count(row, "Successes", index),
                counted=_count(row, "Counted", index),
                ignored=_count(row, "Ignored", index),
                throttled=_count(row, "Throttled", index),
                max_retry_after=retry_after if retry_after is not None and retry_after >= 0 else None,
                gateway_only=_count(row, "GatewayOnly", index),
                last_success=_instant(row.get("LastSuccess"), "LastSuccess", index, optional=True),
            )
        )
    return out


@dataclass(frozen=True)
class Grid:
    """The time bins of one evaluation: [start, end) in steps of `step`; bins from `incomplete_from` on may
    still be missing rows (ingestion lag)."""

    start: datetime
    end: datetime
    step: timedelta
    incomplete_from: datetime

    @classmethod
    def ending_at(cls, now: datetime, *, lookback_seconds: float, step_seconds: int, lag_seconds: float) -> Grid:
        step = timedelta(seconds=step_seconds)
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        # Aligned to whole steps since the epoch, as KQL's bin() aligns them.
        aligned_end = epoch + ((now - epoch) // step) * step + step
        start = epoch + ((now - timedelta(seconds=lookback_seconds) - epoch) // step) * step
        return cls(start, aligned_end, step, now - timedelta(seconds=lag_seconds))

    def __len__(self) -> int:
        return int((self.end - self.start) / self.step)

    def index(self, moment: datetime) -> int:
        return int((moment - self.start) // self.step)

    def at(self, index: int) -> datetime:
        return self.start + index * self.step

    def incomplete(self, index: int) -> bool:
        return self.at(index) + self.step > self.incomplete_from


class Series:
    """Each backend's bins for one resource, laid on the grid: None where the answer has no row, and a row of
    None for a backend the answer does not name at all. Names are case-insensitive, as APIM's are."""

    def __init__(self, grid: Grid, rows: dict[str, list[Bin | None]]) -> None:
        self._rows = rows
        self._empty: list[Bin | None] = [None] * len(grid)

    def bins(self, name: str) -> list[Bin | None]:
        return self._rows.get(name.lower(), self._empty)

    def at(self, name: str, index: int) -> Bin | None:
        return self.bins(name)[index]

    def requests(self, name: str, index: int) -> int:
        item = self.at(name, index)
        return item.requests if item is not None else 0

    def served(self, names: Iterable[str], index: int) -> bool:
        """Whether any of `names` answered a request successfully in the bin."""
        return any((item := self.at(name, index)) is not None and item.successes > 0 for name in names)


def by_backend(bins: Iterable[Bin], resource: str, grid: Grid) -> Series:
    lowered = resource.lower()
    rows: dict[str, list[Bin | None]] = {}
    for item in bins:
        if item.resource != lowered:
            continue
        index = grid.index(item.start)
        if not 0 <= index < len(grid):
            continue
        rows.setdefault(item.backend.lower(), [None] * len(grid))[index] = item
    return Series(grid, rows)
