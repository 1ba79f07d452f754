"""The README's settings tables and the code agree: every BREAKERPANEL_* variable the app or the CLI reads has a
row, and every row names a variable something reads (a renamed or dropped setting leaves no stale row)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What runs as the product: the library and CLI, the Functions app, and host.json's %SETTING% references.
CODE_ROOTS = ["breakerpanel", "activities", "orchestrators"]
CODE_FILES = ["function_app.py", "host.json"]
NAME = re.compile(r"BREAKERPANEL_[A-Z0-9_]*[A-Z0-9]")


def _read_by_code() -> set[str]:
    files = [ROOT / name for name in CODE_FILES]
    for folder in CODE_ROOTS:
        files += sorted((ROOT / folder).rglob("*.py"))
    return {name for path in files for name in NAME.findall(path.read_text(encoding="utf-8"))}


def _in_readme_tables() -> set[str]:
    """Names in the first cell of a README table row: the settings tables, not the prose around them."""
    names: set[str] = set()
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("|"):
            first_cell = line.split("|")[1]
            names |= set(NAME.findall(first_cell))
    return names


def test_the_scan_finds_the_settings_it_must() -> None:
    # Guards the scan itself: a pattern or folder list that found nothing would pass both tests below.
    assert {"BREAKERPANEL_TARGETS", "BREAKERPANEL_TASK_HUB", "BREAKERPANEL_APP_URL"} <= _read_by_code()
    assert {"BREAKERPANEL_TARGETS", "BREAKERPANEL_WATCH_SCHEDULE"} <= _in_readme_tables()


def test_every_setting_the_code_reads_has_a_readme_row() -> None:
    missing = _read_by_code() - _in_readme_tables()
    assert not missing, f"add a row for {sorted(missing)} to a settings table in README.md (name, default, meaning)"


def test_every_readme_setting_row_is_read_by_the_code() -> None:
    stale = _in_readme_tables() - _read_by_code()
    assert not stale, f"README.md lists {sorted(stale)}, which nothing reads: drop the row or read the setting"
