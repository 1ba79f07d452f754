"""The refusals of RBAC mode, worded as Azure words them.

Imported for its side effect: the entries join the twin's one catalogue (twin/errors.py, which holds ARM's
AuthorizationFailed itself because injected faults answer it too).
"""

from __future__ import annotations

import uuid
from typing import Any

from twin.errors import CATALOGUE, CatalogueEntry, TwinError, register

# "Authorization failed for template resource ..." is one preflight error per resource; ARM joins several into
# "Deployment failed with multiple errors: '<e1>:<e2>'" (quoted in Azure/ALZ-PowerShell-Module#188), a single one
# into "The template deployment failed with error: '<e>'." (Azure-Samples/azure-search-openai-demo#1483, #242:
# 400 InvalidTemplateDeployment, no details).
TEMPLATE_RESOURCE_DENIED = (
    "Authorization failed for template resource '{name}' of type '{type}'. The client '{client}' with object id "
    "'{client}' does not have permission to perform action '{action}' at scope '{scope}'."
)

register(
    {
        "InvalidTemplateDeployment": CatalogueEntry(400, "{message}"),
        # A write whose target links to another resource the caller may not use, verbatim from the resource
        # provider's answer (CDCgov/prime-reportstream#7678, Azure/secrets-store-csi-driver-provider-azure#727).
        "LinkedAuthorizationFailed": CatalogueEntry(
            403,
            "The client '{client}' with object id '{client}' has permission to perform action '{action}' on scope "
            "'{scope}'; however, it does not have permission to perform action '{linked_action}' on the linked "
            "scope(s) '{linked_scope}' or the linked scope(s) are invalid.",
        ),
        # The twin's own: a route RBAC mode has no operation for (twin/rbac/operations.py); never Azure's answer.
        "RbacRouteUnmapped": CatalogueEntry(
            500, "The twin's RBAC mode has no operation for route '{route}': map it in twin/rbac/operations.py."
        ),
        # Log Analytics' own 403 (Azure SDK troubleshooting guides for Monitor Query; microsoft/foundry-dev-tools#734).
        "InsufficientAccessError": CatalogueEntry(
            403, "The provided credentials have insufficient access to perform the requested operation"
        ),
    }
)


def template_denied(denials: list[dict[str, str]]) -> TwinError:
    """400 InvalidTemplateDeployment for the template resources the caller may not write."""
    texts = [TEMPLATE_RESOURCE_DENIED.format(**denial) for denial in denials]
    if len(texts) == 1:
        message = f"The template deployment failed with error: '{texts[0]}'."
    else:
        message = "Deployment failed with multiple errors: '" + ":".join(texts) + "'"
    return TwinError.of("InvalidTemplateDeployment", message=message)


class InsufficientAccess(TwinError):
    """Log Analytics' 403, in its envelope: message, code and a correlationId, no ARM wording."""

    def __init__(self) -> None:
        entry = CATALOGUE["InsufficientAccessError"]
        super().__init__(entry.status, "InsufficientAccessError", entry.message)
        self.correlation_id = str(uuid.uuid4())

    def envelope(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "code": self.code, "correlationId": self.correlation_id}}
