"""What one app-client command costs against the app's real HTTP functions, served locally.

The stack is the tests' (tests/app_client): the twin ← activities ← LocalDurableHost ← LocalTaskHub ← the
app's HTTP functions on a loopback adapter (function-key mode, plain http). For each of N rollouts that need
approval it runs `deploy --app`, `status`, `approve --wait`, `list` in-process through `breakerpanel.cli.main`
and prints, per command, the wall time (median and max), the HTTP calls it made, and how much of the wall
time was the local host running the orchestration (which the deployed app does in the background, so it is
not the client's cost). Figures are of this machine's local stack, not of Azure's latency.

    .venv/bin/python bench/bench_app_client.py [N]
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SUB = "00000000-0000-0000-0000-0000000000cc"
KEY = "bench-function-key-0123456789"


def main(rounds: int) -> None:
    from twin.server import TwinServer

    scratch = Path(tempfile.mkdtemp())
    with TwinServer(scratch / "twin") as twin_server:
        os.environ.update(twin_server.environment())
        os.environ.update({
            "BREAKERPANEL_TARGETS": json.dumps([{"subscriptionId": SUB, "resourceGroup": "rg-cli",
                                                 "apimName": "apim-cli-one"}]),
            "BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(scratch / "state"),
            "BREAKERPANEL_AUTH": "functionKey", "BREAKERPANEL_ALLOW_SELF_APPROVAL": "true",
            "BREAKERPANEL_APP_KEY": KEY,
        })
        twin_server.twin.apim.create_service(SUB, "rg-cli", "apim-cli-one")
        import function_app
        from breakerpanel import cli
        from breakerpanel.localrun import LocalDurableHost
        from breakerpanel.localrun.taskhub import LocalTaskHub
        from tests.app_client.app_server import AppServer
        from tests.app_client.conftest import rollout_request

        request = scratch / "request.json"
        request.write_text(json.dumps(rollout_request("apim-cli-one", approval="required")))
        host = LocalDurableHost(function_app.app, start_time=datetime.now(UTC).replace(microsecond=0))
        figures: dict[str, list[tuple[float, int, float]]] = {}
        with LocalTaskHub(host) as hub:
            server = AppServer(function_app.app, hub, key=KEY, tokens=None).start()
            try:
                for _ in range(rounds):
                    out = _run(server, figures, "deploy --app", cli.main,
                               ["deploy", "--app", server.url, "--request", str(request), "--json"])
                    instance_id = json.loads(out)["instanceId"]
                    _run(server, figures, "status", cli.main, ["status", instance_id, "--app", server.url])
                    _run(server, figures, "approve --wait", cli.main,
                         ["approve", instance_id, "--app", server.url, "--wait", "--interval", "0"])
                    _run(server, figures, "list", cli.main, ["list", "--app", server.url, "--json"])
            finally:
                server.stop()
    print(f"app client against the local stack, {rounds} rollouts (approval required), function-key mode")
    print(f"{'command':<16} {'median ms':>10} {'max ms':>8} {'HTTP calls':>11} {'host-run ms (median)':>21}")
    for command, rows in figures.items():
        walls = [r[0] * 1000 for r in rows]
        calls = sorted({r[1] for r in rows})
        driven = statistics.median(r[2] * 1000 for r in rows)
        print(f"{command:<16} {statistics.median(walls):>10.1f} {max(walls):>8.1f} "
              f"{'/'.join(map(str, calls)):>11} {driven:>21.1f}")


def _run(server: object, figures: dict[str, list[tuple[float, int, float]]], name: str, entry: object,
         argv: list[str]) -> str:
    calls, driven = len(server.seen), server.drive_seconds  # type: ignore[attr-defined]
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = entry(argv)  # type: ignore[operator]
    wall = time.perf_counter() - started
    assert code == 0, (name, code, out.getvalue())
    figures.setdefault(name, []).append((wall, len(server.seen) - calls,  # type: ignore[attr-defined]
                                         server.drive_seconds - driven))  # type: ignore[attr-defined]
    return out.getvalue()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
