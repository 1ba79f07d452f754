"""Routes of the twin's Application Insights. The exporter POSTs `{IngestionEndpoint}/v2.1/track` (no
api-version) with `Authorization: Bearer` when it has a credential; the App Insights query API is
`{endpoint}/v1/apps/{appId}/query`."""

from __future__ import annotations

from twin.app_insights import handlers
from twin.http import route

ROUTES = [
    route("appinsights.track", "POST", "/v2.1/track", handlers.track, authenticated=True, needs_api_version=False),
    route("appinsights.query", "POST", "/v1/apps/{appId}/query", handlers.query_app, authenticated=True,
          needs_api_version=False),
]
