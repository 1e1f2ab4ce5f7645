"""Loopback-only by default, security headers on every response, and an access token for remote use.

Remote access (a non-loopback ``HOST``) needs BOTH ``WHOOP_WEB_ALLOW_REMOTE=1`` and
``WHOOP_WEB_ACCESS_TOKEN``; every request must then carry the token, either

* once as ``?access_token=<token>`` on any page (it is moved into an HttpOnly, SameSite=Strict cookie
  and the browser is redirected to the same URL without it), or
* as HTTP basic auth with the token as the password (any user name), e.g. for curl.

Without an access token the app also refuses requests from non-loopback clients and requests whose
``Host`` header is not a loopback name (DNS-rebinding protection); a malformed ``Host`` is a 400.

The return from WHOOP is a cross-site navigation, which never carries the SameSite=Strict access
cookie, so ``/login`` also sets a login-scoped cookie: SameSite=Lax, ``Path=/callback``, ten minutes,
accepted on ``/callback`` only.

CSRF: every response to a browser without one gets a random ``whoopkit_session`` cookie (HttpOnly,
SameSite=Lax); state-changing forms carry :func:`csrf_token` of it, an HMAC with a key that lives in
this process only, and :func:`check_form_post` checks it (and refuses ``Origin: null`` and cross-site).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
from http.cookies import SimpleCookie
from ipaddress import ip_address
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from whoopkit.config import Settings
from whoopkit.errors import ConfigError
from whoopkit.logs import RedactSecretsFilter as RedactSecretsFilter  # re-exported: shared with MCP HTTP
from whoopkit.logs import install_log_redaction as install_log_redaction
from whoopkit.logs import redact as redact
from whoopkit.service import one_answer

logger = logging.getLogger(__name__)

ACCESS_COOKIE = "whoopkit_access"
LOGIN_ACCESS_COOKIE = "whoopkit_access_login"
LOGIN_RETURN_PATH = "/callback"
SESSION_COOKIE = "whoopkit_session"
CSRF_FIELD = "csrf_token"
_SESSION_RE = re.compile(r"[A-Za-z0-9_-]{32,64}")
# Signs the CSRF tokens; process memory only, so a restart just asks open pages to be reloaded.
_CSRF_KEY = secrets.token_bytes(32)
CSRF_KEY_STATE = "whoopkit_csrf_key"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
# Paths a load balancer or the user's own checks may poll without the access token.
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
# What another website may still make the browser request (``Sec-Fetch-Site: cross-site``): the login
# round trip (WHOOP's consent page sends the browser back to /callback), and, as a top-level navigation
# only, the dashboard it lands on (after a cross-site redirect chain the browser still says cross-site).
CROSS_SITE_PATHS = frozenset({"/login", "/callback", "/healthz"})
CROSS_SITE_LANDINGS = frozenset({"/", "/dashboard"})


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


def _hostname(host: str) -> str | None:
    """The name in a ``Host`` header, or None when it is malformed (``[::1`` or a bad port)."""
    try:
        parts = urlsplit(f"//{host}")
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        return None
    return parts.hostname or ""


def _is_loopback_host(host: str) -> bool:
    host = host.strip().lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, host: str | None = None, *, hosted: bool = False) -> None:
    """Refuse to serve on a non-loopback address unless remote access is explicitly protected.

    Hosted mode (``hosted``) is explicitly many users signing in with WHOOP: any address is allowed.

    Raises:
        ConfigError: the host is not loopback and remote access is not enabled with an access token.
    """
    host = host if host is not None else settings.host
    if hosted or _is_loopback_host(host):
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


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _cookies(scope: Scope) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    header = _header(scope, b"cookie")
    if header:
        try:
            cookie.load(header)
        except Exception:  # a malformed cookie header is simply "no cookie"
            cookie = SimpleCookie()
    return cookie


def session_of(scope: Scope) -> str | None:
    """The browser's CSRF session id (from its cookie, or the one the middleware just gave it)."""
    state = scope.get("state") or {}
    session = state.get(SESSION_COOKIE)
    return session if isinstance(session, str) else None


def csrf_token(scope: Scope) -> str:
    """The hidden-field value the state-changing forms on this browser's pages must send back."""
    session = session_of(scope) or ""
    # Hosted mode's web processes share one key (a page from one, its POST to another).
    key = (scope.get("state") or {}).get(CSRF_KEY_STATE) or _CSRF_KEY
    return hmac.new(key, b"csrf:" + session.encode(), hashlib.sha256).hexdigest()


def csrf_refusal(scope: Scope, sent: str | None) -> str | None:
    """Why a form POST must be refused (cross-site, ``Origin: null``, bad token); None if fine."""
    site = _header(scope, b"sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return "the browser marked it as coming from another site"
    origin = _header(scope, b"origin")
    if origin is not None:
        if origin == "null":
            return "it came from a page without an origin (a sandboxed frame, a file or a data: URL)"
        host = _header(scope, b"host") or ""
        if urlsplit(origin).netloc.lower() != host.lower():
            return "it came from another site"
    if session_of(scope) is None or not sent:
        return "it carried no form token"
    if not hmac.compare_digest(sent.encode(), csrf_token(scope).encode()):
        return "its form token is out of date (reload the page and try again)"
    return None


def safe_path(path: str) -> str:
    """``path`` as a same-origin redirect target: ``//evil.example/`` becomes ``/evil.example/``."""
    # Browsers read a leading // (or a backslash) as another host; quote() also keeps CR/LF out of the header.
    return "/" + quote(path.lstrip("/\\"), safe="/:@!$&'()*+,;=-._~")


def _cross_site_refusal(scope: Scope) -> tuple[int, str] | None:
    """A 403 for what another website makes the browser fetch (``<img src>``, scripts, frames, fetch).

    Each such request would spend the app's WHOOP budget, so any page could drain it. Bookmarks and typed
    URLs send ``Sec-Fetch-Site: none`` and the app's own pages ``same-origin``; clients without the
    header (curl, old browsers) are not judged.
    """
    # same-site too: a page on another port of localhost is another website with the same site.
    if (_header(scope, b"sec-fetch-site") or "").strip().lower() not in ("cross-site", "same-site"):
        return None
    path = scope["path"]
    if path in CROSS_SITE_PATHS or path.startswith("/static/"):
        return None
    top_level = (
        scope.get("method") == "GET"
        and (_header(scope, b"sec-fetch-mode") or "").lower() == "navigate"
        and (_header(scope, b"sec-fetch-dest") or "document").lower() == "document"
    )
    if top_level and path in CROSS_SITE_LANDINGS:
        return None
    logger.warning("refused a cross-site request for %s", path)
    return (
        403,
        "This dashboard does not answer requests made by other websites. Open it from a bookmark or "
        "by typing its address.",
    )


class SecurityMiddleware:
    """Pure ASGI middleware (no buffering, streaming stays streaming) adding headers and access checks."""

    def __init__(
        self, app: ASGIApp, settings: Settings, *, hosted: bool = False, csrf_key: bytes | None = None
    ) -> None:
        """Wrap ``app`` with the checks ``settings`` asks for.

        ``hosted``: many users reach the app through a reverse proxy and sign in with WHOOP, so neither the
        loopback-only rule nor the access token applies; cookies are always ``Secure`` (the proxy speaks
        HTTPS), and ``csrf_key`` (shared by every web process) signs the form tokens.
        """
        self.app = app
        self.settings = settings
        self.hosted = hosted
        self.csrf_key = csrf_key
        token = settings.web_access_token.get_secret_value() if settings.web_access_token else ""
        self.access_token = token if settings.web_allow_remote and token and not hosted else ""
        # The cookie carries a digest, not the token itself, so any characters are fine in the token.
        self.cookie_value = hmac.new(
            self.access_token.encode(), b"whoopkit-access", hashlib.sha256
        ).hexdigest()
        self.login_cookie_value = hmac.new(
            self.access_token.encode(), b"whoopkit-access-login-return", hashlib.sha256
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

        cookies = _cookies(scope)
        set_cookies: list[tuple[bytes, bytes]] = []
        secure = "; Secure" if self.hosted or scope.get("scheme") == "https" else ""
        morsel = cookies.get(SESSION_COOKIE)
        session = morsel.value if morsel is not None and _SESSION_RE.fullmatch(morsel.value) else None
        if session is None:
            session = secrets.token_urlsafe(32)
            set_cookies.append(
                (
                    b"set-cookie",
                    f"{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax{secure}".encode(),
                )
            )
        scope.setdefault("state", {})[SESSION_COOKIE] = session
        if self.csrf_key is not None:
            scope["state"][CSRF_KEY_STATE] = self.csrf_key

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in headers if k not in names]
                message["headers"] = [*message.get("headers", []), *extra, *set_cookies]
            await send(message)

        refusal = self._refusal(scope) or _cross_site_refusal(scope)
        if refusal is not None:
            await self._respond(send_with_headers, *refusal)
            return
        if self.access_token and scope["path"] not in OPEN_PATHS:
            verdict = self._check_access(scope)
            if verdict == "redirect":
                await self._redirect_setting_cookie(scope, send_with_headers)
                return
            if verdict == "ok" and scope["path"] == "/login":
                # WHOOP sends the browser back cross-site, without the Strict cookie: let /callback in.
                login_cookie = (
                    f"{LOGIN_ACCESS_COOKIE}={self.login_cookie_value}; Path={LOGIN_RETURN_PATH}; HttpOnly; "
                    f"SameSite=Lax; Max-Age=600{secure}"
                )
                set_cookies.append((b"set-cookie", login_cookie.encode()))
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
        with one_answer():  # every WHOOP wait of this request shares WHOOP_REQUEST_DEADLINE
            await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        host = _header(scope, b"host")
        if host is not None and _hostname(host) is None:
            return 400, "The Host header of this request is malformed."
        if self.access_token:
            return None
        client = scope.get("client")
        if client and not self.hosted:
            try:
                remote = not ip_address(str(client[0])).is_loopback
            except ValueError:
                remote = False  # not an IP (a unix socket or a test client): nothing to judge
            if remote:
                logger.warning("refused a request from a non-loopback client")
                return 403, "This dashboard only answers requests from this computer."
        host = _header(scope, b"host")
        if host is not None:
            hostname = _hostname(host)
            if hostname is None:
                return 400, "The Host header of this request is malformed."
            if hostname.lower() not in self.allowed_hosts:
                where = (
                    origin_of(self.settings.whoop_redirect_uri)
                    if self.hosted
                    else "http://127.0.0.1 or http://localhost"
                )
                return 421, f"Unexpected Host header: open the dashboard at {where}."
        return None

    def _check_access(self, scope: Scope) -> str:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if "access_token" in query:
            return "redirect" if self._matches(query["access_token"]) else "deny"
        cookie = _cookies(scope)
        morsel = cookie.get(ACCESS_COOKIE)
        if morsel is not None and hmac.compare_digest(morsel.value.encode(), self.cookie_value.encode()):
            return "ok"
        morsel = cookie.get(LOGIN_ACCESS_COOKIE)
        if (
            scope["path"] == LOGIN_RETURN_PATH
            and morsel is not None
            and hmac.compare_digest(morsel.value.encode(), self.login_cookie_value.encode())
        ):
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
        location = safe_path(scope["path"]) + (f"?{urlencode(query)}" if query else "")
        secure = "; Secure" if self.hosted or scope.get("scheme") == "https" else ""
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
