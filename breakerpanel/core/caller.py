"""Who is calling, from App Service Authentication (Easy Auth) headers, and whether they may.

Easy Auth puts the signed-in principal in `X-MS-CLIENT-PRINCIPAL` (base64 JSON: auth_typ, name_typ,
role_typ, claims[{typ, val}]). The platform strips that header from incoming requests, so when it is present
it was written by Easy Auth; when it is absent the function key alone admits the caller.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass

PRINCIPAL_HEADER = "x-ms-client-principal"
_ROLE_CLAIMS = ("roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
_NAME_CLAIMS = ("name", "preferred_username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name")


@dataclass(frozen=True)
class Caller:
    authenticated_by_easy_auth: bool
    name: str
    roles: frozenset[str]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    status: int  # 200 when allowed, else 401 or 403
    reason: str


def read_caller(headers: Mapping[str, str]) -> Caller | None:
    """The caller from Easy Auth headers; None without them; ValueError when the header is unreadable."""
    lowered = {k.lower(): v for k, v in headers.items()}
    encoded = lowered.get(PRINCIPAL_HEADER)
    if encoded is None:
        return None
    try:
        principal = json.loads(base64.b64decode(encoded, validate=False))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{PRINCIPAL_HEADER} is not base64 JSON") from exc
    if not isinstance(principal, dict):
        raise ValueError(f"{PRINCIPAL_HEADER} is not a JSON object")
    raw_claims = principal.get("claims") or []
    if not isinstance(raw_claims, list):
        raise ValueError(f"{PRINCIPAL_HEADER} has claims that are not a list")
    claims = [c for c in raw_claims if isinstance(c, dict)]
    role_types = {str(principal.get("role_typ") or ""), *_ROLE_CLAIMS} - {""}
    name_types = {str(principal.get("name_typ") or ""), *_NAME_CLAIMS} - {""}
    roles = frozenset(str(c.get("val")) for c in claims if c.get("typ") in role_types and c.get("val"))
    names = [str(c.get("val")) for c in claims if c.get("typ") in name_types and c.get("val")]
    name = names[0] if names else str(lowered.get("x-ms-client-principal-name") or "unknown")
    return Caller(True, name, roles)


def authorize(headers: Mapping[str, str], required_role: str) -> tuple[Verdict, Caller | None]:
    try:
        caller = read_caller(headers)
    except ValueError as exc:
        return Verdict(False, 401, str(exc)), None
    if caller is None:
        return Verdict(True, 200, "function key"), None
    if required_role in caller.roles:
        return Verdict(True, 200, f"role {required_role}"), caller
    return (
        Verdict(False, 403, f"the caller lacks the app role '{required_role}'; assign it in the app registration"),
        caller,
    )
