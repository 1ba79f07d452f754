"""The `timespan` of a Log Analytics query: an ISO-8601 interval turned into the [start, end] it bounds.

Log Analytics accepts a duration ending now ("PT1H", "P1D"; azure-monitor-query sends a timedelta as
"PT3600.0S"), "start/end" and "start/duration" ("2024-05-01T10:00:00.000Z/PT15M"), and applies it on top of
the query as a filter on TimeGenerated. Both ends are inclusive here (`between(start .. end)`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?!$)(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_CALENDAR = re.compile(r"^P(?:\d+Y|\d+M|\d+Y\d+M)", re.IGNORECASE)


class TimespanError(ValueError):
    """The timespan is not an ISO-8601 interval the twin understands; the message says which form to use."""


def parse_duration(text: str) -> timedelta:
    """An ISO-8601 duration of weeks, days, hours, minutes and (fractional) seconds."""
    found = _DURATION.match(text.strip())
    if found is None:
        if _CALENDAR.match(text.strip()):
            raise TimespanError(
                f"timespan duration {text!r} uses years or months, which have no fixed length; "
                "give it in days, e.g. 'P30D'"
            )
        raise TimespanError(
            f"timespan duration {text!r} is not an ISO-8601 duration such as 'PT1H', 'P1D' or 'PT90.5S' "
            "(a time part needs the 'T': 'PT10M' is ten minutes)"
        )
    parts = {name: float(value) for name, value in found.groupdict().items() if value is not None}
    return timedelta(**parts)


def parse_instant(text: str) -> datetime:
    """An ISO-8601 date-time; without an offset it is UTC, as Kusto reads it. Returned aware, in UTC."""
    raw = text.strip()
    try:
        moment = datetime.fromisoformat(raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw)
    except ValueError:
        raise TimespanError(f"{text!r} is not an ISO-8601 date-time such as '2024-05-01T10:00:00Z'") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_timespan(text: str, now: datetime) -> tuple[datetime, datetime]:
    """The inclusive [start, end] a timespan covers, in UTC; `now` ends a bare duration."""
    if not isinstance(text, str) or not text.strip():
        raise TimespanError("timespan must be a non-empty ISO-8601 interval string, or null for no bound")
    pieces = text.strip().split("/")
    if len(pieces) == 1:
        return now - parse_duration(pieces[0]), now
    if len(pieces) != 2:
        raise TimespanError(f"timespan {text!r} has more than one '/': use 'start/end' or 'start/duration'")
    first, second = pieces
    if first.upper().startswith("P"):
        end = parse_instant(second)
        start = end - parse_duration(first)
    else:
        start = parse_instant(first)
        end = start + parse_duration(second) if second.upper().startswith("P") else parse_instant(second)
    if end < start:
        raise TimespanError(f"timespan {text!r} ends before it starts")
    return start, end
