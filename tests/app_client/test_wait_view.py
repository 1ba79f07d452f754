"""What `status` and `--wait` print while a target's child orchestration waits: GET /api/rollouts/{id} puts the
child's `waiting` under its target (tests/functions/test_rollout_http.py), and the CLI says it in words."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from breakerpanel import app_cli

KEY = "00000000-0000-0000-0000-0000000000cc/rg-gw/apim-one"


def running(wait: dict[str, Any] | None) -> dict[str, Any]:
    target: dict[str, Any] = {"wave": 1, "phase": "deploying", "deploymentName": "bp-r1-apim-one",
                              "provisioningState": "Running"}
    if wait is not None:
        target["waiting"] = wait
    return {"instanceId": "rollout-r1", "runtimeStatus": "Running", "phase": "deploying", "wave": 1,
            "targets": {KEY: target}}


def printed(status: dict[str, Any], seen: dict[str, str]) -> str:
    out = io.StringIO()
    app_cli._print_changes(Console(file=out, width=200), status, seen, 3.0)
    return out.getvalue()


THROTTLED = {"reason": "retryAfter", "seconds": 30, "until": "2026-11-24T09:00:30Z", "call": "deployment GET",
             "role": "poll"}
POLLING = {"reason": "poll", "seconds": 10, "until": "2026-11-24T09:00:40Z", "call": "deployment GET",
           "role": "poll"}


def test_a_log_line_says_why_the_target_waits_and_a_new_wait_is_a_new_line() -> None:
    seen: dict[str, str] = {}
    first = printed(running(THROTTLED), seen)
    assert "apim-one: deploying (Running) — waiting 30 s: ARM asked (Retry-After) on deployment GET" in first
    assert printed(running(THROTTLED), seen) == ""  # nothing changed, nothing printed
    assert "apim-one: deploying (Running) — polling every 10 s (deployment GET)" in printed(running(POLLING), seen)


def test_the_table_has_a_waiting_column_only_while_something_waits() -> None:
    def table(status: dict[str, Any]) -> str:
        out = io.StringIO()
        Console(file=out, width=200).print(app_cli._targets_table(status))
        return out.getvalue()

    shown = table(running(THROTTLED))
    assert "waiting" in shown.splitlines()[0] and "ARM asked (Retry-After)" in shown
    assert "waiting" not in table(running(None))
