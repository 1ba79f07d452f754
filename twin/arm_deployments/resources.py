"""ARM's own store for the resource types no twin service models (diagnostic settings, Event Grid topics and
subscriptions, ...), and the resource-id rules complete mode needs.

A deployment writes such resources here so that what-if and the next deployment see them.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twin.arm_deployments.template import EvaluatedResource

# Keys of a template resource that steer the deployment and are not part of the resource ARM stores.
_TEMPLATE_ONLY = frozenset(
    {"apiversion", "dependson", "condition", "copy", "comments", "scope", "name", "type", "existing", "id", "metadata"}
)
_TOP_LEVEL = re.compile(r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/[^/]+/[^/]+/[^/]+$", re.IGNORECASE)


def group_prefix(subscription_id: str, resource_group: str) -> str:
    return f"/subscriptions/{subscription_id}/resourcegroups/{resource_group}/".lower()


def is_top_level(resource_id: str) -> bool:
    """A resource listed in its resource group (provider/type/name right under the group), not a child or an
    extension resource: only these are candidates for complete-mode deletion."""
    return _TOP_LEVEL.match(resource_id) is not None


def is_ancestor(candidate_id: str, resource_id: str) -> bool:
    """`candidate_id` is the parent (or the scope of an extension resource) of `resource_id`, at any depth."""
    return resource_id.lower().startswith(candidate_id.lower().rstrip("/") + "/")


class ResourceStore:
    def __init__(self) -> None:
        self._items: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        self._items.clear()

    def clone(self) -> ResourceStore:
        twin = ResourceStore()
        twin._items = copy.deepcopy(self._items)
        return twin

    def get(self, resource_id: str) -> dict[str, Any] | None:
        stored = self._items.get(resource_id.lower())
        return copy.deepcopy(stored) if stored is not None else None

    def put(self, resource: EvaluatedResource) -> tuple[dict[str, Any], bool]:
        """Store the resource as a GET would return it; PUT semantics: the new body replaces the old."""
        body = {key: value for key, value in resource.body.items() if key.lower() not in _TEMPLATE_ONLY}
        stored = {"id": resource.id, "name": resource.id.rstrip("/").rsplit("/", 1)[-1], "type": resource.type, **body}
        created = resource.id.lower() not in self._items
        self._items[resource.id.lower()] = stored
        return copy.deepcopy(stored), created

    def put_body(self, resource_id: str, resource_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """Store a resource that no deployment made (the twin's control API seeds one), as a GET returns it."""
        stored = {"id": resource_id, "name": resource_id.rstrip("/").rsplit("/", 1)[-1], "type": resource_type,
                  **copy.deepcopy(body)}
        self._items[resource_id.lower()] = stored
        return copy.deepcopy(stored)

    def delete(self, resource_id: str) -> list[str]:
        """Delete the resource with its children and the extension resources scoped to it; the ids deleted."""
        doomed = [key for key in self._items if key == resource_id.lower() or is_ancestor(resource_id, key)]
        deleted = [self._items.pop(key)["id"] for key in doomed]
        return deleted

    def in_group(self, subscription_id: str, resource_group: str) -> list[dict[str, Any]]:
        prefix = group_prefix(subscription_id, resource_group)
        return [copy.deepcopy(item) for key, item in self._items.items() if key.startswith(prefix)]

    def all(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(item) for item in self._items.values()]
