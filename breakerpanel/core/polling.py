"""How often to look at a running deployment: a doubling schedule, capped, with Retry-After honoured.

ARM's LRO answers carry Retry-After; when present it wins (capped, so a bad header cannot stall a
rollout for hours). Whether a failed call is worth retrying is in retry.py (`classify_failure`).
"""

from __future__ import annotations

from datetime import datetime

from breakerpanel.core.retry import parse_retry_after

FIRST_POLL_SECONDS = 5.0
MAX_POLL_SECONDS = 60.0
TERMINAL_STATES = frozenset({"succeeded", "failed", "canceled"})
# Microsoft.Resources deployments' ProvisioningState (2025-04-01 spec; the SDK's 2026-06-01 enum is the same).
# Only the three above are terminal; every other one (Accepted, Running, Ready, Creating, Created, Updating,
# Deleting, Deleted, NotSpecified, or a value added later) means ARM is still at it.
PROVISIONING_STATES = ("NotSpecified", "Accepted", "Running", "Ready", "Creating", "Created", "Deleting", "Deleted",
                       "Canceled", "Failed", "Succeeded", "Updating")
_CANONICAL = {state.lower(): state for state in PROVISIONING_STATES}


def poll_delay(
    attempt: int,
    retry_after: str | float | None = None,
    *,
    now: datetime | None = None,
    first: float = FIRST_POLL_SECONDS,
    cap: float = MAX_POLL_SECONDS,
) -> float:
    """Seconds before poll number `attempt + 1` (attempt counts from 0): 5, 10, 20, 40, 60, 60…

    `retry_after` is the header text (seconds or an HTTP-date; `now` is needed for a date) or a number.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be 0 or more, got {attempt}")
    asked = float(retry_after) if isinstance(retry_after, int | float) else parse_retry_after(retry_after, now)
    if asked is not None:
        return min(max(asked, 0.0), cap)
    return min(first * (2 ** min(attempt, 32)), cap)




def is_terminal(provisioning_state: str) -> bool:
    return provisioning_state.lower() in TERMINAL_STATES


def canonical_state(value: object) -> object:
    """A provisioningState as the spec spells it ('succeeded' -> 'Succeeded'); anything else unchanged.

    The SDK's enums are CaseInsensitiveEnumMeta and azure-core's LRO polling lower-cases the status before
    comparing: a state is a case-insensitive word. Read once here, so every later `== "Succeeded"` holds.
    """
    return _CANONICAL.get(value.lower(), value) if isinstance(value, str) else value
