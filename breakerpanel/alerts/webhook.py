"""The webhook sink: one POST per notification, signed, with an idempotency key; every failure is data.

The URL is treated as a secret (a Teams Workflows or Slack incoming-webhook URL carries its own token), so it
never appears in an error recorded on the outbox: only the exception's type or the HTTP status does.
"""

from __future__ import annotations

import json
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
            response = self._session.post(self._url, data=body, headers=headers, timeout=self._timeout,
                                          verify=self._verify, allow_redirects=False)
        except requests.Timeout:
            return Delivery(ok=False, error=f"no answer within {self._timeout:g} s")
        except requests.RequestException as exc:
            return Delivery(ok=False, error=f"{type(exc).__name__}: the receiver could not be reached")
        status = response.status_code
        response.close()
        if 200 <= status < 300:
            return Delivery(ok=True, status=status)
        final = 400 <= status < 500 and status not in _RETRYABLE_4XX
        return Delivery(ok=False, final=final, status=status, error=f"HTTP {status}",
                        retry_after=_retry_after(response.headers.get("Retry-After")))

    def close(self) -> None:
        self._session.close()
