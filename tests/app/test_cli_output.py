"""What the CLI prints: request files as Windows editors save them, `--json` without JSON-in-a-string or
secrets, progress lines from the rollout, and errors that name the setting or file to fix."""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

import pytest

from breakerpanel.cli import main
from breakerpanel.core.public_json import public_json
from breakerpanel.core.request_text import RequestTextError, request_text

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-0000000000de"
TARGET = {"subscriptionId": SUB, "resourceGroup": "rg-out", "apimName": "apim-out"}


@pytest.fixture
def env(twin: Any, twin_server: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    twin.apim.create_service(SUB, "rg-out", "apim-out")
    values = {**twin_server.environment(), "BREAKERPANEL_TARGETS": json.dumps([TARGET])}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def _body(**changes: Any) -> dict[str, Any]:
    body = json.loads((ROOT / "examples" / "rollout-request.json").read_text())
    body["targets"] = [{**TARGET, "wave": 1}]
    return {**body, **changes}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16-le-bom", "utf-16-be-bom"])
def test_request_files_saved_by_windows_editors_are_read(
    encoding: str, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = json.dumps(_body(), indent=2, ensure_ascii=False)
    data = {"utf-8": text.encode(), "utf-8-sig": codecs.BOM_UTF8 + text.encode(),
            "utf-16-le-bom": codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
            "utf-16-be-bom": codecs.BOM_UTF16_BE + text.encode("utf-16-be")}[encoding]
    path = tmp_path / "request.json"
    path.write_bytes(data)

    code = main(["plan", "--request", str(path)])

    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize(("data", "says"), [
    ('{"poolName": "caf\u00e9"}'.encode("cp1252"), "is not UTF-8: byte 0xe9"),
    ('{"a": 1}'.encode("utf-16-le"), "UTF-16 without a byte order mark"),
    (codecs.BOM_UTF32_LE + '{"a": 1}'.encode("utf-32-le"), "UTF-32"),
])
def test_other_bytes_are_refused_naming_the_file_and_the_encoding_expected(
    data: bytes, says: str, env: dict[str, str], twin: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "saved-by-an-old-editor.json"
    path.write_bytes(data)

    code = main(["deploy", "--request", str(path)])

    err = capsys.readouterr().err
    assert code == 2
    assert str(path) in err and says in err and "save it as UTF-8 (with or without a BOM), or UTF-16" in err
    assert twin.captured() == []


def test_request_text_keeps_the_file_name_in_its_error() -> None:
    with pytest.raises(RequestTextError, match=r"req\.json: is not UTF-8"):
        request_text(b"{\"a\": \"\xe9\"}", "req.json")


def test_a_missing_request_file_is_named_absolutely(env: dict[str, str], capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    assert main(["plan", "--request", "nope.json"]) == 2
    assert str(tmp_path / "nope.json") in capsys.readouterr().err


def test_deploy_json_has_no_json_in_a_string_and_no_query_strings(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = _body()
    body["backends"][0]["url"] += "?api-version=2024-10-21"
    path = tmp_path / "request.json"
    path.write_text(json.dumps(body))

    code = main(["deploy", "--request", str(path), "--json"])

    out = capsys.readouterr().out
    assert code == 0, out
    status = json.loads(out)
    assert isinstance(status["input"], dict) and status["input"]["request"]["poolName"] == "aoai-pool"
    assert isinstance(status["output"], dict) and status["output"]["status"] == "succeeded"
    assert "api-version=2024-10-21" not in out

    def strings(value: Any) -> list[str]:
        if isinstance(value, dict):
            return [s for item in value.values() for s in strings(item)]
        if isinstance(value, list):
            return [s for item in value for s in strings(item)]
        return [value] if isinstance(value, str) else []

    for text in strings(status):
        if text.lstrip().startswith(("{", "[")):
            with pytest.raises(ValueError):
                json.loads(text)


def test_public_json_masks_keys_in_urls_and_credential_fields() -> None:
    status = {"input": json.dumps({"url": "https://a.openai.azure.com/openai?api-key=SECRET1",
                                   "note": "sent with api-key=SECRET2", "credentials": {"apiKey": "SECRET3"}}),
              "output": None, "code": "Conflict"}

    shown = json.dumps(public_json(status))

    assert "SECRET" not in shown
    assert public_json(status)["code"] == "Conflict"  # an error code is not a credential


def test_deploy_prints_phases_timer_waits_and_approval_waits(
    env: dict[str, str], twin: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from twin.faults import parse_rule

    twin.faults.add(parse_rule({"route": "arm.deployments.get", "kind": "throttle", "retryAfter": 7, "count": 1}))
    path = tmp_path / "request.json"
    path.write_text(json.dumps(_body(approval="required")))

    code = main(["deploy", "--request", str(path), "--approve"])

    out = capsys.readouterr().out
    assert code == 0, out
    for phase in ("preflight wave 1", "awaitingApproval wave 1", "deploying wave 1", "apim-out: verified"):
        assert phase in out
    assert "waiting for approval of wave 1: " in out and "approval is 'required'" in out
    # ARM's 429 on the submit activity's first read, then the poller's own interval: each wait says why.
    assert "apim-out deploy: waiting 7 s: ARM asked (Retry-After) on deployment submit" in out
    assert "apim-out poll: polling every 5 s (deployment GET)" in out


def test_default_credential_against_the_twin_says_to_use_static(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BREAKERPANEL_CREDENTIAL")
    path = tmp_path / "request.json"
    path.write_text(json.dumps(_body()))

    assert main(["plan", "--request", str(path)]) == 2
    assert "BREAKERPANEL_CREDENTIAL=static" in capsys.readouterr().err
