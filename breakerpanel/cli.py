"""`breakerpanel` (or `python -m breakerpanel`): the product's command line.

  twin     start the local Azure twin (HTTPS on 127.0.0.1) with the examples' APIM instances, and print
           the settings that point at it
  demo     start the twin and deploy the committed gateway template to it, end to end
  plan     validate + what-if a rollout request: what deploy would change; nothing is deployed
           (exit 0 nothing destructive, 1 approval needed, 2 bad input, 3 preflight incomplete)
  deploy   run a rollout request through the local Durable runner against the configured endpoints
  watch    one watchdog pass (--once [--at T] [--json]); exit code 0 ok, 1 warning, 2 critical, 3 unknown
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_TWIN_DIR = Path(".twin")


def _twin(args: argparse.Namespace) -> int:
    from twin.examples import seed_example_instances
    from twin.server import TwinServer

    server = TwinServer(Path(args.state_dir).expanduser().resolve(), port=args.port)
    targets = seed_example_instances(server.twin)
    print(f"twin listening on {server.url}  (CA: {server.ca_path})")
    for target in targets:
        print(f"APIM instance {target['apimName']} (resource group {target['resourceGroup']}, subscription "
              f"{target['subscriptionId']}), as examples/ names it")
    print("point breakerpanel at it with (in another shell):")
    settings = {**server.environment(), "BREAKERPANEL_TARGETS": json.dumps(targets, separators=(",", ":"))}
    for name, value in settings.items():
        print(f"  export {name}={shlex.quote(value)}")
    print("control API: POST /_twin/reset, GET /_twin/requests, POST /_twin/faults (Ctrl-C stops)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def _deploy(args: argparse.Namespace) -> int:
    import function_app
    from breakerpanel.cli_request import load_request
    from breakerpanel.console import console_for, print_json
    from breakerpanel.core.summary import render_summary
    from breakerpanel.progress import ProgressPrinter
    from breakerpanel.rollout_local import clock_for, run_rollout

    checked = load_request(args.request, sys.stderr)
    if checked is None:
        return 2
    progress = None if args.json else ProgressPrinter(sys.stdout)
    if progress is not None:
        console_for(sys.stdout).print(f"clock: {clock_for(checked.settings)}", markup=False, style="dim")
    run = run_rollout(function_app.app, checked.check, checked.allowed, approve=args.approve,
                      settings=checked.settings, on_step=progress)
    if args.json:
        print_json(run.status, sys.stdout)
    else:
        console = console_for(sys.stdout)
        console.print()
        lines = render_summary(run.output) if run.output else [f"rollout {run.status['runtimeStatus']}"]
        console.print("\n".join(lines), markup=False)
    return 0 if run.succeeded else 1


def _demo(args: argparse.Namespace) -> int:
    from breakerpanel.demo import run_demo

    return run_demo(sys.stdout, Path(args.state_dir).expanduser().resolve())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breakerpanel", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    twin = commands.add_parser("twin", help="start the local Azure twin")
    twin.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    twin.add_argument("--state-dir", default=str(DEFAULT_TWIN_DIR), help="where the CA file is written")
    twin.set_defaults(run=_twin)

    from breakerpanel import cli_plan

    cli_plan.add_parser(commands)

    deploy = commands.add_parser("deploy", help="run a rollout request through the local Durable runner")
    deploy.add_argument("--request", required=True, help="path to the rollout request JSON")
    deploy.add_argument("--approve", action="store_true",
                        help="approve at the approval gate (without it, a rollout that needs approval is rejected)")
    deploy.add_argument("--json", action="store_true", help="print the final status as JSON instead of a summary")
    deploy.set_defaults(run=_deploy)

    from breakerpanel import app_cli, watch_cli

    watch_cli.add_parser(commands)
    from breakerpanel.report import cli as report_cli

    report_cli.add_parser(commands)
    app_cli.add_parsers(commands)

    demo = commands.add_parser("demo", help="the product end to end on the local twin")
    demo.add_argument("--state-dir", default=str(DEFAULT_TWIN_DIR), help="where the twin's CA file is written")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
