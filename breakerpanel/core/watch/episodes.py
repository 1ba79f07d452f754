"""Episodes: runs of bins in which a condition holds, told apart from recoveries and from silence.

Each bin carries one signal:
  START    the condition is present and may begin an episode (a breaker open, a pool answering by itself…)
  CONTINUE evidence that keeps a running episode going but cannot begin one (failures after a trip)
  OK       positive evidence of health (successful backend answers): it ends an episode
  NONE     no information: no traffic, or a bin still inside the ingestion lag

A run of NONE longer than the allowed gap ends an episode as "quiet": the condition is no longer seen, but
nothing proved recovery either. NONE bins inside the ingestion lag never count toward the gap: rows may
still arrive for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Literal

from breakerpanel.core.watch.bins import Grid


class Signal(Enum):
    START = "start"
    CONTINUE = "continue"
    OK = "ok"
    NONE = "none"


@dataclass(frozen=True)
class Episode:
    start: datetime
    last_seen: datetime  # end of the last START/CONTINUE bin
    ended: Literal["recovered", "quiet"] | None  # None: still going at the grid's end
    first_index: int
    last_index: int

    def duration(self, now: datetime) -> timedelta:
        return (now if self.ended is None else self.last_seen) - self.start


def episodes(signals: list[Signal], grid: Grid, gap_seconds: float) -> list[Episode]:
    found: list[Episode] = []
    start: int | None = None
    last = -1
    silent = 0.0
    step = grid.step.total_seconds()
    for index, signal in enumerate(signals):
        if start is None:
            if signal is Signal.START:
                start, last, silent = index, index, 0.0
            continue
        if signal in (Signal.START, Signal.CONTINUE):
            last, silent = index, 0.0
        elif signal is Signal.OK:
            found.append(Episode(grid.at(start), grid.at(last) + grid.step, "recovered", start, last))
            start = None
        elif not grid.incomplete(index):
            silent += step
            if silent > gap_seconds:
                found.append(Episode(grid.at(start), grid.at(last) + grid.step, "quiet", start, last))
                start = None
    if start is not None:
        found.append(Episode(grid.at(start), grid.at(last) + grid.step, None, start, last))
    return found


@dataclass(frozen=True)
class Judgement:
    """Where one condition stands at the end of the grid."""

    state: Literal["active", "pending", "recovered", "quiet"]
    episode: Episode | None  # the running episode (active/pending), or the last one seen
    recovered_since: datetime | None = None


def judge(
    signals: list[Signal], grid: Grid, now: datetime, *, gap_seconds: float, threshold_seconds: float,
    recovery_seconds: float,
) -> Judgement:
    """active: an episode running for at least the threshold; pending: running, not long enough yet;
    recovered: not seen, and healthy evidence for at least the recovery period after it was last seen;
    quiet: neither (no traffic to tell)."""
    runs = episodes(signals, grid, gap_seconds)
    current = runs[-1] if runs and runs[-1].ended is None else None
    if current is not None:
        long_enough = current.duration(now).total_seconds() >= threshold_seconds
        return Judgement("active" if long_enough else "pending", current)
    last = runs[-1] if runs else None
    after = last.last_index + 1 if last is not None else 0
    seen_until = last.last_seen if last is not None else grid.start
    ok_after = [i for i in range(after, len(signals)) if signals[i] is Signal.OK]
    if ok_after and (now - seen_until).total_seconds() >= recovery_seconds:
        return Judgement("recovered", last, grid.at(ok_after[0]))
    return Judgement("quiet", last)
