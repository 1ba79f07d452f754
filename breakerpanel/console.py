"""The terminal side of the CLI: one rich Console per stream, and JSON that a machine can read.

Rich prints plain text when the stream is not a terminal (a pipe, a CI log, a test), so what a person sees
and what a script greps are the same words.
"""

from __future__ import annotations

import json
import os
from typing import Any, TextIO

from rich.console import Console

from breakerpanel.core.public_json import public_json

# A pipe has no width; rich would wrap at 80 columns and split the lines scripts look for.
_PIPE_WIDTH = 160


def console_for(out: TextIO) -> Console:
    terminal = out.isatty() if hasattr(out, "isatty") else False
    width = None if terminal or os.environ.get("COLUMNS") else _PIPE_WIDTH
    return Console(file=out, width=width, highlight=False, soft_wrap=not terminal, emoji=False)


def print_json(value: Any, out: TextIO) -> None:
    """`value` as indented JSON: strings that hold JSON decoded, secrets and URL query strings removed."""
    print(json.dumps(public_json(value), indent=2, default=str), file=out)
