"""The installed `breakerpanel` command (pyproject.toml's console script, `pip install -e .` in `make`):
it works from any directory, and the README's newcomer path — `breakerpanel twin` in one shell, the printed
exports and `deploy --request examples/rollout-request.json` in another — runs verbatim."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "breakerpanel"
SUB = "00000000-0000-0000-0000-0000000000e1"
TARGET = {"subscriptionId": SUB, "resourceGroup": "rg-script", "apimName": "apim-script"}


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    """No PYTHONPATH and no breakerpanel settings from this process: only what the installed package brings."""
    keep = {k: v for k, v in os.environ.items()
            if k != "PYTHONPATH" and not k.startswith(("BREAKERPANEL_", "REQUESTS_CA_BUNDLE"))}
    return {**keep, **extra}


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if not SCRIPT.exists():
        pytest.fail(f"{SCRIPT} is missing: install the package with `{sys.executable} -m pip install -e .` "
                    "(make does)", pytrace=False)
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, env=_clean_env(env), capture_output=True, text=True,
                          timeout=300)


def test_help_works_from_any_directory(tmp_path: Path) -> None:
    result = _run(["--help"], tmp_path, {})

    assert result.returncode == 0, result.stderr
    assert "usage: breakerpanel" in result.stdout
    for command in ("twin", "plan", "deploy", "watch", "demo"):
        assert command in result.stdout


def test_plan_from_another_directory_against_the_twin(tmp_path: Path, twin: Any, twin_server: Any) -> None:
    twin.apim.create_service(SUB, "rg-script", "apim-script")
    body = json.loads((ROOT / "examples" / "rollout-request.json").read_text())
    body["targets"] = [{**TARGET, "wave": 1}]
    (tmp_path / "request.json").write_text(json.dumps(body))
    env = {**twin_server.environment(), "BREAKERPANEL_TARGETS": json.dumps([TARGET])}

    result = _run(["plan", "--request", "request.json"], tmp_path, env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"plan for {tmp_path / 'request.json'} (nothing is deployed)" in result.stdout  # absolute
    assert twin.captured("arm.deployments.put") == []


@pytest.fixture
def twin_process(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`breakerpanel twin` started as the README says, from a directory of its own; yields what it exported."""
    if not SCRIPT.exists():
        pytest.fail(f"{SCRIPT} is missing: run `{sys.executable} -m pip install -e .`", pytrace=False)
    process = subprocess.Popen([str(SCRIPT), "twin", "--state-dir", "state"], cwd=tmp_path, env=_clean_env({}),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    exports: dict[str, str] = {}
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.strip().startswith("export "):
                name, _, value = shlex.split(line.strip())[1].partition("=")
                exports[name] = value
            if line.startswith("control API"):
                break
        assert exports, "".join(lines)
        yield exports
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_the_readme_newcomer_path_deploys_the_example_verbatim(twin_process: dict[str, str], tmp_path: Path) -> None:
    assert Path(twin_process["REQUESTS_CA_BUNDLE"]) == tmp_path / "state" / "ca.pem"  # printed absolute
    example = json.loads((ROOT / "examples" / "rollout-request.json").read_text())["targets"][0]
    assert json.loads(twin_process["BREAKERPANEL_TARGETS"]) == [
        {k: example[k] for k in ("subscriptionId", "resourceGroup", "apimName")}]

    # The rollout's lock store goes to the temporary directory, not the checkout's .breakerpanel/.
    env = {**twin_process, "BREAKERPANEL_STATE_DIR": str(tmp_path / "store")}
    result = _run(["deploy", "--request", "examples/rollout-request.json"], ROOT, env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{example['apimName']}: verified (Succeeded)" in result.stdout
    assert "SUCCEEDED" in result.stdout


def _readme_block(after: str) -> list[str]:
    """The lines of the first plain ``` block after the text `after` in the README."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"\n```\n(.*?)\n```", readme[readme.index(after):], re.S)
    assert block is not None, after
    return [line.rstrip() for line in block.group(1).splitlines() if line.strip()]


def _normal(line: str) -> str:
    """A line without its run-specific parts: the timings, the twin's port."""
    line = re.sub(r"^\[ *[\d.]+s \| \+[\d:]+\]", "[t]", line)
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", line)


def _pattern(line: str) -> re.Pattern[str]:
    """A README line, its "…" matching anything."""
    return re.compile(re.escape(_normal(line)).replace(re.escape("…"), ".+"))


def test_the_readme_shows_what_plan_and_deploy_print(twin_process: dict[str, str], tmp_path: Path) -> None:
    env = {**twin_process, "BREAKERPANEL_STATE_DIR": str(tmp_path / "store")}
    plan = _run(["plan", "--request", "examples/rollout-request.json"], ROOT, env)
    deploy = _run(["deploy", "--request", "examples/rollout-request.json"], ROOT, env)

    assert plan.returncode == 0 and deploy.returncode == 0, plan.stdout + deploy.stdout + deploy.stderr
    assert "warning" not in plan.stdout + plan.stderr  # the seeded instance meets every prerequisite
    for shown, printed in ((_readme_block("`plan` prints"), plan.stdout),
                           (_readme_block("and `deploy` the progress"), deploy.stdout)):
        lines = [line.rstrip() for line in printed.splitlines()]
        # A wait line appears only when ARM answered "Running" at the first read, which depends on timing.
        for line in (line for line in shown if "waited" not in line):
            assert any(_pattern(line).fullmatch(_normal(got)) for got in lines), f"README line not printed: {line!r}"


def test_a_wheel_installed_anywhere_carries_the_template_and_the_examples(
    tmp_path: Path, twin: Any, twin_server: Any
) -> None:
    # What `pip install .` (not editable) would put in site-packages: built offline from the tracked files.
    source, site = tmp_path / "source", tmp_path / "site"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in tracked.split():
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    import zipfile

    (wheel,) = (tmp_path / "dist").glob("breakerpanel-*.whl")
    zipfile.ZipFile(wheel).extractall(site)

    from twin.examples import example_targets, seed_example_instances

    seed_example_instances(twin)
    env = {**_clean_env(twin_server.environment()), "PYTHONPATH": str(site),
           "BREAKERPANEL_TARGETS": json.dumps(example_targets())}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = subprocess.run(
        [sys.executable, "-c", "import activities.deployments as d, twin.examples as e, breakerpanel.alert_rules as a; "
         "print(d.GATEWAY_TEMPLATE, e.EXAMPLES, a.INFRA_APP, sep='\\n')"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60)
    template, examples, infra_app = (Path(line) for line in probe.stdout.split())
    assert template.is_file() and template.is_relative_to(site), probe.stdout + probe.stderr
    assert (examples / "rollout-request.json").is_file() and (infra_app / "alerts" / "breaker-stuck.kql").is_file()
    assert (site / "twin" / "rbac" / "builtin_roles.json").is_file()

    # The newcomer's plan, with the installed copy alone: the template it validates is the wheel's.
    planned = subprocess.run([sys.executable, "-m", "breakerpanel", "plan", "--request",
                              str(examples / "rollout-request.json")], cwd=elsewhere, env=env,
                             capture_output=True, text=True, timeout=300)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "what-if: 8 created" in planned.stdout and "Create  pool" in planned.stdout
    assert twin.captured("arm.deployments.put") == []
