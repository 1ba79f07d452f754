"""What an evaluated template is: the resources to deploy in dependency order, and the outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EvaluatedResource:
    symbolic_name: str | None
    type: str
    api_version: str
    name: str
    id: str
    properties: dict[str, Any]
    depends_on: tuple[str, ...]
    body: dict[str, Any]


@dataclass(frozen=True)
class EvaluatedTemplate:
    resources: tuple[EvaluatedResource, ...]
    outputs: dict[str, dict[str, Any]]
