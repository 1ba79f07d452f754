"""Every setting the app reads, in one typed place, read from the environment.

The same code talks to Azure or to the local twin: only these values differ. A wrong value raises
`SettingsError` naming the variable and the fix, before any client is built.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from breakerpanel.core.backend_urls import DEFAULT_BACKEND_HOSTS, canonical_host, host_allowed
from breakerpanel.core.durations import parse_duration


@dataclass(frozen=True)
class Cloud:
    """One Azure cloud's hosts, as Microsoft documents them: where the app's Entra token may go."""

    name: str
    arm_endpoint: str
    # The Log Analytics query API; also the token audience the watchdog's queries ask for.
    logs_endpoint: str
    logs_hosts: tuple[str, ...]
    # Application Insights ingestion (the IngestionEndpoint of a connection string): exact hosts or suffixes.
    ingestion_hosts: tuple[str, ...]
    # Microsoft Entra ID for DefaultAzureCredential (local use); managed identity needs none.
    authority_host: str

    @property
    def arm_scope(self) -> str:
        return self.arm_endpoint + "/.default"


# ARM: Get-AzEnvironment / azure-sdk cloudSettingHelpers; Log Analytics: Microsoft Learn "Azure Monitor Log
# Analytics API request format" (api.loganalytics.azure.com, the newer public name, and the China page's
# api.loganalytics.azure.cn) and azure-monitor-query's sovereign-cloud sample (api.loganalytics.us);
# ingestion: "Connection strings in Application Insights" (suffixes applicationinsights.us / .azure.cn).
CLOUDS: dict[str, Cloud] = {
    cloud.name: cloud
    for cloud in (
        Cloud("AzurePublicCloud", "https://management.azure.com", "https://api.loganalytics.io",
              ("api.loganalytics.io", "api.loganalytics.azure.com"),
              (".applicationinsights.azure.com", "dc.services.visualstudio.com"), "login.microsoftonline.com"),
        Cloud("AzureUSGovernment", "https://management.usgovcloudapi.net", "https://api.loganalytics.us",
              ("api.loganalytics.us",), (".applicationinsights.us",), "login.microsoftonline.us"),
        Cloud("AzureChinaCloud", "https://management.chinacloudapi.cn", "https://api.loganalytics.azure.cn",
              ("api.loganalytics.azure.cn",), (".applicationinsights.azure.cn",), "login.chinacloudapi.cn"),
    )
}
PUBLIC_CLOUD = CLOUDS["AzurePublicCloud"]
# The public cloud's name in az CLI and in Bicep's environment().name.
_CLOUD_ALIASES = {"azurecloud": PUBLIC_CLOUD}
AZURE_ARM_ENDPOINT = PUBLIC_CLOUD.arm_endpoint
AZURE_LOGS_ENDPOINT = PUBLIC_CLOUD.logs_endpoint

# Hosts that are Azure's own endpoints in the public and sovereign clouds: a static token is refused there,
# because it only exists so the twin can be driven without a real identity.
_AZURE_HOST_SUFFIXES = (
    ".azure.com",
    ".azure.cn",
    ".azure.us",
    ".usgovcloudapi.net",
    ".chinacloudapi.cn",
    ".loganalytics.io",
    ".loganalytics.us",
    ".applicationinsights.us",
    ".visualstudio.com",
    ".microsoft.com",
    ".windows.net",
)
# Set by App Service / Functions when a managed identity is available (IDENTITY_ENDPOINT; MSI_ENDPOINT on the
# older platform): the app runs in Azure, and its identity is that managed identity.
MANAGED_IDENTITY_VARIABLES = ("IDENTITY_ENDPOINT", "MSI_ENDPOINT")

CredentialKind = Literal["default", "static"]
AuthMode = Literal["easyAuth", "functionKey"]
# Injected by App Service into the app's environment (read-only) when App Service Authentication is on
# (learn.microsoft.com/azure/app-service/reference-app-settings, "Authentication & authorization").
PLATFORM_EASY_AUTH_VARIABLE = "WEBSITE_AUTH_ENABLED"
_HOST_ENTRY = re.compile(r"^\.?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]$")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""

    def __init__(self, variable: str, problem: str, fix: str) -> None:
        super().__init__(f"{variable}: {problem}. Fix: {fix}")
        self.variable = variable
        self.problem = problem
        self.fix = fix


@dataclass(frozen=True)
class Settings:
    arm_endpoint: str
    logs_endpoint: str
    credential: CredentialKind
    # Only for `credential == "static"`; repr=False keeps it out of logs and reprs.
    static_token: str | None = None
    ca_bundle: str | None = None
    # SDK-level retries. 0 by default: the orchestrator retries transient failures with durable timers
    # honouring Retry-After, so an activity fails fast instead of sleeping inside the Functions host.
    sdk_retry_total: int = 0
    # Seconds between SDK long-running-operation polls, when an activity polls at all.
    lro_polling_interval: float = 0.0
    # Easy Auth app roles: starting a rollout, and approving or rejecting one.
    deployer_role: str = "Rollout.Deploy"
    approver_role: str = "Rollout.Approve"
    approval_timeout_seconds: float = 24 * 3600
    deploy_timeout_seconds: float = 2 * 3600
    # Who the HTTP API trusts: "easyAuth" (the principal App Service Authentication vouches for; required in
    # Azure) or "functionKey" (the key alone, every caller the same anonymous operator: local use only).
    auth: AuthMode = "easyAuth"
    # Whether the platform says App Service Authentication is on (WEBSITE_AUTH_ENABLED): only then are the
    # X-MS-CLIENT-PRINCIPAL headers written by the platform rather than by the caller.
    platform_easy_auth: bool = False
    # Four eyes: the person who started a rollout cannot approve it, unless this relaxes it (labs only).
    allow_self_approval: bool = False
    # Host names / domain suffixes backend URLs may point at.
    backend_hosts: tuple[str, ...] = DEFAULT_BACKEND_HOSTS
    # The Azure cloud (BREAKERPANEL_CLOUD): token scopes, audiences and the hosts a real token may reach.
    cloud: Cloud = PUBLIC_CLOUD
    # Running in Azure (a managed identity endpoint is present): the credential is that managed identity,
    # the user-assigned one named by AZURE_CLIENT_ID when set.
    managed_identity: bool = False
    client_id: str | None = None
    # This function app's resource id (BREAKERPANEL_EVENTS_FUNCTION_ID, set by infra/app): when given, every
    # rollout subscribes its breaker_events function to the instance's circuit-breaker events. Empty: no events.
    events_function_id: str = ""

    def __repr__(self) -> str:
        token = "<set>" if self.static_token else None
        return (
            f"Settings(arm_endpoint={self.arm_endpoint!r}, logs_endpoint={self.logs_endpoint!r}, "
            f"credential={self.credential!r}, static_token={token!r}, ca_bundle={self.ca_bundle!r}, "
            f"sdk_retry_total={self.sdk_retry_total}, lro_polling_interval={self.lro_polling_interval}, "
            f"deployer_role={self.deployer_role!r}, approver_role={self.approver_role!r}, "
            f"approval_timeout_seconds={self.approval_timeout_seconds}, "
            f"deploy_timeout_seconds={self.deploy_timeout_seconds}, auth={self.auth!r}, "
            f"platform_easy_auth={self.platform_easy_auth}, allow_self_approval={self.allow_self_approval}, "
            f"backend_hosts={self.backend_hosts!r}, cloud={self.cloud.name!r}, "
            f"managed_identity={self.managed_identity}, client_id={self.client_id!r}, "
            f"events_function_id={self.events_function_id!r})"
        )

    @property
    def connection_verify(self) -> bool | str:
        """What azure-core's transport should verify TLS against: the twin's CA when given."""
        return self.ca_bundle or True


def endpoint_host(url: str) -> str:
    """The host a URL reaches, as DNS sees it: IDNA-normalised, lower case, no trailing dot ("" if none)."""
    return canonical_host(urlsplit(url).hostname or "") or ""


def is_azure_endpoint(url: str) -> bool:
    host = endpoint_host(url)
    return any(host == suffix.lstrip(".") or host.endswith(suffix) for suffix in _AZURE_HOST_SUFFIXES)


def token_destination_problem(url: str, allowed: tuple[str, ...]) -> str | None:
    """Why the app's real Entra token must not be sent to `url` (None: it is one of the cloud's own hosts)."""
    parts = urlsplit(url)
    host = endpoint_host(url)
    if parts.scheme != "https":
        return "it is not https"
    if parts.username is not None or parts.password is not None:
        return "it carries user information before the host"
    try:
        port = parts.port
    except ValueError:
        return "its port is not a number"
    if port not in (None, 443):
        return f"it names port {port}"
    if not host or not host_allowed(host, allowed):
        return f"{host or 'its host'} is not one of {', '.join(entry.lstrip('.') for entry in allowed)}"
    return None


def cloud_of(env: Mapping[str, str]) -> Cloud:
    """The Azure cloud BREAKERPANEL_CLOUD names (public when unset)."""
    raw = env.get("BREAKERPANEL_CLOUD", "").strip() or PUBLIC_CLOUD.name
    for name, cloud in CLOUDS.items():
        if raw.lower() == name.lower():
            return cloud
    if raw.lower() in _CLOUD_ALIASES:
        return _CLOUD_ALIASES[raw.lower()]
    raise SettingsError("BREAKERPANEL_CLOUD", f"{raw!r} is not an Azure cloud this app knows",
                        f"use one of {', '.join(CLOUDS)} (the default is {PUBLIC_CLOUD.name})")


def _check_token_destinations(cloud: Cloud, arm: str, logs: str) -> None:
    for variable, url, allowed, default in (
        ("BREAKERPANEL_ARM_ENDPOINT", arm, (endpoint_host(cloud.arm_endpoint),), cloud.arm_endpoint),
        ("BREAKERPANEL_LOGS_ENDPOINT", logs, cloud.logs_hosts, cloud.logs_endpoint),
    ):
        problem = token_destination_problem(url, allowed)
        if problem is not None:
            raise SettingsError(
                variable,
                f"the 'default' credential would send the app's Azure token to {endpoint_host(url) or url}, "
                f"which is not {cloud.name}'s ({problem})",
                f"unset it (or set it to {default}), set BREAKERPANEL_CLOUD to the cloud it belongs to, or "
                "set BREAKERPANEL_CREDENTIAL=static for the local twin",
            )


def check_ingestion_endpoint(settings: Settings, endpoint: str) -> None:
    """Refuse to hand the app's real token to an Application Insights ingestion endpoint outside its cloud."""
    if settings.credential != "default":
        return
    problem = token_destination_problem(endpoint, settings.cloud.ingestion_hosts)
    if problem is not None:
        raise SettingsError(
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            f"its IngestionEndpoint is not {settings.cloud.name}'s Application Insights ingestion ({problem}), "
            "and the 'default' credential would send the app's Azure token there",
            "copy the connection string from the Application Insights resource's overview (and set "
            "BREAKERPANEL_CLOUD to its cloud), or set BREAKERPANEL_CREDENTIAL=static for the local twin",
        )


def _endpoint(env: Mapping[str, str], variable: str, default: str) -> str:
    value = env.get(variable, "").strip() or default
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise SettingsError(
            variable,
            f"{value!r} is not an https URL",
            f"set it to an https base URL such as {default} (the twin also serves https)",
        )
    if parts.query or parts.fragment:
        raise SettingsError(variable, f"{value!r} carries a query or fragment", "give the bare base URL")
    return value.rstrip("/")


def _int(env: Mapping[str, str], variable: str, default: int, low: int, high: int) -> int:
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(variable, f"{raw!r} is not an integer", f"use a whole number {low}..{high}") from None
    if not low <= value <= high:
        raise SettingsError(variable, f"{value} is out of range", f"use a whole number {low}..{high}")
    return value


def _float(env: Mapping[str, str], variable: str, default: float, low: float, high: float) -> float:
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(variable, f"{raw!r} is not a number", f"use a number of seconds {low}..{high}") from None
    if not low <= value <= high:
        raise SettingsError(variable, f"{value} is out of range", f"use a number of seconds {low}..{high}")
    return value


def _duration(env: Mapping[str, str], variable: str, default: float) -> float:
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    try:
        seconds = parse_duration(raw)
    except ValueError:
        raise SettingsError(variable, f"{raw!r} is not a duration", "use ISO 8601 such as PT30M or P1D") from None
    if not 60 <= seconds <= 7 * 24 * 3600:
        raise SettingsError(variable, f"{raw} is out of range", "use a duration between PT1M and P7D")
    return seconds


def _role(env: Mapping[str, str], variable: str, default: str) -> str:
    value = env.get(variable, "").strip() or default
    if any(ch.isspace() for ch in value):
        raise SettingsError(variable, f"{value!r} contains spaces", "use the app role's value, e.g. Rollout.Deploy")
    return value


def _bool(env: Mapping[str, str], variable: str, default: bool) -> bool:
    raw = env.get(variable, "").strip().lower()
    if not raw:
        return default
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise SettingsError(variable, f"{raw!r} is not true or false", "write true or false")


def _auth(env: Mapping[str, str]) -> AuthMode:
    raw = env.get("BREAKERPANEL_AUTH", "").strip() or "easyAuth"
    for mode in ("easyAuth", "functionKey"):
        if raw.lower() == mode.lower():
            return mode  # type: ignore[return-value]
    raise SettingsError(
        "BREAKERPANEL_AUTH",
        f"{raw!r} is not an authentication mode",
        "use 'easyAuth' (App Service Authentication with Microsoft Entra ID, in Azure) or 'functionKey' "
        "(the function key alone, for local use)",
    )


def _backend_hosts(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("BREAKERPANEL_BACKEND_HOSTS", "").strip()
    if not raw:
        return DEFAULT_BACKEND_HOSTS
    entries = tuple(entry.strip().lower() for entry in raw.split(",") if entry.strip())
    for entry in entries:
        if not _HOST_ENTRY.match(entry) or entry.count(".") < (2 if entry.startswith(".") else 1):
            raise SettingsError(
                "BREAKERPANEL_BACKEND_HOSTS",
                f"{entry!r} is not a DNS name or a '.domain' suffix of at least two labels",
                "list host names or suffixes separated by commas, e.g. .openai.azure.com,ai-gw.contoso.com",
            )
    return entries


_SITE_ID = re.compile(r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\w._()]{1,90}"
                      r"/providers/Microsoft\.Web/sites/[A-Za-z0-9-]{2,60}$", re.IGNORECASE)


def _events_function_id(env: Mapping[str, str]) -> str:
    raw = env.get("BREAKERPANEL_EVENTS_FUNCTION_ID", "").strip()
    if raw and _SITE_ID.match(raw) is None:
        raise SettingsError(
            "BREAKERPANEL_EVENTS_FUNCTION_ID",
            f"{raw[:200]!r} is not a function app's resource id",
            "set it to /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Web/sites/<app> (infra/app "
            "sets this app's own), or leave it empty to deploy no breaker-event subscription",
        )
    return raw


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings; `env` defaults to the process environment."""
    env = os.environ if env is None else env
    cloud = cloud_of(env)
    arm = _endpoint(env, "BREAKERPANEL_ARM_ENDPOINT", cloud.arm_endpoint)
    logs = _endpoint(env, "BREAKERPANEL_LOGS_ENDPOINT", cloud.logs_endpoint)

    kind = env.get("BREAKERPANEL_CREDENTIAL", "").strip().lower() or "default"
    if kind not in ("default", "static"):
        raise SettingsError(
            "BREAKERPANEL_CREDENTIAL",
            f"{kind!r} is not a known credential kind",
            "use 'default' (managed identity / DefaultAzureCredential) or 'static' (the local twin only)",
        )
    token: str | None = None
    if kind == "static":
        for variable, url in (("BREAKERPANEL_ARM_ENDPOINT", arm), ("BREAKERPANEL_LOGS_ENDPOINT", logs)):
            if is_azure_endpoint(url):
                raise SettingsError(
                    "BREAKERPANEL_CREDENTIAL",
                    f"'static' is refused while {variable} is Azure's ({url})",
                    "use 'default' against Azure; 'static' is for the local twin",
                )
        token = env.get("BREAKERPANEL_STATIC_TOKEN", "").strip() or "twin-token"
    else:
        _check_token_destinations(cloud, arm, logs)

    ca = env.get("REQUESTS_CA_BUNDLE", "").strip() or None
    if ca is not None and not Path(ca).is_file():
        raise SettingsError(
            "REQUESTS_CA_BUNDLE",
            f"{ca!r} is not a readable file",
            "point it at the twin's CA (python -m breakerpanel twin prints the path) or unset it",
        )
    return Settings(
        arm_endpoint=arm,
        logs_endpoint=logs,
        credential=kind,  # type: ignore[arg-type]
        static_token=token,
        ca_bundle=ca,
        sdk_retry_total=_int(env, "BREAKERPANEL_SDK_RETRY_TOTAL", 0, 0, 10),
        lro_polling_interval=_float(env, "BREAKERPANEL_LRO_POLLING_INTERVAL", 0.0, 0.0, 300.0),
        deployer_role=_role(env, "BREAKERPANEL_DEPLOYER_ROLE", "Rollout.Deploy"),
        approver_role=_role(env, "BREAKERPANEL_APPROVER_ROLE", "Rollout.Approve"),
        approval_timeout_seconds=_duration(env, "BREAKERPANEL_APPROVAL_TIMEOUT", 24 * 3600),
        deploy_timeout_seconds=_duration(env, "BREAKERPANEL_DEPLOY_TIMEOUT", 2 * 3600),
        auth=_auth(env),
        platform_easy_auth=env.get(PLATFORM_EASY_AUTH_VARIABLE, "").strip().lower() == "true",
        allow_self_approval=_bool(env, "BREAKERPANEL_ALLOW_SELF_APPROVAL", False),
        backend_hosts=_backend_hosts(env),
        cloud=cloud,
        managed_identity=any(env.get(variable, "").strip() for variable in MANAGED_IDENTITY_VARIABLES),
        client_id=env.get("AZURE_CLIENT_ID", "").strip() or None,
        events_function_id=_events_function_id(env),
    )
