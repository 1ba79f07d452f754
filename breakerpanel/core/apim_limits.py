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
- Pool size: learn.microsoft.com/azure/api-management/backends ("Load-balanced pool"): a pool holds up to
  30 backends. The request asks for one pool of all its backends, so at most 30 backends.
- Breaker rule magnitudes: the spec declares failureCondition.count as int64 and interval/tripDuration as
  xsd:duration with no bounds, so the bounds below are this product's: a count above 10,000 or an interval or
  trip beyond a day is a typo or an attack (a breaker that never trips, or that holds a backend out for
  years), never a tuning. They are refused, not warned.
- Request body: the product's own caps (128 KiB, nesting depth 12) keep a hostile body from costing memory
  or recursion; a legitimate request with 30 backends of 2,000-character URLs still fits (128 KiB).
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
MAX_POOL_BACKENDS = 30
FAILURE_COUNT_MAX = 10_000
RULE_DURATION_MIN_SECONDS = 1
RULE_DURATION_MAX_SECONDS = 24 * 3600
# 30 backends × a 2,000-character URL is 60,000 characters; the rest of a request is small.
MAX_BODY_BYTES = 128 * 1024
MAX_BODY_DEPTH = 12

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
