"""RBAC-mode tests reuse two harnesses that live beside their own tests: the rollout driver
(tests/functions/test_rollout_orchestration.py) and the role inventory parsed from infra/app
(tests/infra/test_app_roles.py)."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for folder in (TESTS / "functions", TESTS / "infra"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
