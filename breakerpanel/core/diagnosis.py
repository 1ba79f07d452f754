"""Why a deployment failed, in words: ARM/APIM error codes and stable message fragments → cause → fix.

Input is plain dicts in the REST shape (deployment operations, a deployment's `properties.error`, a
validate/what-if error body), so the watchdog can reuse it on stored payloads. ARM wraps every resource
failure in DeploymentFailed (and validation ones in InvalidTemplateDeployment); the cause is always looked
for in the innermost details, never reported as the wrapper. APIM's wording changes over time, so rules
match codes first and short, stable fragments second.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from breakerpanel.core.grants import grant_fix, refused_action

UNRECOGNIZED = "unrecognized"

# Codes whose only job is to carry `details`; the cause is inside.
_WRAPPER_CODES = frozenset(
    {
        "deploymentfailed",
        "invalidtemplatedeployment",
        "preflightvalidationcheckfailed",
        "resourcedeploymentfailure",
        "multipleerrorsoccurred",
    }
)
_GENERIC_MESSAGE = re.compile(
    r"(?i)(see inner errors|refer to the details|see details|one or more fields contain incorrect values|"
    r"at least one resource deployment operation failed|one or more errors occurred)"
)


@dataclass(frozen=True)
class ErrorNode:
    """One ARM ErrorDetail: code, message, target, nested details and additionalInfo ({type, info} each)."""

    code: str
    message: str
    target: str = ""
    details: tuple[ErrorNode, ...] = ()
    additional_info: tuple[Mapping[str, object], ...] = ()


@dataclass(frozen=True)
class Diagnosis:
    resource_id: str
    resource_type: str
    resource_name: str
    code: str
    message: str
    cause: str
    fix: str
    raw: object = field(compare=False)
    tracking_id: str = ""
    key: str = UNRECOGNIZED
    retryable: bool = False
    operation_id: str = ""
    timestamp: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "resourceId": self.resource_id,
            "resourceType": self.resource_type,
            "resourceName": self.resource_name,
            "code": self.code,
            "message": self.message,
            "cause": self.cause,
            "fix": self.fix,
            "key": self.key,
            "retryable": self.retryable,
            "trackingId": self.tracking_id,
            "operationId": self.operation_id,
            "timestamp": self.timestamp,
            "raw": self.raw,
        }


@dataclass(frozen=True)
class _Rule:
    key: str
    cause: str
    fix: str
    codes: frozenset[str] = frozenset()  # lower-case; empty = any code
    pattern: re.Pattern[str] | None = None
    retryable: bool = False
    extract: re.Pattern[str] | None = None  # optional details for the cause text; never decides the match


def _rule(
    key: str,
    cause: str,
    fix: str,
    codes: Iterable[str] = (),
    pattern: str | None = None,
    retryable: bool = False,
    extract: str | None = None,
) -> _Rule:
    return _Rule(
        key,
        cause,
        fix,
        frozenset(c.lower() for c in codes),
        re.compile(pattern, re.IGNORECASE | re.DOTALL) if pattern else None,
        retryable,
        re.compile(extract, re.IGNORECASE | re.DOTALL) if extract else None,
    )


# Order matters: the first match wins, specific APIM messages before generic codes.
CATALOGUE: tuple[_Rule, ...] = (
    _rule(
        "pool_url_not_supported",
        "The Pool backend carries a url or protocol; APIM refuses both on a backend of type Pool.",
        "Remove properties.url and properties.protocol from the pool backend; a Pool has only pool.services.",
        pattern=r"\b(url|protocol)\b.{0,40}not supported for (a |the )?(backend )?pool",
    ),
    _rule(
        "pool_member_not_found",
        "Pool member '{name}' did not exist when the pool was written: it was deployed after the pool "
        "(missing dependsOn), or its name in pool.services is misspelled.",
        "Make the pool depend on every member backend (reference the member resources in Bicep) and check "
        "that '{name}' matches a backend name in the request.",
        pattern=r"backend entity '(?P<name>[^']*)' (was )?not found",
    ),
    _rule(
        "pool_inside_pool",
        "A pool lists another Pool backend as a member; APIM pools may only contain Single backends.",
        "List only Single backends in pool.services, never a pool (check poolName differs from every backend).",
        pattern=r"nested pool|pool.{0,60}\b(cannot|can ?not|can't|not allowed to|must not)\b.{0,60}\bpool"
        r"|pool.{0,40}\bof type pool\b",
    ),
    _rule(
        "multiple_breaker_rules",
        "The backend has more than one circuit breaker rule; APIM accepts exactly one.",
        "Keep a single rule in circuitBreaker.rules.",
        pattern=r"(only one|more than one|at most one|exactly one|maximum (of )?(1|one)|single)\b.{0,50}\brules?\b"
        r"|\brules?\b.{0,60}\b(only one|more than one|at most one|exactly one)\b",
    ),
    _rule(
        "invalid_protocol",
        "The backend protocol is not one APIM supports.",
        "Set protocol to 'http' (REST) — the only other value is 'soap'.",
        pattern=r"\bprotocol\b.{0,80}\b(http|soap|not supported|invalid|not valid)\b",
    ),
    _rule(
        "invalid_duration",
        "A circuit breaker duration (interval or tripDuration) is not a valid ISO 8601 duration.",
        "Write durations in ISO 8601, e.g. 'PT1M' or 'PT30S', in failureCondition.interval and tripDuration.",
        pattern=r"(iso ?8601|timespan|time span|\bduration\b|tripduration|\binterval\b).{0,80}"
        r"(invalid|not valid|could not be|cannot be|format|pars)"
        r"|(invalid|not a valid|could not parse|cannot parse).{0,80}(duration|timespan|interval|tripduration)",
    ),
    _rule(
        "status_code_out_of_range",
        "A failure status code range (or failure response code) is outside what APIM accepts.",
        "Keep statusCodeRanges min/max within 200–599 with min ≤ max, and failureResponse.statusCode within 100–599.",
        pattern=r"status ?codes?.{0,80}(range|between|must be|invalid|out of|200|599)|statuscoderanges",
    ),
    _rule(
        "policy_unknown_backend",
        "The API policy routes to backend '{name}', which does not exist in this APIM instance.",
        "Deploy the backend (or pool) '{name}' before the policy, or fix backend-id in the policy XML.",
        pattern=r"backend with id '(?P<name>[^']+)'.{0,30}not( be)? found",
    ),
    _rule(
        "policy_unknown_backend",
        "The API policy's set-backend-service names a backend that does not exist in this APIM instance.",
        "Deploy the backend (or pool) before the policy, or fix backend-id in the policy XML.",
        pattern=r"(set-backend-service|backend-id).{0,200}not( be)? found",
    ),
    _rule(
        "apim_validation",
        "APIM refused a field value{target_text}.",
        "Correct the field the message names{target_text}; run the preflight lint to catch it earlier.",
        codes=("ValidationError",),
    ),
    _rule(
        "authorization_failed",
        "The deploying identity may not write template resource '{name}' ('{action}'), so ARM refused the "
        "deployment before starting it.",
        "{grant}",
        pattern=r"authorization failed for template resource '(?P<name>[^']*)'",
        extract=r"perform action '(?P<action>[^']+)'",
    ),
    _rule(
        "invalid_template",
        "The template or its parameters are invalid (syntax, an expression, a parameter type or value).",
        "Fix the template at the line/expression the message names; run validate/what-if before deploying.",
        codes=(
            "InvalidTemplate",
            "InvalidTemplateDeployment",
            "InvalidDeploymentParameterValue",
            "InvalidRequestContent",
            "MissingDeploymentParameter",
        ),
    ),
    _rule(
        "authorization_failed",
        "The deploying identity may not perform '{action}'.",
        "{grant}",
        codes=("AuthorizationFailed", "LinkedAuthorizationFailed", "Forbidden"),
        extract=r"action '(?P<action>[^']+)'",
    ),
    _rule(
        "apim_instance_missing",
        "The API Management instance does not exist (or is in another resource group / subscription).",
        "Check targets[].apimName, resourceGroup and subscriptionId, or create the APIM instance first.",
        codes=("ParentResourceNotFound",),
    ),
    _rule(
        "apim_instance_missing",
        "The API Management instance does not exist (or is in another resource group / subscription).",
        "Check targets[].apimName, resourceGroup and subscriptionId, or create the APIM instance first.",
        codes=("ResourceNotFound", "NotFound"),
        pattern=r"microsoft\.apimanagement/service/[^/' ]+'|microsoft\.apimanagement/service'",
    ),
    _rule(
        "resource_group_missing",
        "The resource group does not exist.",
        "Check targets[].resourceGroup and subscriptionId, or create the resource group.",
        codes=("ResourceGroupNotFound",),
    ),
    _rule(
        "resource_missing",
        "A resource the template references does not exist.",
        "Create the referenced resource first or correct its name in the template parameters.",
        codes=("ResourceNotFound", "NotFound"),
    ),
    _rule(
        "operation_in_progress",
        "Another operation (a deployment, scaling or update) is running on the same resource.",
        "Wait for it to finish, then start the rollout again (its API calls are retried, a failed deployment is not).",
        codes=("AnotherOperationInProgress", "Conflict", "DeploymentActive", "OperationInProgress"),
        retryable=True,
    ),
    _rule(
        "resource_locked",
        "A resource lock forbids changing this resource.",
        "Remove or relax the lock (az lock list) for the rollout, or exclude the resource.",
        codes=("ScopeLocked",),
    ),
    _rule(
        "deployment_history_full",
        "The resource group already holds 800 deployments, the most ARM keeps.",
        "Delete old deployments (az deployment group delete) or rely on automatic history deletion.",
        codes=("DeploymentQuotaExceeded",),
    ),
    _rule(
        "quota_exceeded",
        "A subscription or regional quota is exhausted.",
        "Request a quota increase for the resource named in the message, or deploy fewer/smaller resources.",
        codes=("QuotaExceeded", "SubscriptionQuotaExceeded"),
    ),
    _rule(
        "quota_exceeded",
        "A subscription or regional quota is exhausted.",
        "Request a quota increase for the resource named in the message, or deploy fewer/smaller resources.",
        codes=("OperationNotAllowed",),
        pattern=r"quota|limit",
    ),
    _rule(
        "disallowed_by_policy",
        "An Azure Policy assignment{policy_text} denies this resource.",
        "Make the resource comply with the policy, or ask the policy owner for an exemption on this scope.",
        codes=("RequestDisallowedByPolicy",),
        extract=r'"policyAssignment":\s*\{\s*"name":\s*"(?P<policy>[^"]+)"',
    ),
    _rule(
        "provider_not_registered",
        "The subscription is not registered for the resource provider.",
        "Register it: az provider register --namespace Microsoft.ApiManagement (or the namespace named).",
        codes=("MissingSubscriptionRegistration", "NoRegisteredProviderFound"),
    ),
    _rule(
        "transient",
        "Azure returned a transient server error or throttled the request.",
        "Start the rollout again: it is usually gone within minutes. If it repeats, open an Azure support request "
        "quoting the tracking id.",
        codes=(
            "InternalServerError",
            "ServerTimeout",
            "TooManyRequests",
            "ServiceUnavailable",
            "GatewayTimeout",
            "RequestTimeout",
            "RetryableError",
            "InternalError",
        ),
        retryable=True,
    ),
    # ARM's relay of a resource provider whose asynchronous operation ended Failed without a reason: the
    # operation shows statusCode "Conflict" (not a conflicting operation) and this message, often with no details
    # (quoted in Azure/Azure-Landing-Zones#1293, microsoft/mwt-ds#8, OfficeDev/microsoft-teams-faqplusplus-app#102).
    _rule(
        "provider_failed_without_reason",
        "The resource provider ended the resource's operation in state '{state}' and gave ARM no reason "
        "(ARM reports it as statusCode Conflict; no other operation is implied).",
        "Look at the resource itself: the APIM instance's Activity log entry for this write names the cause; if it "
        "names none, start the rollout again once, then open an Azure support request quoting the tracking id.",
        codes=("ResourceDeploymentFailure",),
        pattern=r"terminal provisioning state '(?P<state>[^']+)'",
    ),
    _rule(
        "deployment_failed_without_details",
        "ARM reported only the DeploymentFailed wrapper, without the failed resource's error.",
        "List the deployment's operations (az deployment operation group list) to find the failed resource.",
        codes=("DeploymentFailed",),
    ),
)


def parse_error(value: object) -> ErrorNode | None:
    """The error in any shape ARM uses: statusMessage as text, {"status","error"}, {"error":{...}}, a bare
    ErrorDetail, PascalCase keys, or a JSON string of any of these. None when there is no error."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                return parse_error(json.loads(text))
            except ValueError:
                pass
        return ErrorNode("", text) if text else None
    if not isinstance(value, Mapping):
        return ErrorNode("", str(value))
    lowered = {str(k).lower(): v for k, v in value.items()}
    inner = lowered.get("error")
    if isinstance(inner, Mapping | str) and "code" not in lowered:
        return parse_error(inner)
    if "code" not in lowered and "message" not in lowered:
        return None
    details = lowered.get("details")
    children = (
        tuple(node for node in (parse_error(d) for d in details) if node is not None)
        if isinstance(details, list)
        else ()
    )
    info = lowered.get("additionalinfo")
    return ErrorNode(
        code=str(lowered.get("code") or ""),
        message=str(lowered.get("message") or ""),
        target=str(lowered.get("target") or ""),
        details=children,
        additional_info=tuple(item for item in info if isinstance(item, Mapping)) if isinstance(info, list) else (),
    )


def root_causes(node: ErrorNode) -> list[ErrorNode]:
    """The innermost errors under wrappers. A detail without a code inherits its parent's code.

    ARM relays a resource provider's answer inside a detail as JSON text (`{"code": "BadRequest",
    "message": "{\\"error\\": {...}}"}`); such a message is read as the error it contains.
    """
    embedded = _embedded_error(node.message)
    if embedded is not None:
        return root_causes(embedded if embedded.code else replace(embedded, code=node.code))
    if not node.details:
        return [node]
    is_wrapper = node.code.lower() in _WRAPPER_CODES or bool(_GENERIC_MESSAGE.search(node.message))
    matched = _match(node)
    # A code-only match (e.g. a bare ValidationError) says less than the details beneath it.
    if not (is_wrapper or matched is None or matched[0].pattern is None):
        return [node]
    leaves: list[ErrorNode] = []
    for child in node.details:
        leaves += root_causes(child if child.code else replace(child, code=node.code))
    return leaves


def _embedded_error(message: str) -> ErrorNode | None:
    text = message.strip()
    if not text.startswith("{"):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parse_error(parsed) if isinstance(parsed, Mapping) else None


def diagnose_error(
    error: object,
    *,
    resource_id: str = "",
    resource_type: str = "",
    resource_name: str = "",
    tracking_id: str = "",
    operation_id: str = "",
    timestamp: str = "",
    fallback_code: str = "",
) -> list[Diagnosis]:
    """Diagnoses for one error payload (a deployment's properties.error, a validate/what-if error body).

    `fallback_code` names an error that came without a code (a plain-text statusMessage), e.g. the
    operation's statusCode.
    """
    node = parse_error(error)
    if node is None:
        return []
    if not node.code and fallback_code:
        node = replace(node, code=fallback_code)
    result: list[Diagnosis] = []
    for leaf in root_causes(node):
        key, cause, fix, retryable = _explain(leaf)
        result.append(
            Diagnosis(
                resource_id=resource_id,
                resource_type=resource_type,
                resource_name=resource_name,
                code=leaf.code,
                message=leaf.message,
                cause=cause,
                fix=fix,
                raw=error,
                tracking_id=tracking_id,
                key=key,
                retryable=retryable,
                operation_id=operation_id,
                timestamp=timestamp,
            )
        )
    return result


def diagnose_operations(operations: Iterable[Mapping[str, object]]) -> list[Diagnosis]:
    """One diagnosis per root cause of each failed deployment operation (REST DeploymentOperation dicts)."""
    found: list[Diagnosis] = []
    for op in operations:
        props = op.get("properties")
        props = props if isinstance(props, Mapping) else {}
        state = str(props.get("provisioningState") or "")
        status_message = props.get("statusMessage")
        if state.lower() != "failed" and not (not state and status_message):
            continue
        target = props.get("targetResource")
        target = target if isinstance(target, Mapping) else {}
        diagnoses = diagnose_error(
            status_message,
            resource_id=str(target.get("id") or ""),
            resource_type=str(target.get("resourceType") or ""),
            resource_name=str(target.get("resourceName") or ""),
            tracking_id=str(props.get("trackingId") or op.get("trackingId") or props.get("serviceRequestId") or ""),
            operation_id=str(op.get("operationId") or ""),
            timestamp=str(props.get("timestamp") or ""),
            fallback_code=str(props.get("statusCode") or ""),
        )
        if not diagnoses:
            diagnoses = [_unrecognized_state(op, props, target)]
        found += diagnoses
    # A nested deployment's bare DeploymentFailed repeats what its own operations already explain.
    real = [d for d in found if d.key != "deployment_failed_without_details"]
    return real or found


def _unrecognized_state(
    op: Mapping[str, object], props: Mapping[str, object], target: Mapping[str, object]
) -> Diagnosis:
    code = str(props.get("statusCode") or "")
    status_message = props.get("statusMessage")
    # A status message in a shape nobody documents (no code, no message, no error inside) is still what the
    # provider said: shown verbatim, never reported as missing.
    message = ("the operation failed without a status message" if status_message in (None, "", {}) else
               "the operation failed; its status message has no code or message: "
               + json.dumps(status_message, default=str)[:500])
    return Diagnosis(
        resource_id=str(target.get("id") or ""),
        resource_type=str(target.get("resourceType") or ""),
        resource_name=str(target.get("resourceName") or ""),
        code=code,
        message=message,
        cause=UNRECOGNIZED,
        fix="see raw error",
        raw=dict(op),
        tracking_id=str(props.get("trackingId") or op.get("trackingId") or ""),
        operation_id=str(op.get("operationId") or ""),
        timestamp=str(props.get("timestamp") or ""),
    )


def _match(node: ErrorNode) -> tuple[_Rule, re.Match[str] | None] | None:
    code = node.code.lower()
    haystack = f"{node.message} {node.target}"
    for rule in CATALOGUE:
        if rule.codes and code not in rule.codes:
            continue
        if rule.pattern is None:
            return rule, None
        found = rule.pattern.search(haystack)
        if found is not None:
            return rule, found
    return None


def _policy_assignment(node: ErrorNode) -> str:
    """The denying assignment's name from additionalInfo. ARM's RequestDisallowedByPolicy message no longer
    lists the policy identifiers ("... Reasons: '...'. See error details for policy resource IDs."): they are
    in ErrorAdditionalInfo {type: "PolicyViolation", info: {policyAssignmentDisplayName, policyAssignmentName,
    ...}}."""
    for item in node.additional_info:
        lowered = {str(k).lower(): v for k, v in item.items()}
        info = lowered.get("info")
        if str(lowered.get("type") or "").lower() != "policyviolation" or not isinstance(info, Mapping):
            continue
        fields = {str(k).lower(): v for k, v in info.items()}
        for key in ("policyassignmentdisplayname", "policyassignmentname"):
            if isinstance(fields.get(key), str) and fields[key]:
                return str(fields[key])
    return ""


def _explain(node: ErrorNode) -> tuple[str, str, str, bool]:
    matched = _match(node)
    if matched is None:
        return UNRECOGNIZED, UNRECOGNIZED, "see raw error", False
    rule, found = matched
    groups = {k: v for k, v in (found.groupdict() if found else {}).items() if v}
    extra = rule.extract.search(f"{node.message} {node.target}") if rule.extract else None
    groups.update({k: v for k, v in (extra.groupdict() if extra else {}).items() if v})
    if "policy" not in groups and (assignment := _policy_assignment(node)):
        groups["policy"] = assignment
    values = {
        "name": groups.get("name", "?"),
        "state": groups.get("state", "?"),
        "action": refused_action(node.message) or groups.get("action", "the requested action"),
        "policy_text": f" '{groups['policy']}'" if "policy" in groups else "",
        "target_text": f" ('{node.target}')" if node.target else "",
        "grant": grant_fix(node.code, node.message),
    }
    return rule.key, rule.cause.format(**values), rule.fix.format(**values), rule.retryable
