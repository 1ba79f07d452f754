"""`python -m breakerpanel`: the product's command line.

  twin     start the local Azure twin (HTTPS on 127.0.0.1) and print the settings that point at it
  demo     start the twin and deploy the committed gateway template to it, end to end
  deploy   run a rollout request through the local Durable runner against the configured endpoints
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m breakerpanel", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    twin = commands.add_parser("twin", help="start the local Azure twin")
    twin.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    twin.add_argument("--state-dir", default=str(DEFAULT_TWIN_DIR), help="where the CA file is written")
    twin.set_defaults(run=_twin)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
