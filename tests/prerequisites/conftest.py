"""Fixtures of the prerequisite tests: the target on the twin, and the real activity to run on it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from prereq_target import APIM, GROUP, SUB, WORKSPACE, rollout_call

import function_app


@pytest.fixture
def target_env(twin: Any, twin_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in twin_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BREAKERPANEL_BACKEND_HOSTS", raising=False)
    monkeypatch.setenv("BREAKERPANEL_TARGETS", json.dumps(
        [{"subscriptionId": SUB, "resourceGroup": GROUP, "apimName": APIM, "logAnalyticsWorkspaceId": WORKSPACE}]))
    twin.apim.create_service(SUB, GROUP, APIM)
    return twin


@pytest.fixture
def check(target_env: Any) -> Callable[..., dict[str, Any]]:
    """Run the real activity on the rollout call (optionally changed) and return its outcome."""
    function_app.app.functions_bindings = None
    activity = next(f for f in function_app.app.get_functions()
                    if f.get_function_name() == "arm_prerequisites").get_user_function()

    def run(call: dict[str, Any] | None = None) -> dict[str, Any]:
        return activity(call or rollout_call())

    return run
