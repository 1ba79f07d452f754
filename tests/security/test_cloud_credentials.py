"""Issue 8, "Credentials and Azure endpoints": the token's scope follows BREAKERPANEL_CLOUD, a real token only
ever goes to that cloud's own hosts, and in Azure the identity is the managed identity alone.

The token requests go to a local stand-in of App Service's managed-identity endpoint (IDENTITY_ENDPOINT /
X-IDENTITY-HEADER, api-version 2019-08-01, as azure-identity calls it), which records what was asked for. The
ARM / Log Analytics request that follows goes to a local proxy that records the host it was meant for and
refuses it: nothing leaves the machine.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.identity import DefaultAzureCredential, InteractiveBrowserCredential, ManagedIdentityCredential

from breakerpanel.azure.clients import (
    apim_client,
    credential,
    deployments_client,
    ingestion_credential,
    logs_client,
)
from breakerpanel.settings import CLOUDS, SettingsError, load_settings
from tests.security.local_identity import CLIENT_ID, IDENTITY_HEADER, IdentityEndpoint, RefusingProxy
from tests.security.local_identity import in_azure as _in_azure


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
def test_the_arm_token_is_asked_for_the_configured_clouds_resource_manager(
    cloud: str, identity_endpoint: IdentityEndpoint, proxy: RefusingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(_in_azure(monkeypatch, identity_endpoint, cloud))
    arm = CLOUDS[cloud].arm_endpoint
    for factory in (deployments_client, apim_client):
        client = factory(settings, "00000000-0000-0000-0000-000000000000")
        try:
            with pytest.raises(ServiceRequestError):
                if factory is deployments_client:
                    client.deployments.get("rg", "bp-x")
                else:
                    client.backend.get("rg", "apim", "b")
        finally:
            client.close()
    assert {r["resource"] for r in identity_endpoint.requests} == {arm}
    assert {r["client_id"] for r in identity_endpoint.requests} == {CLIENT_ID}
    assert {r["header"] for r in identity_endpoint.requests} == {IDENTITY_HEADER}
    assert set(proxy.targets) == {urlsplit(arm).hostname + ":443"}


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
def test_the_log_analytics_token_is_asked_for_the_configured_clouds_audience(
    cloud: str, identity_endpoint: IdentityEndpoint, proxy: RefusingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(_in_azure(monkeypatch, identity_endpoint, cloud))
    client = logs_client(settings)
    try:
        with pytest.raises(ServiceRequestError):
            client.query_workspace("00000000-0000-0000-0000-000000000001", "print 1", timespan=None)
    finally:
        client.close()
    logs = CLOUDS[cloud].logs_endpoint
    assert {r["resource"] for r in identity_endpoint.requests} == {logs}
    assert set(proxy.targets) == {urlsplit(logs).hostname + ":443"}


def test_in_azure_the_identity_is_the_managed_identity_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # A client secret left in the environment must not become the app's identity in Azure.
    settings = load_settings({"IDENTITY_ENDPOINT": "http://127.0.0.1:1/msi/token", "AZURE_CLIENT_ID": CLIENT_ID,
                              "AZURE_TENANT_ID": "t", "AZURE_CLIENT_SECRET": "leftover"})
    assert settings.managed_identity and settings.client_id == CLIENT_ID
    assert isinstance(credential(settings).inner, ManagedIdentityCredential)  # type: ignore[attr-defined]


def test_locally_the_default_credential_never_opens_a_browser() -> None:
    chosen = credential(load_settings({})).inner  # type: ignore[attr-defined]
    assert isinstance(chosen, DefaultAzureCredential)
    assert not any(isinstance(c, InteractiveBrowserCredential) for c in chosen.credentials)


@pytest.mark.parametrize(("cloud", "arm", "logs"), [
    ("AzurePublicCloud", "https://management.azure.com", "https://api.loganalytics.io"),
    ("AzureCloud", "https://management.azure.com", "https://api.loganalytics.io"),
    ("AzureUSGovernment", "https://management.usgovcloudapi.net", "https://api.loganalytics.us"),
    ("AzureChinaCloud", "https://management.chinacloudapi.cn", "https://api.loganalytics.azure.cn"),
])
def test_each_cloud_has_its_documented_endpoints_by_default(cloud: str, arm: str, logs: str) -> None:
    settings = load_settings({"BREAKERPANEL_CLOUD": cloud})
    assert (settings.arm_endpoint, settings.logs_endpoint) == (arm, logs)
    assert settings.cloud.arm_scope == arm + "/.default"


def test_an_unknown_cloud_is_refused_naming_the_setting() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"BREAKERPANEL_CLOUD": "AzureGermanCloud"})
    assert caught.value.variable == "BREAKERPANEL_CLOUD"
    assert "AzureUSGovernment" in caught.value.fix


@pytest.mark.parametrize(("variable", "url"), [
    ("BREAKERPANEL_ARM_ENDPOINT", "https://127.0.0.1:8443"),  # the twin, with a real credential
    ("BREAKERPANEL_ARM_ENDPOINT", "https://management.azure.com.evil.example"),
    ("BREAKERPANEL_ARM_ENDPOINT", "https://evil.example/management.azure.com"),
    ("BREAKERPANEL_ARM_ENDPOINT", "https://management.azure.com@evil.example"),
    ("BREAKERPANEL_ARM_ENDPOINT", "https://management.azure.com:8443"),
    ("BREAKERPANEL_ARM_ENDPOINT", "https://m\u0430nagement.azure.com"),  # a Cyrillic 'а'
    ("BREAKERPANEL_ARM_ENDPOINT", "https://management.usgovcloudapi.net"),  # another cloud than configured
    ("BREAKERPANEL_ARM_ENDPOINT", "https://api.loganalytics.io"),  # Azure, but not ARM
    ("BREAKERPANEL_LOGS_ENDPOINT", "https://api.loganalytics.io.evil.example"),
    ("BREAKERPANEL_LOGS_ENDPOINT", "https://127.0.0.1:8443"),
])
def test_the_default_credential_is_refused_for_a_host_that_is_not_the_clouds_own(variable: str, url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({variable: url})
    assert caught.value.variable == variable
    assert "BREAKERPANEL_CREDENTIAL=static" in caught.value.fix
    assert "token" in caught.value.problem


@pytest.mark.parametrize("url", [
    "https://MANAGEMENT.AZURE.COM.",
    "https://management.azure.com:443/",
    "https://\uff4danagement\u3002azure\u3002com",  # fullwidth 'm' and ideographic full stops: the same name
])
def test_the_clouds_own_host_in_any_spelling_is_accepted(url: str) -> None:
    assert load_settings({"BREAKERPANEL_ARM_ENDPOINT": url}).credential == "default"


def test_the_twin_runs_with_the_static_credential() -> None:
    settings = load_settings({"BREAKERPANEL_ARM_ENDPOINT": "https://127.0.0.1:8443",
                              "BREAKERPANEL_LOGS_ENDPOINT": "https://127.0.0.1:8443",
                              "BREAKERPANEL_CREDENTIAL": "static"})
    assert settings.credential == "static"


@pytest.mark.parametrize(("cloud", "connection_string"), [
    ("AzurePublicCloud", "InstrumentationKey=k;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/"),
    ("AzurePublicCloud", "InstrumentationKey=k"),  # the exporter's default, dc.services.visualstudio.com
    ("AzureUSGovernment", "InstrumentationKey=k;IngestionEndpoint=https://usgovvirginia-1.in.applicationinsights.us/"),
    ("AzureChinaCloud", "InstrumentationKey=k;IngestionEndpoint=https://chinanorth3-0.in.applicationinsights.azure.cn/"),
])
def test_app_insights_ingestion_of_the_cloud_gets_the_token(cloud: str, connection_string: str) -> None:
    assert ingestion_credential(load_settings({"BREAKERPANEL_CLOUD": cloud}), connection_string) is not None


@pytest.mark.parametrize("endpoint", [
    "https://collector.evil.example/",
    "https://westeurope-5.in.applicationinsights.azure.com.evil.example/",
    "https://usgovvirginia-1.in.applicationinsights.us/",  # another cloud than configured
    "https://127.0.0.1:8443/",
])
def test_app_insights_ingestion_elsewhere_never_gets_the_token(endpoint: str) -> None:
    with pytest.raises(SettingsError) as caught:
        ingestion_credential(load_settings({}), f"InstrumentationKey=k;IngestionEndpoint={endpoint}")
    assert caught.value.variable == "APPLICATIONINSIGHTS_CONNECTION_STRING"
    assert "BREAKERPANEL_CREDENTIAL=static" in caught.value.fix
