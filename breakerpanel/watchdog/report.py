"""One run's results across targets: the `watch --json` object, its text form, and the health exit code."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from breakerpanel.core.instants import format_instant
from breakerpanel.core.watch.run import EXIT_CODES, worst


def combine(results: Sequence[dict[str, Any]], at: datetime) -> dict[str, Any]:
    """{"at", "status", "targets": [{target, status, ...}], "incidents": [...]} — incidents opened, ongoing
    (still open) and resolved in this run; a resolved one appears once, in the run that resolved it."""
    incidents: list[dict[str, Any]] = []
    targets = []
    for result in results:
        changed = {i.get("key"): i for i in result.get("incidents", [])}
        for item in result.get("open", []):
            changed.setdefault(item.get("key"), {**item, "state": "ongoing"})
        incidents += changed.values()
        targets.append({
            "target": result["target"]["apimName"],
            "subscriptionId": result["target"]["subscriptionId"],
            "resourceGroup": result["target"]["resourceGroup"],
            "status": result["status"],
            "sources": result.get("sources", {}),
            "problems": result.get("problems", []),
            "breakers": result.get("breakers", []),
        })
    order = {"opened": 0, "ongoing": 1, "resolved": 2}
    incidents.sort(key=lambda i: (order.get(str(i.get("state")), 3), str(i.get("target")), str(i.get("kind"))))
    return {
        "at": format_instant(at),
        "status": worst([t["status"] for t in targets]),
        "targets": targets,
        "incidents": incidents,
    }


def exit_code(report: dict[str, Any]) -> int:
    """0 ok, 1 warning, 2 critical, 3 unknown — for cron, CI and probes."""
    return EXIT_CODES[report["status"]]


def _subject(incident: dict[str, Any]) -> str:
    for kind in ("backend", "pool", "deployment"):
        if incident.get(kind):
            return f"{kind} {incident[kind]}"
    return ""


def render(report: dict[str, Any]) -> list[str]:
    lines = [f"watchdog at {report['at']}: {report['status'].upper()}"]
    for target in report["targets"]:
        lines.append(f"  {target['target']} ({target['resourceGroup']}): {target['status']}")
        for found in target.get("problems", []):
            lines.append(f"    could not read {found.get('source')}: {found.get('code')} — {found.get('message')}")
        opened = [b["backend"] for b in target.get("breakers", []) if b.get("state") == "open"]
        if opened:
            lines.append(f"    breakers open now: {', '.join(opened)}")
    if not report["incidents"]:
        lines.append("  no incidents")
    for incident in report["incidents"]:
        lines.append(
            f"  [{incident['state']}] {incident['severity']} {incident['kind']} — {incident['target']}, "
            f"{_subject(incident)}, since {incident.get('since')}"
        )
        if incident["state"] == "opened" and incident.get("runbook"):
            lines.append(f"      runbook: {incident['runbook']}")
    return lines
