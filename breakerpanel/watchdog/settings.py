"""The watchdog's settings, read from the environment; a wrong value names the variable and the fix.

    BREAKERPANEL_WATCH_SCHEDULE         NCRONTAB of the timer trigger (default every 5 minutes)
    BREAKERPANEL_WATCH_LOOKBACK         gateway logs read per run (default PT1H)
    BREAKERPANEL_WATCH_INGESTION_LAG    newest span treated as incomplete (default PT3M)
    BREAKERPANEL_WATCH_STUCK_AFTER      BreakerStuckOpen threshold; default max(3 × tripDuration, 5 min)
    BREAKERPANEL_WATCH_EXHAUSTED_AFTER  PoolExhausted threshold (default PT2M)
    BREAKERPANEL_WATCH_BLIND_SPOT_AFTER BreakerBlindSpot threshold (default PT5M)
    BREAKERPANEL_WATCH_RECOVERY         healthy time before an incident resolves (default PT5M)
    BREAKERPANEL_WATCH_MAX_RETRY_AFTER  cap on a Retry-After-long trip in inference (default PT1H)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from breakerpanel.core.durations import DurationError, parse_duration
from breakerpanel.core.watch.policy import WatchPolicy
from breakerpanel.settings import SettingsError

DEFAULT_SCHEDULE = "0 */5 * * * *"
_NCRONTAB_FIELD = re.compile(r"^[0-9*/,\-A-Za-z]+$")


@dataclass(frozen=True)
class WatchSettings:
    schedule: str
    policy: WatchPolicy


def _seconds(env: Mapping[str, str], variable: str, default: float | None, low: float, high: float) -> float | None:
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    try:
        seconds = parse_duration(raw)
    except DurationError:
        raise SettingsError(variable, f"{raw!r} is not a duration", "use ISO 8601 such as PT5M or PT1H") from None
    if not low <= seconds <= high:
        raise SettingsError(variable, f"{raw} is out of range", f"use a duration between {low:g} s and {high:g} s")
    return seconds


def _schedule(env: Mapping[str, str]) -> str:
    raw = env.get("BREAKERPANEL_WATCH_SCHEDULE", "").strip() or DEFAULT_SCHEDULE
    fields = raw.split()
    if len(fields) != 6 or not all(_NCRONTAB_FIELD.match(f) for f in fields):
        raise SettingsError(
            "BREAKERPANEL_WATCH_SCHEDULE", f"{raw!r} is not a six-field NCRONTAB expression",
            "write '{second} {minute} {hour} {day} {month} {day-of-week}', e.g. '0 */5 * * * *' for every 5 minutes",
        )
    return raw


def load_watch_settings(env: Mapping[str, str] | None = None) -> WatchSettings:
    env = os.environ if env is None else env
    lookback = _seconds(env, "BREAKERPANEL_WATCH_LOOKBACK", 3600.0, 900.0, 86400.0)
    lag = _seconds(env, "BREAKERPANEL_WATCH_INGESTION_LAG", 180.0, 0.0, 1800.0)
    stuck = _seconds(env, "BREAKERPANEL_WATCH_STUCK_AFTER", None, 60.0, 86400.0)
    exhausted = _seconds(env, "BREAKERPANEL_WATCH_EXHAUSTED_AFTER", 120.0, 0.0, 86400.0)
    blind = _seconds(env, "BREAKERPANEL_WATCH_BLIND_SPOT_AFTER", 300.0, 60.0, 86400.0)
    recovery = _seconds(env, "BREAKERPANEL_WATCH_RECOVERY", 300.0, 60.0, 86400.0)
    retry_cap = _seconds(env, "BREAKERPANEL_WATCH_MAX_RETRY_AFTER", 3600.0, 60.0, 86400.0)
    assert lookback is not None and lag is not None and exhausted is not None and blind is not None
    assert recovery is not None and retry_cap is not None
    longest = max(stuck or 300.0, blind, exhausted) + recovery
    if lookback < longest:
        raise SettingsError(
            "BREAKERPANEL_WATCH_LOOKBACK", f"{lookback:g} s cannot show an outage as long as the thresholds need",
            f"make it at least {longest:g} s (the longest threshold plus the recovery period)",
        )
    policy = WatchPolicy(
        lookback_seconds=lookback, ingestion_lag_seconds=lag, stuck_seconds=stuck, exhausted_seconds=exhausted,
        blind_spot_seconds=blind, recovery_seconds=recovery, max_retry_after_seconds=retry_cap,
    )
    return WatchSettings(_schedule(env), policy)
