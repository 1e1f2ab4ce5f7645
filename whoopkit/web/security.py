"""Loopback-only by default, security headers on every response, and an access token for remote use.

Remote access (a non-loopback ``HOST``) needs BOTH ``WHOOP_WEB_ALLOW_REMOTE=1`` and
``WHOOP_WEB_ACCESS_TOKEN``; every request must then carry the token, either

* once as ``?access_token=<token>`` on any page (it is moved into an HttpOnly, SameSite=Strict cookie
  and the browser is redirected to the same URL without it), or
* as HTTP basic auth with the token as the password (any user name), e.g. for curl.

Without an access token the app also refuses requests from non-loopback clients and requests whose
``Host`` header is not a loopback name (DNS-rebinding protection).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
from http.cookies import SimpleCookie
from ipaddress import ip_address
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from whoopkit.config import Settings
from whoopkit.errors import ConfigError

logger = logging.getLogger(__name__)

ACCESS_COOKIE = "whoopkit_access"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
# Paths a load balancer or the user's own checks may poll without the access token.
OPEN_PATHS = frozenset({"/healthz"})


def origin_of(url: str) -> str:
    """``https://api.example.com/a/b`` → ``https://api.example.com``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    """The CSP: same-origin scripts and styles only, no inline script, no framing."""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        f"form-action 'self' {origin_of(settings.whoop_oauth_base_url)}"
    )


# The demo's simulated WHOOP (mounted under /_fake_whoop) styles its consent page with one <style>
# block; it runs no script, so only inline styles are relaxed, and only there.
FAKE_PREFIX = "/_fake_whoop"
FAKE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def _is_loopback_host(host: str) -> bool:
    host = host.strip().lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, host: str | None = None) -> None:
    """Refuse to serve on a non-loopback address unless remote access is explicitly protected.

    Raises:
        ConfigError: the host is not loopback and remote access is not enabled with an access token.
    """
    host = host if host is not None else settings.host
    if _is_loopback_host(host):
        return
    token = settings.web_access_token.get_secret_value() if settings.web_access_token else ""
    if not settings.web_allow_remote or not token:
        raise ConfigError(
            f"Refusing to listen on {host}: the dashboard shows your health data, so it only listens on "
            "127.0.0.1 unless you set both WHOOP_WEB_ALLOW_REMOTE=1 and WHOOP_WEB_ACCESS_TOKEN=<a long "
            "random secret> (then open /?access_token=<secret> once, or use HTTP basic auth with it)."
        )
    if len(token) < 16:
        raise ConfigError("WHOOP_WEB_ACCESS_TOKEN must be at least 16 characters long.")


_SECRET_PARAMS = re.compile(r"((?:access_token|code|state)=)[^&\s\"]*", re.IGNORECASE)


def redact(text: str) -> str:
    """``/callback?code=abc&state=xyz`` → ``/callback?code=REDACTED&state=REDACTED`` (also access_token)."""
    return _SECRET_PARAMS.sub(r"\1REDACTED", text)


class RedactSecretsFilter(logging.Filter):
    """Keeps OAuth codes, states and the access token out of uvicorn's access log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact secret query parameters in the record's arguments; never drops a record."""
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install_log_redaction() -> None:
    """Attach :class:`RedactSecretsFilter` to uvicorn's access logger (once)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSecretsFilter) for f in access.filters):
        access.addFilter(RedactSecretsFilter())


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class SecurityMiddleware:
    """Pure ASGI middleware (no buffering, streaming stays streaming) adding headers and access checks."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        """Wrap ``app`` with the checks ``settings`` asks for."""
        self.app = app
        self.settings = settings
        token = settings.web_access_token.get_secret_value() if settings.web_access_token else ""
        self.access_token = token if settings.web_allow_remote and token else ""
        # The cookie carries a digest, not the token itself, so any characters are fine in the token.
        self.cookie_value = hmac.new(
            self.access_token.encode(), b"whoopkit-access", hashlib.sha256
        ).hexdigest()
        self.allowed_hosts = set(LOOPBACK_NAMES)
        for url in (settings.whoop_redirect_uri,):
            hostname = urlsplit(url).hostname
            if hostname:
                self.allowed_hosts.add(hostname.lower())
        self.allowed_hosts.add(settings.host.lower())
        self.headers = [
            (b"content-security-policy", content_security_policy(settings).encode()),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-content-type-options", b"nosniff"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then pass it on with the security headers added to the response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        headers = self.headers
        if scope["path"].startswith(FAKE_PREFIX + "/"):
            headers = [(b"content-security-policy", FAKE_CSP.encode()), *self.headers[1:]]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in headers if k not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            await self._respond(send_with_headers, *refusal)
            return
        if self.access_token and scope["path"] not in OPEN_PATHS:
            verdict = self._check_access(scope)
            if verdict == "redirect":
                await self._redirect_setting_cookie(scope, send_with_headers)
                return
            if verdict == "deny":
                await self._respond(
                    send_with_headers,
                    401,
                    "This whoopkit dashboard needs its access token: open it once with "
                    "?access_token=<WHOOP_WEB_ACCESS_TOKEN>, or use HTTP basic auth with the token as "
                    "password.",
                    [(b"www-authenticate", b'Basic realm="whoopkit", charset="UTF-8"')],
                )
                return
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        if self.access_token:
            return None
        client = scope.get("client")
        if client:
            try:
                remote = not ip_address(str(client[0])).is_loopback
            except ValueError:
                remote = False  # not an IP (a unix socket or a test client): nothing to judge
            if remote:
                logger.warning("refused a request from a non-loopback client")
                return 403, "This dashboard only answers requests from this computer."
        host = _header(scope, b"host")
        if host is not None:
            hostname = urlsplit(f"//{host}").hostname or ""
            if hostname.lower() not in self.allowed_hosts:
                return (
                    421,
                    "Unexpected Host header: open the dashboard at http://127.0.0.1 or http://localhost.",
                )
        return None

    def _check_access(self, scope: Scope) -> str:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if "access_token" in query:
            return "redirect" if self._matches(query["access_token"]) else "deny"
        cookie_header = _header(scope, b"cookie")
        if cookie_header:
            cookie: SimpleCookie = SimpleCookie()
            try:
                cookie.load(cookie_header)
            except Exception:  # a malformed cookie header is simply "no cookie"
                cookie = SimpleCookie()
            morsel = cookie.get(ACCESS_COOKIE)
            if morsel is not None and hmac.compare_digest(morsel.value.encode(), self.cookie_value.encode()):
                return "ok"
        auth = _header(scope, b"authorization")
        if auth and auth.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return "deny"
            _, _, password = decoded.partition(":")
            if self._matches(password):
                return "ok"
        return "deny"

    def _matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self.access_token.encode())

    async def _redirect_setting_cookie(self, scope: Scope, send: Any) -> None:
        query = [
            (k, v)
            for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"))
            if k != "access_token"
        ]
        location = scope["path"] + (f"?{urlencode(query)}" if query else "")
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = (
            f"{ACCESS_COOKIE}={self.cookie_value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000{secure}"
        )
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode()),
                    (b"set-cookie", cookie.encode()),
                    (b"content-length", b"0"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _respond(
        send: Any, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        body = text.encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    *(extra or []),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
