"""What the twin's Log Analytics workspace holds: gateway-log rows, a clock, and the engine that queries them.

Every workspace id reaches this one store (the twin serves one workspace). The clock is the wall clock
unless a test pins it (PUT /_twin/logs/clock); it ends a bare-duration timespan and is what `ago()` and
`now()` read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from twin.log_analytics.engine import LogsEngine
from twin.log_analytics.rows import prepare_rows
from twin.log_analytics.timespan import parse_timespan

if TYPE_CHECKING:
    from twin.app import TwinConfig


class LogsState:
    def __init__(self, config: TwinConfig) -> None:
        self.config = config
        self._engine = LogsEngine()
        self._pinned_now: datetime | None = None

    def reset(self) -> None:
        """Forget every row and go back to the wall clock."""
        self._engine.clear()
        self._pinned_now = None

    def append_rows(self, rows: list[dict[str, Any]]) -> int:
        """Add ApiManagementGatewayLogs rows; all or none. ValueError names the row index and column."""
        return self._engine.insert(prepare_rows(rows))

    @property
    def row_count(self) -> int:
        return self._engine.count()

    def set_now(self, now: datetime | None) -> None:
        """Pin the clock (aware or naive-UTC), or None for the wall clock."""
        if now is not None and now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        self._pinned_now = None if now is None else now.astimezone(UTC)

    @property
    def pinned_now(self) -> datetime | None:
        return self._pinned_now

    def now(self) -> datetime:
        return self._pinned_now or datetime.now(UTC)

    def query(self, kql: str, timespan: str | None = None) -> dict[str, Any]:
        """Run KQL as Log Analytics does and answer its response body `{"tables": [...]}`.

        Raises TimespanError for a bad timespan and QueryRejected when the engine refuses the query.
        """
        now = self.now()
        bounds = None if timespan is None else parse_timespan(timespan, now)
        return {"tables": [self._engine.run(kql, now=now, bounds=bounds)]}
