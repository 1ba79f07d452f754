"""The report in a real browser: headless Chromium (Debian's `chromium`) renders the page — whose
Content-Security-Policy (default-src 'none') lets no script run and nothing load — and the DOM it built holds
every backend's section and figure, and the screenshot is not blank."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.report.conftest import write_report

pytestmark = pytest.mark.twin
CHROMIUM = next((found for name in ("chromium", "chromium-browser", "google-chrome")
                 if (found := shutil.which(name))), None)


def _chromium(page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run installs it where apt-get works)")
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,2400",
         *args, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True)


def test_chromium_renders_every_backend_and_figure(twin_server: Any, tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run installs it where apt-get works)")
    written = write_report(twin_server, "region-down", tmp_path)
    dom = _chromium(written.page, "--dump-dom").stdout
    for member in ("aoai-eastus", "aoai-westus", "aoai-swedencentral"):
        section = dom.split(f'id="backend-{member}"', 1)[1].split("</section>", 1)[0]
        assert "<svg" in section and "<path" in section, member
    assert "BreakerStuckOpen" in dom and "Deployments and rollouts" in dom

    from PIL import Image

    shot = tmp_path / "report.png"
    _chromium(written.page, f"--screenshot={shot}")
    with Image.open(shot) as image:
        pixels = image.convert("RGB")
        assert pixels.size == (1200, 2400)
        colours = pixels.getcolors(maxcolors=1 << 20) or []
    # A blank (or an error) page is one or two colours; the figures' greens, reds and text make hundreds.
    assert len(colours) > 200
    green = sum(n for n, (r, g, b) in colours if g > 140 and r < 90 and b < 110)
    assert green > 5000, "the served-traffic areas of the figures are not on the screenshot"
