"""A clone of the repository alone runs the tests: nothing under tests/ reads ../shared (the fixtures the
tests use are copied into tests/unit/data with their sources)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_test_reads_outside_the_repository() -> None:
    pattern = re.compile(r"""\.parent\s*/\s*["']shared["']|\.\./shared/fixtures/[\w.-]+\.json["']""")
    offenders = [
        str(path.relative_to(ROOT)) for path in (ROOT / "tests").rglob("*.py") if pattern.search(path.read_text())
    ]
    assert offenders == []


def test_the_copied_payloads_have_their_sources_listed() -> None:
    data = ROOT / "tests" / "unit" / "data"
    readme = (data / "README.md").read_text()
    assert [p.name for p in sorted(data.glob("*.json")) if p.name not in readme] == []
