"""Which endpoint setting a connection failure is about, so the person knows what to check.

azure-core's ServiceRequestError carries the transport's message ("HTTPSConnection(host='x', port=443):
Failed to resolve 'x'" from urllib3 under requests); the host and port in it are matched against the
endpoint settings the clients were built from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

_HOST_PORT = re.compile(r"host='(?P<host>[^']+)',\s*port=(?P<port>\d+)")
_RESOLVE = re.compile(r"(?i)failed to resolve|name or service not known|nodename nor servname|getaddrinfo")


def _host_port(url: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(url)
        return (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None


def unreachable_fix(message: str, endpoints: Mapping[str, str]) -> str:
    """`endpoints`: setting name → URL it holds now (e.g. BREAKERPANEL_ARM_ENDPOINT → https://…)."""
    found = _HOST_PORT.search(message)
    what = "its name does not resolve (DNS)" if _RESOLVE.search(message) else "nothing answered there"
    if found is not None:
        where = (found["host"].lower(), int(found["port"]))
        named = [name for name, url in endpoints.items() if _host_port(url) == where]
        place = f"{where[0]}:{where[1]}"
    else:
        named, place = [], "the endpoint"
    if named:
        settings = " and ".join(f"{name} ({endpoints[name]})" for name in named)
        return (f"no connection to {place}: {what}; it is where {settings} points — check that setting, the "
                "network and DNS (for the local twin: is `breakerpanel twin` running, on the port it printed?)")
    listed = ", ".join(f"{name}={url}" for name, url in endpoints.items())
    return f"no connection to {place}: {what}; check the endpoint settings ({listed}), the network and DNS"
