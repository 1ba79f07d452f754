"""The two clocks a LocalDurableHost can run on: a simulated one that jumps to the next durable timer, and the
wall clock, which sleeps until the timer is due.

The simulated clock is for the twin and tests: a one-hour wait costs no wall time. Against anything real it
would poll with no delay, ignore Retry-After and call a two-hour deadline after seconds, so a host driving real
Azure runs on the wall clock, as the Durable extension does.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    real_time: bool

    def now(self) -> datetime: ...

    def wait_until(self, moment: datetime, wakeup: threading.Condition) -> None:
        """Return once `moment` has come, or earlier when `wakeup` is notified (the caller holds it)."""
        ...

    @property
    def seconds_waited(self) -> float:
        """Wall-clock seconds spent in wait_until so far."""
        ...


class SimulatedClock:
    """Starts at `start` and moves only when told to: waiting for a moment is jumping to it."""

    real_time = False

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def wait_until(self, moment: datetime, wakeup: threading.Condition) -> None:
        self._now = max(self._now, moment)

    def advance(self, span: timedelta) -> None:
        self._now += span

    @property
    def seconds_waited(self) -> float:
        return 0.0


class WallClock:
    """UTC wall time, never going backwards (a stepped system clock must not reorder history events)."""

    real_time = True

    def __init__(self) -> None:
        self._last = datetime.now(UTC)
        self._waited = 0.0

    def now(self) -> datetime:
        self._last = max(self._last, datetime.now(UTC))
        return self._last

    def wait_until(self, moment: datetime, wakeup: threading.Condition) -> None:
        remaining = (moment - self.now()).total_seconds()
        if remaining <= 0:
            return
        started = time.monotonic()
        wakeup.wait(timeout=remaining)
        self._waited += time.monotonic() - started

    @property
    def seconds_waited(self) -> float:
        return self._waited
