"""Settings: one typed place; a wrong value is an error that names the variable and the fix."""

from __future__ import annotations

import pytest

from breakerpanel.settings import AZURE_ARM_ENDPOINT, AZURE_LOGS_ENDPOINT, SettingsError, load_settings


def test_defaults_target_azure_with_managed_identity() -> None:
    settings = load_settings({})
    assert settings.arm_endpoint == AZURE_ARM_ENDPOINT
    assert settings.logs_endpoint == AZURE_LOGS_ENDPOINT
    assert settings.credential == "default"
    assert settings.static_token is None
    assert settings.connection_verify is True


def test_twin_settings_are_accepted(tmp_path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = load_settings(
        {
            "BREAKERPANEL_ARM_ENDPOINT": "https://127.0.0.1:8443/",
            "BREAKERPANEL_LOGS_ENDPOINT": "https://127.0.0.1:8443",
            "BREAKERPANEL_CREDENTIAL": "static",
            "REQUESTS_CA_BUNDLE": str(ca),
        }
    )
    assert settings.arm_endpoint == "https://127.0.0.1:8443"
    assert settings.credential == "static"
    assert settings.connection_verify == str(ca)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"BREAKERPANEL_ARM_ENDPOINT": "http://127.0.0.1:8443"}, "BREAKERPANEL_ARM_ENDPOINT"),
        ({"BREAKERPANEL_LOGS_ENDPOINT": "not a url"}, "BREAKERPANEL_LOGS_ENDPOINT"),
        ({"BREAKERPANEL_CREDENTIAL": "password"}, "BREAKERPANEL_CREDENTIAL"),
        ({"REQUESTS_CA_BUNDLE": "/nonexistent/ca.pem"}, "REQUESTS_CA_BUNDLE"),
        ({"BREAKERPANEL_SDK_RETRY_TOTAL": "many"}, "BREAKERPANEL_SDK_RETRY_TOTAL"),
        ({"BREAKERPANEL_SDK_RETRY_TOTAL": "99"}, "BREAKERPANEL_SDK_RETRY_TOTAL"),
        ({"BREAKERPANEL_LRO_POLLING_INTERVAL": "-1"}, "BREAKERPANEL_LRO_POLLING_INTERVAL"),
    ],
)
def test_a_wrong_value_names_the_variable_and_a_fix(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)
    assert "Fix:" in str(caught.value)


@pytest.mark.parametrize("endpoint", ["https://management.azure.com", "https://management.usgovcloudapi.net"])
def test_static_token_is_refused_against_azure(endpoint: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"BREAKERPANEL_CREDENTIAL": "static", "BREAKERPANEL_ARM_ENDPOINT": endpoint})
    assert caught.value.variable == "BREAKERPANEL_CREDENTIAL"
    assert "twin" in caught.value.fix


def test_static_token_is_refused_when_only_logs_endpoint_is_azure() -> None:
    with pytest.raises(SettingsError, match="BREAKERPANEL_LOGS_ENDPOINT"):
        load_settings({"BREAKERPANEL_CREDENTIAL": "static", "BREAKERPANEL_ARM_ENDPOINT": "https://127.0.0.1:1"})


def test_the_static_token_never_appears_in_repr() -> None:
    settings = load_settings(
        {
            "BREAKERPANEL_ARM_ENDPOINT": "https://127.0.0.1:1",
            "BREAKERPANEL_LOGS_ENDPOINT": "https://127.0.0.1:1",
            "BREAKERPANEL_CREDENTIAL": "static",
            "BREAKERPANEL_STATIC_TOKEN": "s3cr3t-value",
        }
    )
    assert settings.static_token == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(settings)
