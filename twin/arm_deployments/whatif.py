"""What-if: the changes a deployment would make, against the twin's current state (WhatIfOperationResult).

The predicted `after` of each resource is what its owner would store: the template is applied to a copy of
the APIM state and of ARM's own store, so defaults and normalisation (a pool's `url: null`) are the same on both
sides and only real differences show. A resource the owner would refuse is predicted from the template body
(ARM's what-if does not run the provider's validation either).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from twin.arm_deployments.materialize import cleanup_candidates, put_resource
from twin.arm_deployments.resources import ResourceStore
from twin.errors import TwinError

if TYPE_CHECKING:
    from twin.apim.state import ApimState
    from twin.arm_deployments.template import EvaluatedResource, EvaluatedTemplate

# Root keys that differ between any two reads of the same resource and are not changes.
_VOLATILE = frozenset({"etag", "apiVersion"})


def _with_api_version(body: dict[str, Any], api_version: str) -> dict[str, Any]:
    """Before/after carry the template's apiVersion first, as in the published example."""
    return {"apiVersion": api_version, **{k: v for k, v in body.items() if k != "apiVersion"}}


def _projected(resource: EvaluatedResource) -> dict[str, Any]:
    skip = {"dependsOn", "condition", "copy", "comments", "scope", "existing", "metadata", "apiVersion", "name", "type"}
    name = resource.id.rstrip("/").rsplit("/", 1)[-1]
    return {
        "id": resource.id,
        "type": resource.type,
        "name": name,
        **{k: copy.deepcopy(v) for k, v in resource.body.items() if k not in skip},
    }


def _one_sided(value: Any, path: str, change: str, side: str) -> list[dict[str, Any]]:
    """A property only one side has, reported leaf by leaf as ARM does (the published example shows
    'tags.myNewTag' Create where the resource had no tags at all)."""
    if isinstance(value, dict) and value:
        return [item for key, inner in value.items() for item in _one_sided(inner, f"{path}.{key}", change, side)]
    return [{"path": path, "propertyChangeType": change, side: value}]


def property_changes(before: Any, after: Any, path: str = "") -> list[dict[str, Any]]:
    """WhatIfPropertyChange[] between two JSON values: Create / Delete / Modify / Array (with children)."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[dict[str, Any]] = []
        for key in [*before, *(k for k in after if k not in before)]:
            if not path and key in _VOLATILE:
                continue
            child = f"{path}.{key}" if path else key
            if key not in before:
                changes.extend(_one_sided(after[key], child, "Create", "after"))
            elif key not in after:
                changes.extend(_one_sided(before[key], child, "Delete", "before"))
            else:
                changes.extend(property_changes(before[key], after[key], child))
        return changes
    if isinstance(before, list) and isinstance(after, list):
        children: list[dict[str, Any]] = []
        for index in range(max(len(before), len(after))):
            if index >= len(before):
                children.append({"path": str(index), "propertyChangeType": "Create", "after": after[index]})
            elif index >= len(after):
                children.append({"path": str(index), "propertyChangeType": "Delete", "before": before[index]})
            elif before[index] != after[index]:
                if isinstance(before[index], dict) and isinstance(after[index], dict):
                    children.append(
                        {
                            "path": str(index),
                            "propertyChangeType": "Modify",
                            "children": property_changes(before[index], after[index]),
                        }
                    )
                else:
                    children.append(
                        {
                            "path": str(index),
                            "propertyChangeType": "Modify",
                            "before": before[index],
                            "after": after[index],
                        }
                    )
        return [{"path": path, "propertyChangeType": "Array", "children": children}]
    return [{"path": path, "propertyChangeType": "Modify", "before": before, "after": after}]


def predict_changes(
    apim: ApimState,
    store: ResourceStore,
    subscription_id: str,
    resource_group: str,
    evaluated: EvaluatedTemplate,
    mode: str,
) -> list[dict[str, Any]]:
    apim_copy = copy.deepcopy(apim)
    store_copy = store.clone()
    changes: list[dict[str, Any]] = []
    for resource in evaluated.resources:
        current = apim.get_resource(resource.id) if apim.supports(resource.type) else store.get(resource.id)
        try:
            predicted, _ = put_resource(apim_copy, store_copy, resource)
        except TwinError:
            predicted = _projected(resource)
        after = _with_api_version(predicted, resource.api_version)
        change: dict[str, Any] = {"resourceId": resource.id}
        if current is None:
            change.update(changeType="Create", after=after)
        else:
            before = _with_api_version(current, resource.api_version)
            delta = property_changes(before, after)
            if delta:
                change.update(changeType="Modify", before=before, after=after, delta=delta)
            else:
                change.update(changeType="NoChange", before=before, after=after)
        if resource.symbolic_name:
            change["symbolicName"] = resource.symbolic_name
        changes.append(change)
    # The group's resources the template does not cover: complete mode deletes them, incremental leaves them
    # alone (what-if lists those as Ignore).
    for item in cleanup_candidates(store, subscription_id, resource_group, evaluated):
        if mode.lower() == "complete":
            changes.append({"resourceId": item["id"], "changeType": "Delete", "before": item})
        else:
            changes.append({"resourceId": item["id"], "changeType": "Ignore"})
    return changes


def what_if_result(changes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"status": "Succeeded", "properties": {"changes": changes}}
