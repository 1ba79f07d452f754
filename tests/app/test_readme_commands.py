"""The README and examples/ agree: its request is the example file, and every command it tells a person to run
exists (a `breakerpanel` / `python -m breakerpanel` subcommand, a make target, a file it names)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from breakerpanel.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _subcommands() -> set[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return set(actions[0].choices)


def test_the_readme_request_is_the_example_file() -> None:
    section = README[README.index("## A rollout request"):]
    block = re.search(r"```json\n(.*?)\n```", section, re.S)
    assert block is not None, "the README's rollout request section has no ```json block"

    assert json.loads(block.group(1)) == json.loads((ROOT / "examples" / "rollout-request.json").read_text())


def test_every_breakerpanel_command_in_the_readme_exists() -> None:
    named = set(re.findall(r"(?:python -m |\.venv/bin/|`)breakerpanel ([a-z][a-z-]*)", README))
    assert {"twin", "plan", "deploy", "watch"} <= named, named  # the newcomer's path is documented

    assert named <= _subcommands(), f"the README names commands the CLI lacks: {sorted(named - _subcommands())}"


def test_every_make_target_in_the_readme_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    named = set(re.findall(r"`make ([a-z][a-z-]*)", README)) | set(re.findall(r"^make ([a-z][a-z-]*)", README, re.M))

    assert named and named <= targets, sorted(named - targets)


def test_every_request_file_the_readme_passes_exists() -> None:
    files = set(re.findall(r"--request ((?:examples|infra)/[\w./-]+)", README))

    assert "examples/rollout-request.json" in files
    for name in files:
        assert (ROOT / name).is_file(), name
