"""What the twin remembers of a deployment and its operations, and how ARM renders them (DeploymentExtended,
DeploymentOperation — shapes from the published 2025-04-01 examples and swagger)."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twin.arm_deployments.template import EvaluatedTemplate

ACTIVE_STATES = ("Accepted", "Running")
DEPLOYMENTS_PROVIDER = "Microsoft.Resources/deployments"


def now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    """ARM writes seven fractional digits at most; six (microseconds) is what Python has."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def duration(start: datetime, end: datetime) -> str:
    return f"PT{max((end - start).total_seconds(), 0.0):.7f}S"


def new_guid() -> str:
    return str(uuid.uuid4())


def new_operation_id() -> str:
    """Deployment operation ids are 16 upper-case hex digits, e.g. 'A4ECA8D3AF2FE2F0'."""
    return secrets.token_hex(8).upper()


def new_async_id() -> str:
    """ARM's async-operation ids are 20-digit numbers starting 0858…; any unique digits serve the client."""
    return "0858" + "".join(str(secrets.randbelow(10)) for _ in range(16))


def template_hash(template: dict[str, Any]) -> str:
    """ARM's templateHash is a decimal number string; the twin derives one from the template's canonical JSON."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return str(int.from_bytes(digest[:8], "big") >> 1)


def status_code_name(status: int) -> str:
    """ARM reports the provider's HTTP status as its reason phrase without spaces: 400 → 'BadRequest'."""
    try:
        return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return str(status)


def deployment_id(subscription_id: str, resource_group: str, name: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/{DEPLOYMENTS_PROVIDER}/{name}"


@dataclass
class Operation:
    operation_id: str
    provisioning_operation: str  # Create | DeploymentCleanup | EvaluateDeploymentOutput
    provisioning_state: str  # Succeeded | Failed
    started: datetime
    finished: datetime
    status_code: str
    target: dict[str, Any] | None = None  # {id, resourceType, resourceName, apiVersion?, symbolicName?}
    error: dict[str, Any] | None = None  # the provider's error {code, message, details?} when Failed
    tracking_id: str = field(default_factory=new_guid)
    service_request_id: str = field(default_factory=new_guid)

    def rest(self, deployment_resource_id: str) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "provisioningOperation": self.provisioning_operation,
            "provisioningState": self.provisioning_state,
            "timestamp": timestamp(self.finished),
            "duration": duration(self.started, self.finished),
            "trackingId": self.tracking_id,
            "serviceRequestId": self.service_request_id,
            "statusCode": self.status_code,
        }
        if self.error is not None:
            properties["statusMessage"] = {"status": "Failed", "error": self.error}
        if self.target is not None:
            properties["targetResource"] = dict(self.target)
        return {
            "id": f"{deployment_resource_id}/operations/{self.operation_id}",
            "operationId": self.operation_id,
            "properties": properties,
        }


@dataclass
class Deployment:
    subscription_id: str
    resource_group: str
    name: str
    mode: str  # Incremental | Complete
    template: dict[str, Any]
    parameters: dict[str, Any]  # as the client sent them: {"name": {"value": ...}}
    evaluated: EvaluatedTemplate
    state: str = "Accepted"
    polls: int = 0
    async_id: str = field(default_factory=new_async_id)
    correlation_id: str = field(default_factory=new_guid)
    started: datetime = field(default_factory=now)
    finished: datetime | None = None
    operations: list[Operation] = field(default_factory=list)
    outputs: dict[str, Any] | None = None
    output_resources: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return deployment_id(self.subscription_id, self.resource_group, self.name)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def rest(self) -> dict[str, Any]:
        """DeploymentExtended as ARM's GET answers it."""
        end = self.finished or now()
        properties: dict[str, Any] = {
            "templateHash": template_hash(self.template),
            "parameters": typed_parameters(self.template, self.parameters),
            "mode": self.mode,
            "provisioningState": self.state,
            "timestamp": timestamp(self.finished or self.started),
            "duration": duration(self.started, end),
            "correlationId": self.correlation_id,
            "providers": providers(self.evaluated),
            "dependencies": dependencies(self.evaluated),
        }
        if self.outputs is not None:
            properties["outputs"] = self.outputs
        if self.state == "Succeeded" or self.output_resources:
            properties["outputResources"] = [{"id": resource_id} for resource_id in self.output_resources]
        if self.error is not None:
            properties["error"] = self.error
        return {"id": self.id, "name": self.name, "type": DEPLOYMENTS_PROVIDER, "properties": properties}


_TYPE_NAMES = {
    "string": "String",
    "securestring": "SecureString",
    "int": "Int",
    "bool": "Bool",
    "object": "Object",
    "secureobject": "SecureObject",
    "array": "Array",
}


def arm_type_name(declared: object) -> str:
    """ARM echoes parameter and output types capitalised ('string' → 'String')."""
    return _TYPE_NAMES.get(str(declared).lower(), str(declared))


def typed_parameters(template: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """The parameters as ARM echoes them: with their declared type; secure values are never echoed."""
    declared = template.get("parameters") if isinstance(template.get("parameters"), dict) else {}
    echoed: dict[str, Any] = {}
    for name, given in parameters.items():
        declaration = declared.get(name) if isinstance(declared, dict) else None
        kind = arm_type_name(declaration.get("type")) if isinstance(declaration, dict) else "String"
        entry: dict[str, Any] = {"type": kind}
        if isinstance(given, dict) and "value" in given and not kind.startswith("Secure"):
            entry["value"] = given["value"]
        echoed[name] = entry
    return echoed


def typed_outputs(outputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        name: {"type": arm_type_name(output.get("type")), "value": output.get("value")}
        for name, output in outputs.items()
    }


def providers(evaluated: EvaluatedTemplate) -> list[dict[str, Any]]:
    """`providers[]` as ARM lists them: namespace → resource types (the part after the namespace) → locations."""
    by_namespace: dict[str, dict[str, list[str]]] = {}
    for resource in evaluated.resources:
        namespace, _, resource_type = resource.type.partition("/")
        types = by_namespace.setdefault(namespace, {})
        locations = types.setdefault(resource_type, [])
        location = resource.body.get("location")
        if isinstance(location, str) and location not in locations:
            locations.append(location)
    return [
        {
            "namespace": namespace,
            "resourceTypes": [
                {"resourceType": resource_type, "locations": locations} for resource_type, locations in types.items()
            ],
        }
        for namespace, types in by_namespace.items()
    ]


def _reference(resource_id: str) -> dict[str, str]:
    return {
        "id": resource_id,
        "resourceType": resource_type_of(resource_id),
        "resourceName": resource_name_of(resource_id),
    }


def dependencies(evaluated: EvaluatedTemplate) -> list[dict[str, Any]]:
    return [
        {**_reference(resource.id), "dependsOn": [_reference(dependency) for dependency in resource.depends_on]}
        for resource in evaluated.resources
        if resource.depends_on
    ]


def _provider_tail(resource_id: str) -> list[str]:
    """The segments after the last '/providers/' of an id: namespace, type, name, [type, name]..."""
    lowered = resource_id.lower()
    index = lowered.rfind("/providers/")
    if index < 0:
        return []
    return resource_id[index + len("/providers/") :].split("/")


def resource_type_of(resource_id: str) -> str:
    tail = _provider_tail(resource_id)
    if len(tail) < 3:
        return ""
    return "/".join([tail[0], *tail[1::2]])


def resource_name_of(resource_id: str) -> str:
    """'apim/backend1' for a child, as ARM's targetResource.resourceName shows it."""
    tail = _provider_tail(resource_id)
    return "/".join(tail[2::2])
