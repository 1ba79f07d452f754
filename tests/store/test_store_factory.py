"""open_store: which store the settings pick, and errors that name the variable and the fix. No I/O but files."""

from __future__ import annotations

from pathlib import Path

import pytest

from breakerpanel.settings import SettingsError
from breakerpanel.store import open_store
from breakerpanel.store.factory import table_endpoint
from breakerpanel.store.sqlite_store import SqliteStore
from breakerpanel.store.table_store import TableStore


def test_the_cli_default_is_a_sqlite_file_under_dot_breakerpanel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) \
        -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store({})
    assert isinstance(store, SqliteStore)
    assert store.path == tmp_path / ".breakerpanel" / "state.sqlite3"
    assert store.path.is_absolute()


def test_state_dir_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store({"BREAKERPANEL_STORE": "SQLite", "BREAKERPANEL_STATE_DIR": "state/here"})
    assert store.path == tmp_path / "state" / "here" / "state.sqlite3"  # type: ignore[attr-defined]


def test_inside_the_functions_host_the_default_is_table_storage() -> None:
    store = open_store({"FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsStorage": "UseDevelopmentStorage=true;"})
    assert isinstance(store, TableStore)
    assert store.table_name == "breakerpanel"
    assert store._client.url.startswith("http://127.0.0.1:10002/devstoreaccount1")


def test_identity_based_storage_follows_the_functions_convention() -> None:
    store = open_store({"BREAKERPANEL_STORE": "table", "AzureWebJobsStorage__accountName": "stbreaker01",
                        "AzureWebJobsStorage__clientId": "00000000-0000-0000-0000-0000000000aa",
                        "BREAKERPANEL_STORE_TABLE": "watchdog"})
    assert isinstance(store, TableStore)
    assert store._client.url.startswith("https://stbreaker01.table.core.windows.net")
    assert store.table_name == "watchdog"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"BREAKERPANEL_STORE_TABLE_URI": "https://x.table.core.windows.net/",
          "AzureWebJobsStorage": "UseDevelopmentStorage=true"},
         ("uri", "https://x.table.core.windows.net")),
        ({"AzureWebJobsStorage": "UseDevelopmentStorage=true", "AzureWebJobsStorage__accountName": "other"},
         ("connection_string", "UseDevelopmentStorage=true")),
        ({"AzureWebJobsStorage__tableServiceUri": "https://y.table.core.windows.net",
          "AzureWebJobsStorage__accountName": "other"},
         ("uri", "https://y.table.core.windows.net")),
        ({"AzureWebJobsStorage__accountName": "z123"}, ("uri", "https://z123.table.core.windows.net")),
    ],
)
def test_the_first_configured_account_wins(env: dict[str, str], expected: tuple[str, str]) -> None:
    assert table_endpoint(env) == expected


@pytest.mark.parametrize(
    ("env", "variable", "fix"),
    [
        ({"BREAKERPANEL_STORE": "cosmos"}, "BREAKERPANEL_STORE", "use 'table'"),
        ({"BREAKERPANEL_STORE": "table"}, "BREAKERPANEL_STORE", "AzureWebJobsStorage__accountName"),
        ({"BREAKERPANEL_STORE": "table", "BREAKERPANEL_STORE_TABLE_URI": "http://127.0.0.1:10002/devstoreaccount1"},
         "BREAKERPANEL_STORE_TABLE_URI", "https"),
        ({"BREAKERPANEL_STORE": "table", "BREAKERPANEL_STORE_TABLE_URI": "https://x.table.core.windows.net?sv=1&sig=2"},
         "BREAKERPANEL_STORE_TABLE_URI", "no SAS"),
        ({"BREAKERPANEL_STORE": "table", "AzureWebJobsStorage__accountName": "Not_An_Account"},
         "AzureWebJobsStorage__accountName", "3-24"),
        ({"BREAKERPANEL_STORE": "table", "AzureWebJobsStorage": "yes please"}, "AzureWebJobsStorage",
         "UseDevelopmentStorage=true"),
        ({"BREAKERPANEL_STORE": "table", "AzureWebJobsStorage": "UseDevelopmentStorage=true",
          "BREAKERPANEL_STORE_TABLE": "break-er"}, "BREAKERPANEL_STORE_TABLE", "letters and digits"),
        ({"BREAKERPANEL_STORE": "table", "AzureWebJobsStorage": "UseDevelopmentStorage=true",
          "BREAKERPANEL_STORE_TABLE": "tables"}, "BREAKERPANEL_STORE_TABLE", "letters and digits"),
        ({"BREAKERPANEL_STORE": "table", "AzureWebJobsStorage": "UseDevelopmentStorage=true",
          "BREAKERPANEL_STORE_RETRY_TOTAL": "lots"}, "BREAKERPANEL_STORE_RETRY_TOTAL", "0..10"),
    ],
)
def test_a_wrong_setting_names_the_variable_and_the_fix(env: dict[str, str], variable: str, fix: str) -> None:
    with pytest.raises(SettingsError) as caught:
        open_store(env)
    assert caught.value.variable == variable
    assert fix in caught.value.fix


def test_a_state_dir_that_is_a_file_is_a_settings_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(SettingsError) as caught:
        open_store({"BREAKERPANEL_STATE_DIR": str(tmp_path / "f")})
    assert caught.value.variable == "BREAKERPANEL_STATE_DIR"


def test_the_connection_string_never_appears_in_the_store_repr() -> None:
    store = open_store({"BREAKERPANEL_STORE": "table",
                        "AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0;"
                                               "EndpointSuffix=core.windows.net"})
    assert "c2VjcmV0" not in repr(store)


@pytest.mark.parametrize(
    ("variable", "uri"),
    [
        ("BREAKERPANEL_STORE_TABLE_URI", "https://collector.example.com"),
        ("BREAKERPANEL_STORE_TABLE_URI", "https://x.table.core.windows.net.evil.example"),
        ("BREAKERPANEL_STORE_TABLE_URI", "https://x.table.core.windows.net:8443"),
        ("AzureWebJobsStorage__tableServiceUri", "https://user@x.table.core.windows.net"),
        ("AzureWebJobsStorage__tableServiceUri", "https://127.0.0.1:10002/devstoreaccount1"),
    ],
)
def test_the_apps_token_goes_only_to_a_table_endpoint_of_its_cloud(variable: str, uri: str) -> None:
    with pytest.raises(SettingsError) as caught:
        open_store({"BREAKERPANEL_STORE": "table", variable: uri})
    assert caught.value.variable == variable
    assert "Entra token" in caught.value.problem and ".table.core.windows.net" in caught.value.fix


def test_a_table_endpoint_is_compared_as_dns_sees_it() -> None:
    assert table_endpoint({"BREAKERPANEL_STORE_TABLE_URI": "https://X.Table.Core.Windows.Net./"}) == (
        "uri", "https://X.Table.Core.Windows.Net.")


def test_a_sovereign_cloud_gets_its_own_table_hosts() -> None:
    env = {"BREAKERPANEL_CLOUD": "AzureUSGovernment", "AzureWebJobsStorage__accountName": "stgov01"}
    assert table_endpoint(env) == ("uri", "https://stgov01.table.core.usgovcloudapi.net")
    with pytest.raises(SettingsError) as caught:
        table_endpoint({"BREAKERPANEL_CLOUD": "AzureUSGovernment",
                        "BREAKERPANEL_STORE_TABLE_URI": "https://x.table.core.windows.net"})
    assert ".table.core.usgovcloudapi.net" in caught.value.fix


def test_in_azure_the_table_store_uses_the_managed_identity_alone() -> None:
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    in_azure = open_store({"BREAKERPANEL_STORE": "table", "AzureWebJobsStorage__accountName": "stbreaker01",
                           "IDENTITY_ENDPOINT": "http://127.0.0.1:41000/msi/token"})
    local = open_store({"BREAKERPANEL_STORE": "table", "AzureWebJobsStorage__accountName": "stbreaker01"})
    assert isinstance(in_azure._client.credential, ManagedIdentityCredential)  # type: ignore[attr-defined]
    assert isinstance(local._client.credential, DefaultAzureCredential)  # type: ignore[attr-defined]
