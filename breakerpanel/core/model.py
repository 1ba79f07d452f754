"""The rollout domain: what a person asks for, and how a problem with it is reported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]
ApprovalMode = Literal["none", "required", "onDestructive"]
APPROVAL_MODES: tuple[ApprovalMode, ...] = ("none", "required", "onDestructive")


@dataclass(frozen=True)
class Problem:
    """One thing wrong (error) or risky (warning) with a request, at a JSON field path, with its fix."""

    field: str
    problem: str
    fix: str
    severity: Severity = "error"

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "problem": self.problem, "fix": self.fix, "severity": self.severity}




@dataclass(frozen=True)
class Target:
    """One APIM instance to roll out to. Waves run in ascending order."""

    subscription_id: str
    resource_group: str
    apim_name: str
    wave: int = 1

    @property
    def key(self) -> tuple[str, str, str]:
        # ARM names are case-insensitive, so the identity of a target is too.
        return (self.subscription_id.lower(), self.resource_group.lower(), self.apim_name.lower())

    @property
    def apim_resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.ApiManagement/service/{self.apim_name}"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "subscriptionId": self.subscription_id,
            "resourceGroup": self.resource_group,
            "apimName": self.apim_name,
            "wave": self.wave,
        }


@dataclass(frozen=True)
class BackendSpec:
    """One Azure OpenAI endpoint: a Single backend, and its place in the pool."""

    name: str
    url: str
    priority: int
    weight: int

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "url": self.url, "priority": self.priority, "weight": self.weight}


@dataclass(frozen=True)
class StatusCodeRange:
    min: int
    max: int

    def contains(self, code: int) -> bool:
        return self.min <= code <= self.max

    def to_dict(self) -> dict[str, int]:
        return {"min": self.min, "max": self.max}


@dataclass(frozen=True)
class BreakerRule:
    """The one circuit-breaker rule every backend gets. Durations are ISO 8601 text, as APIM takes them."""

    name: str
    failure_count: int | None
    failure_percentage: int | None
    interval: str
    status_code_ranges: tuple[StatusCodeRange, ...]
    error_reasons: tuple[str, ...]
    trip_duration: str
    accept_retry_after: bool
    failure_response_status_code: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "failureCount": self.failure_count,
            "failurePercentage": self.failure_percentage,
            "interval": self.interval,
            "statusCodeRanges": [r.to_dict() for r in self.status_code_ranges],
            "errorReasons": list(self.error_reasons),
            "tripDuration": self.trip_duration,
            "acceptRetryAfter": self.accept_retry_after,
            "failureResponseStatusCode": self.failure_response_status_code,
        }


@dataclass(frozen=True)
class RolloutRequest:
    targets: tuple[Target, ...]
    backends: tuple[BackendSpec, ...]
    breaker_rule: BreakerRule
    pool_name: str
    approval: ApprovalMode = "onDestructive"
    rollback_on_failure: bool = True

    def waves(self) -> list[tuple[int, tuple[Target, ...]]]:
        """Targets grouped by wave, waves ascending, request order kept inside a wave."""
        numbers = sorted({t.wave for t in self.targets})
        return [(n, tuple(t for t in self.targets if t.wave == n)) for n in numbers]

    def to_dict(self) -> dict[str, object]:
        """The request in its JSON contract shape (what parse_rollout_request reads back)."""
        return {
            "targets": [t.to_dict() for t in self.targets],
            "backends": [b.to_dict() for b in self.backends],
            "breakerRule": self.breaker_rule.to_dict(),
            "poolName": self.pool_name,
            "approval": self.approval,
            "rollbackOnFailure": self.rollback_on_failure,
        }
