"""Poll schedule, retry classification (core/retry.py), and the deterministic names."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from unit_helpers import SUB

from breakerpanel.core.model import Target
from breakerpanel.core.naming import deployment_name, instance_id, new_rollout_id
from breakerpanel.core.polling import PROVISIONING_STATES, canonical_state, is_terminal, poll_delay
from breakerpanel.core.retry import classify_failure, parse_retry_after

NOW = datetime(2026, 11, 24, 22, 0, 0, tzinfo=UTC)


def test_poll_delay_doubles_and_caps():
    assert [poll_delay(i) for i in range(7)] == [5, 10, 20, 40, 60, 60, 60]


def test_retry_after_wins_but_is_capped():
    assert poll_delay(3, "2") == 2
    assert poll_delay(0, "0") == 0
    assert poll_delay(0, "86400") == 60
    assert poll_delay(0, 7.5) == 7.5


def test_retry_after_http_date():
    header = "Tue, 24 Nov 2026 22:00:30 GMT"
    assert poll_delay(0, header, now=NOW) == 30


def test_unreadable_retry_after_falls_back_to_schedule():
    assert poll_delay(1, "soon") == 10


def test_negative_attempt_is_refused():
    with pytest.raises(ValueError, match="attempt"):
        poll_delay(-1)


def test_huge_attempt_does_not_overflow():
    assert poll_delay(10_000) == 60


@pytest.mark.parametrize("state", ["Succeeded", "failed", "Canceled"])
def test_terminal_states(state):
    assert is_terminal(state)


@pytest.mark.parametrize("state", ["Accepted", "Running", "Deleting", ""])
def test_running_states(state):
    assert not is_terminal(state)


def test_every_documented_state_but_the_three_terminal_ones_is_still_running():
    # Microsoft.Resources 2025-04-01 ProvisioningState: Ready, Created, Deleted... are not ends of a deployment.
    running = [state for state in PROVISIONING_STATES if not is_terminal(state)]
    assert running == ["NotSpecified", "Accepted", "Running", "Ready", "Creating", "Created", "Deleting", "Deleted",
                       "Updating"]


@pytest.mark.parametrize(("given", "read"), [("succeeded", "Succeeded"), ("FAILED", "Failed"),
                                             ("canceled", "Canceled"), ("running", "Running"),
                                             ("Succeeded", "Succeeded"), ("SomethingNew", "SomethingNew"),
                                             (None, None)])
def test_states_are_read_case_insensitively_and_spelled_as_the_spec_does(given, read):
    assert canonical_state(given) == read


@pytest.mark.parametrize(
    ("status", "code", "transient"),
    [
        (429, "", True),
        (500, "", True),
        (502, "", True),
        (503, "", True),
        (504, "", True),
        (None, "", True),
        (400, "InvalidTemplate", False),
        (403, "AuthorizationFailed", False),
        (404, "ResourceNotFound", False),
        (409, "AnotherOperationInProgress", True),
        (400, "TooManyRequests", True),
    ],
)
def test_transient_or_permanent(status, code, transient):
    assert classify_failure(status, code, None).transient is transient


def test_retry_after_seconds_and_date():
    assert parse_retry_after("17") == 17
    assert parse_retry_after("Tue, 24 Nov 2026 22:01:00 GMT", NOW) == 60
    assert parse_retry_after(None) is None


TARGET = Target(SUB, "rg-gw", "apim-gw")
ARM_DEPLOYMENT_NAME = re.compile(r"^[-\w._()]{1,64}$", re.ASCII)


def test_deployment_name_is_deterministic_and_valid():
    name = deployment_name("20261124t220000z-1a2b3c4d", TARGET)
    assert name == deployment_name("20261124t220000z-1a2b3c4d", TARGET)
    assert ARM_DEPLOYMENT_NAME.match(name) and "apim-gw" in name


def test_deployment_names_differ_per_rollout_and_target_even_when_truncated():
    long_id = "x" * 60
    a = deployment_name(long_id + "a", TARGET)
    b = deployment_name(long_id + "b", TARGET)
    c = deployment_name(long_id + "a", Target(SUB, "rg-gw2", "apim-gw"))
    assert len({a, b, c}) == 3 and all(len(n) <= 64 and ARM_DEPLOYMENT_NAME.match(n) for n in (a, b, c))


def test_deployment_name_sanitizes_odd_rollout_ids():
    name = deployment_name("Rollout #7 / 'prod' ü", TARGET)
    assert ARM_DEPLOYMENT_NAME.match(name)


def test_deployment_name_needs_a_rollout_id():
    with pytest.raises(ValueError, match="rollout_id"):
        deployment_name(" ", TARGET)


def test_instance_id_is_stable_per_target_and_ignores_case_and_wave():
    assert instance_id(TARGET) == instance_id(Target(SUB.upper(), "RG-GW", "APIM-GW", wave=3))
    assert instance_id(TARGET) != instance_id(Target(SUB, "rg-gw2", "apim-gw"))
    assert instance_id(TARGET).startswith("rollout-apim-gw-rg-gw-")


def test_instance_id_obeys_durable_rules_for_long_names():
    target = Target(SUB, "(" + "r" * 88 + ")", "a" * 50)
    iid = instance_id(target)
    assert 1 <= len(iid) <= 100 and not iid.startswith("@") and not set(iid) & set("/\\#?")


def test_rollout_id_sorts_by_time():
    first = new_rollout_id(NOW, "e1")
    later = new_rollout_id(NOW + timedelta(seconds=1), "e0")
    assert first < later and first.startswith("20261124t220000z-")
    assert new_rollout_id(NOW, "e1") == first != new_rollout_id(NOW, "e2")
