"""`python -m breakerpanel report [--from T] [--to T] [--out FILE]`: the breaker report for every target of
BREAKERPANEL_TARGETS, one self-contained HTML page per target, over a window (default: the last 24 hours).

It reads what a watchdog pass reads, with the same settings and store, and writes nothing but the pages.
With one target the page is FILE; with several, each target's name goes before FILE's suffix
(report.html → report-apim-a.html). Every page written is printed as an absolute path.
Exit code: 0 written (a source that could not be read is named on the page and on stderr), 4 a setting or an
option is wrong.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SETTINGS_ERROR = 4
DEFAULT_WINDOW = timedelta(hours=24)
# Bins are the watchdog's (no wider than the shortest rule interval): a week of them is still a small answer.
LONGEST_WINDOW = timedelta(days=7)


def _instant(raw: str) -> datetime:
    from breakerpanel.core.instants import parse_instant

    moment = parse_instant(raw)
    if moment is None:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an ISO 8601 instant such as 2026-12-03T10:00:00Z")
    return moment


def window(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The report's [start, end]; ValueError naming the option and the fix."""
    end = end or now
    start = start or end - DEFAULT_WINDOW
    if start >= end:
        raise ValueError(f"--from {start.isoformat()} is not before --to {end.isoformat()}. "
                         "Fix: give a --from earlier than --to")
    if end - start > LONGEST_WINDOW:
        raise ValueError(f"--from/--to span {end - start}, more than {LONGEST_WINDOW.days} days. "
                         "Fix: report a shorter window (several reports cover a longer one)")
    return start, end


def page_paths(out: Path, names: list[str]) -> list[Path]:
    if len(names) == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{re.sub(r'[^A-Za-z0-9._-]+', '-', name)}{out.suffix or '.html'}")
            for name in names]


def run_report(args: argparse.Namespace) -> int:
    from breakerpanel.report.collect import collect
    from breakerpanel.report.render import render_page
    from breakerpanel.settings import SettingsError, load_settings
    from breakerpanel.store.factory import open_store, state_dir
    from breakerpanel.targets import load_targets
    from breakerpanel.watchdog.settings import load_watch_settings

    now = datetime.now(UTC)
    try:
        start, end = window(args.start, args.end, now)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return SETTINGS_ERROR
    try:
        settings = load_settings()
        watch = load_watch_settings()
        targets = load_targets()
        store = open_store()
        out = Path(args.out) if args.out else state_dir(os.environ) / "report.html"
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return SETTINGS_ERROR
    if not targets:
        print("BREAKERPANEL_TARGETS: no targets are configured. Fix: list the APIM instances to report on",
              file=sys.stderr)
        return SETTINGS_ERROR
    reports = collect(settings, watch, targets, store, start, end)
    paths = page_paths(out, [r.apim_name for r in reports])
    for report, path in zip(reports, paths, strict=True):
        for found in report.problems:
            print(f"{report.apim_name}: could not read {found}", file=sys.stderr)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render_page(report, now), encoding="utf-8")
        except OSError as exc:
            print(f"--out {path}: cannot write the page ({exc.strerror}). Fix: name a writable file", file=sys.stderr)
            return SETTINGS_ERROR
        print(f"{report.apim_name}: {path.resolve()}")
    return 0


def add_parser(commands: Any) -> None:
    report = commands.add_parser("report", help="the breaker report: an HTML page per target over a window")
    report.add_argument("--from", dest="start", type=_instant, default=None,
                        help="window start, ISO 8601 (default: 24 hours before --to)")
    report.add_argument("--to", dest="end", type=_instant, default=None, help="window end (default: now)")
    report.add_argument("--out", default=None,
                        help="the page to write (default: report.html in BREAKERPANEL_STATE_DIR, .breakerpanel/)")
    report.set_defaults(run=run_report)
