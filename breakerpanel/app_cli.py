"""The command line for the DEPLOYED app: `deploy --app`, `status`, `list`, `approve`, `reject`, `cancel`.

Every command talks to the app's /api/rollouts routes (breakerpanel/app_client.py) and prints what it did,
or with `--json` only machine-readable JSON on stdout. Exit codes: 0 done (or succeeded), 1 the rollout
failed, was rejected or cancelled, or the app refused the action for its state (409), 2 bad input or
credentials (400/401/403/404, settings), 3 the app could not be reached, or the result is unknown.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from breakerpanel.app_client import (
    ENV_CA,
    ENV_CREDENTIAL,
    ENV_KEY,
    ENV_SCOPE,
    ENV_URL,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    AppClient,
    AppError,
    app_config,
)
from breakerpanel.core.waiting import describe

_FINISHED = {"Completed", "Failed", "Terminated", "Canceled"}
_RESULT_EXIT = {"succeeded": 0, "failed": EXIT_REFUSED, "rejected": EXIT_REFUSED, "cancelled": EXIT_REFUSED}
# Polling a dead host forever helps nobody; a few transient failures in a row are normal for a busy app.
MAX_TRANSIENT_FAILURES = 5
Sleep = Callable[[float], None]


def _out() -> Console:
    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    if not console.is_terminal:
        # A log or a pipe has no width to fit: ids and names stay whole and greppable.
        console.width = 220
    return console


def _client(args: argparse.Namespace) -> AppClient:
    config = app_config(url=args.app or None, scope=args.scope, key=args.key, credential=args.credential,
                        ca_bundle=args.ca, timeout=args.timeout)
    return AppClient(config)


def _fail(args: argparse.Namespace, error: AppError) -> int:
    if getattr(args, "json", False):
        print(json.dumps(error.to_dict(), indent=2))
    print(f"error: {error}", file=sys.stderr)
    return error.exit_code


# ----------------------------------------------------------------------------------------- rendering


def _target_name(key: str, target: Mapping[str, Any]) -> str:
    named = target.get("target") if isinstance(target.get("target"), Mapping) else {}
    return str(named.get("apimName") or key.split("/")[-1])


def _targets_table(status: Mapping[str, Any]) -> Table:
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    targets = status.get("targets") if isinstance(status.get("targets"), Mapping) else {}
    columns = ["target", "wave", "phase", "deployment", "state"]
    waits = {key: _wait_text(target) for key, target in targets.items()}
    if any(waits.values()):
        columns.append("waiting")
    for column in columns:
        table.add_column(column)
    for key, target in targets.items():
        if not isinstance(target, Mapping):
            continue
        state = target.get("provisioningState") or (target.get("result") or {}).get("status") or target.get("stage")
        row = [_target_name(key, target), str(target.get("wave") or ""), str(target.get("phase") or ""),
               str(target.get("deploymentName") or ""), str(state or "")]
        table.add_row(*row, *([waits[key]] if len(columns) > len(row) else []))
    return table


def _wait_text(target: object) -> str:
    """What a target's child orchestration waits for now, as the app's GET shows it; '' when nothing."""
    wait = target.get("waiting") if isinstance(target, Mapping) else None
    return describe(wait) if isinstance(wait, Mapping) else ""


def _approval_lines(approval: Mapping[str, Any]) -> list[str]:
    lines = [f"wave {approval.get('wave')} waits for approval: {approval.get('reason') or ''}".rstrip(": "),
             f"what-if digest {approval.get('whatIfDigest')}"]
    what_ifs = approval.get("whatIf") if isinstance(approval.get("whatIf"), Mapping) else {}
    for key, summary in what_ifs.items():
        lines.append(f"  {key.split('/')[-1]}:")
        shown = summary.get("lines") if isinstance(summary, Mapping) else None
        lines += [f"    {line}" for line in shown or ["(no what-if lines)"]]
    return lines


def _headline(status: Mapping[str, Any]) -> str:
    wave = f", wave {status['wave']}" if status.get("wave") is not None else ""
    result = f" — {status['status']}" if status.get("status") else ""
    return f"{status.get('instanceId')}: {status.get('runtimeStatus')}, phase {status.get('phase')}{wave}{result}"


def _view(status: Mapping[str, Any], elapsed: float | None = None) -> Group:
    parts: list[Any] = [Text(_headline(status) + (f"  [{elapsed:.0f}s]" if elapsed is not None else ""))]
    parts.append(_targets_table(status))
    approval = status.get("approval")
    if status.get("phase") == "awaitingApproval" and isinstance(approval, Mapping):
        parts += [Text(line) for line in _approval_lines(approval)]
        parts.append(Text(f"approve with: breakerpanel approve {status.get('instanceId')}   "
                          f"(or reject {status.get('instanceId')})"))
    return Group(*parts)


def _print_status(status: Mapping[str, Any]) -> None:
    console = _out()
    console.print(_view(status))
    for line in status.get("summary") or []:
        console.print(Text(str(line)))


def result_exit(status: Mapping[str, Any]) -> int:
    """0 succeeded; 1 failed, rejected or cancelled; 3 unknown or not finished."""
    if status.get("runtimeStatus") not in _FINISHED:
        return EXIT_UNREACHABLE
    if status.get("runtimeStatus") in ("Failed", "Terminated", "Canceled"):
        return EXIT_REFUSED
    return _RESULT_EXIT.get(str(status.get("status")), EXIT_UNREACHABLE)


# ----------------------------------------------------------------------------------------- following


def follow(client: AppClient, instance_id: str, *, interval: float, limit: float | None, quiet: bool,
           sleep: Sleep = time.sleep, clock: Callable[[], float] = time.monotonic) -> tuple[dict[str, Any], int]:
    """Poll GET /api/rollouts/{id} until the rollout ends (or `limit` seconds pass), showing its progress.

    Waits `interval` between polls, or the app's Retry-After when it sends one; a few transient failures in a
    row (unreachable, 429, 5xx) are waited out, anything else ends the wait with its error."""
    console = _out()
    started = clock()
    status: dict[str, Any] = {}
    failures = 0
    printed: dict[str, str] = {}
    live = Live(console=console, auto_refresh=False) if console.is_terminal and not quiet else None
    if live is not None:
        live.start()
    try:
        while True:
            wait = interval
            try:
                reply = client.status(instance_id)
                failures = 0
                status = reply.body if isinstance(reply.body, dict) else {}
                wait = reply.retry_after if reply.retry_after is not None else interval
            except AppError as exc:
                if exc.exit_code != EXIT_UNREACHABLE or failures + 1 >= MAX_TRANSIENT_FAILURES:
                    raise
                failures += 1
                wait = exc.retry_after if exc.retry_after is not None else max(interval, 1.0) * failures
                if not quiet:
                    console.print(Text(f"  ({exc.message}; trying again in {wait:g}s)"))
            elapsed = clock() - started
            if status and not quiet:
                if live is not None:
                    live.update(_view(status, elapsed), refresh=True)
                else:
                    _print_changes(console, status, printed, elapsed)
            if status.get("runtimeStatus") in _FINISHED:
                return status, result_exit(status)
            if limit is not None and elapsed + wait >= limit:
                if not quiet:
                    console.print(Text(f"still {status.get('phase') or 'running'} after {elapsed:.0f}s; follow it "
                                       f"with: breakerpanel status {instance_id} --wait"))
                return status, EXIT_UNREACHABLE
            sleep(wait)
    finally:
        if live is not None:
            live.stop()


def _print_changes(console: Console, status: Mapping[str, Any], printed: dict[str, str], elapsed: float) -> None:
    """Without a terminal (CI logs): one line whenever the rollout's or a target's phase changes."""
    lines = []
    overall = f"{status.get('phase')}|{status.get('wave')}|{status.get('status')}"
    if printed.get("") != overall:
        printed[""] = overall
        lines.append(_headline(status))
        approval = status.get("approval")
        if status.get("phase") == "awaitingApproval" and isinstance(approval, Mapping):
            lines += [f"  {line}" for line in _approval_lines(approval)]
    targets = status.get("targets") if isinstance(status.get("targets"), Mapping) else {}
    for key, target in targets.items():
        if not isinstance(target, Mapping):
            continue
        wait = _wait_text(target)
        state = f"{target.get('phase')}|{target.get('provisioningState')}|{wait}"
        if printed.get(key) != state:
            printed[key] = state
            extra = f" ({target['provisioningState']})" if target.get("provisioningState") else ""
            lines.append(f"  {_target_name(key, target)}: {target.get('phase')}{extra}{f' — {wait}' if wait else ''}")
    for line in lines:
        console.print(Text(f"[{elapsed:6.1f}s] {line}"))


def _finish(args: argparse.Namespace, client: AppClient, instance_id: str, done: Mapping[str, Any]) -> int:
    """After an action: print what it did, or follow the rollout to its end with --wait."""
    if not args.wait:
        if args.json:
            print(json.dumps(done, indent=2))
        return 0
    status, code = follow(client, instance_id, interval=args.interval, limit=args.wait_timeout, quiet=args.json)
    if args.json:
        print(json.dumps({**done, "rollout": status}, indent=2))
    else:
        for line in status.get("summary") or []:
            _out().print(Text(str(line)))
    return code


# ----------------------------------------------------------------------------------------- commands


def _read_request(path: str) -> Any:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise AppError(f"--request {path}: cannot read it ({exc.strerror})", "give the path of a rollout request JSON",
                       EXIT_USAGE) from None
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            return json.loads(raw.decode(encoding))
        except (UnicodeDecodeError, ValueError):
            continue
    raise AppError(f"--request {path}: not a JSON document", "save the rollout request as JSON (UTF-8)", EXIT_USAGE)


def _deploy_app(args: argparse.Namespace) -> int:
    client = _client(args)
    body = _read_request(args.request)
    accepted = client.start(body).body or {}
    instance_id = str(accepted.get("instanceId") or "")
    if not args.json:
        console = _out()
        console.print(Text(f"started {instance_id} on {client.config.url} as "
                           f"{(accepted.get('startedBy') or {}).get('name') or 'unknown'}"))
        for warning in accepted.get("warnings") or []:
            console.print(Text(f"warning: {warning.get('field')}: {warning.get('problem')} "
                               f"— fix: {warning.get('fix')}"))
        if not args.wait:
            console.print(Text(f"follow it with: breakerpanel status {instance_id} --wait"))
    return _finish(args, client, instance_id, accepted)


def _status(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.wait:
        return _finish(args, client, args.id, {"instanceId": args.id})
    status = client.status(args.id).body or {}
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        _print_status(status)
    return 0


def _list(args: argparse.Namespace) -> int:
    client = _client(args)
    listed = client.list(target=args.target, days=args.days, active=args.active).body or {}
    if args.json:
        print(json.dumps(listed, indent=2))
        return 0
    rollouts = listed.get("rollouts") or []
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in ("id", "created", "runtime", "phase", "status", "targets", "started by"):
        table.add_column(column)
    for entry in rollouts:
        targets = ", ".join(str(t.get("apimName")) for t in entry.get("targets") or [])
        who = entry.get("startedBy") or {}
        table.add_row(str(entry.get("instanceId")), str(entry.get("createdTime") or "")[:19],
                      str(entry.get("runtimeStatus") or ""), str(entry.get("phase") or ""),
                      str(entry.get("status") or ""), targets, str(who.get("upn") or who.get("name") or ""))
    console = _out()
    scope = f" of {args.target}" if args.target else ""
    console.print(Text(f"{len(rollouts)} rollout(s){scope} in the last {listed.get('days')} day(s)"
                       + (" still running" if args.active else "")))
    if rollouts:
        console.print(table)
    if listed.get("truncated"):
        console.print(Text(f"note: {listed.get('note') or 'the app answered only part of the list'}"))
    return 0


def _answer(args: argparse.Namespace, approved: bool) -> int:
    client = _client(args)
    verb = "approve" if approved else "reject"
    status = client.status(args.id).body or {}
    approval = status.get("approval") if isinstance(status.get("approval"), Mapping) else None
    if status.get("phase") != "awaitingApproval" or approval is None or approval.get("status") != "waiting":
        raise AppError(f"rollout {args.id} is not waiting for an approval ({_headline(status)})",
                       f"nothing to {verb}; `breakerpanel status {args.id}` shows where it is", EXIT_REFUSED)
    wave, digest = approval.get("wave"), approval.get("whatIfDigest")
    if args.wave is not None and args.wave != wave:
        raise AppError(f"--wave {args.wave}: rollout {args.id} waits on wave {wave}",
                       "read the status again and answer the wave it shows", EXIT_REFUSED)
    if args.digest is not None and args.digest != digest:
        raise AppError(f"--digest: rollout {args.id} now shows what-if digest {digest}",
                       "the what-if changed since you read it: read the status again and review it", EXIT_REFUSED)
    if not args.json:
        console = _out()
        console.print(Text(f"{'Approving' if approved else 'Rejecting'} rollout {args.id}"))
        for line in _approval_lines(approval):
            console.print(Text(f"  {line}"))
    answered = client.answer(args.id, approved, int(wave), str(digest), args.comment or "").body or {}
    if not args.json:
        _out().print(Text(f"{'approved' if approved else 'rejected'} wave {wave} as "
                          f"{(answered.get('by') or {}).get('name') or 'unknown'}"))
    return _finish(args, client, args.id, answered)


def _cancel(args: argparse.Namespace) -> int:
    client = _client(args)
    cancelled = client.cancel(args.id, args.comment or "").body or {}
    if not args.json:
        _out().print(Text(f"cancel sent to {args.id} ({len(cancelled.get('reached') or [])} orchestration(s)); "
                          f"{cancelled.get('note') or ''}".rstrip("; ")))
    return _finish(args, client, args.id, cancelled)


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except AppError as error:
            return _fail(args, error)
        except KeyboardInterrupt:
            print("interrupted: the rollout goes on in the app; `breakerpanel status ID` shows it", file=sys.stderr)
            return EXIT_UNREACHABLE

    return run


# ----------------------------------------------------------------------------------------- parsers


def _connection(parser: argparse.ArgumentParser, *, app_optional: bool = False) -> None:
    group = parser.add_argument_group("the deployed app")
    if app_optional:
        group.add_argument("--app", nargs="?", const="", default=None, metavar="URL",
                           help=f"run the rollout in the deployed app at URL (bare --app: {ENV_URL})")
    else:
        group.add_argument("--app", default=None, metavar="URL", help=f"the function app's base URL ({ENV_URL})")
    group.add_argument("--scope", default=None,
                       help=f"Entra scope for the app registration, api://<client id>/.default ({ENV_SCOPE})")
    group.add_argument("--key", default=None,
                       help=f"function key; prefer {ENV_KEY}, which stays out of shell history")
    group.add_argument("--credential", default=None, choices=("default", "cli"),
                       help=f"azure-identity credential for the token: DefaultAzureCredential or AzureCliCredential "
                            f"({ENV_CREDENTIAL}, default 'default')")
    group.add_argument("--ca", default=None, help=f"CA bundle for a host with its own certificate ({ENV_CA})")
    group.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each answer (30)")


def _waiting(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true",
                        help="follow the rollout to its end; exit 0 succeeded, 1 failed/rejected/cancelled, 3 unknown")
    parser.add_argument("--interval", type=float, default=5.0,
                        help="seconds between polls when the app sends no Retry-After (5)")
    parser.add_argument("--wait-timeout", type=float, default=None, metavar="SECONDS",
                        help="stop following after this long (exit 3; the rollout goes on)")


def _extend_deploy(deploy: argparse.ArgumentParser) -> None:
    """`deploy --app [URL] [--wait]`: the same request file, run by the deployed app instead of locally."""
    local = deploy.get_default("run")
    _connection(deploy, app_optional=True)
    _waiting(deploy)
    guarded = _guarded(_deploy_app)

    def run(args: argparse.Namespace) -> int:
        if args.app is None:
            if local is None:
                print(f"error: deploy needs --app URL (or bare --app with {ENV_URL} set)", file=sys.stderr)
                return EXIT_USAGE
            return int(local(args))
        if getattr(args, "approve", False):
            print("error: --approve is for the local runner; with --app someone else approves "
                  "(breakerpanel approve ID). Fix: drop --approve", file=sys.stderr)
            return EXIT_USAGE
        return guarded(args)

    deploy.set_defaults(run=run)


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the app client's commands (and `--app` on the local `deploy`, when it exists)."""
    if "deploy" in commands.choices:
        _extend_deploy(commands.choices["deploy"])
    else:
        deploy = commands.add_parser("deploy", help="start a rollout in the deployed app")
        deploy.add_argument("--request", required=True, help="path to the rollout request JSON")
        deploy.add_argument("--json", action="store_true", help="machine-readable output only")
        _extend_deploy(deploy)

    status = commands.add_parser("status", help="a rollout's phase and progress in the deployed app")
    status.add_argument("id", help="the rollout's instanceId (rollout-…)")
    _waiting(status)

    listed = commands.add_parser("list", help="recent rollouts in the deployed app")
    listed.add_argument("--target", default=None,
                        help="only rollouts of this APIM (name, or subscriptionId/resourceGroup/apimName)")
    listed.add_argument("--days", type=int, default=None, help="how far back (1..90, default 7)")
    listed.add_argument("--active", action="store_true", help="only rollouts still running")

    answers = []
    for verb, help_text in (("approve", "approve the wave a rollout waits on (after reading its what-if)"),
                            ("reject", "reject the wave a rollout waits on")):
        parser = commands.add_parser(verb, help=help_text)
        parser.add_argument("id", help="the rollout's instanceId (rollout-…)")
        parser.add_argument("--comment", default="", help="why (kept with the answer, at most 500 characters)")
        parser.add_argument("--wave", type=int, default=None,
                            help="refuse unless the rollout waits on this wave (what you reviewed)")
        parser.add_argument("--digest", default=None,
                            help="refuse unless the what-if digest is this one (what you reviewed)")
        _waiting(parser)
        answers.append(parser)

    cancel = commands.add_parser("cancel", help="cancel a rollout: no new wave, in-flight deployments stopped")
    cancel.add_argument("id", help="the rollout's instanceId (rollout-…)")
    cancel.add_argument("--comment", default="", help="why")
    _waiting(cancel)

    runs: list[tuple[argparse.ArgumentParser, Callable[[argparse.Namespace], int]]] = [
        (status, _status), (listed, _list), (answers[0], lambda a: _answer(a, True)),
        (answers[1], lambda a: _answer(a, False)), (cancel, _cancel)]
    for parser, command in runs:
        parser.add_argument("--json", action="store_true", help="machine-readable output only")
        _connection(parser)
        parser.set_defaults(run=_guarded(command))
