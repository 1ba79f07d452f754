"""From a failed deployment to cause and fix: the root cause under ARM's wrappers, in words.

Operation payloads follow the REST DeploymentOperation definition (fixture
resources_2025-04-01_swagger_TRIMMED_deployment_operation_defs.json) with the APIM messages recorded in
DESIGN.md "APIM facts"; the validate error is the published 400 example, as it is.
"""

from __future__ import annotations

import json

import pytest
from unit_helpers import APIM_ID, load

from breakerpanel.core.diagnosis import diagnose_error, diagnose_operations, parse_error, root_causes

APIM = APIM_ID


def operation(
    status_message: object,
    *,
    name: str = "aoai-pool",
    state: str = "Failed",
    status_code: str = "BadRequest",
    resource_type: str = "Microsoft.ApiManagement/service/backends",
) -> dict[str, object]:
    return {
        "id": f"{APIM}/../deployments/bp-1/operations/08584",
        "operationId": "08584",
        "properties": {
            "provisioningOperation": "Create",
            "provisioningState": state,
            "timestamp": "2026-11-24T22:00:00.000Z",
            "duration": "PT1.5S",
            "trackingId": "7d2c0f1e-0000-4000-8000-000000000001",
            "serviceRequestId": "req-1",
            "statusCode": status_code,
            "statusMessage": status_message,
            "targetResource": {
                "id": f"{APIM}/backends/{name}",
                "resourceType": resource_type,
                "resourceName": f"apim-gw/{name}",
            },
        },
    }


def apim_validation(message: str, target: str = "") -> dict[str, object]:
    detail = {"code": "ValidationError", "message": message, **({"target": target} if target else {})}
    return {"code": "ValidationError", "message": "One or more fields contain incorrect values:", "details": [detail]}


POOL_URL = apim_validation("Url is not supported for backend pool.", "url")


@pytest.mark.parametrize(
    "status_message",
    [
        {"status": "Failed", "error": POOL_URL},
        {"error": POOL_URL},
        {"status": "Failed", "error": {"error": POOL_URL}},
        json.dumps({"status": "Failed", "error": POOL_URL}),
        {"Code": "ValidationError", "Message": "Url is not supported for backend pool."},
        "Url is not supported for backend pool.",
    ],
    ids=["status+error", "envelope", "swagger-nested-ErrorResponse", "json-text", "PascalCase", "plain-text"],
)
def test_every_status_message_shape_yields_the_same_cause(status_message):
    [d] = diagnose_operations([operation(status_message)])
    assert d.key == "pool_url_not_supported"
    assert "Remove properties.url and properties.protocol" in d.fix
    assert d.resource_name == "apim-gw/aoai-pool"
    assert d.resource_type == "Microsoft.ApiManagement/service/backends"
    assert d.tracking_id == "7d2c0f1e-0000-4000-8000-000000000001"
    assert d.raw == status_message  # verbatim, whatever the shape


def test_plain_text_status_message_takes_the_operations_status_code():
    [d] = diagnose_operations([operation("Backend Entity 'aoai-westus' not found.")])
    assert d.code == "BadRequest" and d.key == "pool_member_not_found"


def test_deployment_failed_wrapping_validation_error_yields_the_inner_cause():
    wrapped = {
        "code": "DeploymentFailed",
        "message": "At least one resource deployment operation failed. Please list deployment operations for details.",
        "details": [apim_validation("Backend Entity 'aoai-westus' not found.")],
    }
    [d] = diagnose_error({"error": wrapped})
    assert d.code == "ValidationError" and d.key == "pool_member_not_found"
    assert "'aoai-westus'" in d.cause and "dependsOn" in d.cause
    assert "'aoai-westus' matches a backend name" in d.fix
    assert d.cause != "unrecognized" and "DeploymentFailed" not in d.cause


def test_arm_relayed_provider_body_as_json_text_is_read():
    # ARM relays the RP's answer as JSON text inside a BadRequest detail.
    relayed = json.dumps({"error": apim_validation("Url is not supported for backend pool.", "url")})
    error = {
        "code": "DeploymentFailed",
        "message": "At least one resource deployment operation failed.",
        "details": [{"code": "BadRequest", "message": relayed}],
    }
    [d] = diagnose_error(error)
    assert d.key == "pool_url_not_supported"


def test_published_validate_400_descends_three_levels():
    body = load("resources_2025-04-01_PostDeploymentValidateOnResourceGroup.json")["responses"]["400"]["body"]
    [leaf] = root_causes(parse_error(body))  # type: ignore[arg-type]
    assert leaf.code == "AccountNameInvalid" and leaf.target == "a"
    [d] = diagnose_error(body)
    assert d.code == "AccountNameInvalid"
    assert d.message.startswith("a is not a valid storage account name")
    assert (d.cause, d.fix) == ("unrecognized", "see raw error")
    assert d.raw is body


@pytest.mark.parametrize(
    ("code", "message", "key", "in_fix"),
    [
        ("ValidationError", "Backend Entity 'aoai-eastus' not found.", "pool_member_not_found", "pool depend on"),
        (
            "ValidationError",
            "Pool backend cannot contain another pool backend 'inner'.",
            "pool_inside_pool",
            "only Single backends",
        ),
        ("ValidationError", "Only one circuit breaker rule is supported.", "multiple_breaker_rules", "single rule"),
        (
            "ValidationError",
            "Protocol 'grpc' is invalid. Supported values are http, soap.",
            "invalid_protocol",
            "'http'",
        ),
        (
            "ValidationError",
            "Failure condition interval 'PT1X' is not a valid ISO 8601 duration.",
            "invalid_duration",
            "PT1M",
        ),
        ("ValidationError", "Status code 700 must be between 200 and 599.", "status_code_out_of_range", "200–599"),
        (
            "ValidationError",
            "Error in element 'set-backend-service' on line 3, column 10: Backend with id 'aoai-poool' "
            "could not be found.",
            "policy_unknown_backend",
            "'aoai-poool'",
        ),
        ("ValidationError", "Title is too long.", "apim_validation", "Correct the field"),
        (
            "InvalidTemplate",
            "Deployment template validation failed: 'The template parameter 'x' is not found.'",
            "invalid_template",
            "validate/what-if",
        ),
        (
            "AuthorizationFailed",
            "The client 'abc' with object id 'abc' does not have authorization to perform action "
            "'Microsoft.ApiManagement/service/backends/write' over scope '/subscriptions/x'.",
            "authorization_failed",
            "'breakerpanel gateway (custom)' on the target APIM instance",
        ),
        (
            "ParentResourceNotFound",
            "Can not perform requested operation on nested resource. Parent resource 'apim-gw' not found.",
            "apim_instance_missing",
            "apimName",
        ),
        (
            "ResourceNotFound",
            "The Resource 'Microsoft.ApiManagement/service/apim-gw' under resource group 'rg-gw' was not found.",
            "apim_instance_missing",
            "apimName",
        ),
        (
            "ResourceNotFound",
            "The Resource 'Microsoft.Insights/components/x' under resource group 'rg' was not found.",
            "resource_missing",
            "Create the referenced resource",
        ),
        (
            "Conflict",
            "Another operation is in progress on the service.",
            "operation_in_progress",
            "start the rollout again",
        ),
        (
            "AnotherOperationInProgress",
            "Another operation on this or dependent resource is in progress.",
            "operation_in_progress",
            "start the rollout again",
        ),
        ("QuotaExceeded", "Operation results in exceeding quota limits of Core.", "quota_exceeded", "quota increase"),
        (
            "RequestDisallowedByPolicy",
            "Resource 'aoai-pool' was disallowed by policy. Policy identifiers: "
            '\'[{"policyAssignment":{"name":"deny-apim-backends","id":"/x"}}]\'.',
            "disallowed_by_policy",
            "exemption",
        ),
        (
            "DeploymentQuotaExceeded",
            "Creating the deployment 'x' would exceed the quota of '800'.",
            "deployment_history_full",
            "Delete old deployments",
        ),
        ("InternalServerError", "Encountered internal server error.", "transient", "Start the rollout again"),
    ],
)
def test_known_failures_map_to_cause_and_fix(code, message, key, in_fix):
    [d] = diagnose_error(
        {
            "error": {
                "code": "DeploymentFailed",
                "message": "At least one resource deployment operation failed.",
                "details": [{"code": code, "message": message}],
            }
        }
    )
    assert (d.key, d.code, d.message) == (key, code, message)
    assert in_fix in d.fix and d.cause != "unrecognized"


def test_authorization_failure_names_the_action():
    [d] = diagnose_error(
        {
            "code": "AuthorizationFailed",
            "message": "... does not have authorization to perform action "
            "'Microsoft.ApiManagement/service/backends/write' over scope '/x'.",
        }
    )
    assert "'Microsoft.ApiManagement/service/backends/write'" in d.cause


def test_policy_name_is_quoted_in_the_cause():
    [d] = diagnose_error(
        {
            "code": "RequestDisallowedByPolicy",
            "message": 'Policy identifiers: \'[{"policyAssignment":{"name":"deny-apim-backends"}}]\'',
        }
    )
    assert "'deny-apim-backends'" in d.cause


def test_conflicts_and_server_errors_are_retryable_validation_is_not():
    conflict, server, validation = (
        diagnose_error({"code": c, "message": "m"})[0]
        for c in ("AnotherOperationInProgress", "ServerTimeout", "ValidationError")
    )
    assert conflict.retryable and server.retryable and not validation.retryable


def test_unknown_error_is_kept_verbatim():
    raw = {"error": {"code": "SomethingNew", "message": "A brand new failure."}}
    [d] = diagnose_operations([operation(raw)])
    assert (d.code, d.message, d.cause, d.fix) == (
        "SomethingNew",
        "A brand new failure.",
        "unrecognized",
        "see raw error",
    )
    assert d.raw == raw


def test_only_failed_operations_are_diagnosed_and_wrapper_only_nested_deployment_dropped():
    ops = [
        operation(None, name="aoai-eastus", state="Succeeded", status_code="OK"),
        operation({"status": "Failed", "error": apim_validation("Backend Entity 'aoai-westus' not found.")}),
        operation(
            {
                "status": "Failed",
                "error": {
                    "code": "DeploymentFailed",
                    "message": "At least one resource "
                    "deployment operation failed. Please list deployment operations for details.",
                },
            },
            name="nested",
            resource_type="Microsoft.Resources/deployments",
        ),
    ]
    diagnoses = diagnose_operations(ops)
    assert [d.key for d in diagnoses] == ["pool_member_not_found"]


def test_a_lone_deployment_failed_wrapper_says_to_list_operations():
    [d] = diagnose_error({"code": "DeploymentFailed", "message": "At least one resource deployment operation failed."})
    assert d.key == "deployment_failed_without_details" and "deployment operation group list" in d.fix


def test_failed_operation_without_status_message_is_reported_unrecognized():
    op = operation(None)
    [d] = diagnose_operations([op])
    assert d.cause == "unrecognized" and d.code == "BadRequest" and d.raw == op


def test_two_inner_errors_give_two_diagnoses():
    error = {
        "code": "DeploymentFailed",
        "message": "At least one resource deployment operation failed.",
        "details": [
            apim_validation("Url is not supported for backend pool."),
            {"code": "AuthorizationFailed", "message": "no"},
        ],
    }
    assert [d.key for d in diagnose_error(error)] == ["pool_url_not_supported", "authorization_failed"]


def test_diagnosis_serializes_for_the_orchestrator():
    [d] = diagnose_operations([operation({"error": POOL_URL})])
    data = json.loads(json.dumps(d.to_dict()))
    assert data["key"] == "pool_url_not_supported" and data["trackingId"].startswith("7d2c0f1e")
    assert data["raw"] == {"error": POOL_URL}


def test_the_denying_policy_is_named_from_additional_info_when_the_message_no_longer_lists_it():
    # ARM's current RequestDisallowedByPolicy wording (quoted in Azure-Samples/azuresandbox#196, 2025) puts the
    # policy identifiers in ErrorAdditionalInfo {type, info}, not in the message; it arrives as the statusMessage
    # of the failed operation, wrapped in DeploymentFailed at the deployment.
    denied = {"status": "Failed", "error": {
        "code": "RequestDisallowedByPolicy",
        "message": "Resource 'aoai-pool' was disallowed by policy. Reasons: 'Backends must use approved hosts.'. "
                   "See error details for policy resource IDs.",
        "target": "aoai-pool",
        "additionalInfo": [{"type": "PolicyViolation", "info": {
            "policyDefinitionDisplayName": "Approved backend hosts",
            "policyAssignmentName": "a1b2c3",
            "policyAssignmentDisplayName": "deny-unapproved-backends",
            "policyAssignmentId": "/subscriptions/x/providers/Microsoft.Authorization/policyAssignments/a1b2c3",
        }}],
    }}
    [d] = diagnose_operations([operation(denied, status_code="Forbidden")])
    assert d.key == "disallowed_by_policy"
    assert "'deny-unapproved-backends'" in d.cause
    assert parse_error(denied).additional_info[0]["type"] == "PolicyViolation"  # type: ignore[union-attr]


def test_a_status_message_of_an_unknown_shape_is_shown_verbatim_not_reported_missing():
    [d] = diagnose_operations([operation({"status": "Failed", "err": {"reason": "backend pool busy"}},
                                         status_code="Conflict")])
    assert d.cause == "unrecognized" and d.code == "Conflict"
    assert "backend pool busy" in d.message and "without a status message" not in d.message
    [bare] = diagnose_operations([operation(None, status_code="Conflict")])
    assert bare.message == "the operation failed without a status message"


def test_a_provider_that_ended_failed_without_a_reason_is_named_and_not_taken_for_a_conflicting_operation():
    # ARM's relay (quoted in Azure/Azure-Landing-Zones#1293 and microsoft/mwt-ds#8): the operation's statusCode is
    # "Conflict", its statusMessage a ResourceDeploymentFailure without details; at the deployment the same
    # arrives as a Conflict detail whose message is that status message as JSON text.
    relayed = {"status": "Failed", "error": {
        "code": "ResourceDeploymentFailure",
        "message": "The resource operation completed with terminal provisioning state 'Failed'."}}
    [d] = diagnose_operations([operation(relayed, status_code="Conflict")])
    assert d.key == "provider_failed_without_reason" and not d.retryable
    assert "state 'Failed'" in d.cause and "Activity log" in d.fix
    [wrapped] = diagnose_error({"code": "DeploymentFailed", "message": "At least one resource deployment operation "
                                "failed.", "details": [{"code": "Conflict", "message": json.dumps(relayed, indent=2)
                                                        .replace("\n", "\r\n")}]})
    assert wrapped.key == "provider_failed_without_reason"
