"""Reading a rollout request: a 400 lists every bad field with its path and a fix, before anything starts."""

from __future__ import annotations

import copy

import pytest
from unit_helpers import ALLOWED, SUB, VALID_BODY, body

from breakerpanel.core.model import BackendSpec, RolloutRequest, Target
from breakerpanel.core.request import bad_request_body, check_rollout_request, parse_rollout_request


def problems_of(payload: object) -> dict[str, list[str]]:
    result = parse_rollout_request(payload, ALLOWED)
    assert isinstance(result, list), "expected the request to be refused"
    found: dict[str, list[str]] = {}
    for p in result:
        found.setdefault(p.field, []).append(f"{p.severity}: {p.problem} | fix: {p.fix}")
    return found


def test_valid_request_becomes_typed_request():
    result = parse_rollout_request(VALID_BODY, ALLOWED)
    assert isinstance(result, RolloutRequest)
    assert result.targets == (Target(SUB, "rg-gw", "apim-gw", 1),)
    assert result.backends[0] == BackendSpec("aoai-eastus", "https://aoai-eastus.openai.azure.com/openai", 1, 50)
    assert result.breaker_rule.failure_count == 3
    assert [(r.min, r.max) for r in result.breaker_rule.status_code_ranges] == [(429, 429), (500, 599)]
    assert result.approval == "onDestructive" and result.rollback_on_failure is True


def test_request_round_trips_through_its_json_shape():
    first = parse_rollout_request(VALID_BODY, ALLOWED)
    assert isinstance(first, RolloutRequest)
    assert parse_rollout_request(first.to_dict(), ALLOWED) == first


def test_optional_fields_take_documented_defaults():
    payload = body()
    del payload["approval"], payload["rollbackOnFailure"], payload["targets"][0]["wave"]
    del payload["breakerRule"]["errorReasons"], payload["breakerRule"]["failureResponseStatusCode"]
    result = parse_rollout_request(payload, ALLOWED)
    assert isinstance(result, RolloutRequest)
    assert result.approval == "onDestructive" and result.rollback_on_failure
    assert result.targets[0].wave == 1 and result.breaker_rule.error_reasons == ()


def test_every_problem_is_reported_at_once_with_paths_and_fixes():
    payload = copy.deepcopy(VALID_BODY)
    payload["backends"][2]["url"] = "http://aoai-sc.openai.azure.com"
    payload["backends"][1]["priority"] = "1"
    payload["breakerRule"]["statusCodeRanges"][0]["min"] = 100
    payload["breakerRule"]["intervall"] = "PT1M"
    payload["approval"] = "always"
    del payload["poolName"]
    found = problems_of(payload)
    assert set(found) >= {
        "backends[2].url",
        "backends[1].priority",
        "breakerRule.statusCodeRanges[0].min",
        "breakerRule.intervall",
        "approval",
        "poolName",
    }
    assert "only https" in found["backends[2].url"][0]
    assert "write 1 without quotes" in found["backends[1].priority"][0]
    assert "did you mean 'interval'" in found["breakerRule.intervall"][0]
    assert 'add "poolName"' in found["poolName"][0]
    assert "'none', 'required', 'onDestructive'" in found["approval"][0]


def test_400_body_lists_every_problem_with_field_and_fix():
    payload = body(poolName=7, approval="Required")
    result = parse_rollout_request(payload, ALLOWED)
    assert isinstance(result, list)
    answer = bad_request_body(result)
    error = answer["error"]
    assert isinstance(error, dict) and error["code"] == "InvalidRolloutRequest"
    listed = {p["field"]: p for p in error["problems"]}  # type: ignore[union-attr]
    assert listed["poolName"]["problem"] == "expected a string, got a number"
    assert "write 'required'" in listed["approval"]["fix"]
    assert "2 error(s)" in str(error["message"])


@pytest.mark.parametrize(
    ("key", "known"),
    [
        ("Targets", "targets"),
        ("backend", "backends"),
        ("breakerrule", "breakerRule"),
        ("rollback", "rollbackOnFailure"),
    ],
)
def test_unknown_top_level_field_suggests_the_closest_known_one(key, known):
    payload = body()
    payload[key] = payload.get(known, [])
    found = problems_of(payload)
    assert f"did you mean '{known}'" in found[key][0]


def test_unknown_nested_fields_are_named_with_their_full_path():
    payload = body()
    payload["targets"][0]["apim"] = "x"
    payload["backends"][1]["wieght"] = 5
    payload["breakerRule"]["statusCodeRanges"][1]["maximum"] = 5
    payload["breakerRule"]["somethingElse"] = True
    found = problems_of(payload)
    assert "did you mean 'apimName'" in found["targets[0].apim"][0]
    assert "did you mean 'weight'" in found["backends[1].wieght"][0]
    assert "did you mean 'max'" in found["breakerRule.statusCodeRanges[1].maximum"][0]
    assert "remove it" in found["breakerRule.somethingElse"][0]


@pytest.mark.parametrize(
    ("payload", "field", "text"),
    [
        ([], "(body)", "expected an object, got an array"),
        (body(targets={}), "targets", "expected an array, got an object"),
        (body(targets=[]), "targets", "no targets"),
        (body(backends=[]), "backends", "no backends"),
        (body(breakerRule="PT1M"), "breakerRule", "expected an object, got a string"),
        (body(rollbackOnFailure="yes"), "rollbackOnFailure", "expected true or false"),
        (body(poolName="  "), "poolName", "the value is empty"),
    ],
)
def test_wrong_types_and_shapes(payload, field, text):
    assert any(text in line for line in problems_of(payload)[field])


def test_missing_required_fields_each_reported():
    payload = body()
    del payload["breakerRule"]["interval"], payload["breakerRule"]["tripDuration"], payload["backends"][0]["url"]
    found = problems_of(payload)
    for field in ("breakerRule.interval", "breakerRule.tripDuration", "backends[0].url"):
        assert "required field is missing" in found[field][0]


def test_booleans_are_not_numbers_and_whole_floats_are():
    payload = body()
    payload["backends"][0]["weight"] = True
    payload["backends"][1]["weight"] = 50.0
    found = problems_of(payload)
    assert "expected a whole number, got a boolean" in found["backends[0].weight"][0]
    assert "backends[1].weight" not in found


def test_target_outside_allowlist_is_refused():
    payload = body(targets=[{"subscriptionId": SUB, "resourceGroup": "rg-other", "apimName": "apim-gw"}])
    assert "not in this app's allowlist" in problems_of(payload)["targets[0]"][0]


def test_allowlist_match_ignores_case_like_arm():
    payload = body(targets=[{"subscriptionId": SUB.upper(), "resourceGroup": "RG-GW", "apimName": "APIM-gw"}])
    assert isinstance(parse_rollout_request(payload, ALLOWED), RolloutRequest)


def test_empty_allowlist_refuses_everything():
    result = parse_rollout_request(VALID_BODY, [])
    assert isinstance(result, list) and result[0].field == "targets[0]"


def test_target_names_are_checked():
    payload = body(
        targets=[
            {"subscriptionId": "not-a-guid", "resourceGroup": "rg gw", "apimName": "-apim", "wave": 0},
            {"subscriptionId": SUB, "resourceGroup": "rg-gw", "apimName": "apim-gw"},
            {"subscriptionId": SUB, "resourceGroup": "RG-gw", "apimName": "apim-GW"},
        ]
    )
    found = problems_of(payload)
    assert "not a subscription id" in found["targets[0].subscriptionId"][0]
    assert "not a valid resource group name" in found["targets[0].resourceGroup"][0]
    assert "not a valid API Management service name" in found["targets[0].apimName"][0]
    assert "below 1" in found["targets[0].wave"][0]
    assert "same APIM instance as targets[1]" in found["targets[2]"][0]


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/metadata/instance",
        "https://metadata.azure.com/metadata",
        "https://[fd00:ec2::254]/latest",
        "https://[::1]/openai",
        "https://0.0.0.0/openai",
        "https://127.0.0.1:8443/openai",
        "https://localhost/openai",
        "https://api.localhost./openai",
        "https://2130706433/openai",
        "https://0x7f.1/openai",
        "https://10.0.0.4/openai",
        "https://[::ffff:169.254.169.254]/",
    ],
)
def test_backend_urls_pointing_at_local_or_metadata_hosts_are_refused(url):
    payload = body()
    payload["backends"][0]["url"] = url
    lines = problems_of(payload)["backends[0].url"]
    assert any("the URL points at" in line for line in lines), lines


@pytest.mark.parametrize(
    ("url", "text"),
    [
        ("ftp://aoai.openai.azure.com", "only https"),
        ("aoai.openai.azure.com/openai", "no scheme"),
        ("https://user:pw@aoai.openai.azure.com", "user credentials"),
        ("https://aoai.openai.azure.com/openai?api-key=abc", "may carry only api-version"),
        ("https://aoai.openai.azure.com/openai#x", "fragment"),
        ("https://aoai.openai.azure.com/ openai", "whitespace"),
        ("https://", "no host name"),
        ("https://aoai.openai.azure.com/" + "a" * 2000, "at most 2000"),
    ],
)
def test_backend_url_shape_problems(url, text):
    payload = body()
    payload["backends"][0]["url"] = url
    assert any(text in line for line in problems_of(payload)["backends[0].url"])


def test_duplicate_backend_names_are_refused_case_insensitively():
    payload = body()
    payload["backends"][2]["name"] = "AOAI-EASTUS"
    assert "repeats backends[0].name" in problems_of(payload)["backends[2].name"][0]


def test_lint_errors_are_part_of_the_400():
    payload = body()
    payload["breakerRule"]["failurePercentage"] = 50
    payload["backends"][0]["weight"] = 1000
    found = problems_of(payload)
    assert "both of failureCount and failurePercentage" in found["breakerRule.failureCount"][0]
    assert "outside 0–100" in found["backends[0].weight"][0]


def test_warnings_alone_do_not_refuse_but_are_returned():
    payload = body()
    payload["breakerRule"]["acceptRetryAfter"] = True
    check = check_rollout_request(payload, ALLOWED)
    assert check.request is not None
    assert [w.field for w in check.warnings] == ["breakerRule.acceptRetryAfter"]


def test_refusal_lists_errors_before_warnings():
    payload = body(poolName="aoai pool")
    payload["breakerRule"]["acceptRetryAfter"] = True
    result = parse_rollout_request(payload, ALLOWED)
    assert isinstance(result, list)
    severities = [p.severity for p in result]
    assert severities == sorted(severities, key=lambda s: s != "error") and "warning" in severities


def test_indices_stay_true_when_an_earlier_backend_is_unreadable():
    payload = body()
    payload["backends"][0] = "aoai-eastus"
    payload["backends"][2]["name"] = "aoai-westus"
    found = problems_of(payload)
    assert "expected an object" in found["backends[0]"][0]
    assert "repeats backends[1].name" in found["backends[2].name"][0]


def test_waves_run_in_ascending_order():
    payload = body(
        targets=[
            {"subscriptionId": SUB, "resourceGroup": "rg-gw2", "apimName": "apim-gw2", "wave": 2},
            {"subscriptionId": SUB, "resourceGroup": "rg-gw", "apimName": "apim-gw", "wave": 1},
        ]
    )
    result = parse_rollout_request(payload, ALLOWED)
    assert isinstance(result, RolloutRequest)
    assert [(n, [t.apim_name for t in ts]) for n, ts in result.waves()] == [(1, ["apim-gw"]), (2, ["apim-gw2"])]


def test_backends_with_a_bad_url_are_still_checked_for_range_and_duplicates() -> None:
    """Every problem of every backend in one 400, even when each backend also has a refused URL."""
    from breakerpanel.core.model import Target
    from breakerpanel.core.request import check_rollout_request

    body = {
        "targets": [{"subscriptionId": "s", "resourceGroup": "rg", "apimName": "apim"}],
        "backends": [
            {"name": "aoai-a", "url": "http://aoai-a.openai.azure.com", "priority": 1, "weight": 50},
            {"name": "aoai-b", "url": "https://169.254.169.254/openai", "priority": 101, "weight": 50},
            {"name": "AOAI-A", "url": "http://aoai-c.openai.azure.com", "priority": 1, "weight": 50},
        ],
        "breakerRule": {"name": "r", "failureCount": 3, "interval": "PT1M",
                        "statusCodeRanges": [{"min": 429, "max": 429}], "tripDuration": "PT1M"},
        "poolName": "pool",
    }
    check = check_rollout_request(body, [Target("s", "rg", "apim")])
    fields = {p.field for p in check.errors} - {"targets[0].subscriptionId"}
    assert fields == {"backends[0].url", "backends[1].url", "backends[1].priority", "backends[2].url",
                      "backends[2].name"}
    assert not any("no backends" in p.problem for p in check.problems)


# ------------------------------------------------------------------------------ issue 8: what got past before


@pytest.mark.parametrize(
    ("url", "text"),
    [
        # Unicode forms of loopback and of allowed names: judged in canonical form, and refused as written.
        ("https://127\u30020\u30020\u30021/openai", "loopback"),
        ("https://\uff11\uff12\uff17.0.0.1/openai", "loopback"),
        ("https://localhost\uff0e/openai", "local or metadata host"),
        ("https://\uff41\uff4f\uff41\uff49.openai.azure.com/openai", "write the host as 'aoai.openai.azure.com'"),
        ("https://aoai.openai.azure.com./openai", "write the host as 'aoai.openai.azure.com'"),
        ("https://aoai.openai.azure.com\u3002/openai", "write the host as 'aoai.openai.azure.com'"),
        # DNS names that may resolve anywhere: only allowlisted host suffixes.
        ("https://attacker.example.com/openai", "not an allowed backend host"),
        ("https://openai.azure.com.attacker.example/openai", "not an allowed backend host"),
        ("https://xopenai.azure.com/openai", "not an allowed backend host"),
        # Credentials in the query string, whatever the key is called.
        ("https://aoai.openai.azure.com/openai?subscription-key=abc", "'subscription-key'"),
        ("https://aoai.openai.azure.com/openai?x-api-key=abc", "'x-api-key'"),
        ("https://aoai.openai.azure.com/openai?api-version=2024-10-21&auth=abc", "'auth'"),
        ("https://aoai.openai.azure.com/openai?abc", "may carry only api-version"),
    ],
)
def test_inputs_that_got_past_the_validator_are_400_naming_the_url(url, text):
    payload = body()
    payload["backends"][0]["url"] = url
    lines = problems_of(payload).get("backends[0].url", [])
    assert any(text in line for line in lines), lines


def test_api_version_alone_is_allowed_in_a_backend_url():
    payload = body()
    payload["backends"][0]["url"] = "https://aoai.openai.azure.com/openai?api-version=2024-10-21"
    assert check_rollout_request(payload, ALLOWED).request is not None


def test_backend_hosts_can_be_extended_for_custom_domains():
    payload = body()
    payload["backends"][0]["url"] = "https://aoai.internal-gw.contoso.com/openai"
    assert "backends[0].url" in problems_of(payload)
    check = check_rollout_request(payload, ALLOWED, backend_hosts=(".internal-gw.contoso.com",))
    assert not [p for p in check.errors if p.field == "backends[0].url"]


def test_backend_url_without_the_openai_path_is_a_400():
    # APIM stores any URL, and every call through the API would then answer 404 (lint.BACKEND_URL_PATH).
    payload = body()
    payload["backends"][0]["url"] = "https://aoai.openai.azure.com"
    check = check_rollout_request(payload, ALLOWED)
    assert check.request is None
    assert "https://aoai.openai.azure.com/openai" in problems_of(payload)["backends[0].url"][0]
