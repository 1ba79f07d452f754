"""Verify: what APIM holds after the rollout vs what was asked, field by field; empty means verified."""

from __future__ import annotations

import copy
from datetime import timedelta

from unit_helpers import ALLOWED, APIM_ID, VALID_BODY, load

from breakerpanel.core.model import RolloutRequest
from breakerpanel.core.request import parse_rollout_request
from breakerpanel.core.verify import diff_backends, member_name, parse_backend


def request() -> RolloutRequest:
    parsed = parse_rollout_request(VALID_BODY, ALLOWED)
    assert isinstance(parsed, RolloutRequest)
    return parsed


def single(name: str, url: str, **rule_changes: object) -> dict[str, object]:
    rule: dict[str, object] = {
        "name": "openai-breaker",
        "failureCondition": {
            "count": 3,
            "interval": "PT1M",
            "statusCodeRanges": [{"min": 429, "max": 429}, {"min": 500, "max": 599}],
            "errorReasons": [],
        },
        "tripDuration": "PT1M",
        "acceptRetryAfter": False,
    }
    rule.update(rule_changes)
    return {
        "id": f"{APIM_ID}/backends/{name}",
        "type": "Microsoft.ApiManagement/service/backends",
        "name": name,
        "properties": {"url": url, "protocol": "http", "type": "Single", "circuitBreaker": {"rules": [rule]}},
    }


def pool(members: list[tuple[str, int, int]], full_ids: bool = False) -> dict[str, object]:
    prefix = APIM_ID if full_ids else ""
    return {
        "name": "aoai-pool",
        "properties": {
            "title": None,
            "url": None,
            "protocol": None,
            "type": "Pool",
            "pool": {"services": [{"id": f"{prefix}/backends/{n}", "priority": p, "weight": w} for n, p, w in members]},
        },
    }


def actual_matching() -> list[dict[str, object]]:
    return [
        single("aoai-eastus", "https://aoai-eastus.openai.azure.com/openai"),
        single("aoai-westus", "https://aoai-westus.openai.azure.com/openai"),
        single("aoai-swedencentral", "https://aoai-sc.openai.azure.com/openai"),
        pool([("aoai-eastus", 1, 50), ("aoai-westus", 1, 50), ("aoai-swedencentral", 2, 100)]),
        single("someone-elses-backend", "https://other.example.com"),
    ]


def test_matching_apim_state_verifies():
    assert diff_backends(request(), actual_matching()) == []


def test_pool_member_ids_as_full_arm_ids_verify_too():
    actual = actual_matching()
    actual[3] = pool([("aoai-eastus", 1, 50), ("aoai-westus", 1, 50), ("aoai-swedencentral", 2, 100)], full_ids=True)
    assert diff_backends(request(), actual) == []


def test_docs_quirk_counts_and_ranges_as_strings_verify():
    actual = actual_matching()
    condition = actual[0]["properties"]["circuitBreaker"]["rules"][0]["failureCondition"]  # type: ignore[index]
    condition["count"] = "3"
    condition["statusCodeRanges"] = [{"min": "500", "max": "599"}, {"min": "429", "max": "429"}]
    assert diff_backends(request(), actual) == []


def test_equivalent_durations_in_other_forms_verify():
    actual = actual_matching()
    actual[0]["properties"]["circuitBreaker"]["rules"][0]["tripDuration"] = "PT60S"  # type: ignore[index]
    actual[1]["properties"]["circuitBreaker"]["rules"][0]["tripDuration"] = "00:01:00"  # type: ignore[index]
    actual[2]["properties"]["circuitBreaker"]["rules"][0]["tripDuration"] = timedelta(minutes=1)  # type: ignore[index]
    assert diff_backends(request(), actual) == []


def test_every_kind_of_difference_is_named():
    actual = copy.deepcopy(actual_matching())
    del actual[2]  # aoai-swedencentral missing
    actual[0]["properties"]["url"] = "https://aoai-eastus2.openai.azure.com/openai"  # type: ignore[index]
    rule = actual[1]["properties"]["circuitBreaker"]["rules"][0]  # type: ignore[index]
    rule["failureCondition"]["count"] = 5
    rule["failureCondition"]["statusCodeRanges"] = [{"min": 500, "max": 599}]
    rule["acceptRetryAfter"] = True
    rule["tripDuration"] = "PT5M"
    actual[2] = pool([("aoai-eastus", 2, 50), ("aoai-westus", 1, 10), ("stale-backend", 1, 50)])
    found = {(d.backend, d.field, d.kind) for d in diff_backends(request(), actual)}
    assert found == {
        ("aoai-swedencentral", "", "missing_backend"),
        ("aoai-eastus", "url", "value"),
        ("aoai-westus", "circuitBreaker.rules[0].failureCondition.count", "value"),
        ("aoai-westus", "circuitBreaker.rules[0].failureCondition.statusCodeRanges", "value"),
        ("aoai-westus", "circuitBreaker.rules[0].acceptRetryAfter", "value"),
        ("aoai-westus", "circuitBreaker.rules[0].tripDuration", "value"),
        ("aoai-pool", "pool.services[aoai-eastus].priority", "value"),
        ("aoai-pool", "pool.services[aoai-westus].weight", "value"),
        ("aoai-pool", "pool.services[aoai-swedencentral]", "missing_member"),
        ("aoai-pool", "pool.services[stale-backend]", "extra_member"),
    }


def test_difference_carries_expected_and_actual():
    actual = actual_matching()
    actual[0]["properties"]["url"] = "https://elsewhere.openai.azure.com"  # type: ignore[index]
    [d] = diff_backends(request(), actual)
    assert (d.expected, d.actual) == (
        "https://aoai-eastus.openai.azure.com/openai",
        "https://elsewhere.openai.azure.com",
    )
    assert d.to_dict()["problem"] == "url differs"


def test_missing_pool_and_wrong_types():
    actual = actual_matching()
    del actual[3]
    assert [(d.kind, d.backend) for d in diff_backends(request(), actual)] == [("missing_pool", "aoai-pool")]
    actual.append({"name": "aoai-pool", "properties": {"type": "Single", "url": "https://x"}})
    assert [d.kind for d in diff_backends(request(), actual)] == ["not_a_pool"]


def test_two_rules_is_a_difference():
    actual = actual_matching()
    rules = actual[0]["properties"]["circuitBreaker"]["rules"]  # type: ignore[index]
    rules.append(dict(rules[0], name="second"))
    [d] = diff_backends(request(), actual)
    assert d.field == "circuitBreaker.rules" and d.problem == "expected exactly one rule, found 2"


def test_names_match_case_insensitively_like_apim_ids():
    actual = actual_matching()
    actual[0]["name"] = "AOAI-EASTUS"
    assert diff_backends(request(), actual) == []


def test_published_weighted_pool_parses_as_it_is():
    body = load("apim_2023-09-01-preview_ApiManagementCreateBackendWithWeightedLoadBalancer.json")["responses"]["200"][
        "body"
    ]
    parsed = parse_backend(body)
    assert parsed.name == "weighted-load-balancer" and parsed.kind == "Pool"
    assert parsed.url is None and parsed.protocol is None
    assert [(m.name, m.priority, m.weight) for m in parsed.members] == [
        ("backend-1", None, 75),
        ("backend-2", None, 25),
    ]


def test_published_docs_breaker_snippet_parses_as_it_is():
    snippet = load("apim_docs_backends_md_ARM_circuitBreaker_snippet.json")
    parsed = parse_backend(snippet)
    assert parsed.name == "myBackend" and parsed.kind == "Single"  # 'myAPIM/myBackend', no explicit type
    [rule] = parsed.rules
    assert (rule.count, rule.status_code_ranges, rule.interval_seconds, rule.trip_seconds) == (
        3,
        ((500, 599),),
        3600,
        3600,
    )
    assert rule.error_reasons == ("Server errors",) and rule.accept_retry_after is True


def test_published_single_backend_without_breaker_parses():
    body = load("apim_2024-05-01_ApiManagementCreateBackendProxyBackend.json")["responses"]["200"]["body"]
    parsed = parse_backend(body)
    assert (parsed.name, parsed.kind, parsed.url, parsed.rules) == (
        "proxybackend",
        "Single",
        "https://backendname2644/",
        (),
    )


def test_parse_backend_tolerates_junk():
    parsed = parse_backend({"name": "x", "properties": {"circuitBreaker": {"rules": ["nope"]}, "pool": "bad"}})
    assert parsed.name == "x" and parsed.rules[0].count is None and parsed.members == ()


def test_member_name_forms():
    assert member_name("/backends/a") == "a"
    assert member_name(f"{APIM_ID}/Backends/b/") == "b"
    assert member_name("c") == "c"
