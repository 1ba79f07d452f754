"""The README's polling table is bench/bench_rollout_polling.py's own output: its header, its cases, its rows.

The bench rewrites the block between its markers; this catches a table edited by hand or left behind when the
bench's columns or cases change.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_rollout_polling", ROOT / "bench" / "bench_rollout_polling.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Its dataclasses look their module up in sys.modules while the class is built.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _table(bench: ModuleType) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert bench.BEGIN in text and bench.END in text, "README.md lost the polling bench's markers"
    block = text.split(bench.BEGIN, 1)[1].split(bench.END, 1)[0].strip()
    assert block.startswith("```") and block.endswith("```"), block
    return block.strip("`").strip("\n").splitlines()


def test_the_readme_table_has_the_benchs_header_and_one_row_per_default_case() -> None:
    bench = _bench()
    lines = _table(bench)

    assert lines[0] == bench._line(bench.COLUMNS)
    expected = [case.label for case in bench.cases(list(bench.DEFAULT_POLLS), True)]
    assert [line[: bench.WIDTHS[0]].rstrip() for line in lines[1:]] == expected
    assert any(label.startswith("deadline PT2H") for label in expected)


def test_every_row_reads_back_as_the_bench_formats_it() -> None:
    bench = _bench()
    number = r"[\d,]+(?:\.\d+)?"
    shape = re.compile(rf"^.{{{bench.WIDTHS[0]}}}(?: +{number}){{8}} +\d+:\d\d:\d\d (succeeded|failed)")
    for line in _table(bench)[1:]:
        assert shape.match(line), line
    deadline = _table(bench)[1]
    # Two hours of the orchestration's own time, ended by the deadline: the case the default setting gives.
    assert " 2:00:" in deadline and "DeploymentTimedOut" in deadline
