"""The twin's request/response types and its case-insensitive router."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from twin.errors import TwinError

if TYPE_CHECKING:
    from twin.app import Twin


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # keys lower-cased
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # named groups of the matched route
    base_url: str = ""  # scheme://host:port the client used, for Location / nextLink headers

    @classmethod
    def from_raw(cls, method: str, raw_path: str, headers: dict[str, str], body: bytes, base_url: str) -> Request:
        parts = urlsplit(raw_path)
        query = {k.lower(): v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        return cls(
            method=method.upper(),
            path=parts.path,
            query=query,
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
            base_url=base_url,
        )

    @property
    def api_version(self) -> str | None:
        return self.query.get("api-version")

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise TwinError.of("InvalidRequestContent", detail=str(exc)) from None

    def json_object(self) -> dict[str, Any]:
        payload = self.json()
        if not isinstance(payload, dict):
            raise TwinError.of("InvalidRequestContent", detail="the request body must be a JSON object")
        return payload


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serializable, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


Handler = Callable[["Twin", Request], Response]


@dataclass(frozen=True)
class Route:
    """`name` identifies the route for fault injection and captured requests, e.g. "arm.deployments.put"."""

    name: str
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    authenticated: bool = True
    needs_api_version: bool = True  # ARM answers 400 MissingApiVersionParameter without ?api-version=


def route(
    name: str,
    method: str,
    path: str,
    handler: Handler,
    *,
    authenticated: bool = True,
    needs_api_version: bool = True,
) -> Route:
    """`path` uses {name} placeholders for one segment; matching ignores case as ARM does."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path.rstrip("/"))
    pattern = re.compile(f"^{regex}/?$", re.IGNORECASE)
    return Route(name, method.upper(), pattern, handler, authenticated, needs_api_version)


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self._routes = routes

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed = False
        for candidate in self._routes:
            found = candidate.pattern.match(path)
            if found is None:
                continue
            if candidate.method != method:
                allowed = True
                continue
            return candidate, found.groupdict()
        if allowed:
            raise TwinError.of("MethodNotAllowed", method=method, path=path)
        raise TwinError.of("InvalidResourceType", path=path)
