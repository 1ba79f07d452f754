"""Provisioning failures injected into deployments: a resource provider refusing one resource.

Azure resource providers fail individual resources for reasons no template check can foresee (an internal
error, a quota, a conflicting operation). A rule matches resource ids by case-insensitive glob and makes
the matching resource's operation fail with the given error, `count` times (None: every time).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from twin.errors import TwinError


@dataclass
class FailureRule:
    resource: str  # glob over the resource id, e.g. "*/backends/aoai-westus"
    status: int
    code: str
    message: str
    count: int | None = None
    fired: int = 0

    def describe(self) -> dict[str, Any]:
        return {"resource": self.resource, "status": self.status, "code": self.code, "message": self.message,
                "count": self.count, "fired": self.fired}


def parse_failure(spec: object) -> FailureRule:
    if not isinstance(spec, dict):
        raise ValueError("a provisioning failure must be a JSON object")
    known = {"resource", "status", "code", "message", "count"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; known: {sorted(known)}")
    resource, code, message = spec.get("resource"), spec.get("code"), spec.get("message")
    if not isinstance(resource, str) or not resource:
        raise ValueError("resource must be a glob over resource ids, e.g. '*/backends/aoai-westus'")
    if not isinstance(code, str) or not code or not isinstance(message, str) or not message:
        raise ValueError("code and message must be non-empty strings, as the resource provider would answer")
    status = spec.get("status", 400)
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError("status must be an HTTP error status 400..599")
    count = spec.get("count")
    if count is not None and (not isinstance(count, int) or count < 1):
        raise ValueError("count must be a positive whole number, or null for every time")
    return FailureRule(resource, status, code, message, count)


class ProvisioningFailures:
    def __init__(self) -> None:
        self._rules: list[FailureRule] = []

    def add(self, rule: FailureRule) -> None:
        self._rules.append(rule)

    def clear(self) -> None:
        self._rules.clear()

    def describe(self) -> list[dict[str, Any]]:
        return [rule.describe() for rule in self._rules]

    def check(self, resource_id: str) -> None:
        """Raise the injected refusal for this resource, if a rule still has one to give."""
        for rule in self._rules:
            if rule.count is not None and rule.fired >= rule.count:
                continue
            if fnmatchcase(resource_id.lower(), rule.resource.lower()):
                rule.fired += 1
                raise TwinError(rule.status, rule.code, rule.message)
