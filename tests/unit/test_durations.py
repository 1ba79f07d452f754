"""Durations as APIM (ISO 8601) and Event Grid (hh:mm:ss) write them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from unit_helpers import load

from breakerpanel.core.durations import (
    DurationError,
    parse_duration,
    parse_iso8601_duration,
    parse_timespan,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT1M", 60),
        ("PT1H30M", 5400),
        ("P1D", 86400),
        ("PT0.5S", 0.5),
        ("PT0,5S", 0.5),
        ("P1DT2H3M4S", 93784),
        ("pt10s", 10),
        ("PT1H", 3600),
        ("-PT1M", -60),
        ("PT0S", 0),
    ],
)
def test_iso8601(text, seconds):
    assert parse_iso8601_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("P", "not an ISO 8601 duration"),
        ("PT", "not an ISO 8601 duration"),
        ("1M", "not an ISO 8601 duration"),
        ("PT1.5M", "not an ISO 8601 duration"),
        ("60", "not an ISO 8601 duration"),
        ("P1Y", "'P30D'"),
        ("P1M", "years or months"),
        ("P1W", "'P7D'"),
        ("", "not an ISO 8601 duration"),
    ],
)
def test_iso8601_errors_say_what_to_write(text, hint):
    with pytest.raises(DurationError, match=hint.replace("(", r"\(")):
        parse_iso8601_duration(text)


def test_event_grid_trip_duration_from_the_published_event():
    event = load("eventgrid_apim_CircuitBreakerOpened_eventgrid-schema.json")
    trip = event["data"]["circuitBreaker"]["rules"]["{rule-name}"]["tripDuration"]
    assert parse_timespan(trip) == 1


@pytest.mark.parametrize(
    ("text", "seconds"), [("00:01:00", 60), ("1.00:00:00", 86400), ("00:00:00.5", 0.5), ("-00:00:30", -30)]
)
def test_timespan(text, seconds):
    assert parse_timespan(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["00:60:00", "24:00:00", "1:2", "PT1M"])
def test_timespan_errors(text):
    with pytest.raises(DurationError):
        parse_timespan(text)


@pytest.mark.parametrize(("value", "seconds"), [("PT1M", 60), ("00:01:00", 60), (timedelta(minutes=1), 60), (60, 60)])
def test_any_form(value, seconds):
    assert parse_duration(value) == seconds

