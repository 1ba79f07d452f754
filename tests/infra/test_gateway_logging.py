"""What the gateway template logs to Log Analytics: the gateway logs, and in them the backends' Retry-After only.

ApiManagementGatewayLogs.BackendResponseHeaders holds only the headers the API's Azure Monitor diagnostic names
("Headers to log | list | Specifies the headers that are logged for requests and responses. Default: no headers
are logged.", API Management diagnostic logs settings reference), so the watchdog's Retry-After reconstruction
needs `service/apis/diagnostics` `azuremonitor` beside the diagnostic setting that routes GatewayLogs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GATEWAY = Path(__file__).resolve().parents[2] / "infra" / "gateway"


def _resources() -> dict[str, Any]:
    return json.loads((GATEWAY / "main.json").read_text(encoding="utf-8"))["resources"]


def test_the_api_diagnostic_is_deployed_exactly_when_the_gateway_logs_are() -> None:
    resources = _resources()
    diagnostic, setting = resources["apiDiagnostics"], resources["gatewayDiagnostics"]
    assert diagnostic["type"] == "Microsoft.ApiManagement/service/apis/diagnostics"
    assert diagnostic["apiVersion"] == "2024-05-01"
    assert diagnostic["condition"] == setting["condition"] == "[not(empty(parameters('logAnalyticsWorkspaceId')))]"
    # The API's own diagnostic, named for the Azure Monitor logger, with the instance's built-in logger.
    assert diagnostic["name"] == (
        "[format('{0}/{1}/{2}', parameters('apimServiceName'), parameters('apiName'), 'azuremonitor')]"
    )
    assert diagnostic["properties"]["loggerId"] == (
        "[resourceId('Microsoft.ApiManagement/service/loggers', parameters('apimServiceName'), 'azuremonitor')]"
    )
    assert set(diagnostic["dependsOn"]) == {"api", "gatewayDiagnostics"}


def test_only_the_backends_retry_after_is_logged_never_a_body_or_another_header() -> None:
    properties = _resources()["apiDiagnostics"]["properties"]
    assert properties["backend"]["response"]["headers"] == ["Retry-After", "retry-after"]
    for pipeline in ("frontend", "backend"):
        for message in ("request", "response"):
            logged = properties[pipeline][message]
            assert logged["body"] == {"bytes": 0}, f"{pipeline}.{message} logs a payload"
            if (pipeline, message) != ("backend", "response"):
                # Request headers carry the caller's key and the managed identity's token.
                assert logged["headers"] == [], f"{pipeline}.{message} logs headers"
    assert properties["logClientIp"] is False
    assert set(properties) == {"loggerId", "sampling", "verbosity", "logClientIp", "frontend", "backend"}


def test_every_request_is_logged_so_the_watchdog_counts_them_all() -> None:
    properties = _resources()["apiDiagnostics"]["properties"]
    assert properties["sampling"] == {"samplingType": "fixed", "percentage": 100}
    # 'error' would log failed requests only ("Error - failed requests ..."; "Information - failed and successful
    # requests"), and the breaker model needs the successes too.
    assert properties["verbosity"] == "information"
