"""`python -m breakerpanel`: the product's command line.

  twin     start the local Azure twin (HTTPS on 127.0.0.1) and print the settings that point at it
  demo     start the twin and deploy the committed gateway template to it, end to end
  deploy   run a rollout request through the local Durable runner against the configured endpoints
  watch    one watchdog pass (--once [--at T] [--json]); exit code 0 ok, 1 warning, 2 critical, 3 unknown
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from breakerpanel.localrun import Step

DEFAULT_TWIN_DIR = Path(".twin")


def _twin(args: argparse.Namespace) -> int:
    from twin.server import TwinServer

    server = TwinServer(Path(args.state_dir), port=args.port)
    print(f"twin listening on {server.url}  (CA: {server.ca_path})")
    print("point breakerpanel at it with:")
    for name, value in server.environment().items():
        print(f"  export {name}={value}")
    print("control API: POST /_twin/reset, GET /_twin/requests, POST /_twin/faults (Ctrl-C stops)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


class ProgressPrinter:
    """Prints a line whenever the rollout's phase, or a target's phase, changes: wall and virtual time."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._started = time.monotonic()
        self._seen: dict[str, str] = {}

    def __call__(self, step: Step) -> None:
        status = step.custom_status
        if step.name != "rollout_orchestrator" or not isinstance(status, dict):
            return
        elapsed = f"{time.monotonic() - self._started:6.1f}s"
        virtual = str(step.virtual_elapsed).split(".")[0]
        lines = []
        if self._seen.get("") != status.get("phase"):
            self._seen[""] = str(status.get("phase"))
            wave = f" wave {status['wave']}" if status.get("wave") is not None else ""
            lines.append(f"{status.get('phase')}{wave}")
        for key, target in (status.get("targets") or {}).items():
            phase = str(target.get("phase"))
            if self._seen.get(key) != phase:
                self._seen[key] = phase
                state = f" ({target['provisioningState']})" if target.get("provisioningState") else ""
                lines.append(f"  {target['target']['apimName']}: {phase}{state}")
        for line in lines:
            print(f"[{elapsed} | +{virtual}] {line}", file=self._out, flush=True)


def _deploy(args: argparse.Namespace) -> int:
    import function_app
    from breakerpanel.core.summary import render_summary
    from breakerpanel.rollout_local import allowed_targets, check_request, run_rollout
    from breakerpanel.settings import SettingsError, load_settings

    try:
        body = json.loads(Path(args.request).read_text())
    except (OSError, ValueError) as exc:
        print(f"--request {args.request}: cannot read a JSON rollout request ({exc})", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
        allowed = allowed_targets(body)
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    check = check_request(body, allowed)
    for problem in check.problems:
        print(f"{problem.severity}: {problem.field}: {problem.problem} — fix: {problem.fix}", file=sys.stderr)
    if check.request is None:
        print(f"the request has {len(check.errors)} error(s); nothing was started", file=sys.stderr)
        return 2
    progress = None if args.json else ProgressPrinter(sys.stdout)
    run = run_rollout(function_app.app, check, allowed, approve=args.approve, settings=settings, on_step=progress)
    if args.json:
        print(json.dumps(run.status, indent=2, default=str))
    else:
        print()
        print("\n".join(render_summary(run.output) if run.output else [f"rollout {run.status['runtimeStatus']}"]))
    return 0 if run.succeeded else 1


def _demo(args: argparse.Namespace) -> int:
    from breakerpanel.demo import run_demo

    return run_demo(sys.stdout, Path(args.state_dir))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m breakerpanel", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    twin = commands.add_parser("twin", help="start the local Azure twin")
    twin.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    twin.add_argument("--state-dir", default=str(DEFAULT_TWIN_DIR), help="where the CA file is written")
    twin.set_defaults(run=_twin)

    deploy = commands.add_parser("deploy", help="run a rollout request through the local Durable runner")
    deploy.add_argument("--request", required=True, help="path to the rollout request JSON")
    deploy.add_argument("--approve", action="store_true",
                        help="approve at the approval gate (without it, a rollout that needs approval is rejected)")
    deploy.add_argument("--json", action="store_true", help="print the final status as JSON instead of a summary")
    deploy.set_defaults(run=_deploy)

    from breakerpanel import watch_cli

    watch_cli.add_parser(commands)

    demo = commands.add_parser("demo", help="the product end to end on the local twin")
    demo.add_argument("--state-dir", default=str(DEFAULT_TWIN_DIR), help="where the twin's CA file is written")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
