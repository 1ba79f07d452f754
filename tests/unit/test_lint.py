"""Preflight lint: what APIM would reject, and what it accepts but will hurt, each with field and fix."""

from __future__ import annotations

from dataclasses import replace

import pytest
from unit_helpers import ALLOWED, VALID_BODY

from breakerpanel.core.lint import lint_rollout_request
from breakerpanel.core.model import BackendSpec, Problem, RolloutRequest, StatusCodeRange
from breakerpanel.core.request import parse_rollout_request


def base() -> RolloutRequest:
    request = parse_rollout_request(VALID_BODY, ALLOWED)
    assert isinstance(request, RolloutRequest)
    return request


def with_rule(**changes: object) -> RolloutRequest:
    request = base()
    return replace(request, breaker_rule=replace(request.breaker_rule, **changes))


def by_field(problems: list[Problem], severity: str) -> dict[str, str]:
    return {p.field: f"{p.problem} | fix: {p.fix}" for p in problems if p.severity == severity}


def test_the_reference_request_is_clean():
    assert lint_rollout_request(base()) == []


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"failure_count": None}, "breakerRule.failureCount", "neither of failureCount and failurePercentage"),
        ({"failure_percentage": 40}, "breakerRule.failureCount", "both of"),
        ({"failure_count": 0}, "breakerRule.failureCount", "trip on nothing"),
        ({"failure_count": None, "failure_percentage": 101}, "breakerRule.failurePercentage", "must be 1–100"),
        ({"failure_count": None, "failure_percentage": 0}, "breakerRule.failurePercentage", "must be 1–100"),
        ({"interval": "1 minute"}, "breakerRule.interval", "not an ISO 8601 duration"),
        ({"interval": "PT0S"}, "breakerRule.interval", "not a positive duration"),
        ({"trip_duration": "-PT1M"}, "breakerRule.tripDuration", "not a positive duration"),
        ({"trip_duration": "P1M"}, "breakerRule.tripDuration", "years or months"),
        (
            {"status_code_ranges": (StatusCodeRange(600, 600),)},
            "breakerRule.statusCodeRanges[0].min",
            "outside 200–599",
        ),
        (
            {"status_code_ranges": (StatusCodeRange(199, 429),)},
            "breakerRule.statusCodeRanges[0].min",
            "outside 200–599",
        ),
        (
            {"status_code_ranges": (StatusCodeRange(599, 500),)},
            "breakerRule.statusCodeRanges[0]",
            "min 599 is above max 500",
        ),
        (
            {"status_code_ranges": tuple(StatusCodeRange(500 + i, 500 + i) for i in range(11))},
            "breakerRule.statusCodeRanges",
            "at most 10",
        ),
        ({"error_reasons": tuple(f"r{i}" for i in range(11))}, "breakerRule.errorReasons", "at most 10"),
        ({"error_reasons": ("x" * 201,)}, "breakerRule.errorReasons[0]", "at most 200"),
        ({"failure_response_status_code": 600}, "breakerRule.failureResponseStatusCode", "100–599"),
        ({"failure_response_status_code": 99}, "breakerRule.failureResponseStatusCode", "100–599"),
        ({"status_code_ranges": (), "error_reasons": ()}, "breakerRule.statusCodeRanges", "can never trip"),
        ({"name": "rules/one"}, "breakerRule.name", "contains '/'"),
    ],
)
def test_rule_values_apim_rejects(changes, field, text):
    errors = by_field(lint_rollout_request(with_rule(**changes)), "error")
    assert text in errors[field], errors


def test_status_code_boundaries_are_accepted():
    request = with_rule(
        status_code_ranges=(StatusCodeRange(200, 200), StatusCodeRange(429, 429), StatusCodeRange(599, 599)),
        failure_response_status_code=100,
    )
    assert by_field(lint_rollout_request(request), "error") == {}


@pytest.mark.parametrize(
    ("backend", "field", "text"),
    [
        (BackendSpec("1aoai", "https://a.openai.azure.com/openai", 1, 50), "backends[0].name", "not a valid backend"),
        (BackendSpec("aoai_east", "https://a.openai.azure.com/openai", 1, 50), "backends[0].name", "e.g. 'aoai-east'"),
        (BackendSpec("a" * 81, "https://a.openai.azure.com/openai", 1, 50), "backends[0].name", "at most 80"),
        (BackendSpec("aoai", "https://a.openai.azure.com/openai", 101, 50), "backends[0].priority", "outside 0–100"),
        (BackendSpec("aoai", "https://a.openai.azure.com/openai", -1, 50), "backends[0].priority", "outside 0–100"),
        (BackendSpec("aoai", "https://a.openai.azure.com/openai", 1, 101), "backends[0].weight", "outside 0–100"),
    ],
)
def test_backend_values_apim_rejects(backend, field, text):
    request = replace(base(), backends=(backend, *base().backends[1:]))
    assert text in by_field(lint_rollout_request(request), "error")[field]


def test_priority_and_weight_limits_are_the_spec_ones():
    # BackendPoolItem: priority and weight "minimum": 0, "maximum": 100 (ApiManagement 2025-03-01-preview).
    edge = (
        BackendSpec("a0", "https://a.openai.azure.com/openai", 0, 0),
        BackendSpec("a1", "https://b.openai.azure.com/openai", 100, 100),
    )
    assert by_field(lint_rollout_request(replace(base(), backends=edge)), "error") == {}


@pytest.mark.parametrize(
    "url",
    [
        "https://a.openai.azure.com",
        "https://a.openai.azure.com/",
        "https://a.openai.azure.com/openai/deployments/gpt-4o",
        "https://a.services.ai.azure.com/models",
        "https://a.openai.azure.com/OpenAI",
    ],
)
def test_backend_url_without_the_openai_base_path_is_an_error(url):
    # The API forwards /openai/<rest> as <backend url>/<rest>; Azure OpenAI serves <rest> under /openai only
    # (learn.microsoft.com, Import an Azure OpenAI API: "servers": [{"url": "https://contoso.openai.azure.com/openai"}]).
    request = replace(base(), backends=(BackendSpec("aoai", url, 1, 50), *base().backends[1:]))
    error = by_field(lint_rollout_request(request), "error")["backends[0].url"]
    assert "every call would answer 404" in error
    assert "e.g. 'https://a." in error and ".azure.com/openai'" in error


def test_backend_url_with_the_openai_base_path_is_clean():
    request = replace(base(), backends=(BackendSpec("aoai", "https://a.openai.azure.com/openai", 1, 50),))
    assert "backends[0].url" not in by_field(lint_rollout_request(request), "error")


def test_backend_url_with_a_trailing_slash_is_an_error():
    # Backends in API Management: "Avoid adding a slash at the end to prevent misconfigurations."
    request = replace(base(), backends=(BackendSpec("aoai", "https://a.openai.azure.com/openai/", 1, 50),))
    error = by_field(lint_rollout_request(request), "error")["backends[0].url"]
    assert "ends with a slash" in error and "'https://a.openai.azure.com/openai'" in error


@pytest.mark.parametrize(
    ("text", "written"),
    [("pt1m", "PT1M"), ("PT1M ", "PT1M"), ("PT1,5S", "PT1.5S"), ("p1dT2h", "P1DT2H")],
)
@pytest.mark.parametrize(("change", "field"), [("interval", "interval"), ("trip_duration", "tripDuration")])
def test_a_duration_not_written_as_xsd_duration_is_an_error(text, written, change, field):
    # CircuitBreakerFailureCondition.interval and CircuitBreakerRule.tripDuration are "format": "duration"
    # (xsd:duration): upper-case designators, '.' for a fraction; APIM receives the text as the request has it.
    errors = by_field(lint_rollout_request(with_rule(**{change: text})), "error")
    assert f"write '{written}'" in errors[f"breakerRule.{field}"]


def test_pool_without_members_is_an_error():
    assert "no backends" in by_field(lint_rollout_request(replace(base(), backends=())), "error")["backends"]


def test_pool_named_like_a_backend_is_an_error():
    errors = by_field(lint_rollout_request(replace(base(), pool_name="AOAI-westus")), "error")
    assert "also backends[1].name" in errors["poolName"]


def test_invalid_pool_name():
    assert (
        "not a valid backend id"
        in by_field(lint_rollout_request(replace(base(), pool_name="pool/x")), "error")["poolName"]
    )


def test_rule_ignoring_429_warns_with_concrete_fix():
    warnings = by_field(lint_rollout_request(with_rule(status_code_ranges=(StatusCodeRange(500, 599),))), "warning")
    assert 'add {"min": 429, "max": 429}' in warnings["breakerRule.statusCodeRanges"]


def test_range_covering_429_counts():
    request = with_rule(status_code_ranges=(StatusCodeRange(400, 599),))
    assert "breakerRule.statusCodeRanges" not in by_field(lint_rollout_request(request), "warning")


def test_rule_without_5xx_warns():
    warnings = by_field(lint_rollout_request(with_rule(status_code_ranges=(StatusCodeRange(429, 429),))), "warning")
    assert 'add {"min": 500, "max": 599}' in warnings["breakerRule.statusCodeRanges"]


def test_trip_shorter_than_interval_warns():
    warnings = by_field(lint_rollout_request(with_rule(interval="PT5M", trip_duration="PT30S")), "warning")
    assert "30 s" in warnings["breakerRule.tripDuration"] and "5 min" in warnings["breakerRule.tripDuration"]


def test_accept_retry_after_warns_about_day_long_retry_after():
    warnings = by_field(lint_rollout_request(with_rule(accept_retry_after=True)), "warning")
    assert "86400 s" in warnings["breakerRule.acceptRetryAfter"]
    assert "set acceptRetryAfter to false" in warnings["breakerRule.acceptRetryAfter"]


def test_lone_first_priority_member_warns():
    backends = (
        BackendSpec("primary", "https://p.openai.azure.com/openai", 1, 100),
        BackendSpec("spare-a", "https://a.openai.azure.com/openai", 2, 50),
        BackendSpec("spare-b", "https://b.openai.azure.com/openai", 2, 50),
    )
    warnings = by_field(lint_rollout_request(replace(base(), backends=backends)), "warning")
    assert "alone in the first priority group (1)" in warnings["backends[0].priority"]


def test_single_member_pool_warns():
    backends = (BackendSpec("only", "https://p.openai.azure.com/openai", 1, 100),)
    warnings = by_field(lint_rollout_request(replace(base(), backends=backends)), "warning")
    assert "one member ('only')" in warnings["backends[0]"]


def test_same_regional_endpoint_region_warns_only_when_derivable():
    same = (
        BackendSpec("a", "https://eastus.api.cognitive.microsoft.com/", 1, 50),
        BackendSpec("b", "https://EASTUS.api.cognitive.microsoft.com/x", 1, 50),
    )
    assert "region 'eastus'" in by_field(lint_rollout_request(replace(base(), backends=same)), "warning")["backends"]
    # Custom subdomains (<name>.openai.azure.com) do not reveal their region: no guess, no warning.
    assert "backends" not in by_field(lint_rollout_request(base()), "warning")


def test_same_endpoint_twice_warns():
    twins = (
        BackendSpec("a", "https://x.openai.azure.com/openai", 1, 50),
        BackendSpec("b", "https://x.openai.azure.com/openai/", 1, 50),
    )
    assert (
        "share one quota"
        in by_field(lint_rollout_request(replace(base(), backends=twins)), "warning")["backends[1].url"]
    )


def test_failure_response_code_that_backends_also_send_warns():
    warnings = by_field(lint_rollout_request(with_rule(failure_response_status_code=503)), "warning")
    assert "e.g. 599" in warnings["breakerRule.failureResponseStatusCode"]


def test_every_problem_has_a_fix():
    messy = with_rule(interval="nope", accept_retry_after=True, status_code_ranges=(StatusCodeRange(700, 100),))
    problems = lint_rollout_request(
        replace(messy, pool_name="", backends=(BackendSpec("x y", "https://a.b", 500, 500),))
    )
    assert len(problems) >= 8
    assert all(p.fix.strip() and p.field for p in problems)
