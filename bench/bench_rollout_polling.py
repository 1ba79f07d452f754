"""Replay cost of a real rollout whose deployment takes 10, 100 and 1,000 polls.

Run:  .venv/bin/python bench/bench_rollout_polling.py            (from the repo root; about a minute)
      .venv/bin/python bench/bench_rollout_polling.py --polls 10 100

The app's own rollout orchestration runs through the real azure-functions-durable replay engine
(breakerpanel.localrun.LocalDurableHost, durable timers on a virtual clock) with the real activities against
the twin over HTTPS. The twin's deployment stays Accepted/Running for the asked number of polls, so the
deployment poller runs that many times; it continues-as-new every POLLS_PER_GENERATION polls, which is
what keeps the history each replay walks bounded. Printed per N: orchestrator invocations, history events
replayed in total (summed over every invocation of every instance), the longest history, continue-as-new
count, replay CPU seconds, and wall seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SUB = "00000000-0000-0000-0000-0000000000be"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "rollout-request.json"


def run(polls: int) -> dict[str, float]:
    from twin.app import TwinConfig
    from twin.server import TwinServer

    # A deployment settles after 2 * deployment_poll_steps observations (Accepted, then Running).
    config = TwinConfig(deployment_poll_steps=max(polls // 2, 1))
    scratch = Path(tempfile.mkdtemp())
    with TwinServer(scratch / "twin", config=config) as server:
        os.environ.update(server.environment())
        # The orchestration re-checks its target against the allowlist and takes the target's lock in the
        # store, as it does in Azure: the bench's target is allowlisted and its lock lives in a file of its own.
        os.environ["BREAKERPANEL_TARGETS"] = json.dumps(
            [{"subscriptionId": SUB, "resourceGroup": "rg-bench", "apimName": "apim-bench"}])
        os.environ["BREAKERPANEL_STORE"] = "sqlite"
        os.environ["BREAKERPANEL_STATE_DIR"] = str(scratch / "state")
        # The longest deadline the setting allows: the bench measures polling, not the timeout. The plan is
        # computed once from the settings, so this is where the deadline is set.
        os.environ["BREAKERPANEL_DEPLOY_TIMEOUT"] = "P7D"
        import function_app
        from activities.policy import current_policy
        from breakerpanel.core.model import Target
        from breakerpanel.core.request import check_rollout_request
        from breakerpanel.core.rollout_api import orchestration_input, rollout_instance_id
        from breakerpanel.localrun import LocalDurableHost
        from breakerpanel.settings import load_settings

        body = json.loads(EXAMPLE.read_text())
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
        assert status is not None and status["output"]["status"] == "succeeded", status
        metrics = host.metrics()
        gets = len(server.twin.captured("arm.deployments.get"))
    return {
        "polls": gets,
        "invocations": metrics.orchestrator_invocations,
        "events": metrics.history_events_replayed,
        "max_history": metrics.max_history_length,
        "continue_as_new": metrics.continue_as_new_count,
        "cpu": metrics.orchestrator_cpu_seconds,
        "wall": wall,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--polls", type=int, nargs="+", default=[10, 100, 1000])
    args = parser.parse_args()
    header = (f"{'N asked':>8} {'ARM GETs':>9} {'invocations':>12} {'events replayed':>16} {'events/poll':>12} "
              f"{'max history':>12} {'cont.-as-new':>13} {'replay CPU s':>13} {'wall s':>8}")
    print(header)
    for polls in args.polls:
        row = run(polls)
        print(f"{polls:>8} {row['polls']:>9} {row['invocations']:>12} {row['events']:>16,} "
              f"{row['events'] / row['polls']:>12.0f} {row['max_history']:>12} {row['continue_as_new']:>13} "
              f"{row['cpu']:>13.2f} {row['wall']:>8.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
