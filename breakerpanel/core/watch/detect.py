"""What is wrong with one target right now: a judgement per (incident kind, subject), with its evidence.

Kinds (severity):
  BreakerStuckOpen  (warning)  a backend open, or re-tripping with no successful interval, longer than
                               max(3 × tripDuration, 5 min)
  PoolDegraded      (warning)  the pool's whole top-priority group open while the fallback serves
  PoolExhausted     (critical) every member open, or the gateway answering 503 / the failure response
                               with no backend call
  BreakerBlindSpot  (warning)  a backend failing with codes its rule does not count: its breaker never trips
  ProvisioningFailed           a deployment in the target's resource group that ended Failed (critical when
                               a failed operation is an API Management resource, warning otherwise)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from breakerpanel.core.diagnosis import diagnose_error, diagnose_operations
from breakerpanel.core.instants import format_instant, parse_instant
from breakerpanel.core.watch.bins import Bin, Grid, Series
from breakerpanel.core.watch.breaker import BreakerTimeline, pool_gateway_answers
from breakerpanel.core.watch.config import GatewayConfig, Pool
from breakerpanel.core.watch.episodes import Judgement, Signal, judge
from breakerpanel.core.watch.policy import WatchPolicy

Kind = Literal["BreakerStuckOpen", "PoolDegraded", "PoolExhausted", "BreakerBlindSpot", "ProvisioningFailed"]
SubjectType = Literal["backend", "pool", "deployment"]
Severity = Literal["warning", "critical"]
BREAKER_KINDS: tuple[Kind, ...] = ("BreakerStuckOpen", "PoolDegraded", "PoolExhausted", "BreakerBlindSpot")

RUNBOOK: dict[str, str] = {
    "BreakerStuckOpen": (
        "Check the backend's own health and quota (Azure OpenAI: the deployment's TPM/RPM limit, the region's "
        "status, the backend's Retry-After in BackendResponseHeaders). Do: raise the quota or move traffic "
        "(lower its pool weight or priority) until it serves again; a breaker open for Retry-After lasts as "
        "long as the backend asks."
    ),
    "PoolDegraded": (
        "Traffic is on the fallback region: check every top-priority member (quota, region status, 429/5xx "
        "in the gateway logs). Do: restore a top-priority member or accept the fallback's latency and cost; "
        "watch the fallback's own quota."
    ),
    "PoolExhausted": (
        "Clients get 503 from the gateway with no backend called: every member's breaker is open. Check each "
        "member's failures and Retry-After. Do: restore capacity on any member, or add a member to the pool; "
        "a breaker cannot be closed by hand before its trip ends."
    ),
    "BreakerBlindSpot": (
        "The backend fails with status codes its breaker rule does not count, so the breaker never trips and "
        "the pool keeps sending traffic to it. Check the codes in the evidence (401/403: the gateway's managed "
        "identity or key on the backend; 404: the deployment name or URL path). Do: fix the backend's "
        "credentials or URL, or add the codes to the rule's statusCodeRanges if they mean an outage."
    ),
    "ProvisioningFailed": (
        "Read the failed operations below (code, cause, fix) and the deployment in the Portal "
        "(Resource group → Deployments). Do: apply the fix and redeploy; until then APIM keeps its previous "
        "configuration for the failed resources."
    ),
}


@dataclass(frozen=True)
class Observation:
    kind: Kind
    subject_type: SubjectType
    subject: str
    severity: Severity
    state: Literal["active", "pending", "recovered", "quiet"]
    since: datetime | None
    evidence: dict[str, Any] = field(default_factory=dict)
    # Tells apart incidents of one subject that are different events: a deployment name re-used by a later
    # deployment that fails again is a new incident.
    discriminator: str = ""

    @property
    def subject_key(self) -> str:
        suffix = f"@{self.discriminator}" if self.discriminator else ""
        return f"{self.kind}:{self.subject_type}:{self.subject.lower()}{suffix}"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else format_instant(moment)


def _episode_totals(bins: list[Bin | None], first: int, last: int) -> dict[str, Any]:
    items = [b for b in bins[first : last + 1] if b is not None]
    retry = [b.max_retry_after for b in items if b.max_retry_after]
    return {
        "requests": sum(b.requests for b in items),
        "successes": sum(b.successes for b in items),
        "countedFailures": sum(b.counted for b in items),
        "ignoredFailures": sum(b.ignored for b in items),
        "throttled": sum(b.throttled for b in items),
        "maxRetryAfterSeconds": max(retry) if retry else None,
        "gatewayAnswered": sum(b.gateway_only for b in items),
    }


def _last_success(bins: list[Bin | None]) -> datetime | None:
    found = [b.last_success for b in bins if b is not None and b.last_success is not None]
    return max(found) if found else None


def _observation(
    kind: Kind, subject_type: SubjectType, subject: str, severity: Severity, judgement: Judgement,
    bins: list[Bin | None], now: datetime, extra: dict[str, Any],
) -> Observation:
    episode = judgement.episode
    evidence: dict[str, Any] = dict(extra)
    if episode is not None:
        evidence.update(_episode_totals(bins, episode.first_index, episode.last_index))
        evidence["episodeStart"] = _iso(episode.start)
        evidence["lastSeen"] = _iso(episode.last_seen)
        evidence["durationSeconds"] = round(episode.duration(now).total_seconds())
    evidence["lastSuccess"] = _iso(_last_success(bins))
    if judgement.recovered_since is not None:
        evidence["healthySince"] = _iso(judgement.recovered_since)
    since = episode.start if episode is not None and judgement.state in ("active", "pending") else None
    return Observation(kind, subject_type, subject, severity, judgement.state, since, evidence)


def _breaker_signals(timeline: BreakerTimeline, bins: list[Bin | None]) -> list[Signal]:
    signals: list[Signal] = []
    for index, is_open in enumerate(timeline.open):
        item = bins[index]
        if item is not None and item.successes > 0:
            signals.append(Signal.OK)
        elif is_open:
            signals.append(Signal.START)
        elif item is not None and item.counted > 0:
            signals.append(Signal.CONTINUE)
        else:
            signals.append(Signal.NONE)
    return signals


def observe_gateway(
    config: GatewayConfig,
    series: Series,
    timelines: dict[str, BreakerTimeline],
    grid: Grid,
    now: datetime,
    policy: WatchPolicy,
) -> list[Observation]:
    """A judgement for every breaker-kind condition this target's configuration can have, from each
    backend's breaker timeline (breaker.breaker_timelines)."""
    found: list[Observation] = []
    step = grid.step.total_seconds()
    for backend in config.backends:
        key = backend.name.lower()
        bins = series.bins(key)
        timeline = timelines[key]
        rule = backend.rule
        if rule is not None:
            judgement = judge(
                _breaker_signals(timeline, bins), grid, now,
                gap_seconds=max(2 * step, rule.trip_seconds), threshold_seconds=policy.stuck_after(rule.trip_seconds),
                recovery_seconds=policy.recovery_seconds,
            )
            if judgement.state == "quiet":
                judgement = _idle_recovery(judgement, backend.name, config, series, grid, now, policy)
            trips = [(a, b) for a, b in timeline.trips if judgement.episode is None or b > judgement.episode.start]
            found.append(_observation(
                "BreakerStuckOpen", "backend", backend.name, "warning", judgement, bins, now,
                {"source": timeline.source, "rule": rule.describe(), "trips": len(trips),
                 "skippedByPoolBins": sum(timeline.skipped),
                 "thresholdSeconds": policy.stuck_after(rule.trip_seconds)},
            ))
        blind: list[Signal] = []
        for item in bins:
            if item is None or item.requests == 0:
                blind.append(Signal.NONE)
            elif item.ignored > 0 and item.ignored >= policy.blind_spot_ratio * item.requests:
                blind.append(Signal.START)
            else:
                blind.append(Signal.OK)
        judgement = judge(blind, grid, now, gap_seconds=policy.blind_spot_seconds,
                          threshold_seconds=policy.blind_spot_seconds, recovery_seconds=policy.recovery_seconds)
        observation = _observation(
            "BreakerBlindSpot", "backend", backend.name, "warning", judgement, bins, now,
            {"rule": rule.describe() if rule else "no circuit-breaker rule: nothing ever trips it",
             "uncountedCodes": list(rule.ignored_failure_codes()) if rule else None},
        )
        too_few = observation.evidence.get("ignoredFailures", 0) < policy.blind_spot_min_requests
        if observation.state == "active" and too_few:
            observation = replace(observation, state="pending")
        found.append(observation)
    for pool in config.pools:
        found += _observe_pool(pool, config, series, timelines, grid, now, policy)
    return found


def _idle_recovery(
    judgement: Judgement, name: str, config: GatewayConfig, series: Series, grid: Grid,
    now: datetime, policy: WatchPolicy,
) -> Judgement:
    """A fallback member nobody calls once its pool's higher priority serves again: nothing shows it open (its
    trip has long expired, so APIM has closed it) and its pool is served — the breaker is no longer stuck.
    Without this, an idle fallback would keep a "stuck" incident open until traffic happened to reach it."""
    seen_until = judgement.episode.last_seen if judgement.episode is not None else grid.start
    if (now - seen_until).total_seconds() < policy.recovery_seconds:
        return judgement
    after = max(grid.index(seen_until), 0)
    for pool in config.pools_of(name):
        peers = [m.name.lower() for m in pool.members if m.name.lower() != name.lower()]
        served = [
            i for i in range(after, len(grid))
            if series.served(peers, i)
        ]
        if served and (now - grid.at(served[0])).total_seconds() >= policy.recovery_seconds:
            return Judgement("recovered", judgement.episode, grid.at(served[0]))
    return judgement


def _observe_pool(
    pool: Pool, config: GatewayConfig, series: Series, timelines: dict[str, BreakerTimeline],
    grid: Grid, now: datetime, policy: WatchPolicy,
) -> list[Observation]:
    members = [m for m in pool.members if m.name.lower() in timelines]
    member_bins = [series.bins(m.name) for m in pool.members]
    gateway = pool_gateway_answers(pool, config, series, grid)
    longest_trip = max((t for m in members if (t := config.trip_seconds(m.name)) is not None), default=60.0)
    step = grid.step.total_seconds()

    exhausted: list[Signal] = []
    for index in range(len(grid)):
        all_open = bool(members) and all(timelines[m.name.lower()].open[index] for m in members)
        if series.served([m.name for m in pool.members], index):
            exhausted.append(Signal.OK)
        elif gateway[index] > 0 or all_open:
            exhausted.append(Signal.START)
        else:
            exhausted.append(Signal.NONE)
    combined: list[Bin | None] = []
    for index in range(len(grid)):
        parts = [b[index] for b in member_bins if b[index] is not None]
        pool_bin = series.at(pool.name, index)
        if pool_bin is not None:
            parts.append(pool_bin)
        combined.append(_sum_bins(parts, pool.name, grid.at(index)) if parts else None)
    judgement = judge(exhausted, grid, now, gap_seconds=max(2 * step, longest_trip),
                      threshold_seconds=policy.exhausted_seconds, recovery_seconds=policy.recovery_seconds)
    found = [_observation("PoolExhausted", "pool", pool.name, "critical", judgement, combined, now,
                          {"members": [m.name for m in pool.members]})]
    groups = pool.priority_groups()
    if len(groups) >= 2:
        top = [m for m in groups[0][1] if m.name.lower() in timelines]
        fallback = [m for _, group in groups[1:] for m in group]
        degraded: list[Signal] = []
        for index in range(len(grid)):
            top_open = bool(top) and all(timelines[m.name.lower()].open[index] for m in top)
            served = sum(series.requests(m.name, index) for m in fallback)
            if series.served([m.name for m in top], index):
                degraded.append(Signal.OK)
            elif exhausted[index] is Signal.START:
                # A pool is one incident at a time: while it is exhausted, that is the incident.
                degraded.append(Signal.CONTINUE)
            elif top_open and served > 0:
                degraded.append(Signal.START)
            elif top_open:
                degraded.append(Signal.CONTINUE)
            else:
                degraded.append(Signal.NONE)
        top_trip = max((t for m in top if (t := config.trip_seconds(m.name)) is not None), default=60.0)
        judgement = judge(degraded, grid, now, gap_seconds=max(2 * step, top_trip),
                          threshold_seconds=policy.stuck_after(top_trip), recovery_seconds=policy.recovery_seconds)
        observation = _observation(
            "PoolDegraded", "pool", pool.name, "warning", judgement, combined, now,
            {"topPriority": [m.name for m in groups[0][1]], "fallback": [m.name for m in fallback]},
        )
        if observation.state == "active" and found[0].state in ("active", "pending"):
            observation = replace(observation, state="pending")
        found.append(observation)
    return found


def _sum_bins(parts: list[Bin], name: str, start: datetime) -> Bin:
    successes = [p.last_success for p in parts if p.last_success is not None]
    retry = [p.max_retry_after for p in parts if p.max_retry_after is not None]
    return Bin(
        resource=parts[0].resource, backend=name, start=start,
        requests=sum(p.requests for p in parts), successes=sum(p.successes for p in parts),
        counted=sum(p.counted for p in parts), ignored=sum(p.ignored for p in parts),
        throttled=sum(p.throttled for p in parts), max_retry_after=max(retry) if retry else None,
        gateway_only=sum(p.gateway_only for p in parts), last_success=max(successes) if successes else None,
    )


# ---- deployments -------------------------------------------------------------------------------------------

def _props(deployment: Mapping[str, Any]) -> Mapping[str, Any]:
    props = deployment.get("properties")
    return props if isinstance(props, Mapping) else {}


def deployment_time(deployment: Mapping[str, Any]) -> datetime | None:
    return parse_instant(_props(deployment).get("timestamp"))


def _output_resources(deployment: Mapping[str, Any]) -> set[str]:
    found = _props(deployment).get("outputResources")
    return {str(r.get("id")).lower() for r in found if isinstance(r, Mapping) and r.get("id")} if isinstance(
        found, list) else set()


def _nested_failures(listed: list[Mapping[str, Any]],
                     failed_operations: Mapping[str, list[Mapping[str, Any]]]) -> set[str]:
    """Names of Failed deployments that another listed Failed deployment ran as a nested one (a Bicep module in
    the same resource group): ARM lists both, and the parent's failed operation on the nested deployment carries
    the nested failure in its details — one failure, so one incident, under the name the person deployed."""
    failed = {str(d.get("name") or "").lower() for d in listed
              if str(_props(d).get("provisioningState") or "").lower() == "failed"}
    found: set[str] = set()
    for parent in failed:
        for op in failed_operations.get(parent, []):
            props = op.get("properties") if isinstance(op, Mapping) else None
            target = props.get("targetResource") if isinstance(props, Mapping) else None
            if not isinstance(target, Mapping):
                continue
            kind = str(target.get("resourceType") or "").lower()
            child = str(target.get("resourceName") or "").rsplit("/", 1)[-1].lower()
            if kind == "microsoft.resources/deployments" and child in failed and child != parent:
                found.add(child)
    return found


def observe_deployments(
    deployments: Iterable[Mapping[str, Any]],
    failed_operations: Mapping[str, list[Mapping[str, Any]]],
    open_deployment_incidents: Iterable[tuple[str, str] | tuple[str, str, Iterable[str]]],
    now: datetime,
) -> list[Observation]:
    """ProvisioningFailed per Failed deployment (keyed by its name and time, so a re-run that fails again is a
    new incident), and "recovered" for an open one — given as (name, timestamp[, failed resource ids]) — when
    a later deployment of the same name succeeded, or a later successful one (anyone's: a fixed rollout has a
    new name) deployed every resource that failed."""
    listed = [d for d in deployments if isinstance(d, Mapping)]
    nested = _nested_failures(listed, failed_operations)
    found: list[Observation] = []
    for deployment in listed:
        when = deployment_time(deployment)
        if when is None or when > now:
            continue  # `--at` replays the past: a deployment from after T did not exist yet
        if str(_props(deployment).get("provisioningState") or "").lower() != "failed":
            continue
        name = str(deployment.get("name") or "")
        if name.lower() in nested:
            continue  # a module's deployment: the deployment that ran it reports the failure, with its cause
        operations = failed_operations.get(name.lower(), [])
        diagnoses = diagnose_operations(operations)
        if not diagnoses:
            diagnoses = diagnose_error(_props(deployment).get("error"), fallback_code="DeploymentFailed")
        apim = any("microsoft.apimanagement" in (d.resource_type or d.resource_id).lower() for d in diagnoses)
        evidence = {
            "deploymentId": str(deployment.get("id") or ""),
            "timestamp": _iso(when),
            "correlationId": str(_props(deployment).get("correlationId") or ""),
            "failedOperations": [
                {k: v for k, v in d.to_dict().items() if k != "raw"} for d in diagnoses
            ],
        }
        found.append(Observation("ProvisioningFailed", "deployment", name, "critical" if apim else "warning",
                                 "active", when, evidence, discriminator=_iso(when) or ""))
    for name, stamp, *rest in open_deployment_incidents:
        failed_resources = {r.lower() for r in (rest[0] if rest else ()) if r}
        failed_at = deployment_time({"properties": {"timestamp": stamp}})
        later = [
            d for d in listed
            if str(_props(d).get("provisioningState") or "").lower() == "succeeded"
            and (t := deployment_time(d)) is not None and failed_at is not None and failed_at < t <= now
            and (str(d.get("name") or "").lower() == name.lower()
                 or (failed_resources and failed_resources <= _output_resources(d)))
        ]
        if later:
            fixed = min(deployment_time(d) for d in later)  # type: ignore[type-var]
            found.append(Observation("ProvisioningFailed", "deployment", name, "warning", "recovered", None,
                                     {"succeededAt": _iso(fixed)}, discriminator=stamp))
    return found
