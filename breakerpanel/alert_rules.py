"""The Portal's scheduled query rules as infra/app declares them, evaluated as Azure Monitor evaluates them.

A development tool (the demo and tests/alerts use it; .funcignore keeps it out of the package): it reads each
`Microsoft.Insights/scheduledQueryRules` resource of infra/app/modules/monitoring.bicep with the KQL file it
loads, and evaluates a rule at an instant T as Azure Monitor does — the query over (T - windowSize, T] through
the Log Analytics query API on the Application Insights component (`query_resource`), then `Count` of rows
per dimension combination compared with the threshold (operator GreaterThan). With auto-mitigate the alert
resolves at the first evaluation that no longer meets it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from breakerpanel.core.durations import parse_duration

INFRA_APP = Path(__file__).resolve().parents[1] / "infra" / "app"
_RESOURCE = re.compile(r"\nresource \w+ 'Microsoft\.Insights/scheduledQueryRules@[^']+' = \{")


@dataclass(frozen=True)
class Rule:
    name: str  # the resource name after '<appInsightsName>-'
    display_name: str
    query: str
    window: timedelta
    threshold: float
    dimensions: tuple[str, ...]
    auto_mitigate: bool


class RuleFileError(ValueError):
    """monitoring.bicep holds a rule this reader cannot follow (the message names the rule and what lacks)."""


def parse_rules(bicep: str, load_kql: Any) -> dict[str, Rule]:
    """Every scheduled query rule in `bicep`; `load_kql(file name)` returns the text a loadTextContent names."""
    rules: dict[str, Rule] = {}
    for block in _RESOURCE.split(bicep)[1:]:
        block = block.split("\n}\n", 1)[0]
        name = re.search(r"name: '\$\{appInsightsName\}-([a-z-]+)'", block)
        file = re.search(r"query: loadTextContent\('\.\./alerts/([\w.-]+)'\)", block)
        window = re.search(r"windowSize: '([A-Z0-9]+)'", block)
        threshold = re.search(r"threshold: ([0-9.]+)", block)
        display = re.search(r"displayName: '([^']*)'", block)
        label = name.group(1) if name else block[:80]
        if not (name and file and window and threshold):
            raise RuleFileError(f"scheduled query rule {label!r}: needs a name, a loadTextContent query, a "
                                "windowSize and a threshold")
        if "timeAggregation: 'Count'" not in block or "operator: 'GreaterThan'" not in block:
            raise RuleFileError(f"scheduled query rule {label!r}: only Count / GreaterThan rules are evaluated here")
        rules[name.group(1)] = Rule(
            name=name.group(1), display_name=display.group(1) if display else name.group(1),
            query=load_kql(file.group(1)), window=timedelta(seconds=parse_duration(window.group(1))),
            threshold=float(threshold.group(1)),
            dimensions=tuple(re.findall(r"name: '(\w+)'\n\s+operator: 'Include'", block)),
            auto_mitigate="autoMitigate: true" in block,
        )
    return rules


def infra_rules(infra_app: Path = INFRA_APP) -> dict[str, Rule]:
    return parse_rules((infra_app / "modules" / "monitoring.bicep").read_text(),
                       lambda name: (infra_app / "alerts" / name).read_text())


def firing(rule: Rule, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The dimension combinations whose row count exceeds the threshold (empty: silent, or resolved)."""
    counts: dict[tuple[Any, ...], int] = {}
    for row in rows:
        missing = [d for d in rule.dimensions if d not in row]
        if missing:
            raise RuleFileError(f"rule {rule.name!r}: its query returns no {', '.join(missing)} column; "
                                "every dimension must be a column of the result")
        key = tuple(row[d] for d in rule.dimensions)
        counts[key] = counts.get(key, 0) + 1
    return [dict(zip(rule.dimensions, key, strict=True)) for key, n in counts.items() if n > rule.threshold]


def evaluate(client: Any, component_id: str, rule: Rule, at: datetime
             ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """(what fires at `at`, None) or ([], problem). `client` is a LogsQueryClient: the query goes to the
    component as Azure Monitor sends it."""
    from breakerpanel.azure.logs_rows import rows_from_result
    from breakerpanel.watchdog.errors import problem

    try:
        result = client.query_resource(component_id, rule.query, timespan=(at - rule.window, at))
        return firing(rule, rows_from_result(result)), None
    except Exception as exc:  # a rule that cannot be evaluated is reported, never raised
        return [], problem(f"rule {rule.name}", exc)
