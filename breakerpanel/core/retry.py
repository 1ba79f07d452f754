"""Whether a failed Azure call is worth another try, and after how long — and what to do when it is not.

ARM throttles with 429 and a Retry-After that must be honoured; 5xx and broken connections pass; an answer
that could not be read (an empty or HTML 200, JSON cut short) passes too, since only another read can tell
what happened; a 4xx other than 429 (or 409 conflicts that clear by themselves) will fail the same way again.
Authentication and authorization failures never clear by waiting: they are permanent and say what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from breakerpanel.core.grants import grant_fix

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
        "UnreadableResponse",
    }
)
AUTH_STATUSES = frozenset({401, 403})
AUTH_CODES = frozenset({"AuthenticationFailed", "InvalidAuthenticationToken", "InvalidAuthenticationTokenTenant",
                        "ExpiredAuthenticationToken", "AuthorizationFailed", "LinkedAuthorizationFailed",
                        "CredentialUnavailable"})
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
    status: int | None, code: str, retry_after: str | None, now: datetime | None = None, *, kind: str | None = None
) -> FailureVerdict:
    """`status` None means no HTTP answer at all (connection refused, dropped): transient.

    `kind`: "credential" (no token could be had) and "bug" (the activity itself failed) are permanent;
    "unreadable" (an answer that is not what the API documents) is transient.
    """
    if kind in ("credential", "bug") or status in AUTH_STATUSES or code in AUTH_CODES:
        return FailureVerdict(False, None)
    if kind == "unreadable":
        return FailureVerdict(True, parse_retry_after(retry_after, now))
    transient = status is None or status in TRANSIENT_STATUSES or code in TRANSIENT_CODES
    return FailureVerdict(transient, parse_retry_after(retry_after, now))


def failure_fix(status: int | None, code: str, *, kind: str | None = None, message: str = "") -> str | None:
    """What a person does about a failure that waiting will not clear (None: nothing specific to say).
    `message` is Azure's: a 403's names the operation refused, and so the role to grant."""
    if kind == "credential" or code == "CredentialUnavailable":
        return ("the app could not get a token for Azure: in Azure set AZURE_CLIENT_ID to the client id of the "
                "function app's user-assigned managed identity (and check the identity is still assigned to the "
                "app); locally sign in with `az login`")
    if status == 401 or code in ("AuthenticationFailed", "InvalidAuthenticationToken",
                                 "InvalidAuthenticationTokenTenant", "ExpiredAuthenticationToken"):
        return ("Azure refused the app's token (401): check that AZURE_CLIENT_ID names the managed identity "
                "assigned to the app and that it belongs to the target subscription's tenant")
    if status == 403 or code in ("AuthorizationFailed", "LinkedAuthorizationFailed", "InsufficientAccessError"):
        return grant_fix(code, message)
    if kind == "bug":
        return "a fault in breakerpanel itself: report it with this message; the Azure call may not have been made"
    return None


def retry_delay(attempt: int, retry_after_seconds: float | None, *, base: float = 2.0, cap: float = 60.0) -> float:
    """Seconds to wait before attempt `attempt + 1` (attempt counts from 0): Retry-After wins when given."""
    if retry_after_seconds is not None:
        return retry_after_seconds
    return min(base * (2**attempt), cap)
