"""The function app's Bicep sets the app settings local.settings.sample.json documents, and no others."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Only for driving the local twin: never set in Azure (load_settings refuses a static token there).
TWIN_ONLY = {"BREAKERPANEL_STATIC_TOKEN", "BREAKERPANEL_LRO_POLLING_INTERVAL"}
# Only for the CLI on a laptop: the SQLite store's directory, and a table endpoint named by hand (in Azure the
# store finds the app's own account from AzureWebJobsStorage__accountName).
CLI_ONLY = {"BREAKERPANEL_STATE_DIR", "BREAKERPANEL_STORE_TABLE_URI"}


def _bicep_settings() -> set[str]:
    text = (ROOT / "infra/app/main.bicep").read_text() + (ROOT / "infra/app/modules/functionapp.bicep").read_text()
    return set(re.findall(r"^\s*(BREAKERPANEL_[A-Z_]+)\s*:", text, flags=re.MULTILINE))


def test_bicep_sets_every_breakerpanel_setting_of_the_sample() -> None:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    wanted = {name for name in sample if name.startswith("BREAKERPANEL_")} - TWIN_ONLY - CLI_ONLY
    assert _bicep_settings() == wanted


def test_bicep_targets_type_matches_what_the_app_parses() -> None:
    from breakerpanel.targets import _FIELDS

    text = (ROOT / "infra/app/main.bicep").read_text()
    block = text[text.index("type targetType = {"):]
    block = block[: block.index("\n}") + 2]
    fields = set(re.findall(r"^\s*(\w+)\??\s*:\s*\w+\??\s*$", block, flags=re.MULTILINE))
    assert fields == _FIELDS
