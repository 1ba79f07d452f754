"""Replay cost of a polling orchestrator: one growing history vs continue-as-new every K polls.

Run:  .venv/bin/python bench/bench_replay.py            (from the repo root; about a minute)
      .venv/bin/python bench/bench_replay.py --budget 30 --per-generation 20 --polls 10 100 1000

Each poll is what the rollout's deployment poller does: a durable timer, then one activity. Every
orchestrator step replays the whole history through the real azure-functions-durable engine (driven
by breakerpanel.localrun.LocalDurableHost, timers on a virtual clock), so:
  naive    one orchestration polls N times; its history grows with N and the events replayed grow
           with N^2.
  bounded  the orchestration polls K times, then continue_as_new with the count so far; history
           never exceeds K polls' worth and the events replayed grow with N.
"Replay CPU s" is thread CPU time spent inside the registered orchestrator function (context JSON
parse + history model + replay of user code), summed over every invocation. A run that exceeds
--budget seconds of wall time is stopped and reported as such, with the polls it reached.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from breakerpanel.localrun import LocalDurableHost, ReplayMetrics, Step

POLL_INTERVAL = timedelta(seconds=30)

bp = df.Blueprint()


@bp.activity_trigger(input_name="poll")
def probe_deployment(poll: int) -> dict[str, Any]:
    return {"poll": poll, "provisioningState": "Running"}


@bp.orchestration_trigger(context_name="context")
def naive_poller(context: df.DurableOrchestrationContext) -> Generator[Any, Any, int]:
    polls = context.get_input()["polls"]
    for poll in range(polls):
        yield context.create_timer(context.current_utc_datetime + POLL_INTERVAL)
        yield context.call_activity(probe_deployment, poll)
    return polls


@bp.orchestration_trigger(context_name="context")
def bounded_poller(context: df.DurableOrchestrationContext) -> Generator[Any, Any, int]:
    spec = context.get_input()
    done = spec["done"]
    for _ in range(min(spec["perGeneration"], spec["polls"] - done)):
        yield context.create_timer(context.current_utc_datetime + POLL_INTERVAL)
        yield context.call_activity(probe_deployment, done)
        done += 1
    if done < spec["polls"]:
        context.continue_as_new({**spec, "done": done})
    return done


app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(bp)


class _OverBudget(Exception):
    pass


@dataclass(frozen=True)
class Row:
    polls: int
    style: str
    metrics: ReplayMetrics
    wall_seconds: float
    finished: bool
    polls_reached: int


def run(style: str, polls: int, per_generation: int, budget_seconds: float) -> Row:
    started = time.perf_counter()
    reached = {"polls": 0}

    def watch(step: Step) -> None:
        reached["polls"] = host.metrics(instance_id).activity_executions  # one activity per poll
        if time.perf_counter() - started > budget_seconds:
            raise _OverBudget

    host = LocalDurableHost(app, start_time=datetime(2025, 1, 1, tzinfo=UTC), on_step=watch)
    if style == "naive":
        instance_id = host.start("naive_poller", {"polls": polls})
    else:
        instance_id = host.start("bounded_poller", {"polls": polls, "done": 0, "perGeneration": per_generation})
    finished = True
    try:
        status = host.run_until_idle(instance_id, max_episodes=10 * polls + 10)
        if status is None or status["runtimeStatus"] != "Completed" or status["output"] != polls:
            raise SystemExit(f"{style} N={polls} did not complete as expected: {status}")
        reached["polls"] = polls
    except _OverBudget:
        finished = False
    return Row(polls, style, host.metrics(instance_id), time.perf_counter() - started, finished, reached["polls"])


def naive_replay_cost(polls: int) -> tuple[int, int]:
    """(invocations, events replayed) for the naive poller, counted from the history the host writes.

    Invocation k sees 4k-2 events: [OrchestratorStarted, ExecutionStarted] first, then each step adds
    its own OrchestratorStarted + the completion + the next scheduled event + OrchestratorCompleted.
    There are 2 steps per poll plus the first one. Checked against every naive run that finishes.
    """
    invocations = 2 * polls + 1
    return invocations, sum(4 * k - 2 for k in range(1, invocations + 1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--polls", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--per-generation", type=int, default=20, help="K: polls per continue-as-new generation")
    parser.add_argument("--budget", type=float, default=25.0, help="wall seconds allowed per run")
    args = parser.parse_args(argv)

    print(f"python {sys.version.split()[0]}, azure-functions-durable {_version('azure-functions-durable')}")
    print(f"Polling orchestrator: durable timer ({POLL_INTERVAL.seconds} s virtual) + 1 activity per poll")
    header = (
        f"{'N polls':>8} {'style':<16} {'generations':>11} {'invocations':>11} {'events replayed':>15} "
        f"{'max history':>11} {'replay CPU s':>12} {'us/event':>8} {'wall s':>7}"
    )
    print(header)
    print("-" * len(header))
    for polls in args.polls:
        for style in ("naive", "bounded"):
            row = run(style, polls, args.per_generation, args.budget)
            _print_row(row, args.per_generation)
            if style == "naive":
                _check_or_project(row, args.budget)


def _print_row(row: Row, per_generation: int) -> None:
    style = row.style if row.style == "naive" else f"bounded (K={per_generation})"
    m = row.metrics
    per_event = 1e6 * m.orchestrator_cpu_seconds / max(m.history_events_replayed, 1)
    print(
        f"{row.polls:>8} {style:<16} {m.continue_as_new_count + 1:>11} {m.orchestrator_invocations:>11} "
        f"{m.history_events_replayed:>15,} {m.max_history_length:>11} {m.orchestrator_cpu_seconds:>12.2f} "
        f"{per_event:>8.0f} {row.wall_seconds:>7.2f}",
        flush=True,
    )


def _check_or_project(row: Row, budget: float) -> None:
    invocations, events = naive_replay_cost(row.polls)
    m = row.metrics
    if row.finished:
        if (m.orchestrator_invocations, m.history_events_replayed) != (invocations, events):
            raise SystemExit(f"naive N={row.polls}: measured {m} differs from the model {invocations}/{events}")
        return
    per_event = m.orchestrator_cpu_seconds / max(m.history_events_replayed, 1)
    print(
        f"{'':>8}   STOPPED at the {budget:.0f} s budget after {row.polls_reached} of {row.polls} polls "
        f"(figures above cover only those polls).\n"
        f"{'':>8}   Full run, from the event-count model checked on the finished naive runs: "
        f"{invocations:,} invocations, {events:,} events replayed, ~{events * per_event:,.0f} CPU s "
        f"at the {per_event * 1e6:.0f} us/event measured here.",
        flush=True,
    )


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


if __name__ == "__main__":
    main()
