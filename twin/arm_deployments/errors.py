"""ARM deployment error codes, with the messages ARM gives (sources in the comments; the unverified are marked).

Imported for its side effect: the entries join the twin's one catalogue (twin/errors.py).
"""

from __future__ import annotations

from twin.errors import CatalogueEntry, register

# Seen in ARM answers quoted by azure-docs and SDK issue threads.
DEPLOYMENT_FAILED_MESSAGE = (
    "At least one resource deployment operation failed. Please list deployment operations for details. "
    "Please see https://aka.ms/arm-deployment-operations for usage details."
)

register(
    {
        "DeploymentNotFound": CatalogueEntry(404, "Deployment '{name}' could not be found."),
        # Quoted verbatim (with times) in Azure/azure-sdk-for-go and azure-pipelines-tasks issues.
        "DeploymentActive": CatalogueEntry(
            409,
            "Unable to edit or replace deployment '{name}': previous deployment from '{started}' is still active "
            "(expiration time is '{expires}'). Please see https://aka.ms/arm-deploy for usage details.",
        ),
        # The code is ARM's (asserted on by azure-sdk-for-js tests); the message text is the twin's: ARM's exact
        # wording was not found. The rule (only Accepted/Running can be cancelled) is the REST reference's.
        "DeploymentCannotBeCancelled": CatalogueEntry(
            409,
            "The deployment '{name}' cannot be cancelled because its provisioning state is '{state}'. "
            "Only deployments in the 'Accepted' or 'Running' state can be cancelled.",
        ),
        "DeploymentFailed": CatalogueEntry(409, DEPLOYMENT_FAILED_MESSAGE),
        # The evaluator (twin/arm_deployments/template) writes ARM's full message; the catalogue carries it as is.
        "InvalidTemplate": CatalogueEntry(400, "{message}"),
        # Unverified code; ARM answers 404 for an unknown operation id.
        "DeploymentOperationNotFound": CatalogueEntry(
            404, "Deployment operation '{operation_id}' of deployment '{name}' could not be found."
        ),
        "WhatIfOperationNotFound": CatalogueEntry(404, "The what-if operation '{token}' could not be found."),
        "InvalidDeploymentRequest": CatalogueEntry(400, "The deployment request is invalid: {detail}"),
        "InvalidFilter": CatalogueEntry(
            400, "The $filter '{filter}' is not supported. The twin supports: provisioningState eq '<state>'."
        ),
    }
)
