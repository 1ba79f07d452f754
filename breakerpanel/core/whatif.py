"""A what-if result, summarized for a person and for the approval gate.

Input is the REST WhatIfOperationResult (`{"status", "properties": {"changes": [...], "potentialChanges":
[...]}, "error"}`); the SDK's flattened form (`changes` at the top) is accepted too. `potentialChanges` (newer
api-versions; the SDK's 2026-06-01 model has it) are changes ARM predicts "may or may not happen": a potential
delete is still a delete nobody may wave through, so they are summarised beside the definite ones, marked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CHANGE_TYPES = ("Create", "Delete", "Modify", "Deploy", "NoChange", "Ignore", "Unsupported")
PROPERTY_CHANGE_TYPES = ("Create", "Delete", "Modify", "Array", "NoEffect")
# The SDK's ChangeType and PropertyChangeType are CaseInsensitiveEnumMeta enums: 'delete' is Delete. Read once
# as the spec spells them, so every later `== "Delete"` (deletes, destructive, the gate) holds.
_SPELLING = {word.lower(): word for word in CHANGE_TYPES + PROPERTY_CHANGE_TYPES}


def _spelled(value: object, default: str = "") -> str:
    text = str(value or default)
    return _SPELLING.get(text.lower(), text)


@dataclass(frozen=True)
class ResourceChange:
    resource_id: str
    change_type: str
    resource_type: str
    name: str
    # (path, propertyChangeType) for every leaf of the delta: ("tags.myNewTag", "Create")
    property_changes: tuple[tuple[str, str], ...] = ()
    unsupported_reason: str = ""
    # For a pool backend: (member backend name, "Create"|"Delete"|"Modify") for each member the change adds,
    # removes or re-weights. ARM reports array items by index; a person asks which backend.
    member_changes: tuple[tuple[str, str], ...] = ()
    # From `potentialChanges`: ARM cannot say whether it happens (it depends on deployment-time values).
    potential: bool = False

    @property
    def removes_properties(self) -> bool:
        return any(kind == "Delete" for _, kind in self.property_changes)


@dataclass(frozen=True)
class WhatIfSummary:
    status: str
    changes: tuple[ResourceChange, ...]
    error: object = None
    # (level, code, message) of `properties.diagnostics` (DeploymentDiagnosticsDefinition, newer api-versions):
    # e.g. a Warning that resources were skipped from evaluation, which an approver must see beside the changes.
    diagnostics: tuple[tuple[str, str, str], ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for change in self.changes:
            found[change.change_type] = found.get(change.change_type, 0) + 1
        return found

    @property
    def has_deletes(self) -> bool:
        return any(c.change_type == "Delete" for c in self.changes)

    @property
    def is_destructive(self) -> bool:
        """Deletes a resource, or removes a property/array item from one (e.g. a pool member)."""
        return self.has_deletes or any(c.change_type == "Modify" and c.removes_properties for c in self.changes)

    @property
    def failed(self) -> bool:
        return self.error is not None or self.status.lower() == "failed"

    def lines(self) -> list[str]:
        """'3 to create, 1 to modify, 1 to delete, 2 unchanged' then one line per resource that changes."""
        counts = self.counts
        words = [
            ("Create", "to create"),
            ("Modify", "to modify"),
            ("Delete", "to delete"),
            ("Deploy", "to deploy"),
            ("NoChange", "unchanged"),
            ("Ignore", "ignored"),
            ("Unsupported", "unsupported"),
        ]
        head = ", ".join(f"{counts[k]} {w}" for k, w in words if counts.get(k)) or "no changes"
        if self.failed:
            # A failed what-if predicts nothing: "no changes" would tell an approver that nothing is deleted.
            error = self.error if isinstance(self.error, Mapping) else {}
            inner = error.get("error") if isinstance(error.get("error"), Mapping) else error
            why = ": ".join(str(inner.get(k)) for k in ("code", "message") if inner.get(k)) or "no error given"
            return [f"what-if FAILED ({why[:300]}): the changes, deletions included, are unknown"]
        out = [f"what-if: {head}"]
        for c in self.changes:
            if c.change_type in ("NoChange", "Ignore"):
                continue
            line = f"  {c.change_type:<8} {c.resource_type} {c.name}".rstrip()
            if c.property_changes:
                shown = ", ".join(f"{path} ({kind})" for path, kind in c.property_changes[:5])
                more = f" +{len(c.property_changes) - 5} more" if len(c.property_changes) > 5 else ""
                line += f": {shown}{more}"
            if c.member_changes:
                line += "; pool members: " + ", ".join(f"{name} ({kind})" for name, kind in c.member_changes)
            if c.unsupported_reason:
                line += f": {c.unsupported_reason}"
            if c.potential:
                line += " (potential: may or may not happen)"
            out.append(line)
        out += [f"  {level or 'Info'} {code}: {message}".rstrip(": ") for level, code, message in self.diagnostics]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> WhatIfSummary:
        """The summary `to_dict` wrote (the what-if activity summarises; the orchestration carries this)."""
        changes = []
        raw_changes = data.get("changes")
        for raw in raw_changes if isinstance(raw_changes, list) else []:
            if not isinstance(raw, Mapping):
                continue
            resource_id = str(raw.get("resourceId") or "")
            resource_type, name = _type_and_name(resource_id)
            pairs = raw.get("propertyChanges")
            property_changes = tuple(
                (str(pair[0]), str(pair[1])) for pair in (pairs if isinstance(pairs, list) else [])
                if isinstance(pair, list | tuple) and len(pair) == 2
            )
            members = raw.get("memberChanges")
            member_changes = tuple(
                (str(pair[0]), str(pair[1])) for pair in (members if isinstance(members, list) else [])
                if isinstance(pair, list | tuple) and len(pair) == 2
            )
            changes.append(ResourceChange(resource_id, str(raw.get("changeType") or ""), resource_type, name,
                                          property_changes, member_changes=member_changes,
                                          potential=raw.get("potential") is True))
        status = str(data.get("status") or "")
        notes = data.get("diagnostics")
        diagnostics = tuple(
            (str(n[0]), str(n[1]), str(n[2])) for n in (notes if isinstance(notes, list) else [])
            if isinstance(n, list | tuple) and len(n) == 3
        )
        return cls(status, tuple(changes), error=data.get("error"), diagnostics=diagnostics)

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "counts": self.counts,
            "hasDeletes": self.has_deletes,
            "isDestructive": self.is_destructive,
            "lines": self.lines(),
            **({"diagnostics": list(map(list, self.diagnostics))} if self.diagnostics else {}),
            "changes": [
                {
                    "resourceId": c.resource_id,
                    "changeType": c.change_type,
                    "propertyChanges": list(map(list, c.property_changes)),
                    **({"memberChanges": list(map(list, c.member_changes))} if c.member_changes else {}),
                    **({"potential": True} if c.potential else {}),
                }
                for c in self.changes
            ],
        }


def _leaves(delta: object, prefix: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if not isinstance(delta, list):
        return found
    for item in delta:
        if not isinstance(item, Mapping):
            continue
        path = str(item.get("path") or "")
        full = f"{prefix}{'.' if prefix and path and not path.startswith('[') else ''}{path}"
        kind = _spelled(item.get("propertyChangeType"))
        children = item.get("children")
        if isinstance(children, list) and children:
            found += _leaves(children, full)
        else:
            found.append((full, kind))
    return found


def _pool_members(body: object) -> dict[str, tuple[object, object]]:
    """{member name: (priority, weight)} of a pool backend's body (properties.pool.services[].id is
    '/backends/<name>'); empty for anything else."""
    props = body.get("properties") if isinstance(body, Mapping) else None
    pool = props.get("pool") if isinstance(props, Mapping) else None
    services = pool.get("services") if isinstance(pool, Mapping) else None
    members: dict[str, tuple[object, object]] = {}
    for service in services if isinstance(services, list) else []:
        if isinstance(service, Mapping) and service.get("id"):
            members[str(service["id"]).rstrip("/").rsplit("/", 1)[-1]] = (service.get("priority"),
                                                                          service.get("weight"))
    return members


def _member_changes(before: object, after: object) -> tuple[tuple[str, str], ...]:
    old, new = _pool_members(before), _pool_members(after)
    changes = [(name, "Delete") for name in old if name not in new]
    changes += [(name, "Create") for name in new if name not in old]
    changes += [(name, "Modify") for name in new if name in old and old[name] != new[name]]
    return tuple(changes)


def _type_and_name(resource_id: str) -> tuple[str, str]:
    """'Microsoft.ApiManagement/service/backends', 'apim/aoai-eastus' from an ARM id."""
    parts = [p for p in resource_id.split("/") if p]
    lowered = [p.lower() for p in parts]
    if "providers" not in lowered:
        return "", resource_id
    i = len(lowered) - 1 - lowered[::-1].index("providers")
    rest = parts[i + 1 :]
    if not rest:
        return "", resource_id
    namespace, pairs = rest[0], rest[1:]
    types = pairs[0::2]
    names = pairs[1::2]
    return "/".join([namespace, *types]), "/".join(names)


def summarize_what_if(result: Mapping[str, object]) -> WhatIfSummary:
    props = result.get("properties")
    source = props if isinstance(props, Mapping) else result
    definite, potential = source.get("changes"), source.get("potentialChanges")
    changes: list[ResourceChange] = []
    listed = [(raw, False) for raw in (definite if isinstance(definite, list) else [])]
    listed += [(raw, True) for raw in (potential if isinstance(potential, list) else [])]
    for raw, is_potential in listed:
        if not isinstance(raw, Mapping):
            continue
        resource_id = str(raw.get("resourceId") or "")
        resource_type, name = _type_and_name(resource_id)
        changes.append(
            ResourceChange(
                resource_id=resource_id,
                change_type=_spelled(raw.get("changeType"), "Unsupported"),
                resource_type=resource_type,
                name=name,
                property_changes=tuple(_leaves(raw.get("delta"))),
                unsupported_reason=str(raw.get("unsupportedReason") or ""),
                member_changes=_member_changes(raw.get("before"), raw.get("after")),
                potential=is_potential,
            )
        )
    error = result.get("error")
    status = str(result.get("status") or ("Failed" if error else "Succeeded"))
    notes = source.get("diagnostics")
    diagnostics = tuple(
        (str(n.get("level") or ""), str(n.get("code") or ""), str(n.get("message") or "")[:300])
        for n in (notes if isinstance(notes, list) else []) if isinstance(n, Mapping)
    )
    return WhatIfSummary(status=status, changes=tuple(changes), error=error, diagnostics=diagnostics)
