"""A long durable wait is a chain of short timers (breakerpanel.core.waiting.next_timer_at)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from breakerpanel.core.waiting import MAX_TIMER, next_timer_at

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def test_a_wait_within_the_limit_is_one_timer_at_its_deadline() -> None:
    assert next_timer_at(T0, T0 + timedelta(hours=1)) == T0 + timedelta(hours=1)


def test_a_seven_day_wait_is_three_timers_none_past_the_six_day_limit() -> None:
    deadline, now, fired = T0 + timedelta(days=7), T0, []
    while (at := next_timer_at(now, deadline)) is not None:
        assert at - now <= MAX_TIMER <= timedelta(days=6)
        fired.append(at)
        now = at
    assert fired == [T0 + timedelta(days=3), T0 + timedelta(days=6), deadline]


def test_no_timer_once_the_deadline_has_come() -> None:
    assert next_timer_at(T0, T0) is None
    assert next_timer_at(T0 + timedelta(seconds=1), T0) is None
