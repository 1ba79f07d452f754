"""The report's pure core: open intervals from the watchdog's breaker flags, the incidents and deployments of a
window, and the CLI's window and page names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from breakerpanel.core.report_model import deployments_in_window, incidents_in_window, open_runs
from breakerpanel.core.watch.bins import Grid
from breakerpanel.report.cli import page_paths, window

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_open_bins_become_intervals_cut_at_the_end() -> None:
    grid = Grid(T0, T0 + timedelta(minutes=6), timedelta(minutes=1), T0 + timedelta(minutes=6))
    flags = [False, True, True, False, True, True]
    assert open_runs(flags, grid, T0 + timedelta(minutes=5, seconds=30)) == (
        (T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)),
        (T0 + timedelta(minutes=4), T0 + timedelta(minutes=5, seconds=30)),
    )
    assert open_runs([False] * 6, grid, grid.end) == ()


def _incident(since: str, resolved: str | None, kind: str = "BreakerStuckOpen") -> dict[str, object]:
    return {"kind": kind, "severity": "warning", "state": "resolved" if resolved else "open",
            "subjectType": "backend", "subject": "aoai-westus", "since": since, "openedAt": since,
            "resolvedAt": resolved, "runbook": "Check the backend.",
            "evidence": {"trips": 7, "rule": {"count": 3}, "long": "x" * 1000}}


def test_incidents_open_at_some_point_of_the_window_oldest_first() -> None:
    records = [
        _incident("2026-12-01T10:30:00Z", None),
        _incident("2026-12-01T10:15:00Z", "2026-12-01T10:45:00Z", "PoolDegraded"),
        _incident("2026-12-01T08:00:00Z", "2026-12-01T09:00:00Z"),  # over before the window
        _incident("2026-12-01T12:00:00Z", None),  # after it
    ]
    found = incidents_in_window(records, T0, T0 + timedelta(hours=1))
    assert [(i.kind, i.state) for i in found] == [("PoolDegraded", "resolved"), ("BreakerStuckOpen", "open")]
    evidence = dict(found[0].evidence)
    assert evidence["trips"] == "7" and evidence["rule"] == '{"count": 3}'
    assert len(evidence["long"]) == 240 and evidence["long"].endswith("…")
    assert found[0].subject == "backend aoai-westus" and found[0].runbook == "Check the backend."


def test_deployments_in_the_window_with_their_diagnosis_and_who_made_them() -> None:
    def deployment(name: str, state: str, minute: int) -> dict[str, object]:
        return {"name": name, "properties": {"provisioningState": state, "duration": "PT12S",
                                             "timestamp": (T0 + timedelta(minutes=minute)).isoformat()}}

    operation = {"operationId": "op1", "properties": {
        "provisioningState": "Failed", "statusCode": "BadRequest", "trackingId": "trk-1",
        "targetResource": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/a/"
                                 "backends/aoai-pool", "resourceType": "Microsoft.ApiManagement/service/backends",
                           "resourceName": "a/aoai-pool"},
        "statusMessage": {"error": {"code": "ValidationError", "message": "Backend Entity 'aoai-x' not found."}}}}
    ours = deployment("bp-r1-apim-1234abcd", "Failed", 10)
    ours["properties"]["error"] = {  # type: ignore[index]
        "code": "DeploymentFailed", "message": "At least one resource deployment operation failed.",
        "details": [{"code": "Conflict", "message": "Another operation is in progress on the service."}]}
    found = deployments_in_window(
        [deployment("bp-r1-apim-1234abcd-rb", "Succeeded", 20), deployment("hotfix", "Failed", 12),
         ours, deployment("old", "Succeeded", -90)],
        {"hotfix": [operation]}, T0, T0 + timedelta(hours=1))
    assert [(d.name, d.made_by) for d in found] == [
        ("bp-r1-apim-1234abcd", "breakerpanel rollout"), ("hotfix", "someone else"),
        ("bp-r1-apim-1234abcd-rb", "breakerpanel rollback")]
    (failed,) = found[1].failed
    assert failed.code == "ValidationError" and "aoai-x" in failed.message and failed.tracking_id == "trk-1"
    assert failed.cause and failed.fix and failed.resource == "a/aoai-pool"
    # A failed deployment without operations is still explained from its own error.
    assert [op.code for op in found[0].failed] == ["Conflict"] and not found[2].failed


def test_the_window_defaults_to_the_last_day_and_names_the_option_to_fix() -> None:
    now = T0 + timedelta(days=3)
    assert window(None, None, now) == (now - timedelta(hours=24), now)
    assert window(T0, None, T0 + timedelta(hours=2)) == (T0, T0 + timedelta(hours=2))
    with pytest.raises(ValueError, match=r"--from .* is not before --to.*Fix"):
        window(T0, T0, now)
    with pytest.raises(ValueError, match=r"more than 7 days.*Fix"):
        window(T0 - timedelta(days=8), T0, now)


def test_one_page_per_target() -> None:
    assert page_paths(Path("out/r.html"), ["apim-a"]) == [Path("out/r.html")]
    assert page_paths(Path("out/r.html"), ["apim-a", "apim/b"]) == [Path("out/r-apim-a.html"),
                                                                     Path("out/r-apim-b.html")]
