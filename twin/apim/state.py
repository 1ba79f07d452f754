"""APIM's state in the twin: services, their backends, APIs, API policies and API diagnostics, stored as GET
answers them.

The HTTP handlers and the ARM helper (deployments materializing templates) both go through `put_resource`, so
a deployed backend passes the same validation as one PUT by the SDK.
"""

from __future__ import annotations

import base64
import copy
import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twin.apim import errors as e
from twin.apim.validation import (
    BackendKind,
    ServiceScope,
    backend_kind,
    normalize_backend,
    policy_backend_references,
    policy_xml_problem,
)
from twin.errors import TwinError

if TYPE_CHECKING:
    from twin.app import TwinConfig

SERVICE_TYPE = "Microsoft.ApiManagement/service"
BACKEND_TYPE = "Microsoft.ApiManagement/service/backends"
API_TYPE = "Microsoft.ApiManagement/service/apis"
POLICY_TYPE = "Microsoft.ApiManagement/service/apis/policies"
DIAGNOSTIC_TYPE = "Microsoft.ApiManagement/service/apis/diagnostics"
# The loggers every instance has: the built-in Azure Monitor logger that API diagnostics name to send their
# settings' data with the gateway logs (ApiManagementGatewayLogs). Only these can be a diagnostic's loggerId here.
BUILTIN_LOGGERS = ("azuremonitor",)
# PipelineDiagnosticSettings: frontend/backend, each with request/response HttpMessageDiagnostic
# {headers: string[], body: {bytes}}; APIM logs at most 8192 bytes of a payload (BodyDiagnosticSettings.bytes).
_DIAGNOSTIC_PIPELINES = ("frontend", "backend")
_DIAGNOSTIC_MESSAGES = ("request", "response")
MAX_LOGGED_BODY_BYTES = 8192
# Managed identity types an instance can have (ApiManagementServiceIdentity.type).
IDENTITY_TYPES = ("SystemAssigned", "UserAssigned", "SystemAssigned, UserAssigned", "None")
TWIN_TENANT_ID = "72f988bf-0000-41af-0000-2d7cd011db47"
SKUS = ("Developer", "Basic", "Standard", "Premium", "Isolated", "Consumption", "BasicV2", "StandardV2", "PremiumV2")
POLICY_FORMATS = ("xml", "rawxml")
# Fields of ApiCreateOrUpdateProperties that import content rather than describe the API: APIM does not echo them.
_API_IMPORT_FIELDS = ("format", "value", "wsdlSelector", "translateRequiredQueryParameters", "soapApiType")

_RESOURCE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.ApiManagement/service/"
    r"(?P<svc>[^/]+)(?:/(?P<kind>backends|apis)/(?P<child>[^/]+)"
    r"(?:/(?P<sub_kind>policies|diagnostics)/(?P<policy>[^/]+))?)?/?$",
    re.IGNORECASE,
)


@dataclass
class _Entity:
    name: str  # as first created: APIM ids are case-insensitive and keep the first spelling
    body: dict[str, Any]
    etag: str


@dataclass
class _Service:
    subscription_id: str
    resource_group: str
    name: str
    sku: str
    location: str
    etag: str
    # A twin instance is prepared as the rollout needs it (system-assigned identity on); a test turns it off.
    identity: str = "SystemAssigned"
    backends: dict[str, _Entity] = field(default_factory=dict)
    apis: dict[str, _Entity] = field(default_factory=dict)
    policies: dict[str, _Entity] = field(default_factory=dict)  # keyed by api id (lower)
    diagnostics: dict[tuple[str, str], _Entity] = field(default_factory=dict)  # keyed by (api id, diagnostic id)

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{SERVICE_TYPE}/{self.name}"
        )

    @property
    def principal_id(self) -> str:
        """The system-assigned identity's object id: stable per instance, as Azure keeps it while enabled."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, self.id.lower()))

    def identity_body(self) -> dict[str, Any] | None:
        # As ApiManagementService_Get answers (ApiManagementServiceGetServiceHavingMsi.json): no identity key
        # when there is none; principalId/tenantId for the system-assigned one; userAssignedIdentities by id.
        if self.identity == "None":
            return None
        body: dict[str, Any] = {"type": self.identity}
        if "SystemAssigned" in self.identity:
            body.update({"principalId": self.principal_id, "tenantId": TWIN_TENANT_ID})
        if "UserAssigned" in self.identity:
            uami = (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                    f"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{self.name}-identity")
            body["userAssignedIdentities"] = {uami: {
                "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, uami.lower())),
                "clientId": str(uuid.uuid5(uuid.NAMESPACE_DNS, uami.lower()))}}
        return body

    @property
    def scope(self) -> ServiceScope:
        return ServiceScope(self.subscription_id, self.resource_group, self.name, self.sku)

    def body(self) -> dict[str, Any]:
        host = f"{self.name.lower()}.azure-api.net"
        return {
            "id": self.id,
            "name": self.name,
            "type": SERVICE_TYPE,
            "location": self.location,
            "etag": self.etag,
            "sku": {"name": self.sku, "capacity": 0 if self.sku == "Consumption" else 1},
            "properties": {
                "provisioningState": "Succeeded",
                "publisherEmail": "admin@contoso.example",
                "publisherName": "breakerpanel twin",
                "gatewayUrl": f"https://{host}",
                "managementApiUrl": f"https://{self.name.lower()}.management.azure-api.net",
                "platformVersion": "stv2",
                "virtualNetworkType": "None",
            },
            **({"identity": identity} if (identity := self.identity_body()) is not None else {}),
        }


@dataclass(frozen=True)
class ResourceRef:
    subscription_id: str
    resource_group: str
    service: str
    kind: str | None  # None (the service), "backends" or "apis"
    child: str | None
    policy: str | None  # the API's child entity id: its policy ("policy") or a diagnostic ("azuremonitor")
    sub_kind: str | None = None  # "policies" or "diagnostics" when policy is set

    @property
    def type(self) -> str:
        if self.kind is None:
            return SERVICE_TYPE
        if self.kind == "backends":
            return BACKEND_TYPE
        if self.policy is None:
            return API_TYPE
        return DIAGNOSTIC_TYPE if self.sub_kind == "diagnostics" else POLICY_TYPE


def parse_resource_id(resource_id: str) -> ResourceRef:
    found = _RESOURCE_ID.match(resource_id)
    if found is None:
        raise ValueError(f"not an API Management resource id this twin serves: {resource_id!r}")
    kind = found["kind"].lower() if found["kind"] else None
    sub_kind = found["sub_kind"].lower() if found["sub_kind"] else None
    return ResourceRef(found["sub"], found["rg"], found["svc"], kind, found["child"], found["policy"], sub_kind)


class ApimState:
    def __init__(self, config: TwinConfig) -> None:
        self.config = config
        self._services: dict[tuple[str, str, str], _Service] = {}
        self._versions = 0

    def reset(self) -> None:
        self._services.clear()
        self._versions = 0

    def _next_etag(self) -> str:
        # APIM's ETags are opaque base64 version stamps such as "AAAAAAAAAAI=".
        self._versions += 1
        return '"' + base64.b64encode(self._versions.to_bytes(8, "big")).decode() + '"'

    # -- services ---------------------------------------------------------------------------------------------

    def create_service(
        self, subscription_id: str, resource_group: str, name: str, sku: str = "Developer", *, location: str = "eastus",
        identity: str | None = None,
    ) -> None:
        """Create (or re-sku) a service; identity None keeps the one it has (SystemAssigned for a new one).
        ValueError names a bad sku or identity type."""
        canonical = {s.lower(): s for s in SKUS}.get(sku.lower())
        if canonical is None:
            raise ValueError(f"sku {sku!r} is not an API Management tier; use one of {list(SKUS)}")
        if identity is not None and identity not in IDENTITY_TYPES:
            raise ValueError(f"identity {identity!r} is not a managed identity type; use one of {list(IDENTITY_TYPES)}")
        key = (subscription_id.lower(), resource_group.lower(), name.lower())
        existing = self._services.get(key)
        if existing is not None:
            existing.sku = canonical
            existing.location = location
            existing.identity = identity or existing.identity
            existing.etag = self._next_etag()
            return
        self._services[key] = _Service(subscription_id, resource_group, name, canonical, location, self._next_etag(),
                                       identity or "SystemAssigned")

    def has_service(self, subscription_id: str, resource_group: str, name: str) -> bool:
        return (subscription_id.lower(), resource_group.lower(), name.lower()) in self._services

    def service(self, subscription_id: str, resource_group: str, name: str) -> _Service:
        """The service, or APIM's (ARM's) 404 for it."""
        found = self._services.get((subscription_id.lower(), resource_group.lower(), name.lower()))
        if found is None:
            raise e.service_not_found(resource_group, name)
        return found

    def service_body(self, subscription_id: str, resource_group: str, name: str) -> dict[str, Any]:
        return self.service(subscription_id, resource_group, name).body()

    # -- generic resource interface (ARM helper and handlers) -----------------------------------------------------

    def supports(self, resource_type: str) -> bool:
        return resource_type.lower() in {
            t.lower() for t in (SERVICE_TYPE, BACKEND_TYPE, API_TYPE, POLICY_TYPE, DIAGNOSTIC_TYPE)
        }

    def put_resource(self, resource_id: str, body: dict, *, if_match: str | None = None) -> tuple[dict, bool]:
        """Create or replace; returns (the stored body as GET answers it, created?). Raises APIM's errors."""
        ref = parse_resource_id(resource_id)
        if ref.kind is None:
            return self._put_service(ref, body)
        svc = self.service(ref.subscription_id, ref.resource_group, ref.service)
        assert ref.child is not None
        if ref.kind == "backends":
            return self._put_backend(svc, ref.child, body, if_match)
        if ref.policy is None:
            return self._put_api(svc, ref.child, body, if_match)
        if ref.sub_kind == "diagnostics":
            return self._put_diagnostic(svc, ref.child, ref.policy, body, if_match)
        return self._put_policy(svc, ref.child, ref.policy, body, if_match)

    def get_resource(self, resource_id: str) -> dict | None:
        ref = parse_resource_id(resource_id)
        key = (ref.subscription_id.lower(), ref.resource_group.lower(), ref.service.lower())
        svc = self._services.get(key)
        if svc is None:
            return None
        entity = self._entity(svc, ref)
        if ref.kind is None:
            return svc.body()
        return None if entity is None else copy.deepcopy(entity.body)

    def etag(self, resource_id: str) -> str | None:
        ref = parse_resource_id(resource_id)
        svc = self._services.get((ref.subscription_id.lower(), ref.resource_group.lower(), ref.service.lower()))
        if svc is None:
            return None
        if ref.kind is None:
            return svc.etag
        entity = self._entity(svc, ref)
        return None if entity is None else entity.etag

    def delete_resource(self, resource_id: str, *, if_match: str | None = None) -> bool:
        """True when something was deleted. Deleting a backend that a pool lists is allowed: what APIM does then
        is not documented, and the twin keeps the pool as it is (its member then points at nothing)."""
        ref = parse_resource_id(resource_id)
        if ref.kind is None:
            key = (ref.subscription_id.lower(), ref.resource_group.lower(), ref.service.lower())
            return self._services.pop(key, None) is not None
        svc = self.service(ref.subscription_id, ref.resource_group, ref.service)
        entity = self._entity(svc, ref)
        if entity is None:
            return False
        _check_if_match(entity, if_match)
        assert ref.child is not None
        child = ref.child.lower()
        if ref.kind == "backends":
            del svc.backends[child]
        elif ref.sub_kind == "diagnostics":
            assert ref.policy is not None
            del svc.diagnostics[(child, ref.policy.lower())]
        elif ref.policy is not None:
            del svc.policies[child]
        else:
            # An API's policy and diagnostics go with it.
            del svc.apis[child]
            svc.policies.pop(child, None)
            for key in [key for key in svc.diagnostics if key[0] == child]:
                del svc.diagnostics[key]
        return True

    def list_resources(self, subscription_id: str, resource_group: str, service: str) -> list[dict]:
        svc = self._services.get((subscription_id.lower(), resource_group.lower(), service.lower()))
        if svc is None:
            return []
        bodies = [*svc.backends.values(), *svc.apis.values(), *svc.policies.values(), *svc.diagnostics.values()]
        return [copy.deepcopy(entity.body) for entity in bodies]

    # -- backends -------------------------------------------------------------------------------------------------

    def backend_page(
        self, subscription_id: str, resource_group: str, service: str, *, skip: int, top: int | None
    ) -> tuple[list[dict], int, int]:
        """(this page's backends, total count, page size used): at most TwinConfig.page_size per page, fewer with
        $top, ordered by id."""
        svc = self.service(subscription_id, resource_group, service)
        ordered = [svc.backends[k] for k in sorted(svc.backends)]
        size = self.config.page_size if top is None else min(top, self.config.page_size)
        page = ordered[skip : skip + size]
        return [copy.deepcopy(entity.body) for entity in page], len(ordered), size

    def _backend_kind(self, svc: _Service, name: str) -> BackendKind | None:
        entity = svc.backends.get(name.lower())
        return None if entity is None else backend_kind(entity.body["properties"])

    def _put_backend(self, svc: _Service, name: str, body: dict, if_match: str | None) -> tuple[dict, bool]:
        existing = svc.backends.get(name.lower())
        _check_if_match(existing, if_match)
        properties = normalize_backend(body, svc.scope, lambda member: self._backend_kind(svc, member))
        stored_name = existing.name if existing is not None else name
        stored = {
            "id": f"{svc.id}/backends/{stored_name}",
            "type": BACKEND_TYPE,
            "name": stored_name,
            "properties": properties,
        }
        svc.backends[name.lower()] = _Entity(stored_name, stored, self._next_etag())
        return copy.deepcopy(stored), existing is None

    def patch_backend(self, resource_id: str, patch: dict, if_match: str | None) -> dict:
        """Backend_Update (PATCH): top-level properties replaced by those sent, then validated as a PUT."""
        ref = parse_resource_id(resource_id)
        svc = self.service(ref.subscription_id, ref.resource_group, ref.service)
        assert ref.child is not None
        existing = svc.backends.get(ref.child.lower())
        if existing is None:
            raise e.entity_not_found("Backend")
        sent = patch.get("properties") if isinstance(patch, dict) else None
        if sent is not None and not isinstance(sent, dict):
            raise e.validation_error([e.detail("properties", e.NOT_OBJECT.format(field="properties"))])
        merged = dict(existing.body["properties"])
        if merged.get("type") == "Pool":
            # url/protocol are answered as null for a pool, not sent by the caller: do not send them back in.
            merged.pop("url", None)
            merged.pop("protocol", None)
        merged.update(sent or {})
        stored, _ = self._put_backend(svc, ref.child, {"properties": merged}, if_match)
        return stored

    # -- apis and policies -------------------------------------------------------------------------------------

    def _put_api(self, svc: _Service, api_id: str, body: dict, if_match: str | None) -> tuple[dict, bool]:
        existing = svc.apis.get(api_id.lower())
        _check_if_match(existing, if_match)
        sent = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(sent, dict):
            raise e.validation_error([e.detail("properties", e.NOT_OBJECT.format(field="properties"))])
        path = sent.get("path")
        if not isinstance(path, str):
            raise e.validation_error([e.detail("path", e.API_PATH_REQUIRED)])
        properties = {k: copy.deepcopy(v) for k, v in sent.items() if k not in _API_IMPORT_FIELDS}
        properties.setdefault("displayName", api_id)
        properties.setdefault("apiRevision", "1")
        properties.setdefault("subscriptionRequired", True)
        properties.setdefault("protocols", ["https"])
        properties["isCurrent"] = True
        stored_name = existing.name if existing is not None else api_id
        stored = {"id": f"{svc.id}/apis/{stored_name}", "type": API_TYPE, "name": stored_name, "properties": properties}
        svc.apis[api_id.lower()] = _Entity(stored_name, stored, self._next_etag())
        return copy.deepcopy(stored), existing is None

    def _put_policy(
        self, svc: _Service, api_id: str, policy_id: str, body: dict, if_match: str | None
    ) -> tuple[dict, bool]:
        api = svc.apis.get(api_id.lower())
        if api is None:
            raise e.entity_not_found("Api")
        if policy_id.lower() != "policy":
            raise e.validation_error([e.detail("policyId", e.REQUIRED.format(field="Policy id 'policy'"))])
        existing = svc.policies.get(api_id.lower())
        _check_if_match(existing, if_match)
        sent = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(sent, dict):
            raise e.validation_error([e.detail("properties", e.NOT_OBJECT.format(field="properties"))])
        value = sent.get("value")
        if not isinstance(value, str) or not value.strip():
            raise e.validation_error([e.detail("value", e.POLICY_VALUE_REQUIRED)])
        policy_format = sent.get("format") or "xml"
        if policy_format not in POLICY_FORMATS:
            raise TwinError.of("UnsupportedPolicyFormatForTwin", format=policy_format)
        if policy_format == "xml":
            problem = policy_xml_problem(value)
            if problem is not None:
                raise e.validation_error([e.detail("representation", e.POLICY_NOT_WELL_FORMED.format(reason=problem))])
        missing = [ref for ref in policy_backend_references(value) if ref.backend_id.lower() not in svc.backends]
        if missing:
            raise e.validation_error(
                [
                    e.detail(
                        "set-backend-service",
                        e.POLICY_BACKEND_NOT_FOUND.format(line=ref.line, column=ref.column, backend_id=ref.backend_id),
                    )
                    for ref in missing
                ]
            )
        stored = {
            "id": f"{svc.id}/apis/{api.name}/policies/policy",
            "type": POLICY_TYPE,
            "name": "policy",
            "properties": {"value": value, "format": policy_format},
        }
        svc.policies[api_id.lower()] = _Entity("policy", stored, self._next_etag())
        return copy.deepcopy(stored), existing is None

    def _put_diagnostic(
        self, svc: _Service, api_id: str, diagnostic_id: str, body: dict, if_match: str | None
    ) -> tuple[dict, bool]:
        """ApiDiagnostic_CreateOrUpdate: the API must exist, loggerId (required) must name a logger of this
        instance, sampling.percentage 0-100, logged payloads at most 8192 bytes, headers a list of names. Stored
        and answered as sent: the twin adds no defaults it has not seen APIM answer."""
        api = svc.apis.get(api_id.lower())
        if api is None:
            raise e.entity_not_found("Api")
        key = (api_id.lower(), diagnostic_id.lower())
        existing = svc.diagnostics.get(key)
        _check_if_match(existing, if_match)
        sent = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(sent, dict):
            raise e.validation_error([e.detail("properties", e.NOT_OBJECT.format(field="properties"))])
        problems = _diagnostic_problems(svc, sent)
        if problems:
            raise e.validation_error(problems)
        stored_name = existing.name if existing is not None else diagnostic_id
        stored = {
            "id": f"{svc.id}/apis/{api.name}/diagnostics/{stored_name}",
            "type": DIAGNOSTIC_TYPE,
            "name": stored_name,
            "properties": copy.deepcopy(sent),
        }
        svc.diagnostics[key] = _Entity(stored_name, stored, self._next_etag())
        return copy.deepcopy(stored), existing is None

    def _put_service(self, ref: ResourceRef, body: dict) -> tuple[dict, bool]:
        sku = body.get("sku") if isinstance(body, dict) else None
        sku_name = sku.get("name") if isinstance(sku, dict) else None
        location = body.get("location") if isinstance(body, dict) else None
        created = not self.has_service(ref.subscription_id, ref.resource_group, ref.service)
        try:
            self.create_service(
                ref.subscription_id,
                ref.resource_group,
                ref.service,
                sku_name if isinstance(sku_name, str) else "Developer",
                location=location if isinstance(location, str) else "eastus",
            )
        except ValueError as exc:
            raise e.validation_error([e.detail("sku", str(exc))]) from None
        return self.service_body(ref.subscription_id, ref.resource_group, ref.service), created

    @staticmethod
    def _entity(svc: _Service, ref: ResourceRef) -> _Entity | None:
        if ref.kind is None or ref.child is None:
            return None
        child = ref.child.lower()
        if ref.kind == "backends":
            return svc.backends.get(child)
        if ref.sub_kind == "diagnostics":
            assert ref.policy is not None
            return svc.diagnostics.get((child, ref.policy.lower()))
        if ref.policy is not None:
            return svc.policies.get(child) if ref.policy.lower() == "policy" else None
        return svc.apis.get(child)


def _diagnostic_problems(svc: _Service, sent: dict[str, Any]) -> list[dict[str, Any]]:
    problems: list[dict[str, Any]] = []
    logger_id = sent.get("loggerId")
    if not isinstance(logger_id, str) or not logger_id.strip():
        problems.append(e.detail("loggerId", e.REQUIRED.format(field="loggerId")))
    else:
        # A full resource id of this instance's logger, or the short '/loggers/<id>' the REST examples use.
        logger = logger_id.rstrip("/").rsplit("/", 1)[-1].lower()
        prefix = logger_id.rstrip("/").rsplit("/", 1)[0].lower()
        if logger not in BUILTIN_LOGGERS or prefix not in (f"{svc.id}/loggers".lower(), "/loggers"):
            problems.append(e.detail("loggerId", e.LOGGER_NOT_FOUND.format(logger_id=logger_id)))
    sampling = sent.get("sampling")
    if sampling is not None:
        percentage = sampling.get("percentage") if isinstance(sampling, dict) else None
        if not isinstance(sampling, dict):
            problems.append(e.detail("sampling", e.NOT_OBJECT.format(field="sampling")))
        elif percentage is not None and (
            isinstance(percentage, bool) or not isinstance(percentage, int | float) or not 0 <= percentage <= 100
        ):
            problems.append(e.detail("sampling.percentage",
                                     e.OUT_OF_RANGE.format(field="sampling.percentage", low=0, high=100)))
    for pipeline in _DIAGNOSTIC_PIPELINES:
        settings = sent.get(pipeline)
        if settings is None:
            continue
        if not isinstance(settings, dict):
            problems.append(e.detail(pipeline, e.NOT_OBJECT.format(field=pipeline)))
            continue
        for message in _DIAGNOSTIC_MESSAGES:
            where = f"{pipeline}.{message}"
            logged = settings.get(message)
            if logged is None:
                continue
            if not isinstance(logged, dict):
                problems.append(e.detail(where, e.NOT_OBJECT.format(field=where)))
                continue
            headers = logged.get("headers")
            if headers is not None and (
                not isinstance(headers, list) or not all(isinstance(h, str) and h.strip() for h in headers)
            ):
                problems.append(e.detail(f"{where}.headers", e.NOT_ARRAY.format(field=f"{where}.headers")))
            body = logged.get("body")
            if body is None:
                continue
            size = body.get("bytes") if isinstance(body, dict) else None
            if not isinstance(body, dict):
                problems.append(e.detail(f"{where}.body", e.NOT_OBJECT.format(field=f"{where}.body")))
            elif size is not None and (
                isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_LOGGED_BODY_BYTES
            ):
                problems.append(e.detail(f"{where}.body.bytes", e.OUT_OF_RANGE.format(
                    field=f"{where}.body.bytes", low=0, high=MAX_LOGGED_BODY_BYTES)))
    return problems


def _check_if_match(entity: _Entity | None, if_match: str | None) -> None:
    """If-Match is optional on APIM PUTs; when given (and not '*') it must name the current version."""
    if if_match is None or if_match.strip() == "*":
        return
    if entity is None or if_match.strip() != entity.etag:
        raise TwinError.of("PreconditionFailed", if_match=if_match)
