"""Who is calling, and whether they may — from what App Service Authentication (Easy Auth) vouches for.

Easy Auth puts the signed-in principal in `X-MS-CLIENT-PRINCIPAL` (base64 JSON: auth_typ, name_typ,
role_typ, claims[{typ, val}]) and `X-MS-CLIENT-PRINCIPAL-ID` / `-NAME` / `-IDP`. App Service strips those
headers from incoming requests *only while authentication is on* ("External requests aren't allowed to set
these headers, so they're present only if App Service sets them" — learn.microsoft.com, "Work with user
identities in Azure App Service authentication"); the platform says it is on by injecting
`WEBSITE_AUTH_ENABLED=True`. With it off, anyone can write the headers, so:

- mode "easyAuth" (the default, and what infra/app deploys): the headers are trusted only when the platform
  says Easy Auth is on; otherwise every call is refused as a misconfiguration (500, never a guess). A call
  without a principal, one signed in by another identity provider than Microsoft Entra ID (auth_typ "aad"),
  or one without an Entra object id (the oid claim), is a 401; a principal without the route's app role is a
  403. A user and an application (a service principal or managed identity, app-only token: roles, oid, no
  upn) are both callers; the app roles' allowedMemberTypes (infra/app/app-roles.json) say which may be which.
- mode "functionKey" (an explicit setting, for local use): the function key alone admits; the principal
  headers are ignored whatever they say, and the caller is the anonymous operator "function key" — who has
  no identity four eyes could tell apart.

The caller is recorded by Entra object id and UPN (never only a display name). Pure: headers and settings in.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

PRINCIPAL_HEADER = "x-ms-client-principal"
ENTRA_PROVIDER = "aad"  # auth_typ / X-MS-CLIENT-PRINCIPAL-IDP of a Microsoft Entra ID sign-in
PRINCIPAL_NAME_HEADER = "x-ms-client-principal-name"
_ROLE_CLAIMS = ("roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
_OID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
_UPN_CLAIMS = ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "upn", "preferred_username")
_NAME_CLAIMS = ("name", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name")
Via = Literal["easyAuth", "functionKey", "local"]


@dataclass(frozen=True)
class Caller:
    object_id: str  # Entra object id: what four eyes compares; "" when there is no identity (function key)
    upn: str  # user principal name; "" for an application caller
    name: str
    roles: frozenset[str]
    via: Via

    def to_dict(self) -> dict[str, str]:
        return {"objectId": self.object_id, "upn": self.upn, "name": self.name, "via": self.via}


FUNCTION_KEY_CALLER = Caller("", "", "function key", frozenset(), "functionKey")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    status: int  # 200 when allowed, else 401, 403 or 500 (the app is misconfigured)
    reason: str


def _principal(encoded: str) -> dict[str, Any]:
    try:
        principal = json.loads(base64.b64decode(encoded, validate=False))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{PRINCIPAL_HEADER} is not base64 JSON") from exc
    if not isinstance(principal, dict):
        raise ValueError(f"{PRINCIPAL_HEADER} is not a JSON object")
    if not isinstance(principal.get("claims") or [], list):
        raise ValueError(f"{PRINCIPAL_HEADER} has claims that are not a list")
    return principal


def read_caller(headers: Mapping[str, str]) -> Caller | None:
    """The Easy Auth principal in `headers`; None without one; ValueError when it is unreadable.

    Only meaningful when the platform strips these headers from what callers send (see the module docstring).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    encoded = lowered.get(PRINCIPAL_HEADER)
    if encoded is None:
        return None
    principal = _principal(encoded)
    # auth_typ names the identity provider that signed the caller in ("aad": Microsoft Entra ID). Only Entra
    # vouches for an object id and this app registration's app roles: a principal from any other provider the
    # app might be given (a custom OpenID Connect one can emit `oid` and `roles` claims too) is no caller here.
    provider = str(principal.get("auth_typ") or "")
    if provider.lower() != ENTRA_PROVIDER:
        raise ValueError(f"the signed-in principal is from identity provider {provider[:40]!r}, not Microsoft "
                         f"Entra ID ({ENTRA_PROVIDER!r}); sign in with Microsoft Entra ID")
    claims = [c for c in principal.get("claims") or [] if isinstance(c, dict) and isinstance(c.get("val"), str)]

    def first(types: tuple[str, ...]) -> str:
        for kind in types:
            for claim in claims:
                if claim.get("typ") == kind and claim["val"].strip():
                    return str(claim["val"]).strip()
        return ""

    role_types = {str(principal.get("role_typ") or ""), *_ROLE_CLAIMS} - {""}
    roles = frozenset(str(c["val"]) for c in claims if c.get("typ") in role_types and c["val"])
    # The object id only from the token's oid claim: X-MS-CLIENT-PRINCIPAL-ID is "an identifier for the caller
    # set by the identity provider", not documented as the object id, and four eyes must compare one kind of id.
    object_id = first(_OID_CLAIMS)
    upn = first(_UPN_CLAIMS)
    name_type = str(principal.get("name_typ") or "")
    name = first((name_type, *_NAME_CLAIMS) if name_type else _NAME_CLAIMS) or upn or str(
        lowered.get(PRINCIPAL_NAME_HEADER) or ""
    )
    return Caller(object_id.lower(), upn, name or object_id, roles, "easyAuth")


def authorize(
    headers: Mapping[str, str], required_role: str | tuple[str, ...], *, mode: str, platform_easy_auth: bool
) -> tuple[Verdict, Caller | None]:
    """May this call go ahead, and who makes it. `required_role` is one app role, or several any of which
    will do; `mode` is BREAKERPANEL_AUTH; `platform_easy_auth` is whether WEBSITE_AUTH_ENABLED says App
    Service Authentication is on."""
    accepted = (required_role,) if isinstance(required_role, str) else required_role
    if mode == "functionKey":
        # The key alone: whatever principal headers arrived were not vouched for by anyone.
        return Verdict(True, 200, "function key (BREAKERPANEL_AUTH=functionKey)"), FUNCTION_KEY_CALLER
    if not platform_easy_auth:
        return (
            Verdict(
                False,
                500,
                "BREAKERPANEL_AUTH is 'easyAuth' but App Service Authentication is off (WEBSITE_AUTH_ENABLED is "
                "not 'True'), so no caller identity can be trusted. Fix: deploy infra/app (it turns "
                "authentication on with Microsoft Entra ID), or set BREAKERPANEL_AUTH=functionKey for local use",
            ),
            None,
        )
    try:
        caller = read_caller(headers)
    except ValueError as exc:
        return Verdict(False, 401, str(exc)), None
    if caller is None:
        return Verdict(False, 401, "sign in with Microsoft Entra ID: this API needs an authenticated caller"), None
    if not caller.object_id:
        return Verdict(False, 401, "the signed-in principal carries no Entra object id (oid claim)"), None
    held = [role for role in accepted if role in caller.roles]
    if held:
        return Verdict(True, 200, f"role {held[0]}"), caller
    wanted = " or ".join(f"'{role}'" for role in accepted)
    return (
        Verdict(False, 403, f"the caller lacks the app role {wanted}; assign it in the app registration"),
        caller,
    )


def identity(record: object) -> dict[str, str]:
    """A recorded caller (`Caller.to_dict()`, or a bare name from older inputs) as a dict."""
    if isinstance(record, Mapping):
        return {k: str(record.get(k) or "") for k in ("objectId", "upn", "name", "via")}
    return {"objectId": "", "upn": "", "name": str(record or ""), "via": "local"}


def display(record: object) -> str:
    """'Ada Lovelace <ada@contoso.com> (oid 1234…)' — who, for a person reading a result."""
    who = identity(record)
    parts = [who["name"] or who["upn"] or "unknown"]
    if who["upn"] and who["upn"] != parts[0]:
        parts.append(f"<{who['upn']}>")
    if who["objectId"]:
        parts.append(f"(oid {who['objectId']})")
    return " ".join(parts)


def same_person(a: object, b: object) -> bool | None:
    """True/False when both are Entra identities; None when either has no object id (cannot be told apart)."""
    first, second = identity(a)["objectId"].lower(), identity(b)["objectId"].lower()
    if not first or not second:
        return None
    return first == second
