"""What `func azure functionapp publish` ships: .funcignore keeps the dev tools out, and the app still loads."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _shipped() -> list[str]:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    ignored = subprocess.run(
        ["git", "-c", f"core.excludesFile={ROOT / '.funcignore'}", "check-ignore", "--no-index", "--stdin"],
        cwd=ROOT, input="\n".join(tracked), capture_output=True, text=True,
    ).stdout.split()
    return sorted(set(tracked) - set(ignored))


def test_the_package_holds_the_app_and_not_the_dev_tools() -> None:
    shipped = _shipped()
    assert "function_app.py" in shipped and "host.json" in shipped and "requirements.txt" in shipped
    assert "infra/gateway/main.json" in shipped, "the rollout deploys the compiled template at run time"
    for dev in ("tests/", "twin/", "bench/", "breakerpanel/localrun/", "breakerpanel/watchdog/replay.py", "infra/app/",
                ".ci/"):
        assert not [f for f in shipped if f.startswith(dev)], f"{dev} must not be deployed"
    assert "infra/gateway/main.bicep" not in shipped


def test_the_shipped_files_alone_load_every_function(tmp_path: Path) -> None:
    for name in _shipped():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    probe = (
        "import function_app\n"
        "from activities.deployments import GATEWAY_TEMPLATE, gateway_template\n"
        "names = sorted(f.get_function_name() for f in function_app.app.get_functions())\n"
        "assert gateway_template()['languageVersion'] == '2.0'\n"
        "print(len(names))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    import function_app

    function_app.app.functions_bindings = None  # get_functions() caches its index
    assert int(result.stdout.strip()) == len(function_app.app.get_functions())


def test_the_command_line_is_the_top_of_the_import_graph() -> None:
    # Commands that reuse another command call its own entry (run_watch, run_report), so nothing the CLI
    # imports imports the CLI back: the cli <-> demo cycle stays broken.
    import ast

    importers = []
    for folder in ("breakerpanel", "twin", "activities", "orchestrators"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "breakerpanel" / "__main__.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if "breakerpanel.cli" in names or (isinstance(node, ast.ImportFrom) and node.module == "breakerpanel"
                                                   and any(a.name == "cli" for a in node.names)):
                    importers.append(str(path.relative_to(ROOT)))
    assert importers == []
