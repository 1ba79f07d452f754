"""`python -m breakerpanel watch --once [--at ISO_TIME] [--json]`: one watchdog pass from the command line.

It runs the same check as the Functions app's timer, against the configured endpoints, with the store the
settings choose (a SQLite file under BREAKERPANEL_STATE_DIR by default), so incidents opened by one run are
ongoing or resolved in the next. `--at` evaluates the window ending then and ignores data after it.
Exit code: 0 ok, 1 warning, 2 critical, 3 unknown (and 4 when the settings are wrong).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

SETTINGS_ERROR = 4
# A pass that overlaps another (a cron entry and a person, two CI jobs) is skipped, not doubled.
_LEASE = "watchdog-run"
_LEASE_SECONDS = 600.0


def parse_at(raw: str) -> datetime:
    from breakerpanel.core.instants import parse_instant

    moment = parse_instant(raw)
    if moment is None:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an ISO 8601 instant such as 2026-12-03T10:00:00Z")
    return moment


def run_watch(args: argparse.Namespace) -> int:
    from breakerpanel.alerts.dispatch import after_check
    from breakerpanel.settings import SettingsError, load_settings
    from breakerpanel.store.factory import open_store
    from breakerpanel.targets import load_targets
    from breakerpanel.watchdog.check import check_group, group_targets
    from breakerpanel.watchdog.report import combine, exit_code, render
    from breakerpanel.watchdog.settings import load_watch_settings

    try:
        settings = load_settings()
        watch = load_watch_settings()
        targets = load_targets()
        store = open_store()
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return SETTINGS_ERROR
    if not targets:
        print("BREAKERPANEL_TARGETS: no targets are configured. Fix: list the APIM instances to watch", file=sys.stderr)
        return SETTINGS_ERROR
    now = args.at or datetime.now(UTC)
    holder = f"cli-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    wall = datetime.now(UTC)
    try:
        if not store.try_acquire_lease(_LEASE, holder, wall, _LEASE_SECONDS):
            print("another watchdog pass is running on this store; this one is skipped", file=sys.stderr)
            return 3
    except Exception as exc:
        print(f"the state store cannot be used: {exc}", file=sys.stderr)
        return 3
    alerts: dict[str, Any] = {}
    try:
        results: list[dict[str, Any]] = []
        for group in group_targets(targets):
            results += check_group(settings, watch, group, store, now)
        # Inside the lease: two passes never deliver side by side (the outbox's claims would keep them from
        # sending one notification twice anyway). Never raises: a sink failing is reported, not fatal.
        alerts = after_check(settings, store, results, now)
    finally:
        # The lease expires by itself; the pass's result stands even if releasing it fails.
        with contextlib.suppress(Exception):
            store.release_lease(_LEASE, holder)
    report = combine(results, now)
    report["alerts"] = alerts
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print("\n".join([*render(report), *_alert_lines(alerts)]))
    return exit_code(report)


def _alert_lines(alerts: dict[str, Any]) -> list[str]:
    lines = []
    if alerts.get("delivered") or alerts.get("failed"):
        lines.append(f"  alerts: {alerts.get('delivered', 0)} delivered, {alerts.get('failed', 0)} to retry")
    for found in alerts.get("problems", []):
        lines.append(f"  alerts problem: {found.get('code')} — {found.get('message', '')}")
    return lines


def add_parser(commands: Any) -> None:
    watch = commands.add_parser("watch", help="run the watchdog: failed provisioning and breakers stuck tripped")
    watch.add_argument("--once", action="store_true", required=True,
                       help="one pass, then exit with the health as exit code (the timer runs it on a schedule)",
                       )
    watch.add_argument("--at", type=parse_at, default=None,
                       help="evaluate as of this past instant (ISO 8601): the window ending then, later data ignored")
    watch.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    watch.set_defaults(run=run_watch)
