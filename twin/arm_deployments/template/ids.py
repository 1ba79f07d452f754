"""Resource ids as ARM builds them from a type ("Ns/t1/t2") and a name ("n1/n2")."""

from __future__ import annotations

from .errors import ExpressionError


def type_segments(resource_type: str) -> list[str]:
    return [part for part in resource_type.split("/") if part]


def name_segments(name: str) -> list[str]:
    return [part for part in name.split("/") if part]


def provider_path(resource_type: str, names: list[str], function: str = "resourceId") -> str:
    """"providers/Ns/t1/n1/t2/n2" — the part of an id after its scope."""
    types = type_segments(resource_type)
    if len(types) < 2:
        raise ExpressionError(
            f"Unable to evaluate template language function '{function}': the type '{resource_type}' is not "
            "valid; a resource type is a namespace followed by one or more type names, e.g. "
            "'Microsoft.Storage/storageAccounts'."
        )
    if len(names) != len(types) - 1:
        # message not verified: ARM reports the segment mismatch for resourceId in this sense
        raise ExpressionError(
            f"Unable to evaluate template language function '{function}': the type '{resource_type}' requires "
            f"'{len(types) - 1}' resource name argument(s)."
        )
    parts = [types[0], types[1], names[0]]
    for child_type, child_name in zip(types[2:], names[1:], strict=True):
        parts.extend([child_type, child_name])
    return "providers/" + "/".join(parts)


def resource_group_id(subscription_id: str, resource_group: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"


def resource_group_resource_id(
    subscription_id: str, resource_group: str, resource_type: str, names: list[str]
) -> str:
    return f"{resource_group_id(subscription_id, resource_group)}/{provider_path(resource_type, names)}"


def extension_resource_id(scope_id: str, resource_type: str, names: list[str]) -> str:
    return f"{scope_id.rstrip('/')}/{provider_path(resource_type, names, 'extensionResourceId')}"
