"""Replay a twin scenario through the watchdog on a simulated schedule — the detection benchmark and the
end-to-end tests both run it. A development tool: it drives the local twin, which never ships.

Each pass runs `python -m breakerpanel watch --once --at T --json` (in-process, through the CLI's own entry
point) against the twin, with the twin's Log Analytics clock pinned to T and its ingestion delay on, so rows
newer than the delay are not visible yet, as in Azure. With `events=True`, the scenario's breaker events up
to T are delivered first, through the same code the `breaker_events` function runs, twice each and in
reverse order (at least once, out of order).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twin.server import TwinServer

PERIOD = timedelta(minutes=5)


@dataclass
class Pass:
    at: datetime
    exit_code: int
    report: dict[str, Any]


@dataclass
class Replay:
    scenario: str
    start: datetime
    expected: list[Any]  # twin.gateway.incidents.Incident
    passes: list[Pass] = field(default_factory=list)

    def changes(self, state: str) -> list[tuple[datetime, dict[str, Any]]]:
        return [(p.at, i) for p in self.passes for i in p.report["incidents"] if i["state"] == state]


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_pass(at: datetime) -> Pass:
    # `watch --once --at T --json` through the command's own entry: the top-level CLI imports the demo,
    # which replays through here.
    from breakerpanel.watch_cli import run_watch

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run_watch(argparse.Namespace(once=True, at=at, json=True))
    return Pass(at, code, json.loads(out.getvalue()))


def replay(
    server: TwinServer, scenario: str, *, start: datetime, state_dir: Path, seed: int = 0, events: bool = False,
    period: timedelta = PERIOD, ingestion_delay: timedelta = timedelta(minutes=2), extra_env: Mapping[str, str] = {},
) -> Replay:
    """Reset the twin, load `scenario` from `start`, and run one pass every `period` until it ends."""
    from breakerpanel.store.factory import open_store
    from breakerpanel.watchdog.check import record_breaker_event
    from twin.gateway.loader import load_scenario

    twin = server.twin
    twin.reset()
    loaded = load_scenario(twin, scenario, start=start, seed=seed)
    twin.logs.set_ingestion_delay(ingestion_delay)
    env = {
        **server.environment(),
        "BREAKERPANEL_TARGETS": json.dumps(loaded.targets),
        "BREAKERPANEL_STORE": "sqlite",
        "BREAKERPANEL_STATE_DIR": str(state_dir),
        **extra_env,
    }
    result = Replay(scenario, loaded.start, list(loaded.expected))
    event_times = {e["id"]: _event_time(e) for e in loaded.events}
    delivered: set[str] = set()
    with environment(env):
        store = open_store()
        at = loaded.start + period
        while at <= loaded.end:
            twin.logs.set_now(at)
            if events:
                due = [e for e in loaded.events if event_times[e["id"]] <= at and e["id"] not in delivered]
                for event in [*reversed(due), *due]:
                    record_breaker_event(store, event)
                delivered.update(e["id"] for e in due)
            result.passes.append(run_pass(at))
            at += period
    return result


def _event_time(event: Mapping[str, Any]) -> datetime:
    from breakerpanel.core.watch.events import parse_breaker_event

    return parse_breaker_event(event).at


# How long each kind must last before it is an incident (the default policy): a detection is on time when it
# comes no later than one watchdog period after onset + this.
THRESHOLDS = {
    "BreakerStuckOpen": timedelta(minutes=5),
    "PoolDegraded": timedelta(minutes=5),
    "PoolExhausted": timedelta(minutes=2),
    "BreakerBlindSpot": timedelta(minutes=5),
    "ProvisioningFailed": timedelta(0),
}


@dataclass(frozen=True)
class Detection:
    kind: str
    target: str
    subject: str
    onset: datetime | None  # None: raised but not expected (a false alert)
    end: datetime | None
    opened_at: datetime | None  # None: expected but never raised (missed)
    resolved_at: datetime | None

    @property
    def delay(self) -> timedelta | None:
        return None if self.onset is None or self.opened_at is None else self.opened_at - self.onset

    @property
    def late_by(self) -> timedelta | None:
        """How long after onset + threshold + one period it was raised (≤ 0: on time)."""
        if self.delay is None:
            return None
        return self.delay - THRESHOLDS.get(self.kind, timedelta(0)) - PERIOD


@dataclass(frozen=True)
class Score:
    detections: list[Detection]
    repeats: int  # an incident key opened more than once while the truth was one incident

    @property
    def missed(self) -> list[Detection]:
        return [d for d in self.detections if d.opened_at is None]

    @property
    def false(self) -> list[Detection]:
        return [d for d in self.detections if d.onset is None]


def _subject(incident: Mapping[str, Any]) -> str:
    return str(incident.get("backend") or incident.get("pool") or incident.get("deployment") or "")


def score(result: Replay) -> Score:
    """Raised incidents matched to the scenario's ground truth by (kind, target, subject)."""
    opened: dict[tuple[str, str, str], list[datetime]] = {}
    resolved: dict[tuple[str, str, str], datetime] = {}
    for at, incident in result.changes("opened"):
        opened.setdefault((incident["kind"], incident["target"], _subject(incident).lower()), []).append(at)
    for at, incident in result.changes("resolved"):
        resolved.setdefault((incident["kind"], incident["target"], _subject(incident).lower()), at)
    detections: list[Detection] = []
    seen: set[tuple[str, str, str]] = set()
    for truth in result.expected:
        key = (truth.kind, truth.target, truth.subject.lower())
        seen.add(key)
        times = opened.get(key, [])
        detections.append(Detection(truth.kind, truth.target, truth.subject, truth.onset, truth.end,
                                    times[0] if times else None, resolved.get(key)))
    for key, times in opened.items():
        if key not in seen:
            detections.append(Detection(key[0], key[1], key[2], None, None, times[0], resolved.get(key)))
    repeats = sum(len(times) - 1 for key, times in opened.items() if key in seen)
    return Score(detections, repeats)
