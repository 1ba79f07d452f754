"""The control API of RBAC mode (routes in twin/control.py; unauthenticated, never faulted, under /_twin/).

PUT    /_twin/rbac   turn it on: {"principals": {token: objectId}, "infra": {...}, "without": [source, ...],
                     "workspaces": {customerId: resourceId}}
                     `infra` is what infra/app is deployed with — {"principalId", "targets", "appWorkspaceId",
                     "appInsightsId", "storageId", "functionAppId"?} — and gives the assignments infra/app
                     creates (twin/rbac/infra.py);
                     `without` drops the assignments whose `source` is listed (GET shows each one's source)
GET    /_twin/rbac   the mode: enabled, the principals' object ids (never the tokens), assignments, workspaces
DELETE /_twin/rbac   turn it off
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twin.errors import TwinError
from twin.http import Request, Response
from twin.rbac.infra import AppInfra, app_assignments

if TYPE_CHECKING:
    from twin.app import Twin

_INFRA_FIELDS = {"principalId", "targets", "appWorkspaceId", "appInsightsId", "storageId"}
_OPTIONAL_INFRA = {"functionAppId"}


def _bad(detail: str) -> TwinError:
    return TwinError.of("InvalidControlRequest", detail=detail)


def _strings(value: object, field: str, example: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and k and v
                                              for k, v in value.items()):
        raise _bad(f"'{field}' must be an object of non-empty strings, e.g. {example}")
    return dict(value)


def parse_infra(spec: object) -> AppInfra:
    if not isinstance(spec, dict):
        raise _bad("'infra' must be an object: " + ", ".join(sorted(_INFRA_FIELDS)))
    missing = sorted(_INFRA_FIELDS - set(spec))
    unknown = sorted(set(spec) - _INFRA_FIELDS - _OPTIONAL_INFRA)
    if missing or unknown:
        raise _bad(f"'infra' lacks {missing} / has unknown {unknown}; it takes {sorted(_INFRA_FIELDS)} and "
                   f"optionally {sorted(_OPTIONAL_INFRA)}")
    targets = spec["targets"]
    needed = {"subscriptionId", "resourceGroup", "apimName"}
    if not isinstance(targets, list) or not all(isinstance(t, dict) and needed <= set(t) for t in targets):
        raise _bad("'infra.targets' must be the targets parameter: [{subscriptionId, resourceGroup, apimName, "
                   "logAnalyticsWorkspaceId?}]")
    if not isinstance(spec["principalId"], str) or not spec["principalId"]:
        raise _bad("'infra.principalId' must be the identity's object id")
    for name in ("appWorkspaceId", "appInsightsId", "storageId", *(n for n in _OPTIONAL_INFRA if n in spec)):
        parts = spec[name].strip("/").split("/") if isinstance(spec[name], str) else []
        if len(parts) < 8 or parts[0].lower() != "subscriptions" or parts[2].lower() != "resourcegroups":
            raise _bad(f"'infra.{name}' must be a resource id: /subscriptions/<id>/resourceGroups/<group>/providers/"
                       "<namespace>/<type>/<name>")
    return AppInfra(spec["principalId"], targets, spec["appWorkspaceId"], spec["appInsightsId"], spec["storageId"],
                    spec.get("functionAppId", ""))


def put_rbac(twin: Twin, request: Request) -> Response:
    payload: dict[str, Any] = request.json_object()
    unknown = sorted(set(payload) - {"principals", "infra", "without", "workspaces"})
    if unknown:
        raise _bad(f"unknown field(s) {unknown}; known: principals, infra, without, workspaces")
    principals = _strings(payload.get("principals"), "principals", '{"<token>": "<object id>"}')
    try:
        assignments = app_assignments(parse_infra(payload.get("infra")))
    except ValueError as exc:  # infra/app's Bicep needs a resource id the request did not give
        raise _bad(str(exc)) from None
    without = payload.get("without") or []
    if not isinstance(without, list) or not all(isinstance(s, str) for s in without):
        raise _bad("'without' must be a list of assignment sources, as GET /_twin/rbac shows them")
    sources = {a.source for a in assignments}
    strays = sorted(set(without) - sources)
    if strays:
        raise _bad(f"'without' names no assignment: {strays}; the sources are {sorted(sources)}")
    kept = [a for a in assignments if a.source not in without]
    workspaces = (_strings(payload["workspaces"], "workspaces", '{"<customer id>": "<resource id>"}')
                  if "workspaces" in payload else {})
    twin.rbac.enable(principals, kept, workspaces)
    return Response(200, twin.rbac.describe())


def get_rbac(twin: Twin, request: Request) -> Response:
    return Response(200, twin.rbac.describe())


def delete_rbac(twin: Twin, request: Request) -> Response:
    twin.rbac.disable()
    return Response(204)
