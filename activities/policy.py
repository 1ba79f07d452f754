"""The policy every Azure call is checked against, read from the settings at the moment of the call.

The allowlist (BREAKERPANEL_TARGETS), the backend hosts and the four-eyes setting, as plain JSON for the pure
core (breakerpanel.core.admission); `refused` is the guard each activity runs before it builds a client.
"""

from __future__ import annotations

from typing import Any

from breakerpanel.core import admission
from breakerpanel.settings import SettingsError, load_settings
from breakerpanel.targets import load_targets


def current_policy() -> dict[str, Any]:
    try:
        settings = load_settings()
        allowed = load_targets()
    except SettingsError as exc:
        return {"outcome": "permanent", "status": None, "retryAfterSeconds": None,
                "error": {"code": "Misconfigured", "message": f"{exc.variable}: {exc.problem}"}}
    return {
        "outcome": "ok",
        "targets": [
            {**{k: v for k, v in entry.target.to_dict().items() if k != "wave"},
             "logAnalyticsWorkspaceId": entry.log_analytics_workspace_id or ""}
            for entry in allowed
        ],
        "backendHosts": list(settings.backend_hosts),
        "allowSelfApproval": settings.allow_self_approval,
        "eventsFunctionId": settings.events_function_id,
    }


def refused(payload: Any, *, with_parameters: bool) -> dict[str, Any] | None:
    """None when the call may go to Azure; otherwise the permanent outcome that refuses it."""
    policy = current_policy()
    if policy["outcome"] != "ok":
        return policy
    problems = admission.call_problems(payload, policy, with_parameters=with_parameters)
    return admission.refusal(problems) if problems else None
