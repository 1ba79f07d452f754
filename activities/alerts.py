"""The rollout's alert activity: its finished result becomes RolloutCompleted notifications (outbox, then
App Insights custom events and the webhook). Failures come back as data: a rollout never fails for an alert."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from breakerpanel.watchdog.errors import problem

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload")
def rollout_notify(payload: dict[str, Any]) -> dict[str, Any]:
    try:
        from breakerpanel.alerts.dispatch import after_rollout
        from breakerpanel.settings import load_settings
        from breakerpanel.store.factory import open_store

        return after_rollout(load_settings(), open_store(), payload)
    except Exception as exc:  # settings or store: reported in the activity's output, the rollout stands
        return {"delivered": 0, "failed": 0, "problems": [problem("alerts", exc)]}
