"""Durable's limit on a custom status, and how the rollout's view is made to fit it.

The Durable extension stores the custom status with every checkpoint and refuses one whose JSON is larger
than 16 KB of UTF-16 text: DurableTask's MessagePayloadDataConverter throws "The UTF-16 size of the
JSON-serialized payload must not exceed 16 KB" when int(UTF-16 bytes / 1024) > 16, SetCustomStatus passes
that on, and the orchestration FAILS. A rollout of a few targets with prerequisite warnings, or a wave whose
approval shows its what-if, passes that easily — so the view is cut to fit, in steps that keep what a person
polling the status needs most (phases, the approval's wave and digest) and drop the detail first. The full
detail is in the rollout's output when it ends, and `breakerpanel plan` shows a whole what-if.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# Under the extension's threshold with room to spare: the extension re-serializes the JSON itself.
LIMIT_UTF16_BYTES = 16 * 1024
_REFUSED_ABOVE_KB = 16
# What a target keeps when the view must be compact.
_COMPACT_TARGET_KEYS = ("target", "wave", "phase", "deploymentName", "provisioningState", "stage", "problems",
                        "whatIf", "cancelled")
_MORE = re.compile(r"^\s*… (\d+) more$")
# What answering the gate needs (the HTTP API checks an answer against them): never cut.
_APPROVAL_KEYS = ("status", "wave", "whatIfDigest", "event", "since")
_TRIMMED_NOTE = ("the custom status is cut to Durable's 16 KB; the rollout's output holds every detail when it "
                 "ends, and `breakerpanel plan` shows the whole what-if")


def utf16_size(value: object) -> int:
    """Bytes of the JSON in UTF-16 — how Azure Storage keeps it (json.dumps escapes non-ASCII: 6 characters
    each, more than the extension's own serialization, so this never under-counts)."""
    return len(json.dumps(value).encode("utf-16-le"))


def refusal(value: object) -> str | None:
    """The extension's error for a custom status it would refuse, or None when it is accepted."""
    size_kb = int(utf16_size(value) / 1024)
    if size_kb > _REFUSED_ABOVE_KB:
        return (f"The UTF-16 size of the JSON-serialized payload must not exceed {_REFUSED_ABOVE_KB} KB. "
                f"The current payload size is {size_kb} KB.")
    return None


def _counts(items: Iterable[object], field: str) -> dict[str, int]:
    """How many of `items` have each value of `field` ("unknown" for an item that is not an object)."""
    counts: dict[str, int] = {}
    for item in items:
        value = str(item.get(field)) if isinstance(item, Mapping) else "unknown"
        counts[value] = counts.get(value, 0) + 1
    return counts


def _map_targets(view: Mapping[str, Any], change: Callable[[Mapping[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    targets = view.get("targets")
    if not isinstance(targets, Mapping):
        return dict(view)
    return {**view, "targets": {key: change(t) if isinstance(t, Mapping) else t for key, t in targets.items()}}


def _counted_details(target: Mapping[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in target.items() if k not in ("prerequisites", "warnings")}
    if "prerequisites" in target:
        checks = target["prerequisites"]
        shown["prerequisites"] = _counts(checks if isinstance(checks, list) else [], "status")
    if target.get("warnings"):
        shown["warnings"] = len(target["warnings"]) if isinstance(target["warnings"], list) else 1
    return shown


def _compact(target: Mapping[str, Any]) -> dict[str, Any]:
    shown = {k: target[k] for k in _COMPACT_TARGET_KEYS if k in target}
    if isinstance(shown.get("target"), Mapping):
        shown["target"] = {k: shown["target"][k] for k in ("apimName", "wave") if k in shown["target"]}
    return shown


def _gate_lines(view: Mapping[str, Any], per_target: int) -> dict[str, Any]:
    approval = view.get("approval")
    if not isinstance(approval, Mapping) or not isinstance(approval.get("whatIf"), Mapping):
        return dict(view)
    shown: dict[str, Any] = {}
    for key, lines in approval["whatIf"].items():
        lines = [str(line) for line in lines] if isinstance(lines, list) else []
        real = [line for line in lines if not _MORE.match(line)]
        already = sum(int(m.group(1)) for line in lines if (m := _MORE.match(line)))
        hidden = len(real) - per_target + already if len(real) > per_target else already
        shown[key] = real[:per_target] + ([f"  … {hidden} more"] if hidden > 0 else [])
    return {**view, "approval": {**approval, "whatIf": shown}}


def _other_waves_counted(view: Mapping[str, Any]) -> dict[str, Any]:
    targets = view.get("targets")
    if not isinstance(targets, Mapping):
        return dict(view)
    wave = view.get("wave")
    kept = {k: t for k, t in targets.items() if isinstance(t, Mapping) and t.get("wave") == wave}
    others = [t for k, t in targets.items() if k not in kept]
    return {**view, "targets": kept, "otherTargets": _counts(others, "phase")}


def _only_counts(view: Mapping[str, Any]) -> dict[str, Any]:
    targets = view.get("targets")
    shown = {k: v for k, v in view.items() if k not in ("targets", "otherTargets")}
    shown["targets"] = {}
    counted = _counts(targets.values() if isinstance(targets, Mapping) else [], "phase")
    # Waves counted by an earlier step stay counted.
    earlier = view.get("otherTargets")
    for phase, count in (earlier.items() if isinstance(earlier, Mapping) else []):
        counted[phase] = counted.get(phase, 0) + int(count)
    shown["otherTargets"] = counted
    approval = shown.get("approval")
    if isinstance(approval, Mapping):
        shown["approval"] = {k: approval[k] for k in _APPROVAL_KEYS if k in approval}
    return shown


def fit(view: Mapping[str, Any], limit: int = LIMIT_UTF16_BYTES) -> dict[str, Any]:
    """`view` as it is when it fits; otherwise the first of ever shorter forms that does, marked `trimmed`."""
    if utf16_size(view) <= limit:
        return dict(view)
    steps: list[Callable[[Mapping[str, Any]], dict[str, Any]]] = [
        lambda v: _map_targets(v, _counted_details),
        lambda v: _gate_lines(v, 10),
        lambda v: _gate_lines(v, 4),
        lambda v: _map_targets(v, _compact),
        lambda v: _gate_lines(v, 1),
        _other_waves_counted,
        _only_counts,
    ]
    shown: dict[str, Any] = {**view, "trimmed": _TRIMMED_NOTE}
    for step in steps:
        shown = step(shown)
        if utf16_size(shown) <= limit:
            return shown
    # Nothing left to cut but free text: keep the identity of the rollout, where it stands and its gate.
    return {k: shown[k] for k in ("rolloutId", "phase", "wave", "status", "approval", "trimmed", "targets",
                                  "otherTargets", "waiting") if shown.get(k) not in (None, {})}
