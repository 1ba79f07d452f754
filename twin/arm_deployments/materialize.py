"""Running a deployment: each evaluated resource PUT to the service that owns its type, one deployment
operation per resource, then complete-mode cleanup and outputs — what ARM's deployment engine does.

Decisions (with the ARM behaviour they follow):
- Resources run in the evaluator's dependency order. A resource whose dependency failed (or was skipped) is not
  attempted and gets no operation record — ARM lists only operations it started.
- A resource that does not depend on a failed one still runs (ARM runs independent resources in parallel).
- Complete mode deletes, once every resource succeeded, the resources of the group that are listed in the
  group (top-level: provider/type/name right under the group) and that the template neither declares nor is
  the parent or scope of a declared one. Child resources (APIM backends, Event Grid subscriptions) are never
  deleted for being absent: ARM's "Deletion of Azure resources for complete mode deployments" lists them as
  "No" (deleted only with their parent). Each deletion is one "DeploymentCleanup" operation.
- APIM services cannot be listed through ApimState's contract, so complete mode here never deletes an APIM
  service; Azure would delete one the template does not declare.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twin.arm_deployments.failures import ProvisioningFailures
from twin.arm_deployments.records import (
    Deployment,
    Operation,
    new_operation_id,
    now,
    resource_name_of,
    resource_type_of,
    status_code_name,
    typed_outputs,
)
from twin.arm_deployments.resources import ResourceStore, is_ancestor, is_top_level
from twin.errors import TwinError, error_body

if TYPE_CHECKING:
    from twin.apim.state import ApimState
    from twin.arm_deployments.template import EvaluatedResource, EvaluatedTemplate


@dataclass
class RunResult:
    operations: list[Operation] = field(default_factory=list)
    output_resources: list[str] = field(default_factory=list)
    failed: list[Operation] = field(default_factory=list)


def target_of(resource: EvaluatedResource) -> dict[str, Any]:
    target: dict[str, Any] = {
        "id": resource.id,
        "resourceType": resource.type,
        "resourceName": resource.name,
        "apiVersion": resource.api_version,
    }
    if resource.symbolic_name:
        target["symbolicName"] = resource.symbolic_name
    return target


def put_resource(apim: ApimState, store: ResourceStore, resource: EvaluatedResource) -> tuple[dict[str, Any], bool]:
    """PUT one resource to its owner; TwinError carries the owner's refusal as it answers it."""
    if apim.supports(resource.type):
        try:
            return apim.put_resource(resource.id, resource.body)
        except ValueError as exc:  # an id APIM's twin does not serve: ARM would get the provider's 404
            raise TwinError(404, "NotFound", str(exc)) from None
    return store.put(resource)


def cleanup_candidates(
    store: ResourceStore, subscription_id: str, resource_group: str, evaluated: EvaluatedTemplate
) -> list[dict[str, Any]]:
    """The group's top-level resources complete mode would delete (see the module docstring)."""
    declared = [resource.id for resource in evaluated.resources]
    declared_lower = {resource_id.lower() for resource_id in declared}
    return [
        item
        for item in store.in_group(subscription_id, resource_group)
        if is_top_level(item["id"])
        and item["id"].lower() not in declared_lower
        and not any(is_ancestor(item["id"], resource_id) for resource_id in declared)
    ]


# Called before each resource is written; raises the refusal a resource provider's linked check gives.
Authorize = Callable[[Deployment, "EvaluatedResource"], None]


def run_resources(
    apim: ApimState, store: ResourceStore, deployment: Deployment, failures: ProvisioningFailures | None = None,
    authorize: Authorize | None = None,
) -> RunResult:
    result = RunResult()
    not_done: set[str] = set()  # failed or skipped, lower-cased ids
    for resource in deployment.evaluated.resources:
        if any(dependency.lower() in not_done for dependency in resource.depends_on):
            not_done.add(resource.id.lower())
            continue
        started = now()
        try:
            if failures is not None:
                failures.check(resource.id)
            if authorize is not None:
                authorize(deployment, resource)
            _, created = put_resource(apim, store, resource)
        except TwinError as exc:
            operation = Operation(
                operation_id=new_operation_id(),
                provisioning_operation="Create",
                provisioning_state="Failed",
                started=started,
                finished=now(),
                status_code=status_code_name(exc.status),
                target=target_of(resource),
                error=exc.envelope()["error"],
            )
            result.failed.append(operation)
            not_done.add(resource.id.lower())
        else:
            operation = Operation(
                operation_id=new_operation_id(),
                provisioning_operation="Create",
                provisioning_state="Succeeded",
                started=started,
                finished=now(),
                status_code="Created" if created else "OK",
                target=target_of(resource),
            )
            result.output_resources.append(resource.id)
        result.operations.append(operation)
    if result.failed:
        return result
    if deployment.mode.lower() == "complete":
        for item in cleanup_candidates(
            store, deployment.subscription_id, deployment.resource_group, deployment.evaluated
        ):
            started = now()
            store.delete(item["id"])
            result.operations.append(
                Operation(
                    operation_id=new_operation_id(),
                    provisioning_operation="DeploymentCleanup",
                    provisioning_state="Succeeded",
                    started=started,
                    finished=now(),
                    status_code="OK",
                    target={
                        "id": item["id"],
                        "resourceType": resource_type_of(item["id"]),
                        "resourceName": resource_name_of(item["id"]),
                    },
                )
            )
    if deployment.evaluated.outputs:
        moment = now()
        result.operations.append(
            Operation(
                operation_id=new_operation_id(),
                provisioning_operation="EvaluateDeploymentOutput",
                provisioning_state="Succeeded",
                started=moment,
                finished=moment,
                status_code="OK",
            )
        )
    return result


def deployment_failed_error(deployment: Deployment, failed: list[Operation]) -> dict[str, Any]:
    """The `DeploymentFailed` error ARM puts on the deployment and its async operation: one detail per failed
    operation, carrying the provider's own code and message."""
    details: list[dict[str, Any]] = []
    for operation in failed:
        error = operation.error or {}
        detail: dict[str, Any] = {"code": error.get("code", operation.status_code)}
        if operation.target is not None:
            detail["target"] = operation.target["id"]
        detail["message"] = error.get("message", "")
        if error.get("details"):
            detail["details"] = error["details"]
        details.append(detail)
    failure = error_body("DeploymentFailed")
    return {"code": failure["code"], "target": deployment.id, "message": failure["message"], "details": details}


def execute(
    apim: ApimState, store: ResourceStore, deployment: Deployment, failures: ProvisioningFailures | None = None,
    authorize: Authorize | None = None,
) -> None:
    """Run the deployment to its terminal state (Succeeded or Failed), recording operations and outputs."""
    result = run_resources(apim, store, deployment, failures, authorize)
    deployment.operations = result.operations
    deployment.output_resources = result.output_resources
    deployment.finished = now()
    if result.failed:
        deployment.state = "Failed"
        deployment.error = deployment_failed_error(deployment, result.failed)
        return
    deployment.state = "Succeeded"
    # ARM answers `outputs` only for a template that declares some.
    deployment.outputs = typed_outputs(deployment.evaluated.outputs) if deployment.evaluated.outputs else None
