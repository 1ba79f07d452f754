"""GET /api/rollouts: the recent rollouts, newest first, optionally of one target or only those still running.

A list for people and the command line (`breakerpanel list`): ids, who started each, its targets, phase and
status — never the request's backends (URLs), never Durable management links. Same function key and app role
as reading one rollout (BREAKERPANEL_DEPLOYER_ROLE).

Query: `target` (an APIM name, or subscriptionId/resourceGroup/apimName), `days` (how far back rollouts were
created, 1..90, default 7), `active=true` (only Pending/Running). The Durable Python client reads one page of
the task hub's instances (100, children included): a full page answers `truncated: true` with a note, so the
caller narrows the window rather than trusting a short list.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import azure.durable_functions as df
import azure.functions as func

from breakerpanel.core.rollout_list import ListQuery, list_answer, list_entry, parse_list_query
from orchestrators.rollout_http import _ACTIVE, ORCHESTRATOR, _denied, _error, _json, _settings, _status_dict
from orchestrators.task_hub_errors import answers_task_hub_errors

bp = df.Blueprint()


@bp.route(route="rollouts", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@answers_task_hub_errors
async def list_rollouts(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    settings = _settings()
    if isinstance(settings, func.HttpResponse):
        return settings
    # Approvers list too: that is how they find the rollouts waiting on them.
    denied, _ = _denied(req, settings, (settings.deployer_role, settings.approver_role))
    if denied is not None:
        return denied
    query = parse_list_query(dict(req.params))
    if not isinstance(query, ListQuery):
        return _error(400, "InvalidQuery", f"{query.field}: {query.problem}. Fix: {query.fix}", field=query.field)
    since = datetime.now(UTC) - timedelta(days=query.days)
    statuses = await client.get_status_by(created_time_from=since,
                                          runtime_status=list(_ACTIVE) if query.active else None)
    entries = [list_entry(_status_dict(status)) for status in statuses if status.name == ORCHESTRATOR]
    return _json(200, list_answer(entries, query, since, len(statuses)))
