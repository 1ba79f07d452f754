"""Is a backend URL one the gateway may be pointed at? https, a public DNS name, no secrets in it.

A rollout writes these URLs into APIM, which then sends every request (with its auth headers) there, so a
URL aimed at loopback, link-local metadata services or a bare IP is refused outright.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qsl, urlsplit

from breakerpanel.core.apim_limits import MAX_BACKEND_URL_LENGTH
from breakerpanel.core.model import Problem

_BLOCKED_HOSTS = frozenset(
    {
        "localhost",
        "metadata.azure.com",
        "metadata.azure.internal",
        "metadata.google.internal",
        "metadata",
        "instance-data",
    }
)
_BLOCKED_SUFFIXES = (".localhost", ".local", ".internal", ".metadata.azure.com")
# Query keys that carry credentials: APIM would store them in the backend URL in clear text.
_SECRET_QUERY_KEY = re.compile(r"(?i)^(api[-_]?key|key|code|sig|signature|token|access[-_]?token|secret|password|pwd)$")
_HTTPS_FIX = "use the endpoint's https URL, e.g. https://<resource>.openai.azure.com/openai"


def check_backend_url(url: str, field: str) -> list[Problem]:
    """Every reason `url` may not be a backend URL, each naming `field` and its fix."""
    if not url.strip():
        return [Problem(field, "the URL is empty", _HTTPS_FIX)]
    if len(url) > MAX_BACKEND_URL_LENGTH:
        return [
            Problem(
                field,
                f"the URL is {len(url)} characters; APIM takes at most {MAX_BACKEND_URL_LENGTH}",
                "shorten the URL to the endpoint's base path",
            )
        ]
    if url != url.strip() or any(c.isspace() for c in url):
        return [Problem(field, "the URL contains whitespace", "remove spaces and line breaks from the URL")]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return [Problem(field, f"the URL cannot be parsed ({exc})", _HTTPS_FIX)]
    problems: list[Problem] = []
    if parts.scheme.lower() != "https":
        shown = parts.scheme or "no scheme"
        problems.append(Problem(field, f"the URL uses {shown}; only https is allowed", _HTTPS_FIX))
    if parts.username is not None or parts.password is not None:
        problems.append(
            Problem(
                field,
                "the URL carries user credentials before the host",
                "remove 'user:password@'; use managed identity or backend credentials",
            )
        )
    if any(_SECRET_QUERY_KEY.match(key) for key, _ in parse_qsl(parts.query, keep_blank_values=True)):
        problems.append(
            Problem(
                field,
                "the URL's query string carries a key or token",
                "remove it from the URL; authenticate with managed identity instead",
            )
        )
    if parts.fragment:
        problems.append(
            Problem(
                field,
                "the URL has a '#fragment', which is never sent to a backend",
                "remove everything from '#'",
            )
        )
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        problems.append(Problem(field, "the URL has no host name", _HTTPS_FIX))
        return problems
    reason = _blocked_host_reason(host)
    if reason:
        problems.append(
            Problem(
                field,
                f"the URL points at {reason} ('{host}')",
                "point the backend at the Azure OpenAI endpoint's public DNS name",
            )
        )
    if port is not None and port == 0:
        problems.append(Problem(field, "the URL uses port 0", "remove the port or use 443"))
    return problems


def _blocked_host_reason(host: str) -> str:
    literal = _as_ip(host)
    if literal is not None:
        if literal.is_loopback:
            return "a loopback address"
        if literal.is_link_local or str(literal) in ("169.254.169.254", "fd00:ec2::254"):
            return "a link-local / cloud metadata address"
        if literal.is_unspecified:
            return "the unspecified address"
        return "an IP literal; backends must be DNS names so TLS names can be checked"
    if host in _BLOCKED_HOSTS:
        return "a local or metadata host"
    if host.endswith(_BLOCKED_SUFFIXES):
        return "a local or metadata host"
    last_label = host.rsplit(".", 1)[-1]
    # A real top-level domain is never numeric; 2130706433, 0x7f.1 or 127.1 are IPv4 in disguise.
    if last_label.isdigit() or last_label.startswith("0x"):
        return "an IP address written in a short or numeric form"
    return ""


def _as_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def redact_url(url: str) -> str:
    """The URL with user info, query string and fragment removed: safe to print."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable url>"
    if ":" in host:
        host = f"[{host}]"
    suffix = "?…" if parts.query else ""
    return f"{parts.scheme}://{host}{port}{parts.path}{suffix}" if parts.scheme else "<url>"
