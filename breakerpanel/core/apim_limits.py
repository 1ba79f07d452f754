"""Limits APIM and ARM enforce, each with where it was read. Looked up, not guessed.

Sources (azure-rest-api-specs, as copied in /work/shared/fixtures and in the installed SDKs):
- ApiManagement 2025-03-01-preview definitions.json (fixture apim_2025-03-01-preview_swagger_TRIMMED_...):
  BackendPoolItem.priority and .weight: "minimum": 0, "maximum": 100 ("Must be between 0 and 100");
  the same in 2024-06-01-preview and in azure-mgmt-apimanagement 5.0.0 BackendPoolItem._validation.
  FailureStatusCodeRange.min/max: 200..599. CircuitBreakerFailureCondition.statusCodeRanges maxItems 10,
  errorReasons maxItems 10 with items maxLength 200. BackendFailureResponse.statusCode: 100..599.
  BackendPool.services minItems 1. BackendContractProperties.url maxLength 2000, protocol http|soap.
  BackendCircuitBreaker.rules maxItems 15 in the spec, but the service accepts exactly one rule
  (DESIGN.md "APIM facts"), which the request shape enforces by having a single `breakerRule`.
- Backend id: azure-mgmt-apimanagement 5.0.0 _backend_operations.py sends backendId with
  min_length=1, max_length=80 and no pattern (the spec's BackendIdParameter). The character rule
  (letters, digits, hyphens, starting with a letter) is this product's contract (CONTRACTS.md): it keeps
  names safe inside `/backends/<name>` pool ids, Event Grid subjects and KQL string literals.
- APIM service name: same SDK, serviceName max_length=50, pattern ^[a-zA-Z](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$.
- Resource group name: max_length=90, pattern ^[-\\w\\._\\(\\)]+$ (ARM common parameter).
- Deployment name: Azure/bicep-types-az generated/resources/microsoft.resources/2024-07-01/types.md,
  Microsoft.Resources/deployments name {minLength: 1, maxLength: 64, pattern: "^[-\\w\\._\\(\\)]+$"}.
- Durable Functions instance ids (learn.microsoft.com, durable-task-orchestrations, "Orchestration
  identity"): 1 to 100 characters, must not start with '@', must not contain '/', '\\', '#' or '?'.
"""

from __future__ import annotations

import re

POOL_PRIORITY_MIN, POOL_PRIORITY_MAX = 0, 100
POOL_WEIGHT_MIN, POOL_WEIGHT_MAX = 0, 100
STATUS_CODE_MIN, STATUS_CODE_MAX = 200, 599
FAILURE_RESPONSE_STATUS_MIN, FAILURE_RESPONSE_STATUS_MAX = 100, 599
MAX_STATUS_CODE_RANGES = 10
MAX_ERROR_REASONS = 10
MAX_ERROR_REASON_LENGTH = 200
MAX_BACKEND_URL_LENGTH = 2000
MAX_BACKEND_ID_LENGTH = 80
PERCENTAGE_MIN, PERCENTAGE_MAX = 1, 100

BACKEND_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,79}$")
APIM_SERVICE_NAME = re.compile(r"^[a-zA-Z](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$")
MAX_APIM_SERVICE_NAME_LENGTH = 50
RESOURCE_GROUP_NAME = re.compile(r"^[-\w._()]+$", re.ASCII)
MAX_RESOURCE_GROUP_NAME_LENGTH = 90
SUBSCRIPTION_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DEPLOYMENT_NAME = re.compile(r"^[-\w._()]+$", re.ASCII)
MAX_DEPLOYMENT_NAME_LENGTH = 64
MAX_INSTANCE_ID_LENGTH = 100
INSTANCE_ID_FORBIDDEN = frozenset("/\\#?")
