"""Integers as Azure payloads carry them (APIM, ARM and Log Analytics disagree on how)."""

from __future__ import annotations


def whole_number(value: object) -> int | None:
    """An integer as Azure payloads carry it: an int, an integral float, or digits in a string (APIM's
    docs write counts as "3"; Log Analytics sends longs as text). None for anything else, booleans included."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None
