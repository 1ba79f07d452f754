"""The gateway template's parameters for one target, in ARM's REST shape `{"name": {"value": ...}}`.

The names are the contract of infra/gateway/main.bicep (and its compiled main.json).
"""

from __future__ import annotations

from typing import Any

from breakerpanel.core.model import RolloutRequest, Target


def gateway_parameters(
    request: RolloutRequest,
    target: Target,
    *,
    log_analytics_workspace_id: str = "",
    function_app_resource_id: str = "",
) -> dict[str, dict[str, Any]]:
    rule = request.breaker_rule.to_dict()
    # Optional members of the Bicep type are absent, not null: a null would fail the type's validation.
    rule = {key: value for key, value in rule.items() if value is not None}
    values: dict[str, Any] = {
        "apimServiceName": target.apim_name,
        "backends": [backend.to_dict() for backend in request.backends],
        "breakerRule": rule,
        "poolName": request.pool_name,
    }
    if log_analytics_workspace_id:
        values["logAnalyticsWorkspaceId"] = log_analytics_workspace_id
    if function_app_resource_id:
        values["functionAppResourceId"] = function_app_resource_id
    return {name: {"value": value} for name, value in values.items()}
