"""The twin's one error catalogue: every error it answers comes from here, in ARM's envelope.

`{"error": {"code", "message", "details"?}}` — the shape azure-core parses into HttpResponseError.code
and .message. Each service folder registers its own entries with `register` (its errors.py), so the
catalogue is one table while each service keeps its messages beside its handlers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CatalogueEntry:
    status: int
    message: str  # str.format template over the keyword arguments given to TwinError.of


CATALOGUE: dict[str, CatalogueEntry] = {
    "AuthenticationFailed": CatalogueEntry(
        401, "Authentication failed. The 'Authorization' header is missing."
    ),
    "InvalidAuthenticationToken": CatalogueEntry(
        401, "The access token is invalid. The 'Authorization' header must be 'Bearer <token>'."
    ),
    "MissingApiVersionParameter": CatalogueEntry(
        400, "The api-version query parameter (?api-version=) is required for all requests."
    ),
    "InvalidRequestContent": CatalogueEntry(
        400, "The request content was invalid and could not be deserialized: {detail}"
    ),
    "InvalidResourceType": CatalogueEntry(404, "The resource type could not be found for path '{path}'."),
    "MethodNotAllowed": CatalogueEntry(405, "The requested method {method} is not allowed on '{path}'."),
    "TooManyRequests": CatalogueEntry(
        429, "The request is being throttled. Retry after {retry_after} seconds (injected by the twin)."
    ),
    "InternalServerError": CatalogueEntry(500, "Encountered internal server error (injected by the twin)."),
    "ServiceUnavailable": CatalogueEntry(503, "The service is unavailable (injected by the twin)."),
    "BadGateway": CatalogueEntry(502, "Bad gateway (injected by the twin)."),
    "GatewayTimeout": CatalogueEntry(504, "The gateway timed out (injected by the twin)."),
    # Injected 401, worded as ARM words it for an expired token.
    "ExpiredAuthenticationToken": CatalogueEntry(
        401, "The access token expiry UTC time is earlier than current UTC time (injected by the twin)."
    ),
    # ARM's answer to a call the caller's role assignments do not allow, verbatim (quoted in Azure/ARO-RP#31 and
    # #66, Azure/azure-quickstart-templates#8920): from an injected fault and from the RBAC mode (twin/rbac/).
    "AuthorizationFailed": CatalogueEntry(
        403, "The client '{client}' with object id '{client}' does not have authorization to perform action "
        "'{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh "
        "your credentials."
    ),
    "InvalidControlRequest": CatalogueEntry(400, "Twin control request rejected: {detail}"),
}


def register(entries: dict[str, CatalogueEntry]) -> None:
    """Add a service's entries; a code may be declared once only, so two services cannot disagree."""
    for code, entry in entries.items():
        existing = CATALOGUE.get(code)
        if existing is not None and existing != entry:
            raise ValueError(f"error code {code!r} is already in the twin's catalogue with another meaning")
        CATALOGUE[code] = entry


class TwinError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    @classmethod
    def of(
        cls,
        code: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> TwinError:
        entry = CATALOGUE[code]
        return cls(entry.status, code, entry.message.format(**fields), details, headers)

    def envelope(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def error_body(code: str, **fields: Any) -> dict[str, Any]:
    """The inner `{code, message}` of a catalogue entry, for nesting in details or statusMessage."""
    return {"code": code, "message": CATALOGUE[code].message.format(**fields)}
