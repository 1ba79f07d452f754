"""The rollout's decisions that would otherwise be recomputed by whatever code replays the orchestration.

An orchestrator replays its whole history every episode, with the code deployed now. A pure decision made
inline is made again on each replay — by a newer validator, parameter builder or digest after an upgrade of
the app — and a different answer mid-rollout means another deployment, other parameters, or an approval that
no longer matches what the person saw. Made in an activity, the decision is made once and its result is read
back from history on every replay. Each decision here is a breakerpanel.core function; the activity only
records it.

- "admission": the input checked against the settings as they are now, and its plan (the starter's, checked;
  or, for an input without one, computed here once);
- "rollbackCall": the rollback deployment for a rollback point (its parameters re-validated);
- "gate": a wave's approval question (whether one is needed, its event, the what-if digest it approves).
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from activities.outcomes import Outcome, reports_failures
from activities.policy import current_policy
from breakerpanel.core import rollout_flow as flow

bp = df.Blueprint()


def _admission(payload: dict[str, Any]) -> Outcome:
    spec, instance_id = payload.get("spec"), str(payload.get("instanceId") or "")
    policy = current_policy()
    problems = flow.admit(spec, policy)  # type: ignore[arg-type]
    plan: dict[str, Any] | None = None
    if not problems:
        assert isinstance(spec, dict)  # admit refuses anything else
        plan = spec.get("plan") or flow.plan(spec, policy, instance_id)
        problems = flow.plan_problems(plan, spec, policy, instance_id)
    return {"outcome": "ok", "problems": [p.to_dict() for p in problems],
            # Only a plan made here travels back: the starter's is in the input already.
            "plan": plan if plan is not None and not spec.get("plan") else None}  # type: ignore[union-attr]


@bp.activity_trigger(input_name="payload")
@reports_failures
def rollout_decision(payload: dict[str, Any]) -> Outcome:
    decision = payload.get("decision")
    if decision == "admission":
        return _admission(payload)
    if decision == "rollbackCall":
        return {"outcome": "ok", "call": flow.rollback_call(payload["job"], payload["point"])}
    if decision == "gate":
        return {"outcome": "ok", "gate": flow.gate(payload["progress"], payload["wave"])}
    return {"outcome": "permanent", "status": None, "retryAfterSeconds": None,
            "error": {"code": "UnknownDecision", "message": f"no decision named {decision!r}"}}
