"""Replay cost of a real rollout: the default two-hour deploy deadline, and deployments of 10, 100, 1,000 polls.

Run:  .venv/bin/python bench/bench_rollout_polling.py     (from the repo root; about two minutes; rewrites the
                                                            table in README.md between the bench's markers)
      .venv/bin/python bench/bench_rollout_polling.py --polls 10 100 --no-deadline    (prints only)

What is measured: the app's own rollout orchestration replayed by the LOCAL runner
(breakerpanel.localrun.LocalDurableHost: the real azure-functions-durable replay engine, durable timers on a
simulated clock) with the real activities against the twin over HTTPS. It is not the Azure Functions host: no
storage queues, no real timers, no worker process, so wall seconds here say nothing about how long a rollout
takes in Azure (there the waits are real: two hours of polling takes two hours).

Cases:
  deadline  BREAKERPANEL_DEPLOY_TIMEOUT unset (the default, PT2H) and a deployment that never settles: the poller
            polls on its back-off (5, 10, 20, 40, then every 60 s), reaches the deadline, asks ARM to cancel.
  N polls   the longest deadline the setting allows (P7D) and a deployment that settles after N polls.
The poller continues-as-new every POLLS_PER_GENERATION polls, which keeps the history each replay walks bounded.
Printed per case: ARM deployment GETs, orchestrator invocations, history events replayed in total (summed over
every invocation of every instance), the longest history, continue-as-new count, replay CPU seconds, wall
seconds, the orchestration's simulated time, and the rollout's outcome.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SUB = "00000000-0000-0000-0000-0000000000be"
EXAMPLE = ROOT / "examples" / "rollout-request.json"
README = ROOT / "README.md"
BEGIN = "<!-- bench_rollout_polling: begin (written by bench/bench_rollout_polling.py; do not edit) -->"
END = "<!-- bench_rollout_polling: end -->"
NEVER = 10**9  # poll steps: a deployment that stays Accepted for the whole run
DEFAULT_POLLS = (10, 100, 1000)
COLUMNS = ("case", "ARM GETs", "invocations", "events replayed", "events/poll", "max history", "cont.-as-new",
           "replay CPU s", "wall s", "simulated", "outcome")
WIDTHS = (30, 9, 12, 16, 12, 12, 13, 13, 8, 10, 34)


@dataclass(frozen=True)
class Case:
    label: str
    poll_steps: int
    deploy_timeout: str | None  # None: the setting unset, so the app's default applies


def cases(polls: list[int], deadline: bool) -> list[Case]:
    chosen = [Case("deadline PT2H (default)", NEVER, None)] if deadline else []
    # A deployment settles after 2 * deployment_poll_steps observations (Accepted, then Running).
    return chosen + [Case(f"{n} polls, deadline P7D", max(n // 2, 1), "P7D") for n in polls]


def run(case: Case) -> dict[str, object]:
    from twin.app import TwinConfig
    from twin.server import TwinServer

    scratch = Path(tempfile.mkdtemp())
    with TwinServer(scratch / "twin", config=TwinConfig(deployment_poll_steps=case.poll_steps)) as server:
        os.environ.update(server.environment())
        # The orchestration re-checks its target against the allowlist and takes the target's lock in the
        # store, as it does in Azure: the bench's target is allowlisted and its lock lives in a file of its own.
        os.environ["BREAKERPANEL_TARGETS"] = json.dumps(
            [{"subscriptionId": SUB, "resourceGroup": "rg-bench", "apimName": "apim-bench"}])
        os.environ["BREAKERPANEL_STORE"] = "sqlite"
        os.environ["BREAKERPANEL_STATE_DIR"] = str(scratch / "state")
        # The plan is computed once from the settings, so this is where the deadline is set (or left default).
        if case.deploy_timeout is None:
            os.environ.pop("BREAKERPANEL_DEPLOY_TIMEOUT", None)
        else:
            os.environ["BREAKERPANEL_DEPLOY_TIMEOUT"] = case.deploy_timeout
        import function_app
        from activities.policy import current_policy
        from breakerpanel.core.model import Target
        from breakerpanel.core.request import check_rollout_request
        from breakerpanel.core.rollout_api import orchestration_input, rollout_instance_id
        from breakerpanel.localrun import LocalDurableHost
        from breakerpanel.settings import load_settings

        body = json.loads(EXAMPLE.read_text(encoding="utf-8-sig"))
        body["targets"] = [{"subscriptionId": SUB, "resourceGroup": "rg-bench", "apimName": "apim-bench"}]
        server.twin.apim.create_service(SUB, "rg-bench", "apim-bench")
        check = check_rollout_request(body, [Target(SUB, "rg-bench", "apim-bench")])
        assert check.request is not None
        now = datetime(2026, 1, 1, tzinfo=UTC)
        instance_id = rollout_instance_id("bench")
        spec = orchestration_input("bench", check.request, [], load_settings(), "bench", now,
                                   policy=current_policy(), instance_id=instance_id)
        host = LocalDurableHost(function_app.app, start_time=now)
        started = time.perf_counter()
        host.start("rollout_orchestrator", spec, instance_id=instance_id)
        status = host.run_until_idle(instance_id)
        wall = time.perf_counter() - started
        assert status is not None and status["runtimeStatus"] == "Completed", status
        metrics = host.metrics()
        gets = len(server.twin.captured("arm.deployments.get"))
        simulated = host.now - now
    return {
        "polls": gets,
        "invocations": metrics.orchestrator_invocations,
        "events": metrics.history_events_replayed,
        "max_history": metrics.max_history_length,
        "continue_as_new": metrics.continue_as_new_count,
        "cpu": metrics.orchestrator_cpu_seconds,
        "wall": wall,
        "simulated": simulated,
        "outcome": outcome(status["output"]),
    }


def outcome(output: dict[str, object]) -> str:
    """The rollout's status, and for a target with an error its code and ARM's last state."""
    entries = (output.get("targets") or {}).values()  # type: ignore[attr-defined]
    notes = sorted({f"{(r.get('error') or {}).get('code')}, {r.get('provisioningState')} in ARM"
                    for r in (entry.get("result") or {} for entry in entries) if r.get("error")})
    return f"{output.get('status')}" + (f": {'; '.join(notes)}" if notes else "")


def _clock(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _line(values: tuple[str, ...]) -> str:
    cells = [f"{values[0]:<{WIDTHS[0]}}"]
    cells += [f"{value:>{width}}" for value, width in zip(values[1:-1], WIDTHS[1:-1], strict=True)]
    cells.append(values[-1])
    return " ".join(cells)


def row(case: Case, figures: dict[str, object]) -> str:
    polls = int(figures["polls"])  # type: ignore[call-overload]
    events = int(figures["events"])  # type: ignore[call-overload]
    return _line((case.label, f"{polls}", f"{figures['invocations']}", f"{events:,}", f"{events / polls:.0f}",
                  f"{figures['max_history']}", f"{figures['continue_as_new']}", f"{figures['cpu']:.2f}",
                  f"{figures['wall']:.1f}", _clock(figures["simulated"]), str(figures["outcome"])))  # type: ignore[arg-type]


def readme_block(lines: list[str]) -> str:
    return "\n".join([BEGIN, "```", *lines, "```", END])


def write_readme(lines: list[str], readme: Path = README) -> None:
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme}: the markers {BEGIN!r} and {END!r} are missing; put them where the table goes")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + readme_block(lines) + tail, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--polls", type=int, nargs="+", default=list(DEFAULT_POLLS))
    parser.add_argument("--no-deadline", action="store_true", help="leave out the default two-hour deadline case")
    parser.add_argument("--no-readme", action="store_true", help="print only; do not rewrite README.md's table")
    args = parser.parse_args()
    print("measured: the rollout orchestration replayed by the local runner (breakerpanel.localrun, simulated "
          "clock) against the twin; not the Azure Functions host")
    header = _line(COLUMNS)
    print(header)
    lines = [header]
    for case in cases(args.polls, not args.no_deadline):
        lines.append(row(case, run(case)))
        print(lines[-1], flush=True)
    full = not args.no_deadline and tuple(args.polls) == DEFAULT_POLLS
    if full and not args.no_readme:
        write_readme(lines)
        print(f"wrote the table to {README}")
    elif not args.no_readme:
        print("README.md left as it is: only the default cases (no --polls, no --no-deadline) rewrite its table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
