"""The webhook sink: one POST per notification, signed, with an idempotency key; every failure is data.

The URL is treated as a secret (a Teams Workflows or Slack incoming-webhook URL carries its own token), so it
never appears in an error recorded on the outbox: only the exception's type or the HTTP status does.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from breakerpanel.alerts.outbox import Delivery
from breakerpanel.alerts.payloads import signature, webhook_body

SIGNATURE_HEADER = "X-Breakerpanel-Signature"
TIMESTAMP_HEADER = "X-Breakerpanel-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Answers a retry cannot change: the receiver refuses this payload or this caller. Everything else (5xx,
# 408, 425, 429, no answer) is tried again on a later run.
_RETRYABLE_4XX = {408, 425, 429}
# Redirects are never followed: the signed body and its idempotency key go to the configured URL only. A
# permanent one (the hook moved) is a refusal a retry cannot change; a temporary one is retried.
_PERMANENT_REDIRECTS = {301, 308}
# A receiver's reason is kept only when it is code-shaped: Slack answers a refusal with a bare code as the
# body (400 invalid_payload, 403 action_prohibited, 404 channel_not_found / no_service, 410
# channel_is_archived: api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks), Power
# Automate with {"error": {"code": ..., "message": ...}}. Free text could echo the URL's token or the payload,
# so only a code's shape is kept: snake_case words (Slack) or PascalCase words (Power Automate, ARM-style);
# a random mixed-case token (a hook's secret part) is neither.
_REASON = re.compile(r"[a-z]{2,}(?:_[a-z0-9]+)*|(?:[A-Z][a-z]{2,}){1,12}")
_REASON_BYTES = 4096


def _reason(head: bytes) -> str | None:
    """The short error code in the first bytes of a refusal's body, or None."""
    text = head.decode("utf-8", "replace").strip()
    if len(text) <= 64 and _REASON.fullmatch(text):
        return text
    try:
        body = json.loads(text)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    for code in ((error.get("code") if isinstance(error, dict) else error), body.get("code")):
        if isinstance(code, str) and len(code) <= 64 and _REASON.fullmatch(code):
            return code
    return None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


class WebhookSink:
    name = "webhook"

    def __init__(self, url: str, secret: str | None, fmt: str, timeout_seconds: float,
                 verify: bool | str = True) -> None:
        self._url = url
        self._secret = secret
        self._format = fmt
        self._timeout = timeout_seconds
        # requests applies the timeout to the connect and to the read, each: one POST may take both.
        self.max_seconds = 2 * timeout_seconds
        self._verify = verify
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"WebhookSink(format={self._format!r}, url=<hidden>)"

    def deliver(self, notification: Mapping[str, Any]) -> Delivery:
        key = str(notification.get("idempotencyKey") or "")
        body = json.dumps(webhook_body(notification, self._format), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: key,
                   "User-Agent": "breakerpanel-alerts"}
        if self._secret:
            stamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = stamp
            headers[SIGNATURE_HEADER] = signature(self._secret, stamp, body)
        try:
            # stream: a refusal's body is read only as far as its reason code, never whole.
            response = self._session.post(self._url, data=body, headers=headers, timeout=self._timeout,
                                          verify=self._verify, allow_redirects=False, stream=True)
        except requests.Timeout:
            return Delivery(ok=False, error=f"no answer within {self._timeout:g} s")
        except requests.RequestException as exc:
            return Delivery(ok=False, error=f"{type(exc).__name__}: the receiver could not be reached")
        status = response.status_code
        # Any 2xx is delivered: Slack answers 200 "ok", a Teams Workflows trigger 202 Accepted.
        if 200 <= status < 300:
            response.close()
            return Delivery(ok=True, status=status)
        try:
            reason = _reason(next(response.iter_content(_REASON_BYTES), b""))
        except requests.RequestException:
            reason = None
        finally:
            response.close()
        error = f"HTTP {status}" + (f" {reason}" if reason else "")
        if 300 <= status < 400:
            error += " (redirect not followed: point BREAKERPANEL_WEBHOOK_URL at the receiver itself)"
        final = (400 <= status < 500 and status not in _RETRYABLE_4XX) or status in _PERMANENT_REDIRECTS
        return Delivery(ok=False, final=final, status=status, error=error,
                        retry_after=_retry_after(response.headers.get("Retry-After")))

    def close(self) -> None:
        self._session.close()
