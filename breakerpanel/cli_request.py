"""A rollout request file, read and checked for `deploy` and `plan` exactly as `POST /api/rollouts` checks a body."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from breakerpanel.core.request import RequestCheck, read_json_body
from breakerpanel.core.request_text import RequestTextError, request_text
from breakerpanel.settings import Settings, SettingsError, load_settings
from breakerpanel.targets import AllowedTarget


@dataclass(frozen=True)
class CheckedRequest:
    path: Path
    settings: Settings
    allowed: list[AllowedTarget]
    check: RequestCheck


def load_request(name: str, err: TextIO) -> CheckedRequest | None:
    """The checked request, or None after printing every problem (field, problem, fix) to `err`."""
    from breakerpanel.rollout_local import allowed_targets, check_request

    path = Path(name).expanduser().resolve()
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"--request {path}: cannot read the file ({exc.strerror or exc}); give the path of a rollout "
              "request JSON file, e.g. examples/rollout-request.json", file=err)
        return None
    try:
        text = request_text(data, f"--request {path}")
    except RequestTextError as exc:
        print(str(exc), file=err)
        return None
    body, unreadable = read_json_body(text.encode("utf-8"))
    if unreadable:
        for problem in unreadable:
            print(f"error: --request {path}: {problem.problem} — fix: {problem.fix}", file=err)
        return None
    try:
        settings = load_settings()
        allowed = allowed_targets(body)
    except SettingsError as exc:
        print(str(exc), file=err)
        return None
    check = check_request(body, allowed, settings)
    for problem in check.problems:
        print(f"{problem.severity}: {problem.field}: {problem.problem} — fix: {problem.fix}", file=err)
    if check.request is None:
        print(f"the request has {len(check.errors)} error(s); nothing was started", file=err)
        return None
    return CheckedRequest(path, settings, allowed, check)
