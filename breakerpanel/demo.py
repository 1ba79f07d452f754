"""`python -m breakerpanel demo`: the product end to end on the local twin, with nothing to configure.

1. starts the twin (HTTPS on 127.0.0.1) and creates an APIM instance in it through the control API;
2. rolls out examples/rollout-request.json with the app's own orchestration (local Durable runner), while
   the twin throttles ARM (429 + Retry-After) — the rollout waits the asked time and carries on;
3. reads the backends back with the real ApiManagementClient and prints them;
4. rolls out a change that drops a backend from the pool: what-if shows it, the approval gate stops it;
5. rolls out a change whose new backend the resource provider refuses: the failed operation is diagnosed and
   the gateway is put back to its last good state, which is then verified;
6. runs gateway traffic on that gateway (the twin's `region-down` scenario: aoai-westus fails for 25 minutes,
   its breaker stuck open, then recovers) and the watchdog every 5 minutes over it, at those instants, as the
   timer would: the incident opens, then resolves;
7. shows the custom events the app sent to Application Insights and the Portal's alert rules (infra/app's KQL)
   that fired on them, evaluated as Azure Monitor does;
8. shows the webhook deliveries a local receiver got (signed, one per notification);
9. writes the breaker report and prints its path.

The rollouts run on the twin's fast-forwarded clock from now; the traffic starts a minute later and the
watchdog passes replay its hour at their own instants (`watch --once --at T`).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import shutil
import ssl
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

from breakerpanel.core.instants import parse_instant
from breakerpanel.core.prerequisites import OPENAI_USER_ROLE_ID
from breakerpanel.loopback import LoopbackServer

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "rollout-request.json"
SCENARIO = "region-down"
STUCK = "aoai-westus"  # the backend region-down takes down
# The demo's own HMAC key for its own local receiver; a real one comes from a secret setting.
WEBHOOK_SECRET = "demo-webhook-secret"
_EXTRA_EVALUATIONS = 3  # alert evaluations after the last watchdog pass: auto-mitigation shows there


class WebhookReceiver:
    """A webhook endpoint on 127.0.0.1 that records what it receives and answers 200."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append({"headers": dict(self.headers), "body": body})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # the demo prints what arrived itself

        self._server = LoopbackServer(ThreadingHTTPServer, Handler, name="demo-webhook")
        self.url = f"{self._server.url}/breakerpanel"

    def __enter__(self) -> WebhookReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()


def _control(url: str, ca: Path, method: str, path: str, body: object) -> Any:
    context = ssl.create_default_context(cafile=str(ca))
    request = urllib.request.Request(
        url + path, data=json.dumps(body).encode(), method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else None


def _backends_table(settings: Any, target: dict[str, str]) -> list[str]:
    from breakerpanel.azure.clients import apim_client

    client = apim_client(settings, target["subscriptionId"])
    rows = []
    for backend in client.backend.list_by_service(target["resourceGroup"], target["apimName"]):
        body = backend.serialize(keep_readonly=True)
        props = body.get("properties", {})
        if props.get("type") == "Pool":
            members = ", ".join(
                f"{s['id'].rsplit('/', 1)[-1]} (p{s.get('priority')}/w{s.get('weight')})"
                for s in props.get("pool", {}).get("services", [])
            )
            rows.append(f"  {body['name']:<20} Pool    {members}")
        else:
            rules = props.get("circuitBreaker", {}).get("rules", [])
            rule = rules[0] if rules else {}
            condition = rule.get("failureCondition", {})
            trip = f"trips after {condition.get('count')} failures in {condition.get('interval')} for " \
                   f"{rule.get('tripDuration')}" if rule else "no breaker"
            rows.append(f"  {body['name']:<20} Single  {props.get('url')}  [{trip}]")
    return rows


def run_demo(out: TextIO, state_dir: Path) -> int:
    import function_app
    from breakerpanel.core.summary import render_summary
    from breakerpanel.progress import ProgressPrinter
    from breakerpanel.rollout_local import allowed_targets, check_request, run_rollout
    from breakerpanel.settings import load_settings
    from twin.gateway import scenarios
    from twin.server import TwinServer

    request = json.loads(EXAMPLE.read_text())
    # The example's gateway, on the APIM instance the twin's traffic scenarios drive (same backends and rule).
    target = {"subscriptionId": scenarios.SUBSCRIPTION, "resourceGroup": scenarios.RESOURCE_GROUP,
              "apimName": scenarios.APIM, "wave": 1}
    request["targets"] = [target]
    store_dir = state_dir / "state"
    shutil.rmtree(store_dir, ignore_errors=True)  # every demo starts with an empty store
    with TwinServer(state_dir) as server, WebhookReceiver() as receiver:
        os.environ.update(server.environment())
        os.environ.update(server.app_insights_environment())
        # The demo's allowlist: the one APIM instance it deploys to and watches, with its workspace.
        os.environ.update({
            "BREAKERPANEL_TARGETS": json.dumps([{**{k: target[k] for k in ("subscriptionId", "resourceGroup",
                                                                            "apimName")},
                                                 "logAnalyticsWorkspaceId": scenarios.WORKSPACE}]),
            "BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(store_dir),
            "BREAKERPANEL_WEBHOOK_URL": receiver.url, "BREAKERPANEL_WEBHOOK_SECRET": WEBHOOK_SECRET,
        })
        print(f"twin: {server.url} (CA {server.ca_path}); webhook receiver: {receiver.url}", file=out)
        instance = _control(server.url, server.ca_path, "POST", "/_twin/apim/services",
                            {"subscriptionId": target["subscriptionId"], "resourceGroup": target["resourceGroup"],
                             "name": target["apimName"], "sku": "Developer"})
        # As a prepared subscription holds it: the gateway's identity may call Azure OpenAI, so the rollouts'
        # prerequisites pass without the 'no inference role' warning a real first deployment would rightly get.
        scope = f"/subscriptions/{target['subscriptionId']}"
        role = f"{scope}/providers/Microsoft.Authorization/roleDefinitions/{OPENAI_USER_ROLE_ID}"
        _control(server.url, server.ca_path, "POST", "/_twin/arm/roleAssignments",
                 {"scope": scope, "roleDefinitionId": role, "principalId": instance["identity"]["principalId"]})
        # ARM throttles now and then; the rollout must wait what Retry-After asks, on a durable timer.
        _control(server.url, server.ca_path, "POST", "/_twin/faults",
                 {"route": "arm.deployments.get", "kind": "throttle", "retryAfter": 7, "count": 2})
        settings = load_settings()
        began = datetime.now(UTC)

        print(f"\n== 1. roll out {EXAMPLE.name} to {target['apimName']}", file=out)
        allowed = allowed_targets(request)
        check = check_request(request, allowed)
        for problem in check.problems:
            print(f"   {problem.severity}: {problem.field}: {problem.problem}", file=out)
        first = run_rollout(function_app.app, check, allowed, approve=False, settings=settings,
                            on_step=ProgressPrinter(out), started_by="demo")
        print("", *render_summary(first.output), sep="\n", file=out)
        throttled = [r for r in server.twin.captured("arm.deployments.get") if r["status"] == 429]
        print(f"\n(the twin throttled {len(throttled)} ARM reads with Retry-After: 7; the rollout waited and went on)",
              file=out)

        print("\n== 2. what APIM now holds (read back with ApiManagementClient)", file=out)
        print(*_backends_table(settings, target), sep="\n", file=out)

        print("\n== 3. a change that drops aoai-westus from the pool, approval 'onDestructive', nobody approves",
              file=out)
        shrunk = copy.deepcopy(request)
        shrunk["backends"] = [b for b in shrunk["backends"] if b["name"] != "aoai-westus"]
        check = check_request(shrunk, allowed)
        second = run_rollout(function_app.app, check, allowed, approve=False, settings=settings,
                             on_step=ProgressPrinter(out), started_by="demo")
        print("", *render_summary(second.output), sep="\n", file=out)

        print("\n== 4. a change that tightens the rule to 5 failures and adds aoai-francecentral, which the"
              "\n      resource provider refuses (injected in the twin): diagnosis, then rollback to step 1's state",
              file=out)
        _control(server.url, server.ca_path, "POST", "/_twin/arm/failures",
                 {"resource": "*/backends/aoai-francecentral", "status": 500, "code": "InternalServerError",
                  "message": "The request failed due to an internal error."})
        grown = copy.deepcopy(request)
        grown["breakerRule"]["failureCount"] = 5
        grown["backends"].append({"name": "aoai-francecentral", "priority": 2, "weight": 100,
                                  "url": "https://aoai-francecentral.openai.azure.com/openai"})
        check = check_request(grown, allowed)
        third = run_rollout(function_app.app, check, allowed, approve=True, settings=settings,
                            on_step=ProgressPrinter(out), started_by="demo")
        print("", *render_summary(third.output), sep="\n", file=out)
        print("\n   APIM after the rollback:", file=out)
        print(*_backends_table(settings, target), sep="\n", file=out)
        rolled_back = next(iter(third.output.get("targets", {}).values()), {}).get("result", {}).get("rollback", {})
        rollouts_ok = (
            first.succeeded
            and second.output.get("status") == "rejected"
            and third.output.get("status") == "failed"
            and rolled_back.get("provisioningState") == "Succeeded"
            and not rolled_back.get("verify", {}).get("differences")
        )
        watched = watch_story(out, server, receiver, settings, began, parse_instant(third.output.get("finishedAt")))
    ok = rollouts_ok and watched
    print(f"\ndemo {'finished as expected' if ok else 'did NOT go as expected'}", file=out)
    return 0 if ok else 1


def _hhmm(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M")


def _subject(incident: dict[str, Any]) -> str:
    return next((f"{k} {incident[k]}" for k in ("backend", "pool", "deployment") if incident.get(k)), "")


def watch_story(out: TextIO, server: Any, receiver: WebhookReceiver, settings: Any, began: datetime,
                rollout_finished: datetime | None) -> bool:
    """Sections 5-8 of the output: traffic, the watchdog's passes, the custom events and alert rules, the
    webhook, the report. True when each of them did what the demo shows."""
    from breakerpanel.watchdog.replay import PERIOD, run_pass
    from twin.gateway import scenarios
    from twin.gateway.loader import load_scenario

    twin = server.twin
    start = (datetime.now(UTC) + timedelta(minutes=1)).replace(second=0, microsecond=0)
    loaded = load_scenario(twin, SCENARIO, start=start)
    twin.logs.set_ingestion_delay(timedelta(minutes=2))
    print(f"\n== 5. gateway traffic on {scenarios.APIM} from {_hhmm(start)} UTC ({SCENARIO}): "
          f"{scenarios.get(SCENARIO).description}", file=out)
    print("   the watchdog every 5 minutes (watch --once --at T), Log Analytics ingestion lagging 2 minutes:",
          file=out)
    passes = []
    at = start + PERIOD
    while at <= loaded.end:
        twin.logs.set_now(at)
        done = run_pass(at)
        passes.append(done)
        changes = [i for i in done.report["incidents"] if i["state"] in ("opened", "resolved")]
        told = "; ".join(f"{i['state']} {i['severity']} {i['kind']} ({_subject(i)})" for i in changes)
        sent = done.report.get("alerts", {}).get("delivered", 0)
        print(f"   {_hhmm(at)}  exit {done.exit_code} {done.report['status']:<8} {told or '-'}"
              f"{f'  [{sent} alert(s) delivered]' if sent else ''}", file=out)
        at += PERIOD
    stuck = [(p.at, i) for p in passes for i in p.report["incidents"]
             if i["kind"] == "BreakerStuckOpen" and i.get("backend") == STUCK and i["state"] in ("opened", "resolved")]
    opened = [(t, i) for t, i in stuck if i["state"] == "opened"]
    resolved = [(t, i) for t, i in stuck if i["state"] == "resolved"]
    key = opened[0][1]["key"] if opened else None
    evaluations = [p.at for p in passes] + [loaded.end + PERIOD * n for n in range(1, _EXTRA_EVALUATIONS + 1)]
    if rollout_finished is not None:
        evaluations.insert(0, rollout_finished + PERIOD)
    fired = _alerts(out, server, settings, began, evaluations)
    delivered = _deliveries(out, receiver)
    page = _report(out, server, began - timedelta(minutes=5), loaded.end)
    stuck_alert = fired.get("breaker-stuck", {}).get(key) if key else None
    checks = {
        f"the watchdog opened BreakerStuckOpen for {STUCK}": bool(opened),
        f"the watchdog resolved it after {STUCK} recovered": bool(resolved) and bool(opened)
        and resolved[0][0] > opened[0][0],
        "the breaker-stuck alert rule fired for that incident and auto-mitigated": stuck_alert is not None
        and stuck_alert[1] < evaluations[-1],
        "the webhook received the incident's opening and resolution, signed": key is not None and {
            ("IncidentOpened", key), ("IncidentResolved", key)} <= delivered,
        "the report shows the stuck backend": page is not None and f'id="backend-{STUCK}"' in page.read_text(),
    }
    for what, held in checks.items():
        if not held:
            print(f"   MISSING: {what}", file=out)
    return all(checks.values())


def _alerts(out: TextIO, server: Any, settings: Any, began: datetime, evaluations: list[datetime]
            ) -> dict[str, dict[str | None, tuple[datetime, datetime]]]:
    """Print the custom events and each alert rule's firings; {rule: {incidentKey|rolloutId: (first, last)}}."""
    from breakerpanel.azure.clients import logs_client

    twin = server.twin
    print("\n== 6. the custom events in Application Insights (customEvents, read with LogsQueryClient)", file=out)
    twin.logs.set_now(evaluations[-1])
    query = ('customEvents | extend d = customDimensions | project timestamp, name, '
             'incidentKind = tostring(d["kind"]), subject = tostring(d["subject"]), outcome = tostring(d["outcome"]) '
             '| order by timestamp asc')
    with logs_client(settings) as client:
        return _events_and_rules(out, twin, client, query, began, evaluations)


def _events_and_rules(out: TextIO, twin: Any, client: Any, query: str, began: datetime,
                      evaluations: list[datetime]) -> dict[str, dict[str | None, tuple[datetime, datetime]]]:
    from breakerpanel.alert_rules import evaluate, infra_rules
    from breakerpanel.azure.logs_rows import rows_from_result
    from twin.app_insights.state import DEFAULT_COMPONENT

    try:
        rows = rows_from_result(client.query_resource(
            DEFAULT_COMPONENT, query, timespan=(began - timedelta(hours=1), evaluations[-1])))
    except Exception as exc:  # shown, and the rules below say whether the events arrived
        print(f"   the events could not be read: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=out)
        rows = []
    for row in rows:
        what = row["outcome"] if row["name"] == "RolloutCompleted" else f"{row['incidentKind']} {row['subject']}"
        print(f"   {format(row['timestamp'], '%H:%M:%S')}  {row['name']:<17} {what}", file=out)
    print("\n   the Portal's alert rules (infra/app/alerts/*.kql), evaluated every 5 minutes as Azure Monitor does:",
          file=out)
    fired: dict[str, dict[str | None, tuple[datetime, datetime]]] = {}
    for rule in infra_rules().values():
        spans: dict[str | None, tuple[datetime, datetime]] = {}
        labels: dict[str | None, str] = {}
        for at in evaluations:
            twin.logs.set_now(at)
            found, problem = evaluate(client, DEFAULT_COMPONENT, rule, at)
            if problem:
                print(f"   {rule.name}: could not be evaluated at {_hhmm(at)}: {problem['code']} "
                      f"{problem['message']}", file=out)
            for dims in found:
                ident = dims.get("incidentKey") or dims.get("rolloutId")
                first = spans.get(ident, (at, at))[0]
                spans[ident] = (first, at)
                labels[ident] = ", ".join(str(v) for k, v in dims.items() if k not in ("incidentKey", "target"))
        fired[rule.name] = spans
        if not spans:
            print(f"   {rule.name:<18} silent", file=out)
        for ident, (first, last) in spans.items():
            ended = (", resolved (auto-mitigate) at the next evaluation" if rule.auto_mitigate and
                     last < evaluations[-1] else "")
            print(f"   {rule.name:<18} FIRED {_hhmm(first)}..{_hhmm(last)} for {labels[ident]}{ended}", file=out)
    return fired


def _deliveries(out: TextIO, receiver: WebhookReceiver) -> set[tuple[str, str]]:
    """Print what the webhook received; the (event, incidentKey|rolloutId) pairs whose signature held."""
    from breakerpanel.alerts.payloads import signature
    from breakerpanel.alerts.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER

    print(f"\n== 7. the webhook deliveries ({len(receiver.requests)} POSTs to {receiver.url})", file=out)
    good: set[tuple[str, str]] = set()
    for request in receiver.requests:
        headers = {k.lower(): v for k, v in request["headers"].items()}
        body = json.loads(request["body"])
        stamp = headers.get(TIMESTAMP_HEADER.lower(), "")
        signed = headers.get(SIGNATURE_HEADER.lower()) == signature(WEBHOOK_SECRET, stamp, request["body"])
        dims = body.get("dimensions") or {}
        ident = str(dims.get("incidentKey") or dims.get("rolloutId") or "")
        if signed:
            good.add((str(body.get("event")), ident))
        print(f"   {body.get('event'):<17} {body.get('title')}  [{IDEMPOTENCY_HEADER} "
              f"{headers.get(IDEMPOTENCY_HEADER.lower(), '')[:12]}…, signature {'ok' if signed else 'WRONG'}]",
              file=out)
    return good


def _report(out: TextIO, server: Any, start: datetime, end: datetime) -> Path | None:
    # The report command's own entry, not the top-level CLI: the CLI imports this module for `demo`.
    from breakerpanel.report.cli import run_report

    print("\n== 8. the breaker report (python -m breakerpanel report)", file=out)
    server.twin.logs.set_now(end + timedelta(minutes=10))
    printed, errors = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(errors):
        code = run_report(argparse.Namespace(start=start, end=end, out=None))
    for line in [*printed.getvalue().splitlines(), *errors.getvalue().splitlines()]:
        print(f"   {line}", file=out)
    lines = printed.getvalue().strip().splitlines()
    if code != 0 or not lines:
        return None
    page = Path(lines[-1].split(": ", 1)[1])
    return page if page.is_file() else None
