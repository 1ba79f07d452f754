"""Is a backend URL one the gateway may be pointed at? https, an allowed DNS name, no secrets in it.

A rollout writes these URLs into APIM, which then sends every request (with its auth headers) there, so a
URL aimed at loopback, link-local metadata services or a bare IP is refused outright.

Hosts are judged in one canonical form: NFKC, the IDNA full stops (U+3002, U+FF0E, U+FF61) read as '.',
lower case, IDNA (punycode) for what is left, no trailing dot. A URL whose host is written any other way
(fullwidth letters, ideographic full stops, a trailing dot) is refused with the canonical form as the fix, so
the text APIM stores is the text that was checked. Whether a DNS name resolves to a private or loopback
address cannot be judged offline, so the host must also end in one of the allowed suffixes
(BREAKERPANEL_BACKEND_HOSTS; by default the Azure OpenAI / Azure AI Services domains).
"""

from __future__ import annotations

import ipaddress
import unicodedata
from collections.abc import Sequence
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
# The only query parameter a backend URL may carry. Anything else may be a credential (subscription-key,
# x-api-key, sig, code, …) that APIM would store in the backend URL in clear text, so none is let through.
ALLOWED_QUERY_KEYS = frozenset({"api-version"})
# Azure OpenAI, Azure AI Services (Cognitive Services) and AI Foundry endpoints, public and sovereign clouds.
DEFAULT_BACKEND_HOSTS: tuple[str, ...] = (
    ".openai.azure.com",
    ".cognitiveservices.azure.com",
    ".services.ai.azure.com",
    ".api.cognitive.microsoft.com",
    ".openai.azure.us",
    ".cognitiveservices.azure.us",
    ".openai.azure.cn",
    ".cognitiveservices.azure.cn",
)
_IDNA_DOTS = ("\u3002", "\uff0e", "\uff61")
_HTTPS_FIX = "use the endpoint's https URL, e.g. https://<resource>.openai.azure.com/openai"


def canonical_host(host: str) -> str | None:
    """The host as DNS and TLS see it (see the module docstring); None when it is not a valid IDNA name."""
    text = unicodedata.normalize("NFKC", host)
    for dot in _IDNA_DOTS:
        text = text.replace(dot, ".")
    text = text.lower().rstrip(".")
    if text.isascii():
        return text
    try:
        return text.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """`host` (canonical) is one of `allowed`: an entry starting with '.' matches that domain's sub-names,
    any other entry only that exact name."""
    for entry in allowed:
        entry = entry.lower()
        if (entry.startswith(".") and host.endswith(entry) and len(host) > len(entry)) or host == entry:
            return True
    return False


def check_backend_url(url: str, field: str, allowed_hosts: Sequence[str] = DEFAULT_BACKEND_HOSTS) -> list[Problem]:
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
    try:
        keys = [key for key, _ in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))]
    except ValueError:
        keys = ["(unreadable)"]
    refused_keys = sorted({key for key in keys if key.lower() not in ALLOWED_QUERY_KEYS})
    if refused_keys or (parts.query and not keys):
        shown = ", ".join(f"'{key}'" for key in refused_keys) or "an unreadable query"
        problems.append(
            Problem(
                field,
                f"the URL's query string carries {shown}; a backend URL may carry only api-version, and anything "
                "else (a subscription-key, x-api-key, sig, code…) would be stored in APIM in clear text",
                "remove it from the URL: give the credential to APIM as backend credentials or a named value "
                "(Key Vault), or let the API policy authenticate with the gateway's managed identity as it does",
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
    written = parts.hostname or ""
    if not written.strip("."):
        problems.append(Problem(field, "the URL has no host name", _HTTPS_FIX))
        return problems
    host = canonical_host(written)
    if host is None or not host:
        problems.append(Problem(field, f"the host '{written}' is not a valid internationalized domain name",
                                "write the host name in ASCII (punycode for an IDN)"))
        return problems
    if host != written:
        problems.append(
            Problem(
                field,
                f"the host is written '{written}', which DNS reads as '{host}'",
                f"write the host as '{host}' (no fullwidth characters, ideographic full stops or trailing dot)",
            )
        )
    reason = _blocked_host_reason(host)
    if reason:
        problems.append(
            Problem(
                field,
                f"the URL points at {reason} ('{host}')",
                "point the backend at the Azure OpenAI endpoint's public DNS name",
            )
        )
    elif not host_allowed(host, allowed_hosts):
        problems.append(
            Problem(
                field,
                f"'{host}' is not an allowed backend host (allowed: {', '.join(allowed_hosts) or 'none'})",
                "point the backend at an Azure OpenAI / AI Services endpoint; for a custom domain or a private "
                "endpoint name, an operator adds it to BREAKERPANEL_BACKEND_HOSTS",
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
