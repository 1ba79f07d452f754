"""The only place that constructs Azure SDK clients.

Endpoints, TLS trust, credential and retry policy all come from `Settings`, so the same activity code
reaches Azure or the local twin.
"""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenCredential
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.mgmt.apimanagement import ApiManagementClient
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.resource.deployments import DeploymentsMgmtClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.monitor.query import LogsQueryClient

from breakerpanel.settings import Settings, check_ingestion_endpoint

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


class TokenUnavailableError(ClientAuthenticationError):
    """The app's credential could not get a token: no HTTP status of its own, so it is never mistaken for
    Azure answering the call (azure-identity attaches the identity endpoint's 400 to its errors)."""


class AppCredential:
    """The app's real credential, whose every failure to get a token is a TokenUnavailableError.

    activities/outcomes.py classifies a ClientAuthenticationError without a status as "no token" (permanent,
    fix: AZURE_CLIENT_ID) and one with a status as Azure's own 401; azure-identity's managed identity raises
    the second kind for the identity endpoint's answer, which would read as ARM refusing the token.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def _failed(self, exc: Exception) -> TokenUnavailableError:
        text = str(exc).strip().splitlines()
        return TokenUnavailableError(message=f"{type(self.inner).__name__}: {text[0] if text else type(exc).__name__}")

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        try:
            return self.inner.get_token(*scopes, **kwargs)
        except Exception as exc:
            raise self._failed(exc) from exc

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        try:
            return self.inner.get_token_info(*scopes, options=options)
        except Exception as exc:
            raise self._failed(exc) from exc

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> AppCredential:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def credential(settings: Settings) -> TokenCredential:
    """The app's identity. `load_settings` has already refused a real credential for any endpoint that is not
    the configured cloud's own, so whatever this returns only ever reaches Azure (or, static, the twin)."""
    if settings.credential == "static":
        assert settings.static_token is not None  # load_settings always sets it for "static"
        return StaticTokenCredential(settings.static_token)
    if settings.managed_identity:
        # In Azure: the managed identity and nothing else, so a stray developer login or environment secret on
        # the host can never become the app's identity. client_id None means the system-assigned identity.
        return AppCredential(ManagedIdentityCredential(client_id=settings.client_id))
    # Local use (az login, VS Code, environment): never a browser window from a Functions host or the CLI.
    return AppCredential(DefaultAzureCredential(
        authority=settings.cloud.authority_host,
        exclude_interactive_browser_credential=True,
        managed_identity_client_id=settings.client_id,
    ))


# Where the Azure Monitor exporter sends envelopes when the connection string names no IngestionEndpoint
# (azure-monitor-opentelemetry-exporter 1.0.0b58, _connection_string_parser.py).
_EXPORTER_DEFAULT_INGESTION = "https://dc.services.visualstudio.com"


def ingestion_endpoint(connection_string: str) -> str:
    """The ingestion endpoint the exporter will post to, read the way its parser reads it."""
    parts = {key.strip().lower(): value.strip()
             for key, _, value in (part.partition("=") for part in connection_string.split(";") if part.strip())}
    return parts.get("ingestionendpoint") or _EXPORTER_DEFAULT_INGESTION


def ingestion_credential(settings: Settings, connection_string: str) -> TokenCredential:
    """The credential for Application Insights ingestion; SettingsError when the connection string's endpoint is
    not the cloud's (a planted connection string must not collect the app's token)."""
    check_ingestion_endpoint(settings, ingestion_endpoint(connection_string))
    return credential(settings)


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
        credential_scopes=[settings.cloud.arm_scope],
        read_timeout=ARM_READ_TIMEOUT_SECONDS,
        **_pipeline_options(settings),
    )


def apim_client(settings: Settings, subscription_id: str) -> ApiManagementClient:
    return ApiManagementClient(
        credential(settings),
        subscription_id,
        base_url=settings.arm_endpoint,
        credential_scopes=[settings.cloud.arm_scope],
        read_timeout=ARM_READ_TIMEOUT_SECONDS,
        **_pipeline_options(settings),
    )


def _management(cls: Any, settings: Settings, subscription_id: str) -> Any:
    return cls(
        credential(settings),
        subscription_id,
        base_url=settings.arm_endpoint,
        credential_scopes=[settings.cloud.arm_scope],
        read_timeout=ARM_READ_TIMEOUT_SECONDS,
        **_pipeline_options(settings),
    )


# The rollout's prerequisite reads (activities/prerequisites.py): providers, Event Grid system topics,
# diagnostic settings and role assignments.
def resources_client(settings: Settings, subscription_id: str) -> ResourceManagementClient:
    return _management(ResourceManagementClient, settings, subscription_id)


def eventgrid_client(settings: Settings, subscription_id: str) -> EventGridManagementClient:
    return _management(EventGridManagementClient, settings, subscription_id)


def monitor_client(settings: Settings, subscription_id: str) -> MonitorManagementClient:
    return _management(MonitorManagementClient, settings, subscription_id)


def authorization_client(settings: Settings, subscription_id: str) -> AuthorizationManagementClient:
    return _management(AuthorizationManagementClient, settings, subscription_id)


def logs_client(settings: Settings) -> LogsQueryClient:
    options = _pipeline_options(settings)
    options.pop("polling_interval")
    return LogsQueryClient(
        credential(settings), endpoint=settings.logs_endpoint, audience=settings.cloud.logs_endpoint, **options
    )
