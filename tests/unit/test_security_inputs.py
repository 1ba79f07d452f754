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


def _principal_of(provider: str, claims: list[dict[str, str]], **headers: str) -> dict[str, str]:
    payload = {"auth_typ": provider, "claims": claims,
               "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
               "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"}
    return {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(payload).encode()).decode(), **headers}


OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"


@pytest.mark.parametrize("provider", ["github", "partner-oidc", "google", ""])
def test_only_a_microsoft_entra_sign_in_is_a_caller(provider: str) -> None:
    # auth_typ is "the name of the identity provider that App Service authentication uses" (learn.microsoft.com,
    # "Work with user identities in Azure App Service authentication"). A custom OpenID Connect provider added
    # to the app can emit `oid` and `roles` claims: they are not Entra's object id nor this app's roles.
    headers = _principal_of(provider, [{"typ": OID, "val": "11111111-1111-1111-1111-111111111111"},
                                       {"typ": "roles", "val": "Rollout.Approve"}],
                            **{"X-MS-CLIENT-PRINCIPAL-IDP": provider})
    verdict, caller = authorize(headers, "Rollout.Approve", mode="easyAuth", platform_easy_auth=True)
    assert (verdict.allowed, verdict.status, caller) == (False, 401, None)
    assert "Microsoft Entra ID" in verdict.reason


def test_the_object_id_comes_from_the_oid_claim_only() -> None:
    # X-MS-CLIENT-PRINCIPAL-ID is "an identifier for the caller set by the identity provider": four eyes
    # compares object ids, so another kind of identifier must not stand in for one.
    headers = _principal_of("aad", [{"typ": "roles", "val": "Rollout.Approve"},
                                    {"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
                                     "val": "pairwise-sub-value"}],
                            **{"X-MS-CLIENT-PRINCIPAL-ID": "pairwise-sub-value"})
    verdict, caller = authorize(headers, "Rollout.Approve", mode="easyAuth", platform_easy_auth=True)
    assert (verdict.allowed, verdict.status, caller) == (False, 401, None)
    assert "oid" in verdict.reason


def test_an_application_caller_with_an_app_only_token_is_admitted_by_its_app_role() -> None:
    # What Easy Auth passes on for a client-credentials / managed-identity token (v2): roles, oid, azp, idtyp
    # app, no upn, no name (learn.microsoft.com, "Access token claims reference").
    sp = "77777777-7777-7777-7777-777777777777"
    headers = _principal_of("AAD", [
        {"typ": "aud", "val": "5b2c7f0e-1111-4c3d-9e8f-0a1b2c3d4e5f"},
        {"typ": "iss", "val": "https://login.microsoftonline.com/72f988bf-0000-0000-0000-000000000000/v2.0"},
        {"typ": "azp", "val": "88888888-8888-8888-8888-888888888888"}, {"typ": "azpacr", "val": "2"},
        {"typ": "idtyp", "val": "app"}, {"typ": OID, "val": sp.upper()},
        {"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", "val": sp},
        {"typ": "roles", "val": "Rollout.Deploy"}, {"typ": "ver", "val": "2.0"},
    ], **{"X-MS-CLIENT-PRINCIPAL-ID": sp, "X-MS-CLIENT-PRINCIPAL-IDP": "aad"})
    verdict, caller = authorize(headers, "Rollout.Deploy", mode="easyAuth", platform_easy_auth=True)
    assert verdict.allowed and caller is not None
    assert (caller.object_id, caller.upn, caller.name) == (sp, "", sp)
    # approving is a user's app role: the same application is refused, and a person approving it is another
    verdict, _ = authorize(headers, "Rollout.Approve", mode="easyAuth", platform_easy_auth=True)
    assert (verdict.allowed, verdict.status) == (False, 403)
    assert same_person(caller.to_dict(), {"objectId": "11111111-1111-1111-1111-111111111111"}) is False
    assert same_person(caller.to_dict(), {"objectId": sp}) is True
