"""Issue 8: inputs that got past the validator, and who the caller is. Each a 400 (or a refusal) naming the field."""

from __future__ import annotations

import base64
import json

import pytest

from breakerpanel.core import apim_limits as lim
from breakerpanel.core.caller import authorize, same_person
from breakerpanel.core.model import Target
from breakerpanel.core.request import check_rollout_request, read_json_body
from breakerpanel.settings import SettingsError, load_settings
from breakerpanel.targets import parse_targets

SUB = "00000000-0000-0000-0000-000000000000"
ALLOWED = [Target(SUB, "rg-gw", "apim-gw")]


def body(**changes: object) -> dict:
    base = {
        "targets": [{"subscriptionId": SUB, "resourceGroup": "rg-gw", "apimName": "apim-gw"}],
        "backends": [{"name": f"aoai-{i}", "url": f"https://aoai-{i}.openai.azure.com/openai", "priority": 1,
                      "weight": 50} for i in range(2)],
        "breakerRule": {"name": "rule", "failureCount": 3, "interval": "PT1M",
                        "statusCodeRanges": [{"min": 429, "max": 429}, {"min": 500, "max": 599}],
                        "tripDuration": "PT1M", "acceptRetryAfter": False},
        "poolName": "pool",
    }
    base.update(changes)
    return base


def error_fields(payload: object) -> set[str]:
    return {p.field for p in check_rollout_request(payload, ALLOWED).errors}


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "bytes"),  # too large (and would be a RecursionError)
        (b"[" * 5000 + b"]" * 5000, "deeper"),
        (b'{"targets": [], "targets": []}', "twice"),
        (b'{"poolName": NaN}', "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
    ],
)
def test_unreadable_bodies_are_problems_never_exceptions(raw: bytes, text: str) -> None:
    value, problems = read_json_body(raw)
    assert value is None
    (problem,) = problems
    assert problem.field == "(body)" and text in problem.problem and problem.fix


def test_a_utf8_bom_is_accepted() -> None:
    value, problems = read_json_body(b"\xef\xbb\xbf" + json.dumps(body()).encode())
    assert problems == [] and check_rollout_request(value, ALLOWED).request is not None


def test_more_backends_than_an_apim_pool_holds_are_refused() -> None:
    many = [{"name": f"aoai-{i}", "url": f"https://aoai-{i}.openai.azure.com/openai", "priority": 1, "weight": 1}
            for i in range(lim.MAX_POOL_BACKENDS + 1)]
    assert "backends" in error_fields(body(backends=many))


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"failureCount": 10**9}, "breakerRule.failureCount"),
        ({"interval": "P3650D"}, "breakerRule.interval"),
        ({"tripDuration": "P10Y"}, "breakerRule.tripDuration"),
        ({"tripDuration": "P400D"}, "breakerRule.tripDuration"),
        ({"interval": "PT0.1S"}, "breakerRule.interval"),
    ],
)
def test_breaker_rules_outside_the_ranges_are_refused_not_warned(rule: dict, field: str) -> None:
    payload = body()
    payload["breakerRule"].update(rule)
    assert field in error_fields(payload)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"subscriptionId": "not-a-guid", "resourceGroup": "rg", "apimName": "apim"}, "subscriptionId"),
        ({"subscriptionId": SUB, "resourceGroup": "rg/../x", "apimName": "apim"}, "resourceGroup"),
        ({"subscriptionId": SUB, "resourceGroup": "rg", "apimName": "apim/backends"}, "apimName"),
    ],
)
def test_malformed_allowlist_entries_stop_the_app(entry: dict, field: str) -> None:
    with pytest.raises(SettingsError) as refused:
        parse_targets(json.dumps([entry]))
    assert refused.value.variable == "BREAKERPANEL_TARGETS" and field in str(refused.value)


def test_an_empty_allowlist_allows_nothing() -> None:
    assert parse_targets("") == [] and parse_targets("[]") == []
    assert "targets[0]" in {p.field for p in check_rollout_request(body(), []).errors}


@pytest.mark.parametrize("value", [".com", "127.0.0.1", "*.openai.azure.com", "https://x.example"])
def test_backend_hosts_setting_refuses_what_is_not_a_dns_suffix(value: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({"BREAKERPANEL_BACKEND_HOSTS": value})
    assert refused.value.variable == "BREAKERPANEL_BACKEND_HOSTS"


def test_auth_mode_and_four_eyes_settings() -> None:
    assert load_settings({}).auth == "easyAuth" and load_settings({}).allow_self_approval is False
    assert load_settings({"BREAKERPANEL_AUTH": "functionKey"}).auth == "functionKey"
    assert load_settings({"WEBSITE_AUTH_ENABLED": "True"}).platform_easy_auth is True
    for variable, value in (("BREAKERPANEL_AUTH", "anonymous"), ("BREAKERPANEL_ALLOW_SELF_APPROVAL", "maybe")):
        with pytest.raises(SettingsError):
            load_settings({variable: value})


def _header(**claims: str) -> dict[str, str]:
    listed = [{"typ": typ, "val": val} for typ, val in claims.items()]
    encoded = base64.b64encode(json.dumps({"auth_typ": "aad", "claims": listed}).encode()).decode()
    return {"X-MS-CLIENT-PRINCIPAL": encoded}


def test_the_caller_is_recorded_by_object_id_and_upn() -> None:
    headers = _header(**{"http://schemas.microsoft.com/identity/claims/objectidentifier": "ABC-1",
                         "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "ada@contoso.com",
                         "name": "Ada", "roles": "Rollout.Deploy"})
    verdict, caller = authorize(headers, "Rollout.Deploy", mode="easyAuth", platform_easy_auth=True)
    assert verdict.allowed and caller is not None
    assert caller.to_dict() == {"objectId": "abc-1", "upn": "ada@contoso.com", "name": "Ada", "via": "easyAuth"}


def test_the_principal_header_is_never_trusted_without_the_platform_saying_easy_auth_is_on() -> None:
    headers = _header(oid="abc", roles="Rollout.Deploy")
    verdict, caller = authorize(headers, "Rollout.Deploy", mode="easyAuth", platform_easy_auth=False)
    assert (verdict.allowed, verdict.status, caller) == (False, 500, None)
    verdict, caller = authorize(headers, "Rollout.Deploy", mode="functionKey", platform_easy_auth=False)
    assert verdict.allowed and caller is not None and caller.object_id == "" and caller.roles == frozenset()


def test_identities_without_an_object_id_cannot_be_told_apart() -> None:
    assert same_person({"objectId": "a"}, {"objectId": "A"}) is True
    assert same_person({"objectId": "a"}, {"objectId": "b"}) is False
    assert same_person({"objectId": ""}, {"objectId": "b"}) is None
    assert same_person("function key", "function key") is None
