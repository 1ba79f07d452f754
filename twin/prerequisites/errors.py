"""Errors of the prerequisite reads, in the twin's one catalogue."""

from __future__ import annotations

from twin.errors import CatalogueEntry, register

register(
    {
        # ARM's answer to Providers_Get for a namespace that does not exist (message not verified).
        "InvalidResourceNamespace": CatalogueEntry(404, "The resource namespace '{namespace}' is invalid."),
        # message not verified: the role-assignment listing accepts only the filters Microsoft documents.
        "UnsupportedRoleAssignmentFilter": CatalogueEntry(
            400, "The filter '{filter}' is not supported by the twin: use principalId eq '<object id>'."
        ),
    }
)
