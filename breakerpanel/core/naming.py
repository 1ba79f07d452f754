"""Names that must be the same every time they are computed: deployment names and orchestration ids.

A replayed orchestrator recomputes them, so they depend only on their inputs. Limits are in apim_limits
(deployment names: 1–64 of [-\\w._()]; Durable instance ids: 1–100, no '/', '\\', '#', '?', no leading '@').
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from breakerpanel.core import apim_limits as lim
from breakerpanel.core.model import Target

_UNSAFE = re.compile(r"[^a-z0-9]+")


def _slug(text: str, limit: int) -> str:
    return _UNSAFE.sub("-", text.lower()).strip("-")[:limit].strip("-")


def _digest(*parts: str, length: int) -> str:
    return hashlib.sha256("|".join(p.lower() for p in parts).encode()).hexdigest()[:length]


def deployment_name(rollout_id: str, target: Target) -> str:
    """'bp-<rollout>-<apim>-<hash>': unique per rollout and target, at most 64 characters.

    onErrorDeployment LastSuccessful needs every rollout to leave its own deployment in history, so the
    rollout id is part of the name; the hash keeps two long, truncated names apart.
    """
    if not rollout_id.strip():
        raise ValueError("rollout_id is empty; a deployment name needs the rollout's id")
    digest = _digest(rollout_id, *target.key, length=8)
    name = f"bp-{_slug(rollout_id, 24) or 'r'}-{_slug(target.apim_name, 20) or 'apim'}-{digest}"
    assert len(name) <= lim.MAX_DEPLOYMENT_NAME_LENGTH and lim.DEPLOYMENT_NAME.match(name), name
    return name


def rollback_deployment_name(deployment: str) -> str:
    """The deployment that puts back the last good state after `deployment` failed: '<name>-rb', ≤ 64 chars.

    Deterministic, so a replayed or redelivered rollback re-attaches instead of submitting twice.
    """
    name = f"{deployment[: lim.MAX_DEPLOYMENT_NAME_LENGTH - 3]}-rb"
    assert lim.DEPLOYMENT_NAME.match(name), name
    return name


def instance_id(target: Target) -> str:
    """The orchestration instance id for a target: one rollout at a time per APIM instance (singleton).

    Readable ('rollout-<apim>-<rg>-<hash>'), case-insensitive like ARM names, at most 100 characters.
    """
    digest = _digest(*target.key, length=12)
    name = f"rollout-{_slug(target.apim_name, 40) or 'apim'}-{_slug(target.resource_group, 30) or 'rg'}-{digest}"
    assert len(name) <= lim.MAX_INSTANCE_ID_LENGTH and not set(name) & lim.INSTANCE_ID_FORBIDDEN, name
    return name


def new_rollout_id(now: datetime, entropy: str) -> str:
    """'20261124t223000z-1a2b3c4d': sortable by start time; `entropy` (e.g. a uuid4) keeps it unique."""
    if not entropy:
        raise ValueError("entropy is empty; pass e.g. uuid.uuid4().hex")
    return f"{now.strftime('%Y%m%dt%H%M%Sz')}-{_digest(entropy, length=8)}"
