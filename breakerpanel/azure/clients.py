"""The only place that constructs Azure SDK clients.

Endpoints, TLS trust, credential and retry policy all come from `Settings`, so the same activity code
reaches Azure or the local twin.
"""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenCredential
from azure.identity import DefaultAzureCredential
from azure.mgmt.apimanagement import ApiManagementClient
from azure.mgmt.resource.deployments import DeploymentsMgmtClient
from azure.monitor.query import LogsQueryClient

from breakerpanel.settings import AZURE_ARM_ENDPOINT, AZURE_LOGS_ENDPOINT, Settings

# The token audience Log Analytics expects, whatever endpoint the queries are sent to.
_LOGS_AUDIENCE = AZURE_LOGS_ENDPOINT
_ARM_SCOPE = AZURE_ARM_ENDPOINT + "/.default"
# How long an ARM/APIM call may go without an answer before it is a (transient) read timeout. azure-core's own
# default is 300 s; every call here is a quick read or submit, and the orchestration retries on a timer.
ARM_READ_TIMEOUT_SECONDS = 60.0


class StaticTokenCredential:
    """A fixed bearer token: the twin accepts any token, so no identity is needed offline.

    `load_settings` refuses this kind whenever an endpoint is Azure's.
    """

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "StaticTokenCredential(<token hidden>)"

    def _expiry(self) -> int:
        return int(time.time()) + 3600

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, self._expiry())

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self._token, self._expiry())


def credential(settings: Settings) -> TokenCredential:
    if settings.credential == "static":
        assert settings.static_token is not None  # load_settings always sets it for "static"
        return StaticTokenCredential(settings.static_token)
    # In Azure the app runs as a user-assigned identity named by AZURE_CLIENT_ID, which this reads.
    return DefaultAzureCredential()


def _pipeline_options(settings: Settings) -> dict[str, Any]:
    return {
        "connection_verify": settings.connection_verify,
        "retry_total": settings.sdk_retry_total,
        "polling_interval": settings.lro_polling_interval,
    }


def deployments_client(settings: Settings, subscription_id: str) -> DeploymentsMgmtClient:
    return DeploymentsMgmtClient(
        credential(settings),
        subscription_id,
        base_url=settings.arm_endpoint,
        credential_scopes=[_ARM_SCOPE],
        read_timeout=ARM_READ_TIMEOUT_SECONDS,
        **_pipeline_options(settings),
    )


def apim_client(settings: Settings, subscription_id: str) -> ApiManagementClient:
    return ApiManagementClient(
        credential(settings),
        subscription_id,
        base_url=settings.arm_endpoint,
        credential_scopes=[_ARM_SCOPE],
        read_timeout=ARM_READ_TIMEOUT_SECONDS,
        **_pipeline_options(settings),
    )


def logs_client(settings: Settings) -> LogsQueryClient:
    options = _pipeline_options(settings)
    options.pop("polling_interval")
    return LogsQueryClient(
        credential(settings), endpoint=settings.logs_endpoint, audience=_LOGS_AUDIENCE, **options
    )
