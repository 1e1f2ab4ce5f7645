"""WHOOP's OAuth 2.0 endpoints: authorize URL, code exchange, refresh, revoke; and login ``state``.

Messages never contain the client secret, codes or tokens; WHOOP's ``error_description`` is not
quoted either (it may echo request values), only its ``error`` code.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Literal, Protocol
from urllib.parse import quote, urlencode

import httpx

from whoopkit import USER_AGENT
from whoopkit.config import OAUTH_SCOPES, Settings
from whoopkit.errors import (
    ConfigError,
    OAuthError,
    TokenRefreshError,
    WhoopAPIError,
    WhoopUnavailableError,
)
from whoopkit.tokens import Token

logger = logging.getLogger(__name__)

MIN_STATE_LENGTH = 8
STATE_TTL = 600.0

_Kind = Literal["exchange", "refresh"]
_ACTION: dict[_Kind, str] = {"exchange": "log in", "refresh": "renew the login"}


def new_state() -> str:
    """A fresh unguessable OAuth ``state`` value (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def _error_code(response: httpx.Response) -> tuple[str, str]:
    """The OAuth ``error`` code (sanitised) and description (for classification only) of a response."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    code = body.get("error")
    desc = body.get("error_description") or body.get("message") or ""
    code_s = code if isinstance(code, str) and re.fullmatch(r"[a-z_]{1,64}", code) else ""
    return code_s, desc if isinstance(desc, str) else ""


class OAuthClient:
    """Talks to WHOOP's OAuth endpoints for one app (client id/secret from settings)."""

    def __init__(
        self, http: httpx.AsyncClient, settings: Settings, *, clock: Callable[[], float] = time.time
    ) -> None:
        """Use ``http`` for requests and the app registration in ``settings``."""
        self.http = http
        self.settings = settings
        self.clock = clock
        self.authorize_endpoint = f"{settings.whoop_oauth_base_url}/auth"
        self.token_endpoint = f"{settings.whoop_oauth_base_url}/token"
        self.revoke_endpoint = f"{settings.whoop_api_base_url}/v2/user/access"

    def _client_id(self) -> str:
        if not self.settings.whoop_client_id:
            raise ConfigError(
                "WHOOP_CLIENT_ID is not set: create an app in WHOOP's developer dashboard and put its "
                "client id and secret in .env."
            )
        return self.settings.whoop_client_id

    def authorize_url(self, state: str) -> str:
        """The URL to send the browser to, asking for every scope whoopkit uses (incl. ``offline``).

        Raises:
            ValueError: ``state`` is shorter than 8 characters (WHOOP rejects it).
            ConfigError: WHOOP_CLIENT_ID is not set.
        """
        if len(state) < MIN_STATE_LENGTH:
            raise ValueError(f"OAuth state must be at least {MIN_STATE_LENGTH} characters")
        params = {
            "response_type": "code",
            "client_id": self._client_id(),
            "redirect_uri": self.settings.whoop_redirect_uri,
            "scope": " ".join(OAUTH_SCOPES),
            "state": state,
        }
        # quote (not quote_plus): WHOOP wants spaces in scope as %20.
        return f"{self.authorize_endpoint}?{urlencode(params, quote_via=quote)}"

    async def exchange_code(self, code: str) -> Token:
        """Trade an authorization code from the callback for a token.

        Raises:
            OAuthError: WHOOP rejected the code, the redirect URI or the app credentials.
            ConfigError: WHOOP_CLIENT_ID is not set.
            WhoopUnavailableError: WHOOP could not be reached or answered 5xx.
        """
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.whoop_redirect_uri,
            "client_id": self._client_id(),
            "client_secret": self.settings.client_secret,
        }
        return await self._token_request(data, "exchange")

    async def refresh(self, refresh_token: str, *, on_token: Callable[[Token], Token] | None = None) -> Token:
        """Trade a refresh token for a new token; WHOOP rotates it, so the old one is dead afterwards.

        ``on_token`` (e.g. saving it) runs on the new token the moment it is parsed, and its result is
        returned: nothing else happens between WHOOP's answer and it.

        Raises:
            TokenRefreshError: WHOOP rejected the refresh token or the app credentials.
            ConfigError: WHOOP_CLIENT_ID is not set.
            WhoopUnavailableError: WHOOP could not be reached or answered 5xx (the old token stays valid).
        """
        data = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self._client_id(),
            "client_secret": self.settings.client_secret,
            "scope": "offline",
        }
        return await self._token_request(data, "refresh", on_token)

    async def revoke(self, access_token: str) -> None:
        """Revoke the app's access for this user (DELETE /v2/user/access); an already-dead token is fine.

        Raises:
            WhoopUnavailableError: WHOOP could not be reached or answered 5xx.
            WhoopAPIError: WHOOP answered another error status.
        """
        try:
            response = await self.http.delete(
                self.revoke_endpoint,
                headers={"Authorization": f"Bearer {access_token}", "User-Agent": USER_AGENT},
            )
        except httpx.HTTPError as exc:
            raise WhoopUnavailableError(
                f"Could not reach WHOOP to revoke access ({type(exc).__name__}): try again later."
            ) from None
        if response.status_code in (200, 204, 401):
            return
        if response.status_code >= 500:
            raise WhoopUnavailableError(
                f"WHOOP answered {response.status_code} when revoking access: try again later."
            )
        raise WhoopAPIError(response.status_code, f"WHOOP refused to revoke access ({response.status_code}).")

    async def _token_request(
        self, data: dict[str, str], kind: _Kind, on_token: Callable[[Token], Token] | None = None
    ) -> Token:
        what = _ACTION[kind]
        try:
            response = await self.http.post(
                self.token_endpoint,
                data=data,
                headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            )
        except httpx.HTTPError as exc:
            raise WhoopUnavailableError(
                f"Could not reach WHOOP's login service to {what} ({type(exc).__name__}): try again later."
            ) from None
        now = self.clock()
        if response.status_code >= 500:
            raise WhoopUnavailableError(
                f"WHOOP's login service answered {response.status_code} while trying to {what}: "
                "try again later."
            )
        if response.status_code != 200:
            raise self._rejected(response, kind)
        try:
            token = Token.from_response(response.json(), now=now)
        except ValueError:
            message = f"WHOOP's login service sent an unusable token while trying to {what}"
            if kind == "exchange":
                raise OAuthError(f"{message}: try logging in again.") from None
            raise TokenRefreshError(f"{message}: log in again.") from None
        if on_token is not None:
            token = on_token(token)
        logger.debug("token %s succeeded (expires in %d s)", kind, token.expires_in)
        return token

    def _rejected(self, response: httpx.Response, kind: _Kind) -> OAuthError | TokenRefreshError:
        code, description = _error_code(response)
        status = response.status_code
        if code == "invalid_client" or (status == 401 and code != "invalid_grant"):
            message = (
                "WHOOP rejected the app credentials: check WHOOP_CLIENT_ID and WHOOP_CLIENT_SECRET "
                "against WHOOP's developer dashboard"
            )
        elif "redirect" in description.lower() or code == "redirect_uri_mismatch":
            message = (
                f"WHOOP rejected the redirect URI {self.settings.whoop_redirect_uri}: WHOOP_REDIRECT_URI "
                "must match the one registered in WHOOP's developer dashboard exactly"
            )
        elif code == "invalid_grant" and kind == "refresh":
            message = "WHOOP rejected the saved login (it was revoked or used elsewhere): log in again"
        elif code == "invalid_grant":
            message = "WHOOP rejected the authorization code (it expired or was already used): log in again"
        elif code == "invalid_scope":
            message = "WHOOP rejected the requested scopes: log in again"
        else:
            detail = f"{status} {code}".strip()
            message = f"WHOOP's login service refused to {_ACTION[kind]} ({detail}): log in again"
        logger.warning("token %s rejected by WHOOP: %s %s", kind, status, code or "(no error code)")
        if kind == "refresh":
            return TokenRefreshError(message + ".", code=code)
        return OAuthError(message + ".")


class StateStore:
    """Issued OAuth ``state`` values: random, single-use, expiring after 10 minutes, bounded in number."""

    def __init__(
        self,
        *,
        ttl: float = STATE_TTL,
        max_size: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Remember at most ``max_size`` states for ``ttl`` seconds each."""
        self.ttl = ttl
        self.max_size = max_size
        self.clock = clock
        self._states: dict[str, float] = {}
        self._mutex = threading.Lock()

    def __len__(self) -> int:
        """How many states are outstanding (expired ones included until the next purge)."""
        return len(self._states)

    def _purge(self, now: float) -> None:
        for state in [s for s, expiry in self._states.items() if expiry <= now]:
            del self._states[state]

    def issue(self) -> str:
        """A new state to put in the authorize URL."""
        state = new_state()
        with self._mutex:
            now = self.clock()
            self._purge(now)
            while len(self._states) >= self.max_size:
                # dicts keep insertion order: drop the oldest login attempt.
                del self._states[next(iter(self._states))]
            self._states[state] = now + self.ttl
        return state

    def consume(self, state: str | None) -> bool:
        """Whether ``state`` was issued here, is unexpired and unused; it cannot be used again."""
        if not state:
            return False
        with self._mutex:
            expiry = self._states.pop(state, None)
            return expiry is not None and self.clock() < expiry


class LoginStateStore(Protocol):
    """Where a login's OAuth ``state`` waits for WHOOP's callback: random, bound to one browser, single-use.

    :class:`LoginStates` signs it into the browser's cookie (one process); hosted mode keeps it in Redis
    (``whoopkit.hosted.states.RedisLoginStates``) so any web process can finish a login another began.
    """

    def issue(self) -> tuple[str, str]:
        """A new state for WHOOP's URL and the cookie value that binds it to this browser."""
        ...

    def matches(self, state: str | None, cookie: str | None) -> bool:
        """Whether ``state`` belongs to this browser's cookie and is unexpired and unused."""
        ...

    def consume(self, state: str | None, cookie: str | None) -> bool:
        """Like :meth:`matches`, and the state can never be used again."""
        ...


class LoginStates:
    """OAuth ``state`` values bound to the browser that asked for them: signed into its cookie, single-use.

    ``issue()`` returns the state for WHOOP's URL and a cookie value ``<state>.<expiry>.<HMAC>``. The
    callback is accepted only with a state equal to the one in a correctly signed, unexpired cookie, so
    nothing stored server-side can be flooded away by other sites' ``/login`` requests. Used states are
    remembered until they expire anyway, so a callback can never be replayed.
    """

    def __init__(
        self,
        *,
        key: bytes | None = None,
        ttl: float = STATE_TTL,
        max_used: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Sign with ``key`` (a fresh random one by default: a restart only voids logins in progress)."""
        self._key = key if key is not None else secrets.token_bytes(32)
        self.ttl = ttl
        self.max_used = max_used
        self.clock = clock
        self._used: dict[str, float] = {}
        self._mutex = threading.Lock()

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode("utf-8"), hashlib.sha256).hexdigest()

    def issue(self) -> tuple[str, str]:
        """A new state and the cookie value that binds it to this browser."""
        state = new_state()
        payload = f"{state}.{int(self.clock() + self.ttl)}"
        return state, f"{payload}.{self._sign(payload)}"

    def _expiry(self, state: str | None, cookie: str | None) -> float | None:
        if not state or not cookie or cookie.count(".") != 2:
            return None
        cookie_state, expiry, signature = cookie.split(".")
        if not hmac.compare_digest(signature.encode(), self._sign(f"{cookie_state}.{expiry}").encode()):
            return None
        if not hmac.compare_digest(cookie_state.encode(), state.encode()) or not expiry.isdigit():
            return None
        expires = float(expiry)
        return expires if self.clock() < expires else None

    def matches(self, state: str | None, cookie: str | None) -> bool:
        """Whether ``state`` is the one signed into this browser's cookie, unexpired and unused."""
        if self._expiry(state, cookie) is None:
            return False
        with self._mutex:
            return state not in self._used

    def consume(self, state: str | None, cookie: str | None) -> bool:
        """Like :meth:`matches`, and the state can never be used again."""
        expires = self._expiry(state, cookie)
        if expires is None or state is None:
            return False
        with self._mutex:
            now = self.clock()
            for used in [s for s, until in self._used.items() if until <= now]:
                del self._used[used]
            if state in self._used:
                return False
            while len(self._used) >= self.max_used:
                # Only reached by a flood of completed logins; the oldest's cookie is long deleted.
                del self._used[next(iter(self._used))]
            self._used[state] = expires
        return True
