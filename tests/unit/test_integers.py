"""whole_number: the one reading of an integer from an Azure payload (APIM, ARM and Log Analytics cells)."""

from __future__ import annotations

import pytest

from breakerpanel.core.integers import whole_number


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3),
        (3.0, 3),
        (" 42 ", 42),  # Log Analytics sends long columns as text
        ("-1", -1),
        (3.5, None),
        ("3.5", None),
        ("", None),
        (True, None),  # a bool is an int in Python, never a count in a payload
        (None, None),
        ([3], None),
    ],
)
def test_whole_number(value: object, expected: int | None) -> None:
    assert whole_number(value) == expected
