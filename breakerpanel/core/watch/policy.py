"""How the watchdog judges: thresholds and windows, with the defaults the README documents."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WatchPolicy:
    # How far back each run reads gateway logs. It must cover the longest threshold plus the recovery period,
    # so that an outage's onset is still in view when it becomes an incident.
    lookback_seconds: float = 3600.0
    # Log Analytics ingestion lags 30 s to several minutes: within this many seconds of "now", a bin without
    # rows is "not yet known", never "no traffic".
    ingestion_lag_seconds: float = 300.0
    # BreakerStuckOpen: open (or re-tripping with no successful interval) for longer than
    # max(stuck_trip_multiple × tripDuration, stuck_min_seconds); stuck_seconds, when set, overrides both.
    stuck_trip_multiple: float = 3.0
    stuck_min_seconds: float = 300.0
    stuck_seconds: float | None = None
    # PoolExhausted: every member open, or gateway-answered 503s with no backend call, for at least this long.
    exhausted_seconds: float = 120.0
    # BreakerBlindSpot: failures the rule does not count, for at least this long and this share of requests.
    blind_spot_seconds: float = 300.0
    blind_spot_ratio: float = 0.5
    blind_spot_min_requests: int = 5
    # An open incident resolves only after this long with successful traffic and the condition gone.
    recovery_seconds: float = 300.0
    # acceptRetryAfter keeps a breaker open for the backend's Retry-After; Azure OpenAI can send hours.
    # Inference caps it here (the breaker is re-judged from the logs after that anyway).
    max_retry_after_seconds: float = 3600.0
    # Deployments: re-read this much before the last run's watermark, so nothing falls between two runs.
    deployment_overlap_seconds: float = 900.0
    # Deployments: how far back the first run (no watermark yet) looks.
    deployment_first_lookback_seconds: float = 86400.0

    def lookback_for(self, trip_seconds: list[float]) -> float:
        """The lookback a target's rules need: a breaker with a long trip (PT1H → stuck after 3 h) must have its
        onset in view when it becomes stuck and its recovery after. Capped at a day."""
        longest = max((self.stuck_after(t) for t in trip_seconds), default=self.stuck_after(None))
        needed = longest + self.recovery_seconds + self.ingestion_lag_seconds + 600.0
        return min(max(self.lookback_seconds, needed), 86400.0)

    def stuck_after(self, trip_seconds: float | None) -> float:
        if self.stuck_seconds is not None:
            return self.stuck_seconds
        return max(self.stuck_trip_multiple * (trip_seconds or 0.0), self.stuck_min_seconds)
