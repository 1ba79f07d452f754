"""Detection quality: every twin scenario through the watchdog on a simulated 5-minute schedule.

Run: `.venv/bin/python bench/bench_watch_detection.py [--seeds 0 1 2]` (also `make bench`).

Each scenario is simulated on the twin (APIM's pool, breakers, retries), its gateway logs served by the twin's
Log Analytics with a 2-minute ingestion delay, and `python -m breakerpanel watch --once --at T --json` runs
every 5 minutes of scenario time — once from the logs alone, once with the scenario's Event Grid breaker
events delivered (twice each, out of order). Printed per scenario and mode: the incidents the simulation
really had (ground truth read off what the simulated gateway did), the ones raised, missed and false,
detection delay after onset, how late that is against "one period after the threshold", and the time to
resolve after the condition ended. Targets: none missed, none false, late ≤ 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from breakerpanel.watchdog.replay import replay, score  # noqa: E402
from twin.gateway.scenarios import SCENARIOS  # noqa: E402
from twin.server import TwinServer  # noqa: E402

START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _minutes(delta: timedelta | None) -> str:
    return "-" if delta is None else f"{delta.total_seconds() / 60:+.1f}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    args = parser.parse_args()
    totals = {"expected": 0, "missed": 0, "false": 0, "late": 0, "repeats": 0, "passes": 0}
    rows = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch, TwinServer(Path(scratch) / "twin") as server:
        for seed in args.seeds:
            for name in args.scenarios:
                for events in (False, True):
                    state = Path(scratch) / f"state-{name}-{seed}-{events}"
                    result = replay(server, name, start=START, state_dir=state, seed=seed, events=events)
                    scored = score(result)
                    totals["passes"] += len(result.passes)
                    totals["expected"] += len(result.expected)
                    totals["missed"] += len(scored.missed)
                    totals["false"] += len(scored.false)
                    totals["repeats"] += scored.repeats
                    mode = "logs+events" if events else "logs"
                    if not scored.detections:
                        rows.append((name, seed, mode, "(none expected, none raised)", "", "", "", ""))
                    for d in scored.detections:
                        late = d.late_by
                        if late is not None and late > timedelta(0):
                            totals["late"] += 1
                        verdict = "MISSED" if d.opened_at is None else "FALSE" if d.onset is None else "ok"
                        resolve = None if d.end is None or d.resolved_at is None else d.resolved_at - d.end
                        rows.append((name, seed, mode, f"{d.kind} {d.target}/{d.subject}", verdict,
                                     _minutes(d.delay), _minutes(late), _minutes(resolve)))
    header = ("scenario", "seed", "mode", "incident", "result", "delay(min)", "late(min)", "resolve(min)")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
    print()
    print(f"expected {totals['expected']}, missed {totals['missed']}, false {totals['false']}, "
          f"late {totals['late']}, repeated alerts {totals['repeats']}; {totals['passes']} watch passes in "
          f"{time.monotonic() - began:.1f} s")
    print("delay: from the true onset to the pass that opened it; late: beyond onset + threshold + one 5-min "
          "period (≤ 0 is on time); resolve: from the true end to the pass that resolved it")
    return 1 if totals["missed"] or totals["false"] else 0


if __name__ == "__main__":
    sys.exit(main())
