"""Whether a failed Azure call is worth another try, and after how long.

ARM throttles with 429 and a Retry-After that must be honoured; 5xx and broken connections pass; a 4xx
other than 429 (or 409 conflicts that clear by themselves) will fail the same way again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# ARM codes that clear by themselves even when the status alone would say "permanent".
TRANSIENT_CODES = frozenset(
    {
        "TooManyRequests",
        "RetryableError",
        "ServerTimeout",
        "InternalServerError",
        "ServiceUnavailable",
        "GatewayTimeout",
        "AnotherOperationInProgress",
        "ResourceGroupBeingDeleted",
    }
)
MAX_RETRY_AFTER_SECONDS = 300


@dataclass(frozen=True)
class FailureVerdict:
    transient: bool
    retry_after_seconds: float | None  # what the server asked for, capped; None when it said nothing


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP-date (RFC 9110), capped at five minutes."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if now is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), float(MAX_RETRY_AFTER_SECONDS))


def classify_failure(
    status: int | None, code: str, retry_after: str | None, now: datetime | None = None
) -> FailureVerdict:
    """`status` None means no HTTP answer at all (connection refused, dropped): transient."""
    transient = status is None or status in TRANSIENT_STATUSES or code in TRANSIENT_CODES
    return FailureVerdict(transient, parse_retry_after(retry_after, now))


def retry_delay(attempt: int, retry_after_seconds: float | None, *, base: float = 2.0, cap: float = 60.0) -> float:
    """Seconds to wait before attempt `attempt + 1` (attempt counts from 0): Retry-After wins when given."""
    if retry_after_seconds is not None:
        return retry_after_seconds
    return min(base * (2**attempt), cap)
