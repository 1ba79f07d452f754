"""The watchdog on the Functions app: a timer starts one orchestration that fans out one activity per group
of targets (a workspace's targets share one query), so a fleet is checked in parallel on the scale-out.

A run that would overlap the previous one is skipped: the orchestration has one fixed instance id, and the
timer does not start it while it is still running. Breaker events from Event Grid are stored by
`breaker_events`; `GET /api/health` answers the latest result per target.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from activities.watch import watch_check, watch_plan
from breakerpanel.core.summary import redact
from breakerpanel.core.watch.run import EXIT_CODES, worst
from breakerpanel.store.base import RESULT, StoreUnavailableError
from breakerpanel.store.factory import open_store
from breakerpanel.watchdog.check import BreakerEventError, record_breaker_event
from orchestrators.task_hub_errors import is_task_hub_error

bp = df.Blueprint()
log = logging.getLogger("breakerpanel.watchdog")

INSTANCE_ID = "breakerpanel-watchdog"
_RUNNING = {df.OrchestrationRuntimeStatus.Running, df.OrchestrationRuntimeStatus.Pending}
Task = Any


@bp.timer_trigger(schedule="%BREAKERPANEL_WATCH_SCHEDULE%", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def watchdog_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    try:
        status = await client.get_status(INSTANCE_ID)
        if status is not None and status.runtime_status in _RUNNING:
            log.warning("watchdog: the previous run is still going; this one is skipped")
            return
        await client.start_new("watchdog_orchestrator", INSTANCE_ID, None)
    except Exception as exc:
        if not is_task_hub_error(exc):
            raise
        # The schedule is the retry: the next tick starts the pass the task hub refused now.
        log.error("watchdog: the Durable task hub did not start this pass (%s); the next scheduled run tries again",
                  redact(str(exc)) or type(exc).__name__)


@bp.orchestration_trigger(context_name="context")
def watchdog_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Task, Any, dict]:
    plan: dict[str, Any] = yield context.call_activity(watch_plan, None)
    at = context.current_utc_datetime.isoformat()
    checks = [context.call_activity(watch_check, {"at": at, "group": group}) for group in plan.get("groups", [])]
    answers: list[dict[str, Any]] = (yield context.task_all(checks)) if checks else []
    results = [result for answer in answers for result in answer.get("results", [])]
    problems = [answer["problem"] for answer in answers if answer.get("problem")]
    if plan.get("problem"):
        problems.append(plan["problem"])
    statuses = [r["status"] for r in results] + (["unknown"] if problems else [])
    return {
        "at": at,
        "status": worst(statuses),
        "targets": [{"target": r["target"], "status": r["status"]} for r in results],
        "changes": [i for r in results for i in r.get("incidents", [])],
        "problems": problems,
    }


def _event_body(event: func.EventGridEvent | Any) -> dict[str, Any]:
    """The delivered event back in its own schema's field names (the binding parses both schemas)."""
    if hasattr(event, "event_type"):
        moment = event.event_time
        return {"id": event.id, "topic": event.topic, "subject": event.subject, "eventType": event.event_type,
                "eventTime": moment.isoformat() if moment else None, "data": event.get_json()}
    moment = getattr(event, "time", None)
    return {"id": event.id, "source": event.source, "subject": event.subject, "type": event.type,
            "time": moment.isoformat() if moment else None, "data": event.get_json()}


@bp.event_grid_trigger(arg_name="event")
def breaker_events(event: func.EventGridEvent) -> None:
    """Store a circuit-breaker transition once, however often Event Grid delivers it."""
    body = _event_body(event)
    try:
        outcome = record_breaker_event(open_store(), body)
    except BreakerEventError as exc:
        # Not ours to store (another event type routed here): acknowledged, so Event Grid does not retry it.
        log.warning("breaker_events: event %s ignored: %s", body.get("id"), exc)
        return
    except StoreUnavailableError as exc:
        # Failing the delivery makes Event Grid retry it later: the transition is not lost.
        log.error("breaker_events: event %s not stored (store unavailable: %s); Event Grid will retry",
                  body.get("id"), exc)
        raise RuntimeError("state store unavailable") from None
    log.info("breaker_events: event %s %s", body.get("id"), outcome)


def _health_view(result: dict[str, Any]) -> dict[str, Any]:
    keep = ("kind", "severity", "backend", "pool", "deployment", "since")
    return {
        "target": result.get("target"),
        "at": result.get("at"),
        "status": result.get("status", "unknown"),
        "sources": result.get("sources"),
        "unreadable": sorted({str(p.get("source")) for p in result.get("problems", []) if isinstance(p, dict)}),
        "open": [{k: i[k] for k in keep if i.get(k) is not None} for i in result.get("open", [])],
    }


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """The latest watchdog result per target; 200 when every target is ok, 503 otherwise (uptime checks)."""
    try:
        records = open_store().list(RESULT)
    except Exception as exc:
        body = {"status": "unknown", "error": f"state store unavailable: {type(exc).__name__}"}
        return func.HttpResponse(json.dumps(body), status_code=503, mimetype="application/json")
    # Statuses only: the route is reachable with a function key alone (uptime probes), so evidence, error
    # messages and runbooks stay behind the authenticated CLI and the store.
    targets = [_health_view(record.value) for record in records]
    status = worst([t.get("status", "unknown") for t in targets]) if targets else "unknown"
    body = {"status": status, "exitCode": EXIT_CODES[status], "targets": targets}
    return func.HttpResponse(json.dumps(body, default=str), status_code=200 if status == "ok" else 503,
                             mimetype="application/json")
