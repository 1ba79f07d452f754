"""Durations as APIM and Event Grid write them: ISO 8601 ("PT1M") and .NET TimeSpan text ("00:00:01").

APIM parses rule durations as xsd:duration (the CircuitBreakerRule spec declares `"format": "duration"`).
xsd:duration has no weeks, and years/months have no fixed length in seconds, so those are refused with
a fix rather than approximated.
"""

from __future__ import annotations

import re
from datetime import timedelta

_ISO = re.compile(
    r"^(?P<sign>-)?P"
    r"(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$"
)
_TIMESPAN = re.compile(
    r"^(?P<sign>-)?(?:(?P<days>\d+)\.)?(?P<hours>\d{1,2}):(?P<minutes>\d{1,2}):(?P<seconds>\d{1,2}(?:\.\d+)?)$"
)


class DurationError(ValueError):
    """A duration text that cannot be read; the message says why and what to write instead."""


def parse_iso8601_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration such as PT1M, PT1H30M, P1D, PT0.5S (negative with a leading '-')."""
    if not isinstance(text, str):
        raise DurationError(f"expected an ISO 8601 duration string such as 'PT1M', got {type(text).__name__}")
    raw = text.strip()
    match = _ISO.match(raw.upper())
    if match is None or raw.upper() in ("P", "-P") or raw.upper().endswith("T"):
        raise DurationError(f"'{text}' is not an ISO 8601 duration; write it like 'PT30S', 'PT1M', 'PT1H30M' or 'P1D'")
    parts = match.groupdict()
    if parts["years"] or parts["months"]:
        raise DurationError(f"'{text}' uses years or months, which have no fixed length; use days, e.g. 'P30D'")
    if parts["weeks"]:
        raise DurationError(f"'{text}' uses weeks, which xsd:duration (used by APIM) does not accept; use 'P7D'")
    seconds = float((parts["seconds"] or "0").replace(",", "."))
    total = (
        int(parts["days"] or 0) * 86400 + int(parts["hours"] or 0) * 3600 + int(parts["minutes"] or 0) * 60
    ) + seconds
    return -total if parts["sign"] else total


def parse_timespan(text: str) -> float:
    """Seconds in .NET TimeSpan text ("[-][d.]hh:mm:ss[.fff]"), the form Event Grid's tripDuration uses."""
    if not isinstance(text, str):
        raise DurationError(f"expected a 'hh:mm:ss' duration string, got {type(text).__name__}")
    match = _TIMESPAN.match(text.strip())
    if match is None:
        raise DurationError(f"'{text}' is not a 'hh:mm:ss' duration; write it like '00:01:00' or '1.00:00:00'")
    parts = match.groupdict()
    hours, minutes, seconds = int(parts["hours"]), int(parts["minutes"]), float(parts["seconds"])
    if hours > 23 or minutes > 59 or seconds >= 60:
        raise DurationError(f"'{text}' has hours > 23, minutes > 59 or seconds >= 60")
    total = int(parts["days"] or 0) * 86400 + hours * 3600 + minutes * 60 + seconds
    return -total if parts["sign"] else total


def parse_duration(value: str | timedelta | float | int) -> float:
    """Seconds from any duration form a payload may carry: ISO 8601, TimeSpan text, a timedelta, a number.

    The azure-mgmt-apimanagement models turn `"format": "duration"` fields into timedelta, so readers of
    SDK-serialized payloads may meet either text form or a timedelta.
    """
    if isinstance(value, bool):
        raise DurationError("expected a duration, got a boolean")
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and ":" in value:
        return parse_timespan(value)
    return parse_iso8601_duration(value)



def humanize_seconds(seconds: float) -> str:
    """'90 s', '5 min', '2 h 30 min', '1 day' — for messages a person reads."""
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        minutes = seconds / 60
        return f"{minutes:g} min" if minutes == int(minutes) else f"{seconds:g} s"
    if seconds < 172800:
        hours, rest = divmod(int(seconds), 3600)
        return f"{hours} h" + (f" {rest // 60} min" if rest // 60 else "")
    return f"{seconds / 86400:g} days"
