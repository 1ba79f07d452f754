"""The alert sinks' settings, read once; a wrong value is a SettingsError naming the variable and the fix.

APPLICATIONINSIGHTS_CONNECTION_STRING: set (infra/app sets it), custom events go to that component with the
app's Entra credential (breakerpanel.azure.clients.credential: managed identity in Azure, the static token
on the twin). BREAKERPANEL_WEBHOOK_URL: set, notifications are POSTed there too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from breakerpanel.alerts.payloads import WEBHOOK_FORMATS
from breakerpanel.settings import SettingsError

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class AlertSettings:
    connection_string: str | None = field(default=None, repr=False)
    webhook_url: str | None = field(default=None, repr=False)  # carries the receiver's token: never shown
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_format: str = "generic"
    timeout_seconds: float = 10.0

    @property
    def sink_names(self) -> list[str]:
        return [name for name, on in (("appInsights", self.connection_string), ("webhook", self.webhook_url)) if on]


def _connection_string(env: Mapping[str, str]) -> str | None:
    raw = env.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip()
    if not raw:
        return None
    parts = {k.strip().lower(): v.strip() for k, _, v in (p.partition("=") for p in raw.split(";") if p.strip())}
    if not parts.get("instrumentationkey"):
        raise SettingsError("APPLICATIONINSIGHTS_CONNECTION_STRING", "it has no InstrumentationKey",
                            "copy the connection string from the Application Insights resource's overview")
    endpoint = parts.get("ingestionendpoint", "")
    if endpoint and urlsplit(endpoint).scheme != "https":
        raise SettingsError("APPLICATIONINSIGHTS_CONNECTION_STRING", "its IngestionEndpoint is not https",
                            "use the component's https ingestion endpoint (the twin serves https too)")
    return raw


def _webhook_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("BREAKERPANEL_WEBHOOK_URL", "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    # The URL is a credential: the error names its shape, never the value.
    if not parts.hostname or parts.scheme not in ("https", "http"):
        raise SettingsError("BREAKERPANEL_WEBHOOK_URL", "it is not an http(s) URL", "give the receiver's https URL")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise SettingsError("BREAKERPANEL_WEBHOOK_URL", "it is plain http to a remote host",
                            "use https (plain http is accepted only for a receiver on this machine)")
    return raw


def load_alert_settings(env: Mapping[str, str] | None = None) -> AlertSettings:
    env = os.environ if env is None else env
    fmt = env.get("BREAKERPANEL_WEBHOOK_FORMAT", "").strip().lower() or "generic"
    if fmt not in WEBHOOK_FORMATS:
        raise SettingsError("BREAKERPANEL_WEBHOOK_FORMAT", f"{fmt!r} is not a known format",
                            f"use one of {', '.join(WEBHOOK_FORMATS)}")
    raw_timeout = env.get("BREAKERPANEL_ALERT_TIMEOUT", "").strip()
    try:
        timeout = float(raw_timeout) if raw_timeout else 10.0
    except ValueError:
        timeout = -1.0
    if not 0.1 <= timeout <= 60:
        raise SettingsError("BREAKERPANEL_ALERT_TIMEOUT", f"{raw_timeout!r} is not 0.1..60 seconds",
                            "give the seconds one delivery may take, e.g. 10")
    secret = env.get("BREAKERPANEL_WEBHOOK_SECRET", "").strip() or None
    return AlertSettings(connection_string=_connection_string(env), webhook_url=_webhook_url(env),
                         webhook_secret=secret, webhook_format=fmt, timeout_seconds=timeout)
