"""`python -m breakerpanel report` over scenarios the watchdog replayed on the twin: one self-contained page
per target, read with the watchdog's own readers and core."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import Any

import pytest

from tests.report.conftest import write_report

pytestmark = pytest.mark.twin
MEMBERS = ("aoai-eastus", "aoai-westus", "aoai-swedencentral")


@pytest.fixture(scope="module")
def region_down(twin_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return write_report(twin_server, "region-down", tmp_path_factory.mktemp("region-down"))


def test_the_page_has_every_backend_with_its_figure_and_the_incident(region_down: Any) -> None:
    assert region_down.code == 0, region_down.stderr
    page = region_down.page
    assert page.is_absolute() and page.name == "report.html" and page.is_file()
    html = region_down.html
    for member in MEMBERS:
        section = html.split(f'id="backend-{member}"', 1)[1].split("</section>", 1)[0]
        assert "<svg" in section and escape("rule 'openai-breaker'") in section, member
    # The stuck backend's breaker: open for the scenario's 25 minutes (10:15 → 10:40), as the watchdog saw it.
    westus = html.split('id="backend-aoai-westus"', 1)[1].split("</section>", 1)[0]
    assert "2026-12-01T10:15:00Z → 2026-12-01T10:40:00Z" in westus and "Breaker open 25 min" in westus
    eastus = html.split('id="backend-aoai-eastus"', 1)[1].split("</section>", 1)[0]
    assert "Breaker open 0 min" in eastus
    (_, incident), = region_down.replay.changes("opened")
    assert "BreakerStuckOpen — backend aoai-westus" in html and escape(incident["runbook"]) in html
    assert f"opened {incident['openedAt']}" in html and "resolved 2026-12-01T10:45:00Z" in html


def test_nothing_on_the_page_loads_from_anywhere(region_down: Any) -> None:
    html = region_down.html
    assert "<script" not in html and "<link" not in html and "@import" not in html and "<img" not in html
    # Only XML namespace names carry a URL; no attribute points at one.
    references = re.findall(r'(?:src|href|xlink:href)\s*=\s*"([^"#][^"]*)"', html)
    assert references == [], references
    assert not re.search(r"url\((?!#)", html)
    assert "default-src 'none'" in html


def test_it_reads_what_a_watchdog_pass_reads_one_query_and_writes_nothing(region_down: Any) -> None:
    routes = [c["route"] for c in region_down.captured]
    assert routes.count("logs.query") == 1
    assert not [r for r in routes if r.endswith((".put", ".delete", ".cancel"))]
    assert "apim.backends.list" in routes and "arm.deployments.list" in routes


def test_a_failed_deployment_shows_with_its_cause_and_fix(twin_server: Any, tmp_path: Path) -> None:
    written = write_report(twin_server, "failed-deployment", tmp_path, "--out", str(tmp_path / "out" / "r.html"))
    assert written.code == 0, written.stderr
    assert written.page == (tmp_path / "out" / "r.html").resolve()
    html = written.html
    table = html.split("<h2>Deployments and rollouts</h2>", 1)[1]
    assert "hotfix-add-northeurope" in table and "someone else" in table and "Failed" in table
    assert "Backend Entity" in table and "cause:" in table and "fix:" in table
    assert "ProvisioningFailed — deployment hotfix-add-northeurope" in html


def test_a_bad_window_names_the_option(twin_server: Any, tmp_path: Path) -> None:
    from breakerpanel.cli import main

    assert main(["report", "--from", "2026-12-01T11:00:00Z", "--to", "2026-12-01T10:00:00Z"]) == 4
    with pytest.raises(SystemExit):
        main(["report", "--from", "yesterday"])
