"""Application Insights custom events, through the Azure Monitor OpenTelemetry exporter.

Verified in the installed azure-monitor-opentelemetry-exporter (1.0.0b58, which azure-monitor-opentelemetry
1.8.11 depends on), export/logs/_exporter.py: a log record whose attributes hold
`microsoft.custom_event.name` becomes an `EventData` envelope ("Microsoft.ApplicationInsights.Event") named
by it, every other attribute a custom property (customDimensions; values cut at 8 KiB) and the JSON object in
`microsoft.custom_measurements` its measurements (customMeasurements). The envelopes are POSTed to
`<IngestionEndpoint>/v2.1/track` of the connection string with an Entra token (scope
https://monitor.azure.com//.default) when a credential is given, which is how infra/app's component takes
them (local auth is off).

Why not `configure_azure_monitor()`: it installs process-global providers and instruments every library, and
it cannot say whether one record reached ingestion. The outbox needs exactly that answer, so this sink owns a
private LoggerProvider with a synchronous processor and an exporter wrapper that keeps the export result, and
its own logger (no propagation: the events never reach the Functions host's log stream as trace lines). No
offline storage (the outbox is the retry store) and no SDK retries (the outbox backs off across runs).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from azure.core.credentials import TokenCredential

from breakerpanel.alerts.outbox import Delivery

_EVENT_NAME_ATTRIBUTE = "microsoft.custom_event.name"
_MEASUREMENTS_ATTRIBUTE = "microsoft.custom_measurements"
_ids = count()
# Ingestion refuses an item whose time is more than 48 h before its clock ("103: Field 'time' on type 'Envelope'
# is older than the allowed min date. Expected: now - 172800000ms"), and the event's time is the watchdog's
# decision (it is never moved). Past that age a failed delivery can never succeed: it is a refusal, recorded
# with why, not five more days of hourly retries that end in `expired`.
INGESTION_MAX_AGE = timedelta(hours=48)


class _ResultKeeper:
    """A LogRecordExporter that forwards to the Azure Monitor exporter and remembers each batch's result."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.results: list[Any] = []

    def export(self, batch: Sequence[Any]) -> Any:
        result = self._inner.export(batch)
        self.results.append(result)
        return result

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        self._inner.shutdown()
        # The exporter's shutdown closes only its offline storage; its HTTP client (a pooled keep-alive
        # connection to ingestion) stays open unless closed here.
        self._inner.client.close()


class AppInsightsSink:
    name = "appInsights"

    def __init__(self, connection_string: str, credential: TokenCredential | None, timeout_seconds: float,
                 now: Callable[[], datetime] | None = None) -> None:
        from azure.monitor.opentelemetry.exporter import AzureMonitorLogExporter
        from opentelemetry.instrumentation.logging.handler import LoggingHandler
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
        from opentelemetry.sdk.resources import Resource

        # `timeout` is only azure-core's connection timeout (the exporter passes it as connection_timeout); the
        # read timeout must be given too, or it stays at the transport's 300 s and an ingestion endpoint that
        # accepts and then stalls holds the run far past BREAKERPANEL_ALERT_TIMEOUT.
        exporter = AzureMonitorLogExporter(
            connection_string=connection_string, credential=credential, disable_offline_storage=True,
            timeout=timeout_seconds, read_timeout=timeout_seconds, retry_total=0,
        )
        self._keeper = _ResultKeeper(exporter)
        # cloud_RoleName in App Insights: the workbook and the alert rules do not depend on it, people do.
        self._provider = LoggerProvider(resource=Resource.create({"service.name": "breakerpanel"}))
        self._provider.add_log_record_processor(SimpleLogRecordProcessor(self._keeper))
        self._logger = logging.getLogger(f"breakerpanel.alerts.customevents.{next(_ids)}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self._handler = LoggingHandler(level=logging.INFO, logger_provider=self._provider)
        self._logger.addHandler(self._handler)
        self._lock = threading.Lock()  # the result list is per emit: one emit at a time
        self._now = now or (lambda: datetime.now(UTC))  # ingestion's clock: the real one
        # Connect and read timeouts, each, plus the credential's token request (managed identity).
        self.max_seconds = 2 * timeout_seconds + 30

    def deliver(self, notification: Mapping[str, Any]) -> Delivery:
        """Send one custom event and wait for ingestion's answer. Never raises."""
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        moment: datetime | None = None
        try:
            dimensions = {str(k): str(v) for k, v in (notification.get("dimensions") or {}).items()}
            extra: dict[str, Any] = {**dimensions, _EVENT_NAME_ATTRIBUTE: str(notification["event"]),
                                     "idempotencyKey": str(notification.get("idempotencyKey") or "")}
            measurements = notification.get("measurements") or {}
            if measurements:
                # OpenTelemetry attributes take no mappings; the exporter reads this one as JSON text.
                extra[_MEASUREMENTS_ATTRIBUTE] = json.dumps(measurements)
            record = self._logger.makeRecord(
                self._logger.name, logging.INFO, __file__, 0, str(notification.get("title") or ""), (), None,
                extra=extra,
            )
            # The event's own time (when the watchdog decided), not when this delivery ran: a retried
            # delivery keeps its place on the Portal's timeline and in the alert rules' windows.
            when = notification.get("time")
            moment = datetime.fromisoformat(str(when).replace("Z", "+00:00")) if when else None
            if moment is not None:
                moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
                record.created = moment.timestamp()
            with self._lock:
                self._keeper.results.clear()
                self._logger.handle(record)
                results = list(self._keeper.results)
        except Exception as exc:  # a defect or a bad notification: recorded on the entry, the run goes on
            return Delivery(ok=False, error=f"{type(exc).__name__}: could not emit the event")
        if results and all(r == LogRecordExportResult.SUCCESS for r in results):
            return Delivery(ok=True)
        if moment is not None and self._now() - moment > INGESTION_MAX_AGE:
            return Delivery(ok=False, final=True,
                            error="the event's time is more than 48 h ago: ingestion no longer accepts it")
        return Delivery(ok=False, error="ingestion did not accept the event (see the exporter's log)")

    def close(self) -> None:
        """Release what this sink holds. A sink is opened per run: in a long-lived Functions worker, a logger
        left in logging's registry keeps its handler, provider, exporter and ingestion connection alive for the
        life of the process, one more set every watchdog run."""
        # Best effort: nothing is pending (the processor is synchronous).
        self._logger.removeHandler(self._handler)
        with contextlib.suppress(Exception):
            self._handler.close()
        with contextlib.suppress(Exception):
            self._provider.shutdown()
