"""Instants as Azure payloads write them, read and written in one place.

Log Analytics and Event Grid write 7 fractional digits, ARM 6 or none, some writers a naive time meaning UTC;
the SDKs sometimes hand over a datetime already. Everything comes back as an aware UTC datetime.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_EXTRA_DIGITS = re.compile(r"(\.\d{6})\d+")


def parse_instant(value: object) -> datetime | None:
    """An aware UTC datetime from a datetime or ISO 8601 text; None for anything else (empty, null, garbage)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        raw = value.strip()
        if raw[-1:] in ("Z", "z"):
            raw = raw[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(_EXTRA_DIGITS.sub(r"\1", raw))
        except ValueError:
            return None
    else:
        return None
    # astimezone also swaps the SDK's isodate UTC object for datetime's own, so equality and repr are plain.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_instant(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, as the watchdog writes every instant it reports or stores."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
