"""The APIM instances the repository's example requests name, so a newcomer's first deploy has somewhere to go.

`python -m breakerpanel twin` creates them at start and prints them in BREAKERPANEL_TARGETS: the README's
`deploy --request examples/rollout-request.json` then runs verbatim. Tests start from an empty twin instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from breakerpanel.core.prerequisites import OPENAI_USER_ROLE_ID
from twin.app import Twin

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
_TARGET_KEYS = ("subscriptionId", "resourceGroup", "apimName")


def example_targets(examples: Path = EXAMPLES) -> list[dict[str, str]]:
    """Every distinct target of examples/*.json, in file order."""
    found: list[dict[str, str]] = []
    for path in sorted(examples.glob("*.json")):
        body: Any = json.loads(path.read_text(encoding="utf-8-sig"))
        for target in body.get("targets") or [] if isinstance(body, dict) else []:
            entry = {key: str(target[key]) for key in _TARGET_KEYS}
            if entry not in found:
                found.append(entry)
    return found


def seed_example_instances(twin: Twin, examples: Path = EXAMPLES) -> list[dict[str, str]]:
    """Create the examples' APIM instances as a prepared subscription holds them: Developer tier (pools and
    breakers need a dedicated tier), and the instance's identity allowed to call Azure OpenAI (Cognitive Services
    OpenAI User on the subscription), so the rollout's prerequisites pass."""
    targets = example_targets(examples)
    for target in targets:
        subscription, group, name = target["subscriptionId"], target["resourceGroup"], target["apimName"]
        twin.apim.create_service(subscription, group, name, "Developer")
        scope = f"/subscriptions/{subscription}"
        role = f"{scope}/providers/Microsoft.Authorization/roleDefinitions/{OPENAI_USER_ROLE_ID}"
        twin.prerequisites.assign(scope, role, twin.apim.service(subscription, group, name).principal_id)
    return targets
