"""APIM backend activities: read every backend of a target back, as APIM's REST bodies, cut to what verify reads."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from activities.outcomes import Outcome, call_azure, reports_failures
from activities.policy import refused
from breakerpanel.azure.clients import apim_client
from breakerpanel.settings import load_settings

bp = df.Blueprint()

# The api-version the gateway template deploys backends with: read back at the same version so fields
# newer than the SDK's default (failureResponse) are seen as deployed.
BACKENDS_API_VERSION = "2025-03-01-preview"


# What verify compares (core/verify.py parse_backend); nothing else of a backend leaves this activity.
_VERIFIED_PROPERTIES = ("type", "url", "protocol", "circuitBreaker", "pool")


def _raw_json(pipeline_response: Any, deserialized: Any, headers: Any) -> Any:
    return pipeline_response.http_response.json()


def _verified_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The backend without what verify never reads. APIM's GET answers a backend's `credentials` (header and
    query values, the authorization parameter) and `proxy.password` in clear (2024-05-01 example
    ApiManagementCreateBackendProxyBackend), for every backend of the instance, other teams' included; an
    activity's result is kept in the task hub's history, so those values must not be in it."""
    properties = body["properties"]
    return {**{k: body[k] for k in ("id", "name", "type") if k in body},
            "properties": {k: properties[k] for k in _VERIFIED_PROPERTIES if k in properties}}


@bp.activity_trigger(input_name="payload")
@reports_failures
def apim_read_backends(payload: dict[str, Any]) -> Outcome:
    """All backends of the target's APIM instance, each exactly as APIM answers a GET."""
    if (refusal := refused(payload, with_parameters=False)) is not None:
        return refusal

    def action() -> dict[str, Any]:
        target = payload["target"]
        client = apim_client(load_settings(), target["subscriptionId"])
        group, service = target["resourceGroup"], target["apimName"]
        names = sorted(backend.name for backend in client.backend.list_by_service(group, service))
        bodies = [
            client.backend.get(group, service, name, api_version=BACKENDS_API_VERSION, cls=_raw_json)
            for name in names
        ]
        for name, body in zip(names, bodies, strict=True):
            if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
                # JSON, but not a backend: read again rather than verify against it.
                raise ValueError(f"the answer for backend {name!r} is not a backend body")
        return {"backends": [_verified_fields(body) for body in bodies]}

    return call_azure(action)
