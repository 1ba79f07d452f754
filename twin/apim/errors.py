"""APIM's errors as the twin answers them: codes and messages copied from real APIM answers where found.

Sources for the texts marked "verified" (real responses quoted in public issue threads):
- ValidationError envelope "One or more fields contain incorrect values:" with details [{code, target, message}],
  "Url is not supported for backend pool." / "Protocol is not supported for backend pool."
  (MicrosoftDocs/azure-docs#122455, Azure/bicep#14097)
- "Backend Entity '<id>' not found." with target "pool" (Azure/apiops#797)
- "Error in element 'set-backend-service' on line N, column M: Backend with id '<id>' could not be found."
  with target "set-backend-service" (Azure/apiops#565, Azure/apiops#56, MicrosoftDocs/azure-docs#48421)
- ResourceNotFound "The Resource 'Microsoft.ApiManagement/service/<name>' under resource group '<rg>' was not
  found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
  (Azure-Samples/azure-health-data-and-ai-samples#144, cykreng/Enterprise-Scale-APIM#58)
- ResourceNotFound "Api not found." (Azure/apiops#494, Azure/apiops#643)
Every other text below is marked "message not verified": the rule is APIM's (REST spec limits, docs), the
wording is the twin's.
"""

from __future__ import annotations

from typing import Any

from twin.errors import CatalogueEntry, TwinError, register

VALIDATION_ERROR = "ValidationError"

register(
    {
        # verified
        VALIDATION_ERROR: CatalogueEntry(400, "One or more fields contain incorrect values:"),
        # verified (ARM's standard text; the same entry serves any resource type)
        "ResourceNotFound": CatalogueEntry(
            404,
            "The Resource '{resource_type}/{name}' under resource group '{resource_group}' was not found. "
            "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        ),
        # message not verified: APIM answers 412 when If-Match names another entity version.
        "PreconditionFailed": CatalogueEntry(
            412, "The entity's current ETag does not match the If-Match header ({if_match}). Get it again."
        ),
        # Twin-only: the twin models backends from the api-version that has circuitBreaker and pool on.
        "UnsupportedApiVersionForTwin": CatalogueEntry(
            400,
            "The twin serves Microsoft.ApiManagement backends from api-version 2023-09-01-preview on "
            "(circuitBreaker and pool); '{api_version}' was sent. Use 2023-09-01-preview or later.",
        ),
        # Twin-only: policies by link need the internet, which the twin does not have.
        "UnsupportedPolicyFormatForTwin": CatalogueEntry(
            400, "The twin accepts policy formats 'xml' and 'rawxml' only; '{format}' was sent."
        ),
    }
)

# Detail messages (inside a ValidationError's details).
POOL_URL = "Url is not supported for backend pool."  # verified
POOL_PROTOCOL = "Protocol is not supported for backend pool."  # verified
POOL_MEMBER_NOT_FOUND = "Backend Entity '{name}' not found."  # verified
POLICY_BACKEND_NOT_FOUND = (  # verified
    "Error in element 'set-backend-service' on line {line}, column {column}: "
    "Backend with id '{backend_id}' could not be found."
)
# message not verified (docs: "You can't add a backend of type Pool to another pool.")
POOL_MEMBER_IS_POOL = "Backend Entity '{name}' is a backend pool; a pool can only contain backends of type Single."
# message not verified (spec: BackendPool.services minItems 1)
POOL_EMPTY = "Backend pool must contain at least one backend."
# message not verified (spec: BackendPoolItem.id is required)
POOL_MEMBER_ID = "Each backend in a pool needs an 'id' naming an existing backend."
# message not verified (.NET range-attribute wording; ranges from the REST spec)
OUT_OF_RANGE = "The field {field} must be between {low} and {high}."
# message not verified
NOT_AN_INTEGER = "The value '{value}' of {field} is not an integer."
# message not verified (docs: "Currently, only one rule can be configured for a backend circuit breaker.")
ONE_RULE_ONLY = "Only one rule can be configured for a backend circuit breaker; {count} were sent."
# message not verified (spec: statusCodeRanges maxItems 10, errorReasons maxItems 10)
TOO_MANY_ITEMS = "{field} can contain at most {limit} items; {count} were sent."
# message not verified (spec: errorReasons items maxLength 200)
TOO_LONG = "{field} can be at most {limit} characters long."
# message not verified
BAD_DURATION = "The value '{value}' of {field} is not a valid ISO 8601 duration such as 'PT1M'."
# message not verified
REQUIRED = "{field} is required."
# message not verified
BAD_PROTOCOL = "Protocol '{value}' is not supported. Supported values are 'http' and 'soap'."
# message not verified
BAD_TYPE = "Backend type '{value}' is not supported. Supported values are 'Single' and 'Pool'."
# message not verified
BAD_URL = "Url '{value}' is not a valid absolute URL."
# message not verified
MIN_ABOVE_MAX = "The status code range min {low} is greater than max {high}."
# message not verified
COUNT_OR_PERCENTAGE = "A failure condition needs 'count' or 'percentage'."
# message not verified
NOT_OBJECT = "{field} must be a JSON object."
# message not verified
NOT_ARRAY = "{field} must be a JSON array."
# message not verified
NOT_BOOLEAN = "{field} must be true or false."
# message not verified (Consumption tier: "the backend circuit breaker isn't supported" — docs)
CONSUMPTION_TIER = "{feature} is not supported in the Consumption tier of API Management."
# message not verified
POLICY_NOT_WELL_FORMED = "The policy document is not well-formed XML: {reason}"
# message not verified (spec: PolicyContractProperties.value is required)
POLICY_VALUE_REQUIRED = "Policy content ('value') is required."
# message not verified (spec: ApiCreateOrUpdateProperties requires path)
API_PATH_REQUIRED = "API path is required."
# message not verified (spec: DiagnosticContractProperties.loggerId, "Resource Id of a target logger")
LOGGER_NOT_FOUND = "Logger '{logger_id}' not found in this API Management service."


def detail(target: str, message: str) -> dict[str, Any]:
    return {"code": VALIDATION_ERROR, "target": target, "message": message}


def validation_error(details: list[dict[str, Any]]) -> TwinError:
    """APIM's 400: one envelope, every failed field as a detail (APIM reports them all at once)."""
    return TwinError.of(VALIDATION_ERROR, details=details)


def service_not_found(resource_group: str, name: str) -> TwinError:
    return TwinError.of(
        "ResourceNotFound", resource_type="Microsoft.ApiManagement/service", name=name, resource_group=resource_group
    )


def entity_not_found(entity: str) -> TwinError:
    """APIM's own 404 for a child entity: code ResourceNotFound, message '<Entity> not found.'.

    "Api not found." is verified (Azure/apiops#494); "Backend not found." and "Policy not found." follow the same
    pattern — message not verified. The catalogue holds ARM's text under ResourceNotFound, so this one is built here.
    """
    return TwinError(404, "ResourceNotFound", f"{entity} not found.")
