"""The deployed app's stack, locally: twin ← activities ← LocalDurableHost ← LocalTaskHub ← the app's HTTP
functions on a loopback server (app_server.py) — and the CLI run against it as a user would.

Two ways in, as in Azure and as locally: function key alone (BREAKERPANEL_AUTH=functionKey), and Easy Auth
(https, a bearer token from azure-identity's real AzureCliCredential — which runs `az`, here a stand-in
script on PATH that answers `az account get-access-token` as the Azure CLI does — plus the function key).
"""

from __future__ import annotations

import json
import os
import ssl
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme

import function_app
from breakerpanel import cli
from breakerpanel.localrun import LocalDurableHost
from breakerpanel.localrun.taskhub import LocalTaskHub
from tests import rollout_inputs as inputs
from tests.app_client.app_server import AppServer, principal

SUB = "00000000-0000-0000-0000-0000000000cc"
GROUP = "rg-cli"
APIMS = ("apim-cli-one", "apim-cli-two")
KEY = "local-function-key-0123456789"
CLIENT_ID = "5b2c7f0e-1111-4c3d-9e8f-0a1b2c3d4e5f"
USERS = {  # token → who Entra says it is, with the app roles it carries
    "token-ada": principal("ada@contoso.com", "11111111-1111-1111-1111-111111111111", "Rollout.Deploy"),
    "token-grace": principal("grace@contoso.com", "22222222-2222-2222-2222-222222222222", "Rollout.Approve"),
    "token-ivy": principal("ivy@contoso.com", "55555555-5555-5555-5555-555555555555", "Rollout.Approve"),
    "token-nobody": principal("nobody@contoso.com", "66666666-6666-6666-6666-666666666666"),
    "token-eve": principal("eve@contoso.com", "33333333-3333-3333-3333-333333333333", "Rollout.Deploy"),
}
# two members, one per priority: enough for a pool, fewer to deploy
BACKENDS = [inputs.BACKENDS[0], inputs.BACKENDS[2]]

# What `az account get-access-token --output json --resource R` prints (Azure CLI 2.x), for whoever
# FAKE_AZ_USER names; without one it fails as a signed-out Azure CLI does.
FAKE_AZ = '''#!{python}
import json, os, sys, time
with open(os.environ["FAKE_AZ_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
token = os.environ.get("FAKE_AZ_USER", "")
if not token:
    print("ERROR: Please run 'az login' to setup account.", file=sys.stderr)
    sys.exit(1)
expires = int(time.time()) + 3600
print(json.dumps({{"accessToken": token, "expiresOn": time.strftime("%Y-%m-%d %H:%M:%S.000000",
                  time.localtime(expires)), "expires_on": expires, "subscription": "{sub}",
                  "tenant": "72f988bf-0000-0000-0000-000000000000", "tokenType": "Bearer"}}))
'''


def rollout_request(*apims: str, approval: str = "none") -> dict[str, Any]:
    return inputs.rollout_request([inputs.target(SUB, GROUP, apim) for apim in apims or APIMS[:1]],
                                  approval=approval, backends=BACKENDS)


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Stack:
    server: AppServer
    tmp: Path
    capsys: pytest.CaptureFixture[str]
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def request_file(self, body: Any, name: str = "request.json") -> str:
        path = self.tmp / name
        path.write_text(json.dumps(body))
        return str(path)

    def cli(self, *argv: str) -> Run:
        """The command line as a user runs it (`breakerpanel ...`), with this stack's connection flags."""
        self.capsys.readouterr()
        command, *rest = argv
        code = cli.main([command, *rest, *self.args])
        captured = self.capsys.readouterr()
        return Run(code, captured.out, captured.err)

    def start(self, body: Any) -> str:
        started = self.cli("deploy", "--app", self.url, "--request", self.request_file(body), "--json")
        assert started.code == 0, started
        return str(started.json["instanceId"])


def _app_env(monkeypatch: pytest.MonkeyPatch, twin: Any, twin_env: dict[str, str], tmp_path: Path) -> None:
    for name in ("BREAKERPANEL_DEPLOYER_ROLE", "BREAKERPANEL_APPROVER_ROLE", "BREAKERPANEL_APPROVAL_TIMEOUT",
                 "BREAKERPANEL_AUTH", "BREAKERPANEL_ALLOW_SELF_APPROVAL", "BREAKERPANEL_BACKEND_HOSTS",
                 "BREAKERPANEL_APP_URL", "BREAKERPANEL_APP_SCOPE", "BREAKERPANEL_APP_KEY",
                 "BREAKERPANEL_APP_CREDENTIAL", "WEBSITE_AUTH_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in twin_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BREAKERPANEL_STORE", "sqlite")
    monkeypatch.setenv("BREAKERPANEL_STATE_DIR", str(tmp_path / "state"))
    allowed = [{"subscriptionId": SUB, "resourceGroup": GROUP, "apimName": apim} for apim in APIMS]
    monkeypatch.setenv("BREAKERPANEL_TARGETS", json.dumps(allowed))
    for apim in APIMS:
        twin.apim.create_service(SUB, GROUP, apim)


@pytest.fixture
def key_stack(twin: Any, twin_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
              capsys: pytest.CaptureFixture[str]) -> Iterator[Stack]:
    """A local host in function-key mode over plain http on loopback; one operator, so self-approval is on."""
    _app_env(monkeypatch, twin, twin_env, tmp_path)
    monkeypatch.setenv("BREAKERPANEL_AUTH", "functionKey")
    monkeypatch.setenv("BREAKERPANEL_ALLOW_SELF_APPROVAL", "true")
    monkeypatch.setenv("BREAKERPANEL_APP_KEY", KEY)
    host = LocalDurableHost(function_app.app, start_time=datetime.now(UTC).replace(microsecond=0))
    with LocalTaskHub(host) as hub:
        server = AppServer(function_app.app, hub, key=KEY, tokens=None).start()
        try:
            yield Stack(server, tmp_path, capsys)
        finally:
            server.stop()


@pytest.fixture
def entra_stack(twin: Any, twin_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                capsys: pytest.CaptureFixture[str]) -> Iterator[Stack]:
    """The app as infra/app deploys it: https, App Service Authentication on, four eyes, key and token."""
    _app_env(monkeypatch, twin, twin_env, tmp_path)
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")  # App Service injects it when authentication is on
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(FAKE_AZ.format(python=sys.executable, sub=SUB))
    az.chmod(az.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_AZ_LOG", str(tmp_path / "az.log"))
    monkeypatch.setenv("BREAKERPANEL_APP_KEY", KEY)
    monkeypatch.setenv("BREAKERPANEL_APP_SCOPE", f"api://{CLIENT_ID}/.default")
    monkeypatch.setenv("BREAKERPANEL_APP_CREDENTIAL", "cli")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca_file = tmp_path / "app-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    host = LocalDurableHost(function_app.app, start_time=datetime.now(UTC).replace(microsecond=0))
    with LocalTaskHub(host) as hub:
        server = AppServer(function_app.app, hub, key=KEY, tokens=USERS, tls=context).start()
        monkeypatch.setenv("BREAKERPANEL_APP_URL", server.url)
        try:
            yield Stack(server, tmp_path, capsys, ["--ca", str(ca_file)])
        finally:
            server.stop()


def as_user(monkeypatch: pytest.MonkeyPatch, token: str | None) -> None:
    """Who `az` is signed in as (None: signed out)."""
    if token is None:
        monkeypatch.delenv("FAKE_AZ_USER", raising=False)
    else:
        monkeypatch.setenv("FAKE_AZ_USER", token)
