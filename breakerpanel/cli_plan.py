"""`breakerpanel plan --request FILE`: ARM validate and what-if for every target, nothing deployed.

The rollout's own preflight orchestration (`target_preflight`: the validate and what-if activities with their
retries) runs through the local Durable runner, and the report applies the rollout's own approval rule
(core/plan_report.py). Exit code: 0 nothing destructive, 1 approval would be needed, 2 bad input (the request,
a setting, or ARM refusing the template's parameters), 3 the preflight could not complete (Azure unreachable,
a credential or a role missing).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from breakerpanel.cli_request import CheckedRequest, load_request
from breakerpanel.console import console_for, print_json
from breakerpanel.core import plan_report as report_
from breakerpanel.core import rollout_flow as flow

_CHANGE_STYLE = {"Create": "green", "Delete": "red", "Modify": "yellow"}
_MEMBER_SIGN = {"Create": "+", "Delete": "-", "Modify": "~"}


def preflight(app: Any, checked: CheckedRequest, now: datetime) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The rollout's plan (deployment names, parameters) and each target's preflight result, by target key."""
    from activities.policy import current_policy
    from breakerpanel.core.naming import new_rollout_id
    from breakerpanel.core.rollout_api import instance_id_for, orchestration_input
    from breakerpanel.localrun import LocalDurableHost
    from breakerpanel.rollout_local import runs_on_twin

    request = checked.check.request
    assert request is not None, "preflight needs a request without errors"
    policy = current_policy()
    rollout_id = new_rollout_id(now, uuid.uuid4().hex)
    operator = {"objectId": "", "upn": "", "name": "cli plan", "via": "local"}
    spec = orchestration_input(rollout_id, request, checked.allowed, checked.settings, operator, now,
                               policy=policy, instance_id=instance_id_for(request))
    plan = spec["plan"]
    # The rollout's own rule: against Azure a retry's Retry-After is waited on the wall clock.
    real_time = not runs_on_twin(checked.settings)
    host = LocalDurableHost(app, start_time=None if real_time else now.replace(microsecond=0), real_time=real_time)
    results: dict[str, dict[str, Any]] = {}
    for wave in plan["waves"]:
        for job in wave["preflight"]:
            instance_id = host.start("target_preflight", job, instance_id=job["instanceId"])
            status = host.run_until_idle(instance_id) or {}
            output = status.get("output")
            if status.get("runtimeStatus") == "Completed" and isinstance(output, dict):
                results[job["key"]] = output
            else:
                results[job["key"]] = flow.child_failed(job, "preflight", str(output or status.get("runtimeStatus")))
    return plan, results


def _detail(change: dict[str, Any]) -> Text:
    text = Text()
    for member in change.get("members") or []:
        sign = _MEMBER_SIGN.get(member["change"], "?")
        text.append(f"{sign}{member['backend']} ", style=_CHANGE_STYLE.get(member["change"], ""))
    properties = change.get("properties") or []
    if properties and not change.get("members"):
        more = f" +{len(properties) - 4} more" if len(properties) > 4 else ""
        text.append(", ".join(properties[:4]) + more)
    return text


def render(report: dict[str, Any], request_path: str, arm_endpoint: str, clock: str, out: Any) -> None:
    console = console_for(out)
    console.print(Text(f"plan for {request_path} (nothing is deployed)", style="bold"))
    console.print(Text(f"ARM: {arm_endpoint} (BREAKERPANEL_ARM_ENDPOINT); {clock}", style="dim"))
    for wave in report["waves"]:
        for target in wave["targets"]:
            t = target["target"]
            console.print()
            console.print(Text(f"wave {wave['wave']}: {t['apimName']} (resource group {t['resourceGroup']}, "
                               f"subscription {t['subscriptionId']}) as {target['deploymentName']}", style="bold"))
            failure = target.get("failure")
            if failure:
                status = f" (HTTP {failure['httpStatus']})" if failure.get("httpStatus") else ""
                console.print(Text(f"  {failure['stage']} failed: {failure['code']}{status}: {failure['message']}",
                                   style="red"))
                for problem in failure.get("problems") or []:
                    console.print(Text(f"  {problem['field']}: {problem['problem']}", style="red"))
                    console.print(Text(f"    fix: {problem['fix']}"))
                if failure.get("fix"):
                    console.print(Text(f"  fix: {failure['fix']}"))
                continue
            for warning in target.get("warnings") or []:
                console.print(Text(f"  warning: {warning['field']}: {warning['problem']} — fix: {warning['fix']}",
                                   style="yellow"))
            counts = target.get("counts") or {}
            head = ", ".join(f"{counts[k]} {w}" for k, w in (("Create", "created"), ("Modify", "modified"),
                                                              ("Delete", "deleted"), ("NoChange", "unchanged"))
                             if counts.get(k)) or "no changes"
            console.print(f"  what-if: {head}")
            if target["changes"]:
                table = Table(show_edge=False, pad_edge=False, box=None)
                for column in ("change", "kind", "name", "pool members / properties"):
                    table.add_column(column)
                for change in target["changes"]:
                    table.add_row(Text(change["change"], style=_CHANGE_STYLE.get(change["change"], "")),
                                  change["kind"], change["name"], _detail(change))
                console.print(table)
        if any(target.get("failure") for target in wave["targets"]):
            console.print(Text(f"wave {wave['wave']}: the preflight did not complete, so nothing is planned",
                               style="red"))
            continue
        verdict = "approval needed" if wave["approvalNeeded"] else "no approval needed"
        reason = f": {wave['reason']}" if wave["reason"] else ""
        console.print(Text(f"wave {wave['wave']}: {verdict}{reason}",
                           style="yellow" if wave["approvalNeeded"] else "green"))
    code = report["exitCode"]
    console.print()
    console.print({report_.NOTHING_DESTRUCTIVE: "nothing destructive: deploy would not stop for approval",
                   report_.APPROVAL_NEEDED: f"deploy would wait for approval (approval: {report['approval']})",
                   report_.BAD_INPUT: "the target or the request must be fixed before deploying",
                   report_.NOT_PLANNED: "the preflight could not complete: nothing can be said about the changes",
                   }[code], markup=False)


def run(args: argparse.Namespace) -> int:
    import function_app
    from breakerpanel.rollout_local import clock_for

    checked = load_request(args.request, sys.stderr)
    if checked is None:
        return report_.BAD_INPUT
    plan, results = preflight(function_app.app, checked, datetime.now(UTC))
    request = checked.check.request.to_dict() if checked.check.request is not None else {}
    report = report_.plan_report(plan, results, datetime.now(UTC), request)
    if args.json:
        print_json({"request": str(checked.path), "armEndpoint": checked.settings.arm_endpoint, **report},
                   sys.stdout)
    else:
        render(report, str(checked.path), checked.settings.arm_endpoint, clock_for(checked.settings), sys.stdout)
    return int(report["exitCode"])


def add_parser(commands: Any) -> None:
    plan = commands.add_parser("plan", help="validate + what-if only: what a deploy would change, nothing deployed",
                               description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    plan.add_argument("--request", required=True, help="path to the rollout request JSON")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.set_defaults(run=run)
