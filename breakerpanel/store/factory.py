"""Which store, and where: read from the environment, with errors that name the variable and the fix.

    BREAKERPANEL_STORE          sqlite | table. Default: table inside the Functions host (FUNCTIONS_WORKER_RUNTIME
                                is set: a file on one instance's disk would not be shared by the scale-out),
                                sqlite everywhere else (the CLI on a laptop).
    BREAKERPANEL_STATE_DIR      sqlite: the directory of state.sqlite3; default .breakerpanel/ in the
                                current directory, made absolute at once so a later chdir cannot move it.
    BREAKERPANEL_STORE_TABLE    table: the table name; default breakerpanel.
    BREAKERPANEL_STORE_RETRY_TOTAL  table: SDK retries of a failed request (default 2, 0..10).

The table's account, first match wins:
    BREAKERPANEL_STORE_TABLE_URI           https://<account>.table.core.windows.net, with DefaultAzureCredential
    AzureWebJobsStorage                    a connection string: UseDevelopmentStorage=true (Azurite on its
                                           default port) or Azurite's / an account's explicit one
    AzureWebJobsStorage__tableServiceUri   the Functions identity-based convention, with DefaultAzureCredential
    AzureWebJobsStorage__accountName       the same, the URI derived for the public cloud
`AzureWebJobsStorage__clientId` (or AZURE_CLIENT_ID) picks the user-assigned identity, as it does for the host.
A URI form gets the app's Entra token, so its host must be a table endpoint of the configured cloud
(BREAKERPANEL_CLOUD); in Azure (a managed identity endpoint is present) the token is the managed identity's alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from breakerpanel.settings import MANAGED_IDENTITY_VARIABLES, SettingsError, cloud_of, token_destination_problem
from breakerpanel.store.base import Store
from breakerpanel.store.sqlite_store import DATABASE_FILE, SqliteStore

if TYPE_CHECKING:
    from azure.data.tables import TableClient

DEFAULT_STATE_DIR = ".breakerpanel"
DEFAULT_TABLE = "breakerpanel"
_TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")
_ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}")
# Table service host suffixes per cloud (Microsoft Learn, "Azure Storage endpoints" / sovereign-cloud pages).
TABLE_SUFFIXES = {
    "AzurePublicCloud": ".table.core.windows.net",
    "AzureUSGovernment": ".table.core.usgovcloudapi.net",
    "AzureChinaCloud": ".table.core.chinacloudapi.cn",
}


def store_kind(env: Mapping[str, str]) -> str:
    raw = env.get("BREAKERPANEL_STORE", "").strip().lower()
    if not raw:
        return "table" if env.get("FUNCTIONS_WORKER_RUNTIME", "").strip() else "sqlite"
    if raw not in ("sqlite", "table"):
        raise SettingsError(
            "BREAKERPANEL_STORE", f"{raw!r} is not a store",
            "use 'table' (Azure Table storage / Azurite) or 'sqlite' (a local file under BREAKERPANEL_STATE_DIR)",
        )
    return raw


def state_dir(env: Mapping[str, str]) -> Path:
    raw = env.get("BREAKERPANEL_STATE_DIR", "").strip() or DEFAULT_STATE_DIR
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        raise SettingsError("BREAKERPANEL_STATE_DIR", f"{str(path)!r} is a file", "name a directory (it is created)")
    return path.resolve()


def table_name(env: Mapping[str, str]) -> str:
    name = env.get("BREAKERPANEL_STORE_TABLE", "").strip() or DEFAULT_TABLE
    if not _TABLE_NAME.fullmatch(name) or name.lower() == "tables":
        raise SettingsError(
            "BREAKERPANEL_STORE_TABLE", f"{name!r} is not a valid table name",
            "use 3-63 letters and digits starting with a letter, e.g. breakerpanel",
        )
    return name


def _retry_total(env: Mapping[str, str]) -> int:
    raw = env.get("BREAKERPANEL_STORE_RETRY_TOTAL", "").strip()
    if not raw:
        # A couple of quick retries ride out a throttled or restarting partition; more would hold up a run
        # that the next timer tick will redo anyway.
        return 2
    if not raw.isdigit() or not 0 <= int(raw) <= 10:
        raise SettingsError("BREAKERPANEL_STORE_RETRY_TOTAL", f"{raw!r} is not 0..10", "use a whole number 0..10")
    return int(raw)


def _https_uri(variable: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise SettingsError(
            variable, f"{value!r} is not an https URL",
            "use the account's table endpoint, e.g. https://<account>.table.core.windows.net "
            "(Entra ID tokens are only sent over https; for Azurite use a connection string in AzureWebJobsStorage)",
        )
    if parts.query or parts.fragment:
        raise SettingsError(variable, f"{value!r} carries a query or fragment", "give the bare endpoint, no SAS token")
    return value.rstrip("/")


def _token_uri(env: Mapping[str, str], variable: str, value: str) -> str:
    """An https table endpoint the app's token may be sent to: the configured cloud's, nobody else's."""
    uri = _https_uri(variable, value)
    suffix = TABLE_SUFFIXES[cloud_of(env).name]
    problem = token_destination_problem(uri, (suffix,))
    if problem is not None:
        raise SettingsError(
            variable, f"{value!r} would receive the app's Entra token, but {problem}",
            f"use the account's table endpoint, https://<account>{suffix} (BREAKERPANEL_CLOUD decides the cloud), "
            "or a connection string in AzureWebJobsStorage for Azurite",
        )
    return uri


def table_endpoint(env: Mapping[str, str]) -> tuple[str, str]:
    """("uri", https endpoint) for identity-based access, or ("connection_string", text)."""
    if uri := env.get("BREAKERPANEL_STORE_TABLE_URI", "").strip():
        return "uri", _token_uri(env, "BREAKERPANEL_STORE_TABLE_URI", uri)
    if connection := env.get("AzureWebJobsStorage", "").strip():
        # The SDK recognises only the exact text "UseDevelopmentStorage=true"; local.settings files often
        # carry a trailing semicolon.
        if connection.rstrip(";").lower() == "usedevelopmentstorage=true":
            connection = "UseDevelopmentStorage=true"
        elif "tableendpoint=" not in connection.lower() and "accountname=" not in connection.lower():
            raise SettingsError(
                "AzureWebJobsStorage", "is set but is not a storage connection string",
                "use UseDevelopmentStorage=true for Azurite, an account's connection string, or remove it and "
                "set AzureWebJobsStorage__accountName for identity-based access",
            )
        return "connection_string", connection
    if uri := env.get("AzureWebJobsStorage__tableServiceUri", "").strip():
        return "uri", _token_uri(env, "AzureWebJobsStorage__tableServiceUri", uri)
    if account := env.get("AzureWebJobsStorage__accountName", "").strip():
        if not _ACCOUNT_NAME.fullmatch(account):
            raise SettingsError(
                "AzureWebJobsStorage__accountName", f"{account!r} is not a storage account name",
                "use the account's name: 3-24 lower-case letters and digits",
            )
        return "uri", f"https://{account}{TABLE_SUFFIXES[cloud_of(env).name]}"
    raise SettingsError(
        "BREAKERPANEL_STORE", "is 'table' but no storage account is configured",
        "set AzureWebJobsStorage__accountName (identity-based, as in Azure), BREAKERPANEL_STORE_TABLE_URI, "
        "or AzureWebJobsStorage=UseDevelopmentStorage=true (Azurite); or use BREAKERPANEL_STORE=sqlite",
    )


def table_client(env: Mapping[str, str]) -> TableClient:
    # Imported here, not at the top: the CLI on the SQLite store should not pay for loading the Azure SDKs.
    from azure.data.tables import TableClient

    form, target = table_endpoint(env)
    options: dict[str, Any] = {
        "retry_total": _retry_total(env),
        # The SDK's defaults wait 20 s to connect and minutes to read: a watchdog run should learn sooner
        # that its state is out of reach and report the run as unknown.
        "connection_timeout": 10,
        "read_timeout": 30,
    }
    name = table_name(env)
    if form == "connection_string":
        return TableClient.from_connection_string(target, name, **options)
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    client_id = env.get("AzureWebJobsStorage__clientId", "").strip() or env.get("AZURE_CLIENT_ID", "").strip()
    credential: Any
    if any(env.get(variable, "").strip() for variable in MANAGED_IDENTITY_VARIABLES):
        # In Azure the managed identity alone, as for ARM: a stray login on the host never becomes the app.
        credential = ManagedIdentityCredential(client_id=client_id or None)
    else:
        credential = DefaultAzureCredential(managed_identity_client_id=client_id or None,
                                            exclude_interactive_browser_credential=True)
    return TableClient(target, name, credential=credential, **options)


def open_store(env: Mapping[str, str] | None = None) -> Store:
    """The store the settings name; `env` defaults to the process environment. Does no network I/O."""
    env = os.environ if env is None else env
    if store_kind(env) == "sqlite":
        return SqliteStore(state_dir(env) / DATABASE_FILE)
    from breakerpanel.store.table_store import TableStore

    return TableStore(table_client(env))
