"""The Functions app as the host indexes it: every function, its trigger, and its bindings."""

from __future__ import annotations

from typing import Any

import pytest


def _index(app: Any) -> dict[str, dict[str, Any]]:
    # get_functions() builds the index once and raises on a second call unless the cache is cleared,
    # which is what the host's re-indexing (and a second test) would do.
    app.functions_bindings = None
    found = {}
    for function in app.get_functions():
        bindings = {b.type: b for b in function.get_bindings()}
        trigger = function.get_trigger()
        found[function.get_function_name()] = {"trigger": trigger.type, "bindings": bindings, "raw": function}
    return found


@pytest.fixture(scope="module")
def app() -> Any:
    import function_app

    return function_app.app


EXPECTED_TRIGGERS = {
    "start_rollout": "httpTrigger",
    "get_rollout": "httpTrigger",
    "list_rollouts": "httpTrigger",
    "approve_rollout": "httpTrigger",
    "reject_rollout": "httpTrigger",
    "terminate_rollout": "httpTrigger",
    "cancel_rollout": "httpTrigger",
    "release_rollout": "httpTrigger",
    "rollout_orchestrator": "orchestrationTrigger",
    "target_preflight": "orchestrationTrigger",
    "target_deploy": "orchestrationTrigger",
    "deployment_poller": "orchestrationTrigger",
    "arm_validate": "activityTrigger",
    "arm_prerequisites": "activityTrigger",
    "arm_what_if": "activityTrigger",
    "arm_start_deployment": "activityTrigger",
    "arm_deployment_state": "activityTrigger",
    "arm_failed_operations": "activityTrigger",
    "arm_rollback_point": "activityTrigger",
    "arm_cancel_deployment": "activityTrigger",
    "rollout_lock_targets": "activityTrigger",
    "rollout_cancel_requested": "activityTrigger",
    "rollout_decision": "activityTrigger",
    "rollout_policy": "activityTrigger",
    "apim_read_backends": "activityTrigger",
    "watchdog_timer": "timerTrigger",
    "watchdog_orchestrator": "orchestrationTrigger",
    "watch_plan": "activityTrigger",
    "watch_check": "activityTrigger",
    "rollout_notify": "activityTrigger",
    "breaker_events": "eventGridTrigger",
    "health": "httpTrigger",
}


def test_every_function_is_registered_with_its_trigger(app: Any) -> None:
    index = _index(app)
    assert {name: entry["trigger"] for name, entry in index.items()} == EXPECTED_TRIGGERS


def test_indexing_twice_gives_the_same_functions(app: Any) -> None:
    assert _index(app).keys() == _index(app).keys()


def test_http_routes_are_function_key_protected_and_use_the_durable_client(app: Any) -> None:
    index = _index(app)
    routes = {}
    for name, entry in index.items():
        if entry["trigger"] != "httpTrigger":
            continue
        http = entry["raw"].get_trigger()
        routes[name] = (http.route, sorted(str(m).split(".")[-1].upper() for m in http.methods))
        assert str(http.auth_level).split(".")[-1].upper() == "FUNCTION", name
        if name != "health":  # the health route reads the store, not the task hub
            assert "durableClient" in entry["bindings"], name
    assert routes == {
        "start_rollout": ("rollouts", ["POST"]),
        "get_rollout": ("rollouts/{instance_id}", ["GET"]),
        "list_rollouts": ("rollouts", ["GET"]),
        "approve_rollout": ("rollouts/{instance_id}/approve", ["POST"]),
        "reject_rollout": ("rollouts/{instance_id}/reject", ["POST"]),
        "terminate_rollout": ("rollouts/{instance_id}/terminate", ["POST"]),
        "cancel_rollout": ("rollouts/{instance_id}/cancel", ["POST"]),
        "release_rollout": ("rollouts/{instance_id}/release", ["POST"]),
        "health": ("health", ["GET"]),
    }


def test_binding_names_match_the_python_parameters(app: Any) -> None:
    """The host binds by name: a trigger whose name differs from the parameter fails only at run time."""
    import inspect

    for name, entry in _index(app).items():
        function = entry["raw"]
        parameters = set(inspect.signature(function.get_user_function()).parameters)
        for binding in function.get_bindings():
            if binding.name == "$return":
                continue
            assert binding.name in parameters, f"{name}: binding {binding.name!r} has no parameter"


def test_watchdog_timer_reads_its_schedule_from_the_app_setting(app: Any) -> None:
    """The schedule is `%BREAKERPANEL_WATCH_SCHEDULE%`: the host resolves it from the app settings, so changing
    the cadence needs no code change (infra and local.settings.sample.json set it)."""
    timer = _index(app)["watchdog_timer"]["raw"].get_trigger()
    assert timer.schedule == "%BREAKERPANEL_WATCH_SCHEDULE%"
    assert "durableClient" in _index(app)["watchdog_timer"]["bindings"]
