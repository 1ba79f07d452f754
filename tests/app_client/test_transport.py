"""What the client does when the app, the network or the settings are not what they should be: one line with
the fix and the exit code, no traceback, no secret."""

from __future__ import annotations

import socket
import threading
import urllib.error
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from breakerpanel import cli
from breakerpanel.app_cli import follow
from breakerpanel.app_client import AppClient, AppError, app_config, is_loopback, retry_after_seconds
from tests.app_client.conftest import KEY, Stack, as_user, rollout_request


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost", "LOCALHOST."])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["127.0.0.1.nip.io", "10.0.0.1", "app.azurewebsites.net", "localhost.evil.com"])
def test_hosts_that_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize("url", ["http://breakerpanel.azurewebsites.net", "http://10.0.0.4:7071",
                                 "http://127.0.0.1.nip.io"])
def test_no_key_or_token_goes_over_plain_http_to_a_host_that_is_not_loopback(url: str) -> None:
    with pytest.raises(AppError) as refused:
        app_config({}, url=url, key=KEY)
    assert refused.value.exit_code == 2
    assert "plain http" in refused.value.message and KEY not in str(refused.value)


def test_plain_http_is_fine_on_loopback_and_https_anywhere() -> None:
    assert app_config({}, url="http://127.0.0.1:7071/", key=KEY).url == "http://127.0.0.1:7071"
    config = app_config({"BREAKERPANEL_APP_SCOPE": "5b2c7f0e-1111-4c3d-9e8f-0a1b2c3d4e5f"},
                        url="https://app.azurewebsites.net")
    assert config.scope == "api://5b2c7f0e-1111-4c3d-9e8f-0a1b2c3d4e5f/.default"
    assert KEY not in repr(app_config({}, url="https://app.azurewebsites.net", key=KEY))


@pytest.mark.parametrize(("env", "flags", "named"), [
    ({}, {"key": KEY}, "BREAKERPANEL_APP_URL"),
    ({}, {"url": "https://app.azurewebsites.net"}, "BREAKERPANEL_APP_SCOPE"),
    ({}, {"url": "ftp://app", "key": KEY}, "--app"),
    ({}, {"url": "https://app.azurewebsites.net/?code=abc", "key": KEY}, "--app"),
    ({"BREAKERPANEL_APP_CREDENTIAL": "browser"}, {"url": "https://a.b", "key": KEY}, "BREAKERPANEL_APP_CREDENTIAL"),
    ({"REQUESTS_CA_BUNDLE": "/nonexistent/ca.pem"}, {"url": "https://a.b", "key": KEY}, "REQUESTS_CA_BUNDLE"),
])
def test_bad_settings_name_the_setting_and_the_fix(env: dict[str, str], flags: dict[str, str], named: str) -> None:
    with pytest.raises(AppError) as refused:
        app_config(env, **flags)
    assert named in refused.value.message and refused.value.fix and refused.value.exit_code == 2


def test_retry_after_in_seconds_and_as_a_date() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Thu, 03 Dec 2026 18:00:30 GMT", now=1796320800.0) == 30.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_nothing_listening_is_exit_3_with_the_setting_to_check(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("BREAKERPANEL_APP_KEY", KEY)

    code = cli.main(["status", "rollout-x", "--app", f"http://127.0.0.1:{port}"])

    err = capsys.readouterr().err
    assert code == 3
    assert "connection refused" in err and "BREAKERPANEL_APP_URL" in err and "Traceback" not in err


def test_an_html_page_instead_of_the_api_is_exit_3(key_stack: Stack) -> None:
    key_stack.server.faults.append((200, b"<html>Your app is up</html>", {"Content-Type": "text/html"}))

    run = key_stack.cli("list", "--app", key_stack.url)

    assert run.code == 3
    assert "not JSON" in run.err and "text/html" in run.err and "BREAKERPANEL_APP_URL" in run.err


def test_a_misconfigured_app_is_exit_3_naming_its_setting(key_stack: Stack) -> None:
    body = b'{"error": {"code": "Misconfigured", "message": "BREAKERPANEL_TARGETS: not JSON", ' \
           b'"setting": "BREAKERPANEL_TARGETS"}}'
    key_stack.server.faults.append((500, body, {"Content-Type": "application/json"}))

    run = key_stack.cli("list", "--app", key_stack.url, "--json")

    assert run.code == 3
    assert run.json["error"]["httpStatus"] == 500
    assert "BREAKERPANEL_TARGETS" in run.err


def test_an_untrusted_certificate_is_exit_3_with_the_ca_fix(entra_stack: Stack, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FAKE_AZ_USER", "token-ada")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)

    code = cli.main(["list"])

    err = capsys.readouterr().err
    assert code == 3 and "not trusted" in err and "--ca" in err


def test_follow_waits_as_long_as_retry_after_says_then_reads_the_result(key_stack: Stack) -> None:
    instance_id = key_stack.start(rollout_request())
    key_stack.server.faults += [(429, b"", {"Retry-After": "7"}), (503, b"", {"Retry-After": "2"})]
    slept: list[float] = []
    client = AppClient(app_config(url=key_stack.url))

    status, code = follow(client, instance_id, interval=5.0, limit=None, quiet=True, sleep=slept.append)

    assert slept == [7.0, 2.0]
    assert (code, status["status"]) == (0, "succeeded")


def test_follow_gives_up_after_repeated_failures(key_stack: Stack) -> None:
    instance_id = key_stack.start(rollout_request())
    key_stack.server.faults += [(503, b"", {})] * 5
    slept: list[float] = []
    client = AppClient(app_config(url=key_stack.url))

    with pytest.raises(AppError) as gave_up:
        follow(client, instance_id, interval=1.0, limit=None, quiet=True, sleep=slept.append)

    assert gave_up.value.exit_code == 3 and gave_up.value.status == 503
    assert slept == [1.0, 2.0, 3.0, 4.0]  # backs off while it waits


def test_wait_timeout_leaves_the_rollout_running_and_says_how_to_follow(key_stack: Stack) -> None:
    instance_id = key_stack.start(rollout_request(approval="required"))

    run = key_stack.cli("status", instance_id, "--app", key_stack.url, "--wait", "--interval", "0",
                        "--wait-timeout", "0")

    assert run.code == 3, run
    assert "waits for approval" in run.out and f"breakerpanel status {instance_id} --wait" in run.out


def test_secrets_never_reach_the_output(key_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    outputs: list[str] = []
    instance_id = key_stack.start(rollout_request(approval="required"))
    for argv in (["status", instance_id], ["list"], ["approve", instance_id], ["status", instance_id, "--json"]):
        run = key_stack.cli(*argv, "--app", key_stack.url)
        outputs.append(run.out + run.err)
    assert all(KEY not in text for text in outputs)


def test_a_name_that_does_not_resolve_names_the_setting() -> None:
    def opener(request: object, timeout: float) -> object:
        # What urllib raises when getaddrinfo fails; this test needs no DNS server.
        raise urllib.error.URLError(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))

    client = AppClient(app_config(url="https://breakerpanel-typo.azurewebsites.net", key=KEY), opener=opener)

    with pytest.raises(AppError) as unresolved:
        client.status("rollout-x")
    assert unresolved.value.exit_code == 3
    assert "cannot resolve breakerpanel-typo.azurewebsites.net" in unresolved.value.message
    assert "BREAKERPANEL_APP_URL" in unresolved.value.message


class _Capture(BaseHTTPRequestHandler):
    """Where a redirect points: records the headers of whatever reaches it."""

    seen: ClassVar[list[dict[str, str]]] = []

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        body = b'{"rollouts": [], "days": 7}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed_with_the_key_or_token(entra_stack: Stack, monkeypatch: pytest.MonkeyPatch,
                                                            status: int) -> None:
    # urllib's default redirect handler copies every header but Content-Length/-Type onto the new request,
    # Authorization and x-functions-key included, to whatever host (and over plain http) Location names.
    as_user(monkeypatch, "token-ada")
    _Capture.seen = []
    elsewhere = HTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=elsewhere.serve_forever, daemon=True)
    thread.start()
    try:
        location = f"http://127.0.0.1:{elsewhere.server_address[1]}/api/rollouts"
        entra_stack.server.faults.append((status, b"", {"Location": location}))

        run = entra_stack.cli("list", "--json")
    finally:
        elsewhere.shutdown()
        elsewhere.server_close()
        thread.join()

    assert _Capture.seen == []  # nothing at all reached the other host
    assert run.code == 3
    assert f"{status}" in run.err and "redirect" in run.err.lower() and location in run.err
    assert KEY not in run.err + run.out and "token-ada" not in run.err + run.out
