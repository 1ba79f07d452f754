"""An HTTP client for the deployed app's rollout API (/api/rollouts), authenticating as the app expects.

In Azure every route needs the function key (the Functions host checks `x-functions-key`) and, with App
Service Authentication on, a Microsoft Entra token for the app registration (`api://<client id>/.default`),
from azure-identity: `DefaultAzureCredential` (managed identity, environment, `az login`, ...) or
`AzureCliCredential` alone. A local host in `BREAKERPANEL_AUTH=functionKey` mode needs only the key.

Neither a key nor a token is ever sent over plain http to a host that is not loopback, nor along a redirect
(a 3xx is reported, never followed), and neither appears in an error message.
Every failure is an `AppError`: a one-line message, the fix, and the CLI's exit code
(2: the call as configured cannot succeed; 3: the app could not be reached or answered something unreadable;
1: the app refused it for the rollout's state).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol
from urllib.parse import quote, urlencode, urlsplit

from breakerpanel.core.rollout_api import instance_id_problem

CredentialKind = Literal["default", "cli"]
ENV_URL = "BREAKERPANEL_APP_URL"
ENV_SCOPE = "BREAKERPANEL_APP_SCOPE"
ENV_KEY = "BREAKERPANEL_APP_KEY"
ENV_CREDENTIAL = "BREAKERPANEL_APP_CREDENTIAL"
ENV_CA = "REQUESTS_CA_BUNDLE"
# The app's default roles (breakerpanel/settings.py); an app that renames them names its own in the 403.
DEPLOYER_ROLE = "Rollout.Deploy"
APPROVER_ROLE = "Rollout.Approve"
EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3
MAX_BODY_BYTES = 4 * 1024 * 1024


class AppError(Exception):
    """Why a call to the app did not give an answer the CLI can use, and what to do about it."""

    def __init__(self, message: str, fix: str, exit_code: int, *, status: int | None = None,
                 code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"{message}. Fix: {fix}" if fix else message)
        self.message = message
        self.fix = fix
        self.exit_code = exit_code
        self.status = status
        self.code = code
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "fix": self.fix, "httpStatus": self.status, "code": self.code}}


class _Token(Protocol):
    token: str
    expires_on: int


class TokenSource(Protocol):
    def get_token(self, *scopes: str) -> _Token: ...


@dataclass(frozen=True)
class AppConfig:
    url: str
    scope: str | None
    key: str | None = field(default=None, repr=False)
    credential: CredentialKind = "default"
    ca_bundle: str | None = None
    timeout: float = 30.0


def is_loopback(host: str) -> bool:
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _scope(raw: str) -> str:
    """`api://<client id>/.default` from what a person is likely to paste: the client id, `api://<id>`, or
    the scope itself. A token for the app registration is what Easy Auth's allowedAudiences admit."""
    value = raw.strip()
    if not value:
        return value
    if "://" not in value:
        value = f"api://{value}"
    return value if value.endswith("/.default") else value.rstrip("/") + "/.default"


def app_config(env: Mapping[str, str] | None = None, *, url: str | None = None, scope: str | None = None,
               key: str | None = None, credential: str | None = None, ca_bundle: str | None = None,
               timeout: float = 30.0) -> AppConfig:
    """Flags win over settings; a problem is an AppError naming the flag/setting and the fix (exit 2)."""
    env = os.environ if env is None else env
    raw_url = (url if url else env.get(ENV_URL, "")).strip()
    if not raw_url:
        raise AppError(f"no app URL: give --app URL or set {ENV_URL}",
                       "the function app's https URL, e.g. https://<app>.azurewebsites.net", EXIT_USAGE)
    parts = urlsplit(raw_url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise AppError(f"--app / {ENV_URL}: {raw_url[:200]!r} is not an http(s) URL",
                       "give the function app's base URL, e.g. https://<app>.azurewebsites.net", EXIT_USAGE)
    if parts.query or parts.fragment or parts.username or parts.password:
        raise AppError(f"--app / {ENV_URL}: the URL carries a query, fragment or user name",
                       f"give the bare base URL; the function key goes in --key or {ENV_KEY}", EXIT_USAGE)
    scope_value = _scope(scope if scope is not None else env.get(ENV_SCOPE, "")) or None
    key_value = (key if key is not None else env.get(ENV_KEY, "")).strip() or None
    if scope_value is None and key_value is None:
        raise AppError(
            f"no credentials for {parts.hostname}: neither a scope ({ENV_SCOPE}, --scope) nor a function key "
            f"({ENV_KEY}, --key)",
            f"in Azure set {ENV_SCOPE}=api://<app registration client id>/.default and {ENV_KEY}=<function key>; "
            f"for a local host in functionKey mode set {ENV_KEY}", EXIT_USAGE)
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise AppError(f"--app / {ENV_URL}: refusing to send a function key or token over plain http to "
                       f"{parts.hostname}", "use the app's https URL (plain http is for loopback hosts only)",
                       EXIT_USAGE)
    kind = (credential if credential is not None else env.get(ENV_CREDENTIAL, "")).strip().lower() or "default"
    if kind not in ("default", "cli"):
        raise AppError(f"--credential / {ENV_CREDENTIAL}: {kind!r} is not a credential kind",
                       "use 'default' (DefaultAzureCredential) or 'cli' (AzureCliCredential: az login)", EXIT_USAGE)
    ca = (ca_bundle if ca_bundle is not None else env.get(ENV_CA, "")).strip() or None
    if ca is not None and not os.path.isfile(ca):
        raise AppError(f"--ca / {ENV_CA}: {ca!r} is not a readable file",
                       "point it at the CA bundle that signed the app's certificate, or unset it", EXIT_USAGE)
    base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    return AppConfig(base, scope_value, key_value, kind, ca, timeout)  # type: ignore[arg-type]


def _credential(kind: CredentialKind) -> TokenSource:
    from azure.identity import AzureCliCredential, DefaultAzureCredential

    if kind == "cli":
        return AzureCliCredential()
    # A command line never pops a browser: the person signs in with `az login` (or azd, PowerShell, VS Code).
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    retry_after: float | None


def _first_line(text: str, limit: int = 300) -> str:
    line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
    return line[:limit]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: urllib's handler copies every header but Content-Length/-Type onto the new
    request — the function key and the bearer token included — to whatever host and scheme `Location` names
    (plain http too). A 3xx comes back as the HTTPError it is, and the client reports it."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


class AppClient:
    """One app, one identity (the azure-identity credential `config.credential` names). `opener` is
    urllib's `OpenerDirector.open` (never following redirects) unless given."""

    def __init__(self, config: AppConfig, opener: Callable[..., Any] | None = None) -> None:
        self.config = config
        self._token: tuple[str, float] | None = None
        context = ssl.create_default_context(cafile=config.ca_bundle) if config.ca_bundle else None
        self._open = opener or urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                                           _NoRedirect()).open

    # ----------------------------------------------------------------------------------------- auth

    def _bearer(self) -> str:
        scope = str(self.config.scope)
        if self._token is not None and self._token[1] - 120 > time.time():
            return self._token[0]
        from azure.core.exceptions import AzureError

        try:
            token = _credential(self.config.credential).get_token(scope)
        except AzureError as exc:
            raise AppError(
                f"cannot get a Microsoft Entra token for {scope} ({type(exc).__name__}: {_first_line(str(exc), 200)})",
                f"sign in (`az login`), or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET for a service "
                f"principal; check {ENV_SCOPE} is api://<the app registration's client id>/.default",
                EXIT_USAGE) from None
        self._token = (token.token, float(token.expires_on))
        return token.token

    def _headers(self, has_body: bool) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "breakerpanel-cli"}
        if has_body:
            headers["Content-Type"] = "application/json"
        if self.config.key:
            headers["x-functions-key"] = self.config.key
        if self.config.scope:
            headers["Authorization"] = f"Bearer {self._bearer()}"
        return headers

    # ----------------------------------------------------------------------------------------- transport

    def call(self, method: str, path: str, body: Any = None, *, role: str = DEPLOYER_ROLE,
             query: Mapping[str, str] | None = None) -> Reply:
        """One call; 2xx comes back as a Reply, anything else as an AppError saying what to do."""
        url = f"{self.config.url}{path}" + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers=self._headers(data is not None))
        try:
            with self._open(request, timeout=self.config.timeout) as response:
                return self._reply(response.status, response.headers, response.read(MAX_BODY_BYTES), role)
        except urllib.error.HTTPError as exc:
            with exc:
                return self._reply(exc.code, exc.headers, exc.read(MAX_BODY_BYTES), role)
        except urllib.error.URLError as exc:
            raise self._unreachable(exc.reason) from None
        except (OSError, ValueError) as exc:  # reset mid-answer, timeouts while reading, a broken status line
            raise self._unreachable(exc) from None

    def _unreachable(self, reason: object) -> AppError:
        host = urlsplit(self.config.url).hostname
        where = f"{self.config.url} (--app / {ENV_URL})"
        if isinstance(reason, ssl.SSLCertVerificationError):
            return AppError(f"the TLS certificate of {host} is not trusted ({_first_line(str(reason), 160)})",
                            f"for a host with its own CA give --ca FILE or {ENV_CA}", EXIT_UNREACHABLE)
        if isinstance(reason, socket.gaierror):
            return AppError(f"cannot resolve {host}: {where}", "check the app's host name", EXIT_UNREACHABLE)
        if isinstance(reason, ConnectionRefusedError):
            return AppError(f"nothing answers at {where}: connection refused",
                            "check the URL and port, and that the app is running", EXIT_UNREACHABLE)
        if isinstance(reason, TimeoutError | socket.timeout):
            return AppError(f"{where} did not answer within {self.config.timeout:g} s",
                            "try again; check the app is running and reachable from here", EXIT_UNREACHABLE)
        return AppError(f"cannot reach {where}: {_first_line(str(reason), 160) or type(reason).__name__}",
                        "check the URL and your network", EXIT_UNREACHABLE)

    def _reply(self, status: int, headers: Any, raw: bytes, role: str) -> Reply:
        retry_after = retry_after_seconds(headers.get("Retry-After") if headers is not None else None)
        text = raw.decode("utf-8", "replace").strip()
        body: Any = None
        readable = True
        if text:
            try:
                body = json.loads(text)
            except ValueError:
                readable = False
        if 200 <= status < 300:
            if not readable:
                kind = headers.get("Content-Type", "unknown type") if headers is not None else "unknown type"
                raise AppError(
                    f"{self.config.url} answered {status} with a body that is not JSON ({kind}, {len(raw)} bytes)",
                    f"is {ENV_URL} the function app's base URL (not a portal or proxy page)?", EXIT_UNREACHABLE,
                    status=status)
            return Reply(status, body, retry_after)
        raise self._refusal(status, body if isinstance(body, Mapping) else None, headers, role, retry_after)

    def _refusal(self, status: int, body: Mapping[str, Any] | None, headers: Any, role: str,
                 retry_after: float | None) -> AppError:
        error = body.get("error") if body is not None and isinstance(body.get("error"), Mapping) else {}
        code = str(error.get("code") or "") or None
        reason = _first_line(str(error.get("message") or ""), 600)
        problems = [p for p in error.get("problems") or [] if isinstance(p, Mapping)]
        if problems:
            reason += "".join(f"\n  {p.get('field')}: {p.get('problem')} — fix: {p.get('fix')}" for p in problems)
        if status == 401:
            if code:  # the app's own answer: it got a principal it cannot use
                return AppError(f"401 {code}: {reason}", f"sign in with an Entra identity for {self.config.scope}",
                                EXIT_USAGE, status=status, code=code)
            key_fix = (f"set {ENV_KEY} (or --key) to a key of the app: `az functionapp keys list -g <group> -n <app>` "
                       "(locally: the key the host was started with)")
            if not self.config.scope:
                return AppError("401 Unauthorized: the Functions host refused the function key", key_fix,
                                EXIT_USAGE, status=status)
            # Neither App Service Authentication nor the Functions host says which of the two it refused.
            return AppError("401 Unauthorized: App Service Authentication refused the token, or the Functions host "
                            "refused the function key",
                            f"check {ENV_SCOPE} is api://<the app registration's client id>/.default and sign in "
                            f"again (`az login`); {key_fix}", EXIT_USAGE, status=status)
        if status == 403:
            if code == "FourEyes":
                return AppError(f"403 {code}: {reason}", "another person with the approver role approves it",
                                EXIT_REFUSED, status=status, code=code)
            return AppError(
                f"403 Forbidden: the signed-in identity lacks the app role {role} ({reason or 'no reason given'})",
                f"ask an owner of the app registration to assign {role} (infra/README.md, 'App registration'), "
                "then sign in again so the new role is in the token", EXIT_USAGE, status=status, code=code)
        if status == 404:
            what = reason or "no such route"
            return AppError(f"404 {code or 'NotFound'}: {what}",
                            "check the rollout id (`breakerpanel list`)" if code == "RolloutNotFound"
                            else f"check {ENV_URL} is the function app's base URL (the API is under /api/rollouts)",
                            EXIT_USAGE, status=status, code=code)
        if status == 400:
            return AppError(f"400 {code or 'BadRequest'}: {reason or 'the app refused the request'}",
                            "correct the field(s) named above", EXIT_USAGE, status=status, code=code)
        if status == 409:
            return AppError(f"409 {code or 'Conflict'}: {reason or 'refused for the rollout’s current state'}", "",
                            EXIT_REFUSED, status=status, code=code)
        if 300 <= status < 400:
            location = _first_line(str(headers.get("Location") or "") if headers is not None else "", 200)
            return AppError(f"{self.config.url} answered {status}, a redirect to {location or 'nowhere'}, which is "
                            "never followed (the function key and token would go with it)",
                            f"set {ENV_URL} (--app) to the function app's own https base URL", EXIT_UNREACHABLE,
                            status=status, code=code)
        if status == 429 or status >= 500:
            return AppError(f"{status} {code or 'unavailable'}: {reason or 'the app could not answer now'}",
                            "try again later" if status != 500 or not code else
                            f"the app is misconfigured: {error.get('setting') or 'see its log'}",
                            EXIT_UNREACHABLE, status=status, code=code, retry_after=retry_after)
        return AppError(f"{status} {code or ''}: {reason or 'unexpected answer'}".replace("  ", " "), "",
                        EXIT_UNREACHABLE, status=status, code=code)

    # ----------------------------------------------------------------------------------------- the API

    @staticmethod
    def _id(instance_id: str) -> str:
        problem = instance_id_problem(instance_id)
        if problem is not None:
            raise AppError(f"ID {instance_id[:120]!r}: {problem}",
                           "give the instanceId that deploy or list printed (rollout-…)", EXIT_USAGE)
        return quote(instance_id, safe="")

    def start(self, request: Any) -> Reply:
        return self.call("POST", "/api/rollouts", request, role=DEPLOYER_ROLE)

    def status(self, instance_id: str) -> Reply:
        # The app lets either role read one rollout: an approver reads the gate they answer.
        return self.call("GET", f"/api/rollouts/{self._id(instance_id)}", role=f"{DEPLOYER_ROLE} or {APPROVER_ROLE}")

    def list(self, target: str | None = None, days: int | None = None, active: bool = False) -> Reply:
        query = {"target": target or "", "days": str(days) if days else "", "active": "true" if active else ""}
        return self.call("GET", "/api/rollouts", role=f"{DEPLOYER_ROLE} or {APPROVER_ROLE}",
                         query={k: v for k, v in query.items() if v})

    def answer(self, instance_id: str, approved: bool, wave: int, digest: str, comment: str = "") -> Reply:
        body = {"wave": wave, "whatIfDigest": digest, "comment": comment}
        verb = "approve" if approved else "reject"
        return self.call("POST", f"/api/rollouts/{self._id(instance_id)}/{verb}", body, role=APPROVER_ROLE)

    def cancel(self, instance_id: str, comment: str = "") -> Reply:
        body = {"comment": comment} if comment else {}
        return self.call("POST", f"/api/rollouts/{self._id(instance_id)}/cancel", body, role=APPROVER_ROLE)
