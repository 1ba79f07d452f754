"""Errors that say what to fix: the endpoint setting behind a failed connection, the APIM instance that is not
there and where it was looked for, and never a pointer to a raw error that is not shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from breakerpanel.cli import main
from breakerpanel.core.endpoints import unreachable_fix
from breakerpanel.core.summary import render_target

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-0000000000df"
TARGET = {"subscriptionId": SUB, "resourceGroup": "rg-missing", "apimName": "apim-missing"}


def test_a_name_that_does_not_resolve_names_the_setting_pointing_there() -> None:
    message = ("HTTPSConnection(host='mgmt.contoso.invalid', port=443): Failed to resolve 'mgmt.contoso.invalid' "
               "([Errno -2] Name or service not known)")
    endpoints = {"BREAKERPANEL_ARM_ENDPOINT": "https://mgmt.contoso.invalid",
                 "BREAKERPANEL_LOGS_ENDPOINT": "https://api.loganalytics.io"}

    fix = unreachable_fix(message, endpoints)

    assert "does not resolve (DNS)" in fix
    assert "BREAKERPANEL_ARM_ENDPOINT (https://mgmt.contoso.invalid)" in fix
    assert "BREAKERPANEL_LOGS_ENDPOINT" not in fix


def test_a_connection_to_no_known_endpoint_lists_them_all() -> None:
    fix = unreachable_fix("Connection aborted.", {"BREAKERPANEL_ARM_ENDPOINT": "https://127.0.0.1:1"})

    assert "BREAKERPANEL_ARM_ENDPOINT=https://127.0.0.1:1" in fix


def test_an_unrecognised_error_without_its_raw_form_does_not_point_at_one() -> None:
    diagnosis = {"code": "Odd", "message": "something new", "cause": "unrecognized", "fix": "see raw error",
                 "trackingId": "t-1"}
    text = "\n".join(render_target({"outcome": "failed", "stage": "deploy", "diagnoses": [diagnosis]}))

    assert "see raw error" not in text
    assert "the error above is all Azure returned" in text and "tracking id: t-1" in text


@pytest.fixture
def missing_target(twin: Any, twin_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A request for an allowlisted APIM instance that the twin does not have."""
    for name, value in {**twin_server.environment(), "BREAKERPANEL_TARGETS": json.dumps([TARGET])}.items():
        monkeypatch.setenv(name, value)
    body = json.loads((ROOT / "examples" / "rollout-request.json").read_text())
    body["targets"] = [{**TARGET, "wave": 1}]
    path = tmp_path / "request.json"
    path.write_text(json.dumps(body))
    return path


def test_deploying_to_a_missing_apim_instance_says_which_and_where(
    missing_target: Path, twin: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deploy", "--request", str(missing_target)]) == 1

    out = capsys.readouterr().out
    assert "apim-missing (resource group rg-missing, subscription 00000000" in out
    assert "'apim-missing' does not exist in resource group 'rg-missing'" in out
    assert "create the instance first" in out
    assert "expected , found" not in out
    assert twin.captured("arm.deployments.put") == []


def test_planning_for_a_missing_apim_instance_is_bad_input_naming_the_arm_endpoint(
    missing_target: Path, twin_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--request", str(missing_target)]) == 2

    out = capsys.readouterr().out
    assert f"ARM: {twin_server.url} (BREAKERPANEL_ARM_ENDPOINT)" in out
    assert "subscription 00000000-0000-0000-0000-0000000000df" in out
    assert "'apim-missing' does not exist in resource group 'rg-missing'" in out
    assert "nothing is planned" in out and "no approval needed" not in out
