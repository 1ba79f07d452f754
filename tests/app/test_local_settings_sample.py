"""local.settings.sample.json names every setting the app reads, and the README explains each."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP_SOURCES = [
    "breakerpanel/settings.py", "breakerpanel/targets.py", "breakerpanel/azure/clients.py", "host.json",
    "breakerpanel/watchdog/settings.py", "breakerpanel/store/factory.py", "orchestrators/watchdog.py",
    "breakerpanel/alerts/settings.py",
]


def _read_by_app() -> set[str]:
    names: set[str] = set()
    for source in APP_SOURCES:
        text = (ROOT / source).read_text()
        names |= set(re.findall(r'"(BREAKERPANEL_[A-Z_]+)"', text))
        names |= set(re.findall(r"%(BREAKERPANEL_[A-Z_]+)%", text))
    return names


def test_sample_lists_every_setting_the_app_reads() -> None:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    missing = _read_by_app() - set(sample)
    assert not missing, f"add {sorted(missing)} to local.settings.sample.json"


def test_readme_explains_every_sample_setting() -> None:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    readme = (ROOT / "README.md").read_text()
    unexplained = [name for name in sample if name not in readme]
    assert not unexplained, f"explain {unexplained} in README.md"


def test_sample_targets_parse() -> None:
    from breakerpanel.targets import parse_targets

    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    targets = parse_targets(sample["BREAKERPANEL_TARGETS"])
    assert [t.target.apim_name for t in targets] == ["apim-gateway"]
