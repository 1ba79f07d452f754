"""The twin as one object: the services' state, the router, faults and the captured-request log.

`Twin.dispatch` is the whole request path; the HTTPS server (twin/server.py) only moves bytes to it, so a
test can also drive a `Twin` in-process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from twin.errors import TwinError
from twin.faults import CARRIED_OUT, FaultRule, Faults
from twin.http import Request, Response, Route, Router


@dataclass(frozen=True)
class TwinConfig:
    # How many polls of a deployment's Azure-AsyncOperation pass through each non-terminal state
    # (Accepted, then Running) before it settles: ARM takes minutes, the twin takes polls.
    deployment_poll_steps: int = 1
    # How many polls of a what-if's Location answer 202 before the result.
    whatif_poll_steps: int = 1
    # Page size of APIM list operations (APIM pages with nextLink).
    page_size: int = 100
    seed: int = 0


@dataclass(frozen=True)
class Outcome:
    response: Response
    drop: bool = False  # close the connection mid-response instead of finishing it
    reset: bool = False  # close the connection before answering anything
    latency_s: float = 0.0


class Twin:
    def __init__(self, config: TwinConfig | None = None) -> None:
        from twin import control
        from twin.apim.routes import ROUTES as APIM_ROUTES
        from twin.apim.state import ApimState
        from twin.app_insights.routes import ROUTES as APP_INSIGHTS_ROUTES
        from twin.app_insights.state import AppInsightsState
        from twin.arm_deployments.routes import ROUTES as ARM_ROUTES
        from twin.arm_deployments.state import ArmState
        from twin.gateway.loader import GatewayState
        from twin.gateway.routes import ROUTES as GATEWAY_ROUTES
        from twin.log_analytics.routes import ROUTES as LOGS_ROUTES
        from twin.log_analytics.state import LogsState
        from twin.prerequisites.routes import ROUTES as PREREQUISITE_ROUTES
        from twin.prerequisites.state import PrerequisitesState
        from twin.rbac.mode import RbacMode

        self.config = config or TwinConfig()
        # One lock for all state: requests are serialized, so every scenario is deterministic.
        self.lock = threading.RLock()
        self.apim = ApimState(self.config)
        self.arm = ArmState(self.config, self.apim)
        self.logs = LogsState(self.config)
        self.app_insights = AppInsightsState(self.logs)  # custom events, on the Log Analytics clock
        self.gateway = GatewayState()  # the traffic scenarios loaded, with their breaker events
        self.prerequisites = PrerequisitesState()  # provider registrations, role assignments
        self.faults = Faults()
        self.rbac = RbacMode()  # off: every token may do everything (twin/rbac/mode.py)
        self.arm.authorize = self.rbac.linked
        self._captured: list[dict[str, Any]] = []
        self._router = Router([*control.ROUTES, *ARM_ROUTES, *APIM_ROUTES, *LOGS_ROUTES, *GATEWAY_ROUTES,
                              *APP_INSIGHTS_ROUTES, *PREREQUISITE_ROUTES])

    def reset(self) -> None:
        with self.lock:
            self.apim.reset()
            self.arm.reset()
            self.logs.reset()
            self.app_insights.reset()
            self.gateway.reset()
            self.prerequisites.reset()
            self.faults.clear()
            self.rbac.disable()
            self._captured.clear()

    def captured(self, route_glob: str = "*") -> list[dict[str, Any]]:
        with self.lock:
            return [dict(entry) for entry in self._captured if fnmatchcase(entry["route"], route_glob)]

    def clear_captured(self) -> None:
        with self.lock:
            self._captured.clear()

    def dispatch(self, request: Request) -> Outcome:
        try:
            matched, params = self._router.match(request.method, request.path)
        except TwinError as exc:
            return Outcome(Response(exc.status, exc.envelope(), exc.headers))
        request.params = params
        control = matched.name.startswith("control.")
        fault = None if control else self.faults.pick(matched.name)
        outcome = self._answer(matched, request, fault)
        if not control:
            self._capture(matched, request, outcome, fault)
        return outcome

    def _answer(self, matched: Route, request: Request, fault: FaultRule | None) -> Outcome:
        try:
            principal = None
            if matched.authenticated:
                _authenticate(request)
                principal = self.rbac.authorize(self, matched.name, request)
            if fault is not None and fault.kind == "reset":
                return Outcome(Response(0), reset=True)
            if fault is not None and fault.kind in ("throttle", "error"):
                raise _injected_error(fault, request, self._operation(matched, request))
            if matched.needs_api_version and not request.api_version:
                raise TwinError.of("MissingApiVersionParameter")
            with self.lock:
                response = matched.handler(self, request)
                if matched.name == "arm.deployments.put" and response.status < 300:
                    p = request.params
                    started = self.arm.find(p["subscription"], p["group"], p["name"])
                    if started is not None:
                        self.rbac.deployed_by(started, principal)
            if fault is not None and fault.kind in CARRIED_OUT:
                response = _carried_out_answer(fault, request, response, self._operation(matched, request))
        except TwinError as exc:
            response = Response(exc.status, exc.envelope(), exc.headers)
        response.headers.setdefault("x-ms-request-id", f"twin-{time.monotonic_ns()}")
        latency = fault.latency_ms / 1000 if fault is not None and fault.kind == "latency" else 0.0
        return Outcome(response, drop=fault is not None and fault.kind == "drop", latency_s=latency)

    def _operation(self, matched: Route, request: Request) -> tuple[str, str]:
        """The RBAC operation and scope Azure checks for this route, which an injected 403 names."""
        from twin.rbac.operations import checks_for

        try:
            checks = checks_for(self, matched.name, request)
        except TwinError:
            checks = []
        if not checks:
            return f"{request.method} {request.path}", request.path
        return checks[0].action, checks[0].scope

    def _capture(self, matched: Route, request: Request, outcome: Outcome, fault: FaultRule | None) -> None:
        body: Any = None
        if request.body:
            try:
                body = request.json()
            except TwinError:
                body = "<not JSON>"
        with self.lock:
            self._captured.append(
                {
                    "seq": len(self._captured) + 1,
                    "route": matched.name,
                    "method": request.method,
                    "path": request.path,
                    "query": dict(request.query),
                    "params": dict(request.params),
                    "body": body,
                    "status": outcome.response.status,
                    "fault": None if fault is None else fault.kind,
                    "dropped": outcome.drop,
                }
            )

    def add_fault(self, rule: FaultRule) -> None:
        self.faults.add(rule)


# The object id an injected 403 names: no principal is involved when the twin makes the refusal up.
_INJECTED_CLIENT = "00000000-0000-0000-0000-00000000beef"


def _injected_error(fault: FaultRule, request: Request, operation: tuple[str, str]) -> TwinError:
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    action, scope = operation
    return TwinError.of(fault.error_code, headers=headers, retry_after=fault.retry_after,
                        action=action, scope=scope, client=_INJECTED_CLIENT)


_PROXY_PAGE = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>"
               b"<p>The proxy received an invalid response from an upstream server.</p></body></html>")


def _carried_out_answer(fault: FaultRule, request: Request, real: Response, operation: tuple[str, str]) -> Response:
    """What the client gets for a call the service carried out (see twin/faults.py)."""
    if fault.kind == "applied":
        error = _injected_error(fault, request, operation)
        return Response(error.status, error.envelope(), error.headers)
    if fault.kind == "empty":
        return Response(200, b"", {})
    if fault.kind == "html":
        return Response(200, _PROXY_PAGE, {"Content-Type": "text/html; charset=utf-8"})
    encoded = real.encoded() or b'{"properties": {}}'
    return Response(200, encoded[: max(len(encoded) // 2, 1)], {})


def _authenticate(request: Request) -> None:
    header = request.headers.get("authorization")
    if header is None:
        raise TwinError.of("AuthenticationFailed", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TwinError.of(
            "InvalidAuthenticationToken", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
