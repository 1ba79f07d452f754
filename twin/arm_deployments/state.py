"""ARM deployments in the twin: the deployment history per resource group, its lifecycle, what-if runs, and
ARM's store of the resources no other twin service owns.

Lifecycle: a PUT validates the template synchronously (ARM does: a bad template is a 400, no deployment) and
records the deployment as Accepted. Each observation — a poll of its Azure-AsyncOperation URL or a GET of the
deployment — advances it one step: after `TwinConfig.deployment_poll_steps` observations it is Running, after
twice that it runs (resources are materialized at that moment) and is Succeeded or Failed. States move on polls,
never on wall time, so tests are deterministic; a cancel before that moment means nothing is written.

onErrorDeployment is refused with a 400 naming it: ARM would re-run an earlier deployment in Complete mode when
this one fails, breakerpanel deliberately never asks for that, and a twin that accepted it without re-running
would answer differently from ARM.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from twin.arm_deployments import errors as _errors  # noqa: F401 - registers ARM's error codes
from twin.arm_deployments.failures import ProvisioningFailures
from twin.arm_deployments.materialize import Authorize, execute
from twin.arm_deployments.records import Deployment, new_guid, now
from twin.arm_deployments.resources import ResourceStore
from twin.arm_deployments.template import EvaluatedTemplate, TemplateError, evaluate_template
from twin.arm_deployments.whatif import predict_changes, what_if_result
from twin.errors import TwinError

if TYPE_CHECKING:
    from twin.apim.state import ApimState
    from twin.app import TwinConfig

MODES = {"incremental": "Incremental", "complete": "Complete"}
# ARM keeps a deployment "active" for at most this long (the DeploymentActive message shows the expiry).
_ACTIVE_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class DeploymentRequest:
    """The body of a PUT / validate / what-if, checked: every problem names the field."""

    mode: str
    template: dict[str, Any]
    parameters: dict[str, Any]


@dataclass
class WhatIfRun:
    subscription_id: str
    result: dict[str, Any]
    polls: int = 0
    status: int = 200  # what the last poll answers: 200, or 400 for a validation that failed


@dataclass
class ValidateMode:
    """How the twin answers POST .../validate (control: POST /_twin/arm/validateMode).

    ARM's 2025-04-01 Deployments_Validate has three documented answers: 200 with a DeploymentValidateResult,
    400 with one holding `error` ("Returns the validation result with error"), and 202 with a Location to poll
    (x-ms-long-running-operation, final state via location). `asynchronous` serves the 202 form; `failure_status`
    is the status a failed validation's final answer carries: 400 as documented, or 200 — the schema allows
    `error` on any DeploymentValidateResult and az CLI reads it after a validate that did not raise
    (validation_result.error in azure-cli's resource module), so a client must read it too.
    """

    asynchronous: bool = False
    failure_status: int = 400


def _bad(detail: str) -> TwinError:
    return TwinError.of("InvalidDeploymentRequest", detail=detail)


def parse_request(body: dict[str, Any]) -> DeploymentRequest:
    properties = body.get("properties")
    if not isinstance(properties, dict):
        raise _bad("'properties' is required and must be an object holding mode, template and parameters.")
    mode = properties.get("mode")
    if not isinstance(mode, str) or mode.lower() not in MODES:
        raise _bad(f"'properties.mode' must be 'Incremental' or 'Complete', not {mode!r}.")
    if properties.get("onErrorDeployment") is not None:
        raise _bad(
            "'properties.onErrorDeployment' is not served by the twin: ARM would re-run an earlier deployment in "
            "Complete mode if this one fails, which the twin does not model; remove it to deploy on the twin."
        )
    if "templateLink" in properties or "parametersLink" in properties:
        raise _bad(
            "'properties.templateLink' and 'parametersLink' are not served by the twin; send the template "
            "inline in 'properties.template' and the values in 'properties.parameters'."
        )
    template = properties.get("template")
    if not isinstance(template, dict):
        raise _bad("'properties.template' is required and must be the template JSON object.")
    parameters = properties.get("parameters")
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise _bad('\'properties.parameters\' must be an object: {"name": {"value": ...}}.')
    return DeploymentRequest(MODES[mode.lower()], template, parameters)


def _us_time(moment: datetime) -> str:
    """ARM's DeploymentActive message writes times as '4/4/2020 2:17:07 AM'."""
    hour = moment.hour % 12 or 12
    return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment:%M:%S} {'AM' if moment.hour < 12 else 'PM'}"


class ArmState:
    def __init__(self, config: TwinConfig, apim: ApimState) -> None:
        self.config = config
        self.apim = apim
        self.resources = ResourceStore()
        self.failures = ProvisioningFailures()
        # The RBAC mode's linked checks (twin/rbac/mode.py), run before each resource a deployment writes.
        self.authorize: Authorize | None = None
        self._deployments: dict[tuple[str, str, str], Deployment] = {}
        self._by_async_id: dict[str, Deployment] = {}
        self._what_ifs: dict[str, WhatIfRun] = {}
        self.validate_mode = ValidateMode()

    def reset(self) -> None:
        self.validate_mode = ValidateMode()
        self.resources.reset()
        self.failures.clear()
        self._deployments.clear()
        self._by_async_id.clear()
        self._what_ifs.clear()

    @staticmethod
    def _key(subscription_id: str, resource_group: str, name: str) -> tuple[str, str, str]:
        return (subscription_id.lower(), resource_group.lower(), name.lower())

    def _evaluate(
        self, subscription_id: str, resource_group: str, name: str, request: DeploymentRequest
    ) -> EvaluatedTemplate:
        try:
            return evaluate_template(
                request.template,
                request.parameters,
                subscription_id=subscription_id,
                resource_group=resource_group,
                deployment_name=name,
            )
        except TemplateError as exc:
            if exc.code == "InvalidTemplate":
                raise TwinError.of("InvalidTemplate", message=exc.message) from None
            raise TwinError(400, exc.code, exc.message) from None

    # -- deployments --------------------------------------------------------------------------------------------

    def _prepare(self, subscription_id: str, resource_group: str, name: str, body: dict[str, Any]) -> Deployment:
        """A deployment of `body`, its template evaluated (ARM checks the template before accepting it)."""
        request = parse_request(body)
        return Deployment(
            subscription_id=subscription_id,
            resource_group=resource_group,
            name=name,
            mode=request.mode,
            template=request.template,
            parameters=request.parameters,
            evaluated=self._evaluate(subscription_id, resource_group, name, request),
        )

    def find(self, subscription_id: str, resource_group: str, name: str) -> Deployment | None:
        return self._deployments.get(self._key(subscription_id, resource_group, name))

    def get(self, subscription_id: str, resource_group: str, name: str) -> Deployment:
        found = self.find(subscription_id, resource_group, name)
        if found is None:
            raise TwinError.of("DeploymentNotFound", name=name)
        return found

    def in_group(self, subscription_id: str, resource_group: str) -> list[Deployment]:
        wanted = (subscription_id.lower(), resource_group.lower())
        return [dep for key, dep in self._deployments.items() if key[:2] == wanted]

    def all_active(self) -> list[Deployment]:
        return [dep for dep in self._deployments.values() if dep.active]

    def start(
        self, subscription_id: str, resource_group: str, name: str, body: dict[str, Any]
    ) -> tuple[Deployment, bool]:
        """A new run of deployment `name` (created?), Accepted. 409 DeploymentActive while one is running."""
        existing = self.find(subscription_id, resource_group, name)
        if existing is not None and existing.active:
            raise TwinError.of(
                "DeploymentActive",
                name=existing.name,
                started=_us_time(existing.started),
                expires=_us_time(existing.started + _ACTIVE_LIFETIME),
            )
        deployment = self._prepare(subscription_id, resource_group, name, body)
        self._deployments[self._key(subscription_id, resource_group, name)] = deployment
        self._by_async_id[deployment.async_id] = deployment
        return deployment, existing is None

    def by_async_id(self, async_id: str) -> Deployment | None:
        return self._by_async_id.get(async_id)

    def observe(self, deployment: Deployment) -> None:
        """One poll: advance the deployment one step (see the module docstring)."""
        if not deployment.active:
            return
        deployment.polls += 1
        steps = max(1, self.config.deployment_poll_steps)
        if deployment.state == "Accepted" and deployment.polls >= steps:
            deployment.state = "Running"
        elif deployment.state == "Running" and deployment.polls >= 2 * steps:
            self._finish(deployment)

    def settle(self, deployment: Deployment) -> None:
        """Run an active deployment to its end now (the twin's control API uses it)."""
        if deployment.active:
            self._finish(deployment)

    def _finish(self, deployment: Deployment) -> None:
        execute(self.apim, self.resources, deployment, self.failures, self.authorize)

    def cancel(self, deployment: Deployment) -> None:
        if not deployment.active:
            raise TwinError.of("DeploymentCannotBeCancelled", name=deployment.name, state=deployment.state)
        deployment.state = "Canceled"
        deployment.finished = now()

    def delete(self, subscription_id: str, resource_group: str, name: str) -> None:
        existing = self.find(subscription_id, resource_group, name)
        if existing is None:
            return
        if existing.active:
            raise TwinError.of(
                "DeploymentActive",
                name=existing.name,
                started=_us_time(existing.started),
                expires=_us_time(existing.started + _ACTIVE_LIFETIME),
            )
        del self._deployments[self._key(subscription_id, resource_group, name)]

    # -- validate and what-if --------------------------------------------------------------------------------------

    def validate(self, subscription_id: str, resource_group: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """DeploymentValidateResult for a valid request; the template's errors are raised as ARM's 400."""
        probe = self._prepare(subscription_id, resource_group, name, body)
        evaluated = probe.evaluated
        probe.state = "Succeeded"
        probe.finished = probe.started
        result = probe.rest()
        result["properties"].pop("outputResources", None)  # nothing was provisioned
        result["properties"]["validatedResources"] = [{"id": resource.id} for resource in evaluated.resources]
        return result

    def validation_answer(
        self, subscription_id: str, resource_group: str, name: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """(status, DeploymentValidateResult) as the validate mode answers it; a failure's result holds `error`."""
        try:
            return 200, self.validate(subscription_id, resource_group, name, body)
        except TwinError as exc:
            if self.validate_mode.failure_status == 400:
                if not self.validate_mode.asynchronous:
                    raise
                return exc.status, exc.envelope()
            return 200, exc.envelope()

    def start_validation(self, subscription_id: str, resource_group: str, name: str, body: dict[str, Any]) -> str:
        """The 202 form: the answer is computed now and served from the Location after whatif_poll_steps polls."""
        status, result = self.validation_answer(subscription_id, resource_group, name, body)
        token = new_guid()
        self._what_ifs[token] = WhatIfRun(subscription_id, result, status=status)
        return token

    def start_what_if(self, subscription_id: str, resource_group: str, name: str, body: dict[str, Any]) -> str:
        """Compute the changes now (a snapshot of the state at the request) and return the result's token."""
        request = parse_request(body)
        evaluated = self._evaluate(subscription_id, resource_group, name, request)
        changes = predict_changes(self.apim, self.resources, subscription_id, resource_group, evaluated, request.mode)
        token = new_guid()
        self._what_ifs[token] = WhatIfRun(subscription_id, what_if_result(changes))
        return token

    def poll_what_if(self, subscription_id: str, token: str) -> WhatIfRun | None:
        """The run (its status and result), or None while it is still 'running' (TwinConfig.whatif_poll_steps
        polls answer 202). Validations in the 202 form are served the same way."""
        run = self._what_ifs.get(token)
        if run is None or run.subscription_id.lower() != subscription_id.lower():
            raise TwinError.of("WhatIfOperationNotFound", token=token)
        if run.polls < self.config.whatif_poll_steps:
            run.polls += 1
            return None
        return run
