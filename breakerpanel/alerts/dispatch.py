"""The one place the watchdog and the rollout hand their decisions to the alert sinks. Never raises: an alert
sink failing (or a wrong alert setting) is a problem in the run's output, never a failed watchdog run."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from breakerpanel.alerts import outbox
from breakerpanel.alerts.settings import AlertSettings, load_alert_settings
from breakerpanel.settings import Settings
from breakerpanel.store.base import Store


def _problem(code: str, exc: BaseException | str) -> dict[str, Any]:
    message = exc if isinstance(exc, str) else f"{type(exc).__name__}: {str(exc)[:300]}"
    return {"source": "alerts", "code": code, "message": message}


def sink_names() -> list[str]:
    """The sinks a notification staged now is meant for (none when the settings are wrong: the dispatch after
    the check reports that)."""
    try:
        return load_alert_settings().sink_names
    except Exception:
        return []


def open_sinks(settings: Settings, alerts: AlertSettings) -> dict[str, outbox.Sink]:
    from breakerpanel.azure.clients import ingestion_credential

    sinks: dict[str, outbox.Sink] = {}
    if alerts.connection_string:
        from breakerpanel.alerts.appinsights import AppInsightsSink

        sinks["appInsights"] = AppInsightsSink(alerts.connection_string,
                                               ingestion_credential(settings, alerts.connection_string),
                                               alerts.timeout_seconds)
    if alerts.webhook_url:
        from breakerpanel.alerts.webhook import WebhookSink

        sinks["webhook"] = WebhookSink(alerts.webhook_url, alerts.webhook_secret, alerts.webhook_format,
                                       alerts.timeout_seconds, verify=settings.connection_verify)
    return sinks


def after_check(settings: Settings, store: Store, results: Sequence[Mapping[str, Any]], at: datetime,
                *, wall: datetime | None = None) -> dict[str, Any]:
    """After a watchdog check: stage what the check could not (reconciliation), deliver what is due for these
    targets, prune old records. Returns {"delivered", "failed", ..., "problems"}."""
    wall = wall or datetime.now(UTC)
    from breakerpanel.core.watch.run import target_key

    keys = sorted({target_key(r["target"]) for r in results if r.get("target")})
    return _run(settings, store, keys, at, wall)


def after_rollout(settings: Settings, store: Store, result: Mapping[str, Any],
                  *, wall: datetime | None = None) -> dict[str, Any]:
    """After a rollout finished: stage one RolloutCompleted per target, then deliver them."""
    from breakerpanel.alerts.payloads import rollout_notifications

    wall = wall or datetime.now(UTC)
    problems: list[dict[str, Any]] = []
    keys: set[str] = set()
    try:
        names = load_alert_settings().sink_names
        for notification in rollout_notifications(result):
            outbox.stage(store, notification, names, wall)
            keys.add(str(notification["targetKey"]))
    except Exception as exc:
        problems.append(_problem("outboxStage", exc))
    report = _run(settings, store, sorted(keys), None, wall)
    report["problems"] = problems + report["problems"]
    return report


def _run(settings: Settings, store: Store, keys: Sequence[str], at: datetime | None,
         wall: datetime) -> dict[str, Any]:
    problems: list[dict[str, Any]] = []
    try:
        alerts = load_alert_settings()
    except Exception as exc:
        return {"delivered": 0, "failed": 0, "problems": [_problem("settings", exc)]}
    names = alerts.sink_names
    if at is not None:
        for key in keys:
            try:
                outbox.reconcile(store, key, at, names, wall)
            except Exception as exc:
                problems.append(_problem("outboxReconcile", exc))
    try:
        sinks = open_sinks(settings, alerts)
    except Exception as exc:
        return {"delivered": 0, "failed": 0, "problems": [*problems, _problem("sink", exc)]}
    totals: dict[str, Any] = {"delivered": 0, "failed": 0, "claimedElsewhere": 0, "expired": 0}
    try:
        for key in keys:
            report = outbox.deliver(store, sinks, prefix=f"{key or '-'}|", wall=wall).as_dict()
            for name in totals:
                totals[name] += report[name]
            problems += report["problems"]
            if at is not None:
                try:
                    outbox.prune(store, at, prefix=f"{key}|")
                except Exception as exc:
                    problems.append(_problem("outboxPrune", exc))
    finally:
        for sink in sinks.values():
            with contextlib.suppress(Exception):  # closing is best effort
                sink.close()
    return {**totals, "problems": problems}
