"""The webhook sink and its outbox against a real local HTTP receiver that fails, times out and succeeds,
on SQLite and on Azure Table storage (Azurite), with overlapping runs: nothing lost, nothing sent twice."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from breakerpanel.alerts import outbox
from breakerpanel.alerts.payloads import incident_notification, redact, webhook_body
from breakerpanel.alerts.webhook import WebhookSink
from breakerpanel.store.base import OUTBOX, Store
from breakerpanel.store.factory import open_store

SECRET = "s3cret-for-tests"
WALL = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Receiver:
    """A webhook receiver on 127.0.0.1 answering from a script: an int is a status, "timeout" sleeps past the
    client's timeout (then answers 200, which the client no longer hears), "ok" is 200, and a dict is a whole
    answer: {"status", "headers", "body"} (how Slack says why: 410 with the text body "channel_is_archived")."""

    def __init__(self, script: list[Any] | None = None, delay: float = 0.0) -> None:
        self.script = list(script or [])
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    step = receiver.script.pop(0) if receiver.script else "ok"
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "step": step})
                if step == "timeout":
                    time.sleep(1.0)
                    step = "ok"
                time.sleep(receiver.delay)
                answer = step if isinstance(step, dict) else {
                    "status": 200 if step == "ok" else int(step),
                    "headers": {"Retry-After": "300"} if step == 429 else {}}
                payload = str(answer.get("body") or "").encode()
                self.send_response(int(answer["status"]))
                for name, value in (answer.get("headers") or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?sig=never-logged"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self) -> list[str]:
        """Idempotency keys of requests answered 2xx while the sender still listened."""
        return [r["headers"]["Idempotency-Key"] for r in self.requests if r["step"] == "ok"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(*args: Any, **kwargs: Any) -> Receiver:
        made.append(Receiver(*args, **kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture(params=["sqlite", "table"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Independent handles on one storage: each overlapping run opens its own."""
    if request.param == "sqlite":
        env = {"BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(tmp_path / "state")}
    else:
        env = {"BREAKERPANEL_STORE": "table", "AzureWebJobsStorage": request.getfixturevalue("azurite"),
               "BREAKERPANEL_STORE_TABLE": "t" + uuid.uuid4().hex[:20], "BREAKERPANEL_STORE_RETRY_TOTAL": "0"}
    yield lambda: open_store(env)


def _view(n: int = 0, change: str = "opened") -> dict[str, Any]:
    return {"kind": "BreakerStuckOpen", "state": change, "severity": "warning", "target": "apim-gateway",
            "subscriptionId": "sub", "resourceGroup": "rg-gateway", "backend": f"aoai-{n}",
            "since": "2026-12-01T10:05:00Z", "openedAt": "2026-12-01T10:20:00Z",
            "resolvedAt": "2026-12-01T10:45:00Z" if change == "resolved" else None,
            "id": f"sub/rg-gateway/apim-gateway|BreakerStuckOpen:backend:aoai-{n}#2026-12-01T10:05:00Z",
            "key": f"sub/rg-gateway/apim-gateway|BreakerStuckOpen:backend:aoai-{n}",
            "evidence": {"url": "https://aoai.openai.azure.com/x?api-key=abc123", "note": "Bearer eyJabc.def"},
            "runbook": "Check the backend's own health and quota"}


def _sink(url: str, fmt: str = "generic", timeout: float = 0.3) -> WebhookSink:
    return WebhookSink(url, SECRET, fmt, timeout)


def test_fails_times_out_then_succeeds_with_backoff_and_one_key(stores: Callable[[], Store],
                                                               receiver: Callable[..., Receiver]) -> None:
    hook = receiver([500, "timeout"])
    store = stores()
    assert outbox.stage_incident(store, _view(), ["webhook"], WALL)
    assert not outbox.stage_incident(store, _view(), ["webhook"], WALL)  # staged once, whoever stages it
    sinks = {"webhook": _sink(hook.url)}
    first = outbox.deliver(store, sinks, wall=WALL)
    assert (first.delivered, first.failed) == (0, 1)
    assert outbox.deliver(store, sinks, wall=WALL + timedelta(seconds=30)).as_dict()["failed"] == 0  # not due
    second = outbox.deliver(store, sinks, wall=WALL + timedelta(seconds=61))  # times out
    assert second.failed == 1
    state = store.list(OUTBOX)[0].value["sinks"]["webhook"]
    assert state["attempts"] == 2 and state["nextAttemptAt"] == "2026-12-01T12:03:01Z"  # 60 s, then 120 s
    assert "127.0.0.1" not in json.dumps(state) and "never-logged" not in json.dumps(state)
    third = outbox.deliver(store, sinks, wall=WALL + timedelta(minutes=4))
    assert third.delivered == 1
    assert outbox.deliver(store, sinks, wall=WALL + timedelta(days=1)).delivered == 0  # never again
    keys = {r["headers"]["Idempotency-Key"] for r in hook.requests}
    assert len(hook.requests) == 3 and len(keys) == 1 and hook.accepted() == list(keys)


def test_the_body_is_signed_and_carries_no_secret(receiver: Callable[..., Receiver]) -> None:
    hook = receiver()
    notification = incident_notification(_view())
    assert notification is not None
    assert _sink(hook.url).deliver(notification).ok
    request = hook.requests[0]
    stamp = request["headers"]["X-Breakerpanel-Timestamp"]
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Breakerpanel-Signature"] == f"sha256={expected}"
    body = request["body"].decode()
    assert "abc123" not in body and "eyJabc" not in body and SECRET not in body
    sent = json.loads(body)
    assert sent["event"] == "IncidentOpened" and sent["dimensions"]["backend"] == "aoai-0"
    assert sent["text"].startswith("[opened] warning BreakerStuckOpen — apim-gateway, backend aoai-0")


def test_teams_and_slack_get_text_they_render() -> None:
    notification = incident_notification(_view(change="resolved"))
    assert notification is not None
    slack = webhook_body(notification, "slack")
    assert list(slack) == ["text"] and slack["text"].startswith("[resolved]")
    teams = webhook_body(notification, "teams")
    card = teams["attachments"][0]
    assert teams["type"] == "message" and card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard" and card["content"]["body"][0]["text"].startswith("[resolved]")
    assert redact("https://h/x?sig=abc&se=1 key=zzz Bearer tok.en") == "https://h/x?*** key=*** Bearer ***"


def test_a_refusal_is_recorded_and_not_retried_a_429_waits_its_retry_after(
        stores: Callable[[], Store], receiver: Callable[..., Receiver]) -> None:
    store = stores()
    outbox.stage_incident(store, _view(1), ["webhook"], WALL)
    outbox.stage_incident(store, _view(2), ["webhook"], WALL)
    hook = receiver([400, 429])
    report = outbox.deliver(store, {"webhook": _sink(hook.url)}, wall=WALL)
    assert report.failed == 2
    states = sorted((r.value["sinks"]["webhook"]["state"], r.value["sinks"]["webhook"]["nextAttemptAt"])
                    for r in store.list(OUTBOX))
    assert states == [("pending", "2026-12-01T12:05:00Z"), ("rejected", None)]


def test_two_overlapping_runs_deliver_every_notification_exactly_once(
        stores: Callable[[], Store], receiver: Callable[..., Receiver]) -> None:
    hook = receiver([500, 500, "timeout"], delay=0.02)
    setup = stores()
    for n in range(12):
        outbox.stage_incident(setup, _view(n), ["webhook"], WALL)
    rounds = [WALL, WALL + timedelta(minutes=2), WALL + timedelta(minutes=10)]
    # Both runs share one clock, as two hosts do: neither starts a round before the other finished the last.
    # Unsynchronised, one thread could be "two minutes later" while the other was still sending, see the
    # other's claim (taken for 120 s at the earlier wall) as expired, and send the same record again.
    barrier = threading.Barrier(2)

    def run(name: str) -> None:
        own = stores()
        for wall in rounds:
            barrier.wait(timeout=30)
            outbox.deliver(own, {"webhook": _sink(hook.url, timeout=0.5)}, wall=wall, holder=name)

    threads = [threading.Thread(target=run, args=(f"run-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = hook.accepted()
    assert len(accepted) == len(set(accepted)) == 12  # none lost, none twice
    # The one request that timed out reached the receiver too; its retry carries the same key, so a receiver
    # that drops repeated keys shows it once. That is the only repeat, and it is labelled.
    processed = [r["headers"]["Idempotency-Key"] for r in hook.requests if r["step"] in ("ok", "timeout")]
    assert len(processed) == 13 and len(set(processed)) == 12
    assert all(r.value["sinks"]["webhook"]["state"] == "delivered" for r in setup.list(OUTBOX))


@pytest.mark.twin
def test_overlapping_watchdog_runs_alert_once_per_transition(twin_server: Any, tmp_path: Path,
                                                            receiver: Callable[..., Receiver]) -> None:
    """Two watchdog checks of the same targets at the same instants, side by side (two hosts without the
    CLI's lease), sharing one store: each incident is opened, resolved and posted once."""
    from breakerpanel.alerts.dispatch import after_check
    from breakerpanel.settings import load_settings
    from breakerpanel.targets import load_targets
    from breakerpanel.watchdog.check import check_group, group_targets
    from breakerpanel.watchdog.replay import PERIOD, environment
    from breakerpanel.watchdog.settings import load_watch_settings
    from twin.gateway.loader import load_scenario

    hook = receiver([503])
    twin = twin_server.twin
    twin.reset()
    loaded = load_scenario(twin, "region-down", start=datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    twin.logs.set_ingestion_delay(timedelta(minutes=2))
    env = {**twin_server.environment(), "BREAKERPANEL_TARGETS": json.dumps(loaded.targets),
           "BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(tmp_path / "state"),
           "BREAKERPANEL_WEBHOOK_URL": hook.url, "BREAKERPANEL_WEBHOOK_SECRET": SECRET}
    opened: list[Any] = []
    with environment(env):
        settings, watch, targets = load_settings(), load_watch_settings(), load_targets()

        def one_run(at: datetime) -> None:
            store = open_store()
            for group in group_targets(targets):
                results = check_group(settings, watch, group, store, at)
                opened.extend(i for r in results for i in r["incidents"] if i["state"] in ("opened", "resolved"))
                # Deliveries follow the wall clock: move it on so the failed first post is due again later.
                after_check(settings, store, results, at, wall=WALL + (at - loaded.start) * 10)

        at = loaded.start + PERIOD
        while at <= loaded.end + timedelta(minutes=30):
            twin.logs.set_now(at)
            pair = [threading.Thread(target=one_run, args=(at,)) for _ in range(2)]
            for t in pair:
                t.start()
            for t in pair:
                t.join()
            at += PERIOD
    events = [json.loads(r["body"])["event"] for r in hook.requests if r["step"] == "ok"]
    assert sorted(events) == ["IncidentOpened", "IncidentResolved"]
    assert len(opened) == 2  # each transition written (and reported) by one of the two runs only


def _state(store: Store) -> dict[str, Any]:
    return dict(store.list(OUTBOX)[0].value["sinks"]["webhook"])


def test_a_receiver_down_for_days_is_retried_hourly_to_the_end(stores: Callable[[], Store],
                                                                receiver: Callable[..., Receiver]) -> None:
    """1 min doubling to 1 h, then hourly. The doubling used to go on under the cap: at the 42nd failure
    (a day and a half down) 60 s * 2**41 overflowed timedelta, the record was never updated again, and every
    later run re-sent it with no backoff at all, reporting an OverflowError."""
    hook = receiver([500] * 45)
    store = stores()
    outbox.stage_incident(store, _view(), ["webhook"], WALL)
    sinks = {"webhook": _sink(hook.url)}
    wall = WALL
    for attempt in range(1, 46):
        report = outbox.deliver(store, sinks, wall=wall)
        assert (report.failed, report.problems) == (1, []), attempt
        wall += timedelta(minutes=61)
    state = _state(store)
    assert state["attempts"] == 45 and state["state"] == "pending"
    assert state["nextAttemptAt"] == (wall - timedelta(minutes=61) + timedelta(hours=1)).isoformat().replace(
        "+00:00", "Z")
    assert len(hook.requests) == 45


def test_a_retry_after_past_the_backoff_cap_is_honoured_and_bounded(stores: Callable[[], Store],
                                                                   receiver: Callable[..., Receiver]) -> None:
    """README: "1 min doubling to 1 h, longer when the receiver says Retry-After". A Retry-After of 2 h was cut
    to 1 h, and an absurd one ("1e20") overflowed timedelta and left the record stuck."""
    store = stores()
    outbox.stage_incident(store, _view(1), ["webhook"], WALL)
    hook = receiver([{"status": 429, "headers": {"Retry-After": "7200"}}])
    assert outbox.deliver(store, {"webhook": _sink(hook.url)}, wall=WALL).problems == []
    assert _state(store)["nextAttemptAt"] == "2026-12-01T14:00:00Z"
    later = WALL + timedelta(hours=2)
    hook = receiver([{"status": 503, "headers": {"Retry-After": "1e20"}}])
    report = outbox.deliver(store, {"webhook": _sink(hook.url)}, wall=later)
    assert (report.failed, report.problems) == (1, [])
    assert _state(store)["nextAttemptAt"] == "2026-12-01T20:00:00Z"  # bounded: 6 h


@pytest.mark.parametrize(("answer", "recorded"), [
    ({"status": 410, "body": "channel_is_archived"}, "HTTP 410 channel_is_archived"),  # Slack's answers
    ({"status": 404, "body": "no_service"}, "HTTP 404 no_service"),
    ({"status": 400, "body": "invalid_payload"}, "HTTP 400 invalid_payload"),
    ({"status": 400, "headers": {"Content-Type": "application/json"},  # Power Automate's
      "body": json.dumps({"error": {"code": "TriggerInputSchemaMismatch", "message": "The input body for "
                                    "trigger 'manual' of type 'Request' did not match its schema"}})},
     "HTTP 400 TriggerInputSchemaMismatch"),
    ({"status": 403, "body": "denied for https://hooks.example/services/T0/B0/XyZsecret"}, "HTTP 403"),
    ({"status": 404, "body": "Xq7ZkP2mWvR9tLb4NcY8sJd3"}, "HTTP 404"),  # a token-like echo is not a reason
    ({"status": 401, "body": json.dumps({"error": {"code": "DirectApiAuthorizationRequired"}})},
     "HTTP 401 DirectApiAuthorizationRequired"),
])
def test_a_refusal_records_the_receivers_reason_and_nothing_else(
        receiver: Callable[..., Receiver], tmp_path: Path, answer: dict[str, Any], recorded: str) -> None:
    """A rejected record must say why (a person reads `lastError` to fix the hook): Slack names the cause in
    the body. Only a code-shaped reason is kept; free text that could carry a URL's token is not."""
    store = open_store({"BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(tmp_path)})
    outbox.stage_incident(store, _view(), ["webhook"], WALL)
    hook = receiver([answer])
    outbox.deliver(store, {"webhook": _sink(hook.url)}, wall=WALL)
    state = _state(store)
    assert (state["state"], state["lastError"], state["nextAttemptAt"]) == ("rejected", recorded, None)


def test_a_redirect_is_not_followed_and_a_permanent_one_is_a_refusal(receiver: Callable[..., Receiver],
                                                                     tmp_path: Path) -> None:
    """The signed body goes to the configured URL only. A 308 (the hook moved for good) cannot succeed on a
    retry, so it is recorded as rejected with the reason instead of being re-sent hourly for 7 days."""
    elsewhere = receiver()
    store = open_store({"BREAKERPANEL_STORE": "sqlite", "BREAKERPANEL_STATE_DIR": str(tmp_path)})
    outbox.stage_incident(store, _view(1), ["webhook"], WALL)
    outbox.stage_incident(store, _view(2), ["webhook"], WALL)
    hook = receiver([{"status": 307, "headers": {"Location": elsewhere.url}},
                     {"status": 308, "headers": {"Location": elsewhere.url}}])
    outbox.deliver(store, {"webhook": _sink(hook.url)}, wall=WALL)
    states = sorted((r.value["sinks"]["webhook"]["lastStatus"], r.value["sinks"]["webhook"]["state"])
                    for r in store.list(OUTBOX))
    assert states == [(307, "pending"), (308, "rejected")]
    assert elsewhere.requests == [] and len(hook.requests) == 2
    assert all("redirect not followed" in r.value["sinks"]["webhook"]["lastError"] for r in store.list(OUTBOX))


def test_slack_text_is_escaped_and_teams_gets_the_documented_card_message(receiver: Callable[..., Receiver]) -> None:
    """Slack: &, < and > are control characters ("<!channel>" notifies the whole channel) and must be sent as
    &amp; &lt; &gt;. Teams: the message Microsoft documents for a card to a webhook, contentUrl null included."""
    view = {**_view(), "runbook": "Page <!channel> & check <https://portal.azure.com|the portal>"}
    notification = incident_notification(view)
    assert notification is not None
    hook = receiver(["ok", "ok"])
    assert _sink(hook.url, fmt="slack").deliver(notification).ok
    assert _sink(hook.url, fmt="teams").deliver(notification).ok
    slack, teams = (json.loads(r["body"]) for r in hook.requests)
    assert "runbook: Page &lt;!channel&gt; &amp; check &lt;https://portal.azure.com|the portal&gt;" in slack["text"]
    assert "<" not in slack["text"] and "&amp;lt;" not in slack["text"]
    assert teams["type"] == "message" and len(teams["attachments"]) == 1
    attachment = teams["attachments"][0]
    assert attachment == {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                          "content": attachment["content"]}
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4" and "$schema" in card
    assert any("Page <!channel> & check" in block["text"] for block in card["body"])  # a card shows it as is


def test_a_claim_outlives_the_longest_delivery_so_an_overlapping_run_does_not_resend(
        stores: Callable[[], Store], receiver: Callable[..., Receiver]) -> None:
    """With BREAKERPANEL_ALERT_TIMEOUT at its 60 s maximum, one POST may take 120 s (requests' connect and read
    timeouts each), and a record with two sinks longer. The claim was a fixed 120 s: a run starting 130 s
    after another, while that one was still inside the POST, saw the claim expired and sent it again."""
    store = stores()
    outbox.stage_incident(store, _view(), ["webhook"], WALL)
    hook = receiver(delay=1.0)  # the first run's POST is still open when the second run looks
    first_report: list[outbox.DeliveryReport] = []

    def first() -> None:
        first_report.append(outbox.deliver(stores(), {"webhook": _sink(hook.url, timeout=60)}, wall=WALL,
                                           holder="run-a"))

    runner = threading.Thread(target=first)
    runner.start()
    deadline = time.monotonic() + 10
    while not hook.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    second = outbox.deliver(stores(), {"webhook": _sink(hook.url, timeout=60)},
                            wall=WALL + timedelta(seconds=130), holder="run-b")
    runner.join()
    assert hook.requests and first_report[0].delivered == 1
    assert (second.delivered, second.skipped_claimed) == (0, 1)
    assert len(hook.requests) == 1
