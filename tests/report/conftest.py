"""A report written by the CLI, in-process, over a scenario the watchdog replayed on the twin."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from breakerpanel.watchdog.replay import Replay, environment, replay

START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@dataclass
class Written:
    replay: Replay
    code: int
    stdout: str
    stderr: str
    page: Path
    captured: list[dict[str, Any]]

    @property
    def html(self) -> str:
        return self.page.read_text(encoding="utf-8")


def write_report(server: Any, scenario: str, state_dir: Path, *extra: str) -> Written:
    result = replay(server, scenario, start=START, state_dir=state_dir)
    twin = server.twin
    targets = twin.gateway.loaded[-1].targets
    env = {**server.environment(), "BREAKERPANEL_TARGETS": json.dumps(targets), "BREAKERPANEL_STORE": "sqlite",
           "BREAKERPANEL_STATE_DIR": str(state_dir)}
    from breakerpanel.cli import main

    twin.logs.set_now(result.passes[-1].at + timedelta(minutes=10))
    before = len(twin.captured())
    out, err = io.StringIO(), io.StringIO()
    with environment(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["report", "--from", START.isoformat(), "--to", (START + timedelta(hours=1)).isoformat(), *extra])
    printed = out.getvalue().strip().splitlines()
    page = Path(printed[-1].split(": ", 1)[1]) if printed else state_dir / "missing.html"
    return Written(result, code, out.getvalue(), err.getvalue(), page, twin.captured()[before:])
