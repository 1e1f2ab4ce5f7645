"""The fake WHOOP server: OAuth 2 (consent, code, refresh rotation), API v2, rate limits, faults.

Deliberate choices where WHOOP's behaviour is unspecified (each is also noted at the code):
- A token lacking the endpoint's scope gets **401** ``{"error": "insufficient_scope"}`` (WHOOP answers
  401 in practice, not 403) with ``WWW-Authenticate: Bearer error="insufficient_scope"`` so a client can
  tell it apart from an expired token.
- ``GET /v2/cycle/{id}/sleep`` lists no security in the spec; it requires ``read:sleep`` here.
- Reusing a rotated refresh token is rejected (400 ``invalid_grant``) but does NOT revoke the new
  tokens: two processes racing to refresh must be able to recover by re-reading the token file.
- Rate limits count authenticated API requests per client app in fixed clock-aligned windows.
- While ``set_down(True)`` every API and OAuth request answers 503 (after any injected latency);
  the control endpoints keep answering so a test can bring WHOOP back.
- Once a record was re-scored or deleted, the dataset is never regenerated (see ``data``), so the
  change cannot silently revert.
- With ``token_secret`` the tokens are HMAC-signed, and a token this fake did not issue is accepted
  when its signature checks out: two processes that each embed a fake (the demo's web app and MCP
  server) then share one login. Each fake still keeps its own rotation bookkeeping, so a refresh
  token it rotated (or a grant it revoked) stays rejected here; one it never saw cannot be known
  to be rotated elsewhere and is accepted once.

Several simulated people (``people=N``; one by default, and then nothing below changes anything):
- Person k has user id ``10129 + k``, their own seed, profile, body and lazily generated dataset, and
  ids that never collide with another person's (see ``data``). Person 0 is the historical athlete.
- Which person an authorization signs in, first rule that applies: the ``person`` chosen on the
  consent page; ``?person=k`` on ``/auth`` (a non-WHOOP parameter, a bad value is an
  ``invalid_request`` redirect); a ``login_hint`` equal to a person's email or user id (an unknown
  hint is ignored, as a hint may be); else the next person in turn: the authorizations that name
  nobody take persons 0, 1, ..., N-1, 0, ... in the order they are approved, so N logins give N
  different people. ``issue_token(person=k)`` skips all of this (and the member cap).
- The grant, and so every access and refresh token (in the signed payload with ``token_secret``),
  carries its person; every ``/developer`` endpoint serves that person's records only, so another
  person's id answers 404. ``DELETE /v2/user/access`` revokes the calling grant only, never another
  person's tokens.
- The rate limits stay per app: every token of the client id, whoever it signs in, counts against
  the same minute and day windows. ``stats.requests_by_person`` counts the authenticated requests.
- ``member_cap=M`` (WHOOP: 10 until the app is approved): once M distinct people authorized, a new
  person's authorization is refused; people who already are members can still sign in again.
  WHOOP's wording as members report it is "This app has reached its user limit and must be
  approved before you can integrate."; whether WHOOP redirects it back or only shows it on its own
  page is not documented, so here it comes back as an ``access_denied`` redirect carrying that
  sentence, which an app can turn into a clear message. A refused turn is not used up.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import random
import re
import secrets
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, unquote_plus, urlencode, urlsplit, urlunsplit

import anyio
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from whoopkit.fake_whoop import mutations
from whoopkit.fake_whoop.consent import consent_page, error_page
from whoopkit.fake_whoop.data import (
    Collection,
    FakeDataset,
    PlantedEffects,
    decode_token,
    epoch_ms,
    generate_dataset,
    person_profile,
    person_seed,
)
from whoopkit.fake_whoop.export import export_zip
from whoopkit.fake_whoop.mutations import Kind, UnknownRecordError

logger = logging.getLogger(__name__)

# Same order as whoopkit.config.OAUTH_SCOPES (a test keeps them equal); not imported, so that the
# fake stays importable without pydantic-settings.
ALL_SCOPES: tuple[str, ...] = (
    "read:recovery",
    "read:cycles",
    "read:workout",
    "read:sleep",
    "read:profile",
    "read:body_measurement",
    "offline",
)
CODE_TTL = 600.0
PENDING_TTL = 600.0
MIN_STATE_LENGTH = 8
MAX_LIMIT = 25
DEFAULT_LIMIT = 10
DATA_MAX_AGE = 6 * 3600.0
_INT64_MAX = 2**63 - 1
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# How many API requests the request log keeps (the oldest go first): a day of WHOOP's 10,000 limit
# with room to spare, and a few MB at most for a demo that runs for weeks.
REQUEST_LOG_SIZE = 100_000
MEMBER_CAP_MESSAGE = "This app has reached its user limit and must be approved before you can integrate."

Target = Literal["api", "token"]
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class _Failure:
    status: int
    retry_after: float | None = None


class Faults:
    """Fault injection: added latency, a trickled body, a random error rate, and queued failures."""

    def __init__(self, seed: int = 7) -> None:
        self.latency: float = 0.0
        self.error_rate: float = 0.0
        # Seconds between the bytes of an API response body (0 = off): a server that trickles its answer,
        # which a per-read client timeout never catches.
        self.trickle: float = 0.0
        # Refresh grants still to hold back: the fake rotates the token, sets rotation_held, then keeps
        # the answer until the client goes away (or hold_timeout passes), so a test can kill -9 the
        # refreshing process in the worst moment.
        self.hold_after_rotation: int = 0
        self.hold_timeout: float = 60.0
        self.rotation_held = threading.Event()
        self._rng = random.Random(seed)
        self._queued: dict[Target, deque[_Failure]] = {"api": deque(), "token": deque()}

    def fail_next(
        self, status: int, count: int = 1, retry_after: float | None = None, *, target: Target = "api"
    ) -> None:
        """Make the next ``count`` API (or token, with ``target="token"``) requests fail with ``status``.

        Raises:
            ValueError: ``status`` is not an HTTP error status or ``count`` is negative.
        """
        if not 400 <= status <= 599:
            raise ValueError(f"fail_next needs an HTTP error status (400-599), got {status}")
        if count < 0:
            raise ValueError("count must be >= 0")
        self._queued[target].extend(_Failure(status, retry_after) for _ in range(count))

    @property
    def pending(self) -> int:
        """How many queued failures (API and token) are still to be served."""
        return sum(len(q) for q in self._queued.values())

    def clear(self) -> None:
        """Remove every fault: no latency, no random errors, nothing queued."""
        self.latency = 0.0
        self.error_rate = 0.0
        self.trickle = 0.0
        self.hold_after_rotation = 0
        self.rotation_held.clear()
        for queue in self._queued.values():
            queue.clear()

    def take(self, target: Target) -> _Failure | None:
        """The failure to serve for this request, if any (queued first, then the random error rate)."""
        queue = self._queued[target]
        if queue:
            return queue.popleft()
        if target == "api" and self.error_rate > 0 and self._rng.random() < self.error_rate:
            return _Failure(self._rng.choice((500, 503)))
        return None

    def as_dict(self) -> dict[str, Any]:
        """The current fault settings as JSON-ready data."""
        return {
            "latency_ms": round(self.latency * 1000, 3),
            "error_rate": self.error_rate,
            "trickle_ms": round(self.trickle * 1000, 3),
            "pending_api_failures": len(self._queued["api"]),
            "pending_token_failures": len(self._queued["token"]),
        }


@dataclass
class Stats:
    """Counters for tests and benchmarks."""

    requests: int = 0  # API requests received (including rejected ones)
    requests_by_path: Counter[str] = field(default_factory=Counter)
    token_grants: Counter[str] = field(default_factory=Counter)  # successful grants, by grant_type
    token_requests: int = 0
    invalid_grants: int = 0
    unauthorized: int = 0
    rate_limited: int = 0
    injected_failures: int = 0
    authorizations: int = 0  # authorization codes issued
    revocations: int = 0
    unavailable: int = 0  # requests answered 503 because the fake was down
    rescored: int = 0  # records changed by rescore / score_pending
    deleted: int = 0  # records removed by delete_record (cascades included)
    held_rotations: int = 0  # refresh answers held back after rotating (Faults.hold_after_rotation)
    # Authenticated API requests by the person their token signs in (rate-limited ones included).
    requests_by_person: Counter[int] = field(default_factory=Counter)
    member_cap_refusals: int = 0  # authorizations refused because the app is full (member_cap)

    def reset(self) -> None:
        """Zero every counter."""
        fresh = Stats()
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(fresh, name))

    def as_dict(self) -> dict[str, Any]:
        """The counters as JSON-ready data."""
        return {
            "requests": self.requests,
            "requests_by_path": dict(self.requests_by_path),
            "token_grants": dict(self.token_grants),
            "token_requests": self.token_requests,
            "invalid_grants": self.invalid_grants,
            "unauthorized": self.unauthorized,
            "rate_limited": self.rate_limited,
            "injected_failures": self.injected_failures,
            "authorizations": self.authorizations,
            "revocations": self.revocations,
            "unavailable": self.unavailable,
            "rescored": self.rescored,
            "deleted": self.deleted,
            "held_rotations": self.held_rotations,
            "requests_by_person": {str(k): n for k, n in sorted(self.requests_by_person.items())},
            "member_cap_refusals": self.member_cap_refusals,
        }


@dataclass
class _Grant:
    client_id: str
    scopes: tuple[str, ...]
    revoked: bool = False
    access_tokens: list[_AccessToken] = field(default_factory=list)
    refresh_tokens: list[_RefreshToken] = field(default_factory=list)
    id: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    person: int = 0  # the simulated person this grant signs in


@dataclass
class _AccessToken:
    grant: _Grant
    expires_at: float
    valid: bool = True


@dataclass
class _RefreshToken:
    grant: _Grant
    valid: bool = True


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    expires_at: float
    used: bool = False
    person: int = 0


@dataclass
class _Pending:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str
    expires_at: float
    person: int | None = None  # named by ?person= or login_hint; None: the consent page or the turn


@dataclass
class _Person:
    """One simulated member: their seed and their lazily generated dataset with its freshness."""

    index: int
    seed: int
    data: FakeDataset | None = None
    generated: float = 0.0
    anchor: float | None = None
    mutated: bool = False


class _RateLimiter:
    """Per-client fixed windows of one minute and one day, with WHOOP's header format."""

    def __init__(self, per_minute: int, per_day: int, clock: Callable[[], float]) -> None:
        self.per_minute = per_minute
        self.per_day = per_day
        self._clock = clock
        self._windows: dict[str, list[int]] = {}  # client -> [minute, count, day, count]

    def reset(self) -> None:
        self._windows.clear()

    def hit(self, client_id: str) -> tuple[bool, dict[str, str], int]:
        now = self._clock()
        minute, day = int(now // 60), int(now // 86_400)
        w = self._windows.setdefault(client_id, [minute, 0, day, 0])
        if w[0] != minute:
            w[0], w[1] = minute, 0
        if w[2] != day:
            w[2], w[3] = day, 0
        allowed = w[1] < self.per_minute and w[3] < self.per_day
        if allowed:
            w[1] += 1
            w[3] += 1
        minute_left, day_left = self.per_minute - w[1], self.per_day - w[3]
        minute_reset = max(1, math.ceil((minute + 1) * 60 - now))
        day_reset = max(1, math.ceil((day + 1) * 86_400 - now))
        # "The first number states the limit the client is closest to hitting."
        if minute_left <= day_left:
            limit, left, reset = self.per_minute, minute_left, minute_reset
        else:
            limit, left, reset = self.per_day, day_left, day_reset
        headers = {
            "X-RateLimit-Limit": f"{limit}, {self.per_minute};window=60, {self.per_day};window=86400",
            "X-RateLimit-Remaining": str(max(0, left)),
            "X-RateLimit-Reset": str(reset),
        }
        retry_after = 0
        if not allowed:
            retry_after = max(
                minute_reset if minute_left <= 0 else 0,
                day_reset if day_left <= 0 else 0,
            )
        return allowed, headers, retry_after


class _RecordsResponse(JSONResponse):
    """JSON of records; non-finite numbers go out as ``Infinity`` or ``NaN`` (only ``corrupt`` adds any)."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: send it as the \ud800 escape WHOOP would
            return json.dumps(content, separators=(",", ":")).encode("ascii")


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def _oauth_error(
    status: int, code: str, description: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": code, "error_description": description},
        status_code=status,
        headers={**_NO_STORE, **(headers or {})},
    )


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def _raw_query(query_string: bytes) -> dict[str, str]:
    """Query parameters decoded WITHOUT turning ``+`` into a space.

    WHOOP rejects ``scope=read:recovery+read:cycles``: scopes must be separated by ``%20``. Decoding
    ``+`` literally makes such a request fail here too (as an unknown scope), which catches the bug.
    """
    params: dict[str, str] = {}
    for pair in query_string.decode("latin-1").split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        params.setdefault(unquote(key), unquote(value))
    return params


def _parse_time(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    text = value.strip()
    if "T" not in text.upper():
        raise ValueError(value)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return epoch_ms(parsed)


def _is_loopback_redirect(uri: str) -> bool:
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme == "http" and host in _LOOPBACK_HOSTS and not parts.fragment


def _with_query(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    extra = urlencode(params, quote_via=quote)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


class FakeWhoop:
    """An ASGI app (a Starlette router) that behaves like WHOOP's OAuth server and API v2.

    Mount it anywhere (``Mount("/_fake_whoop", app=fake)``) or serve it with uvicorn; paths are
    ``/oauth/oauth2/{auth,token}``, ``/developer/v2/...``, ``/developer/v1/activity-mapping/{id}`` and
    the control endpoints
    ``/_fake/{stats,faults,reset,token,expire,rescore,score_pending,delete,corrupt,down}``,
    ``GET /_fake/requests`` (every API request's arrival time and status, see ``request_log``) and
    ``GET /_fake/export.zip``, the member's WHOOP app export of the current records (it is the app's,
    not the API's, so like the other control endpoints it keeps answering while WHOOP is "down").
    ``effects`` plants known effects in the generated data (see ``PlantedEffects``). ``people`` is
    how many simulated people can sign in and ``member_cap`` how many of them may become members
    (None: no cap); the rules are in the module docstring. The control endpoints that act on
    records take an optional ``person`` (JSON field, or query parameter for the GETs; default 0).

    Raises:
        ValueError: ``people`` or ``member_cap`` is below 1.
    """

    def __init__(
        self,
        *,
        client_id: str = "demo-client",
        client_secret: str = "demo-secret",  # noqa: S107 - the fake's well-known demo secret
        auto_approve: bool = False,
        access_token_ttl: int = 3600,
        seed: int = 7,
        days: int = 180,
        now: datetime | None = None,
        requests_per_minute: int = 100,
        requests_per_day: int = 10_000,
        redirect_uris: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        control_endpoints: bool = True,
        token_secret: str | None = None,
        data_step: float | None = None,
        effects: PlantedEffects | None = None,
        people: int = 1,
        member_cap: int | None = None,
    ) -> None:
        if people < 1:
            raise ValueError("people must be at least 1")
        if member_cap is not None and member_cap < 1:
            raise ValueError("member_cap must be at least 1 (or None for no cap)")
        self.client_id = client_id
        self.client_secret = client_secret
        self.auto_approve = auto_approve
        self.access_token_ttl = access_token_ttl
        self.seed = seed
        self.days = days
        self.effects = effects
        self.now = now
        self.redirect_uris = frozenset(redirect_uris)
        self.clock = clock
        self.faults = Faults(seed)
        self.stats = Stats()
        # (epoch ms on arrival, status, person or None): arrival, not answer, because a client's rate
        # limiter counts a request when it sends it; the injected latency comes after.
        self.request_log: deque[tuple[int, int, int | None]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.token_secret = token_secret
        self.data_step = data_step
        self.people = people
        self.member_cap = member_cap
        self._people = [_Person(k, person_seed(seed, k)) for k in range(people)]
        self._profiles = [person_profile(k) for k in range(people)]
        self._login_hints = {
            key: k
            for k, profile in enumerate(self._profiles)
            for key in (str(profile["email"]).lower(), str(profile["user_id"]))
        }
        self._members: set[int] = set()
        self._turn = 0  # authorizations that named nobody so far: the next one takes this person
        self._grants: dict[str, _Grant] = {}
        self.down = False
        self._limiter = _RateLimiter(requests_per_minute, requests_per_day, clock)
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, _RefreshToken] = {}
        self._codes: dict[str, _Code] = {}
        self._pending: dict[str, _Pending] = {}
        routes = [
            Route("/oauth/oauth2/auth", self._authorize, methods=["GET", "POST"]),
            Route("/oauth/oauth2/token", self._token, methods=["POST"]),
            self._api_route("/developer/v2/cycle", "read:cycles", self._collection("cycle_collection")),
            self._api_route("/developer/v2/cycle/{cycle_id}", "read:cycles", self._cycle_by_id),
            self._api_route("/developer/v2/cycle/{cycle_id}/recovery", "read:recovery", self._cycle_recovery),
            self._api_route("/developer/v2/cycle/{cycle_id}/sleep", "read:sleep", self._cycle_sleep),
            self._api_route(
                "/developer/v2/recovery", "read:recovery", self._collection("recovery_collection")
            ),
            self._api_route(
                "/developer/v2/activity/sleep", "read:sleep", self._collection("sleep_collection")
            ),
            self._api_route("/developer/v2/activity/sleep/{sleep_id}", "read:sleep", self._sleep_by_id),
            self._api_route(
                "/developer/v2/activity/workout", "read:workout", self._collection("workout_collection")
            ),
            self._api_route(
                "/developer/v2/activity/workout/{workout_id}", "read:workout", self._workout_by_id
            ),
            self._api_route("/developer/v2/user/profile/basic", "read:profile", self._profile),
            self._api_route("/developer/v2/user/measurement/body", "read:body_measurement", self._body),
            self._api_route("/developer/v2/user/access", None, self._revoke, methods=["DELETE"]),
            self._api_route("/developer/v1/activity-mapping/{activity_id}", None, self._activity_mapping),
        ]
        if control_endpoints:
            routes += [
                Route("/_fake/stats", self._control_stats, methods=["GET"]),
                Route("/_fake/requests", self._control_requests, methods=["GET"]),
                Route("/_fake/faults", self._control_faults, methods=["GET", "POST"]),
                Route("/_fake/reset", self._control_reset, methods=["POST"]),
                Route("/_fake/token", self._control_token, methods=["POST"]),
                Route("/_fake/expire", self._control_expire, methods=["POST"]),
                Route("/_fake/rescore", self._control_rescore, methods=["POST"]),
                Route("/_fake/score_pending", self._control_score_pending, methods=["POST"]),
                Route("/_fake/delete", self._control_delete, methods=["POST"]),
                Route("/_fake/corrupt", self._control_corrupt, methods=["POST"]),
                Route("/_fake/down", self._control_down, methods=["GET", "POST"]),
                Route("/_fake/export.zip", self._control_export, methods=["GET"]),
            ]
        self._router = Router(routes=routes, default=self._not_found)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        await self._router(scope, receive, send)

    # ----------------------------------------------------------------------------- public helpers

    @property
    def data(self) -> FakeDataset:
        """The synthetic dataset of person 0 (generated on first use).

        Without a fixed ``now`` the data ends at the current time and is regenerated after
        ``DATA_MAX_AGE`` seconds, so a demo left running overnight still shows today. With
        ``data_step`` it ends at the clock floored to a multiple of that many seconds and is
        regenerated when the floor moves: every fake with the same seed, days and step then serves
        the very same records (ids included), whenever it started. ``person_data`` follows the same
        rules for every person.
        """
        return self.person_data(0)

    def person_data(self, person: int = 0) -> FakeDataset:
        """The synthetic dataset of simulated ``person`` (generated on first use, see ``data``).

        Raises:
            ValueError: no such person.
        """
        holder = self._people[self._check_person(person)]
        anchor = None
        if self.now is None and self.data_step:
            anchor = math.floor(self.clock() / self.data_step) * self.data_step
            stale = not holder.mutated and anchor != holder.anchor
        else:
            stale = (
                self.now is None and not holder.mutated and time.monotonic() - holder.generated > DATA_MAX_AGE
            )
        if holder.data is None or stale:
            started = time.perf_counter()
            now = self.now if anchor is None else datetime.fromtimestamp(anchor, UTC)
            holder.data = generate_dataset(
                seed=self.seed, days=self.days, now=now, effects=self.effects, person=holder.index
            )
            holder.generated = time.monotonic()
            holder.anchor = anchor
            logger.debug(
                "fake WHOOP data of person %d generated in %.1f ms",
                holder.index,
                (time.perf_counter() - started) * 1000,
            )
        return holder.data

    def profile(self, person: int = 0) -> dict[str, Any]:
        """The WHOOP profile of simulated ``person`` (without generating their data).

        Raises:
            ValueError: no such person.
        """
        return dict(self._profiles[self._check_person(person)])

    @property
    def members(self) -> frozenset[int]:
        """The people who authorized this app through ``/auth`` (what ``member_cap`` counts)."""
        return frozenset(self._members)

    def issue_token(
        self, scopes: Iterable[str] = ALL_SCOPES, ttl: int | None = None, *, person: int = 0
    ) -> dict[str, Any]:
        """Mint a token response (as the token endpoint would) without the OAuth dance or member cap.

        Raises:
            ValueError: an unknown scope was requested, or no such person.
        """
        granted = tuple(scopes)
        unknown = [s for s in granted if s not in ALL_SCOPES]
        if unknown:
            raise ValueError(f"unknown scope(s): {', '.join(unknown)}")
        grant = _Grant(self.client_id, granted, person=self._check_person(person))
        return self._new_tokens(grant, ttl)

    def reset_stats(self) -> None:
        """Zero the counters in ``stats`` and empty ``request_log``."""
        self.stats.reset()
        self.request_log.clear()

    def reset(self) -> None:
        """Zero the stats, clear every fault (down too) and the rate-limit windows (keeps tokens, data)."""
        self.stats.reset()
        self.request_log.clear()
        self.faults.clear()
        self._limiter.reset()
        self.down = False

    def current_time(self) -> datetime:
        """The fake's "now": the fixed ``now`` if one was given, else the wall clock (UTC)."""
        if self.now is None:
            return datetime.now(UTC)
        return self.now if self.now.tzinfo is not None else self.now.replace(tzinfo=UTC)

    def rescore(
        self, kind: str, record_id: int | str | uuid.UUID, *, person: int = 0, **changes: Any
    ) -> dict[str, Any]:
        """Re-score one record as WHOOP does later: change score fields and/or ``score_state``; returns it.

        ``kind`` is cycle, sleep, workout or recovery (a recovery's id is its ``cycle_id``). Changes
        are flat score field names (``recovery_score``, ``total_rem_sleep_time_milli``, ``strain``,
        cycle ``step_count`` ...; ``None`` removes an optional one) and ``score_state``. Without an
        explicit ``score_state`` a PENDING_SCORE record, or any record given score fields, becomes
        SCORED with a plausible score. ``updated_at`` always moves to ``current_time()`` (at least
        1 ms past its old value). ``person`` picks whose record it is.

        Raises:
            ValueError: unknown kind, malformed id, unknown field, out-of-range value or no such person.
            UnknownRecordError: no record of that kind has that id.
        """
        checked = mutations.check_kind(kind)
        key = mutations.record_key(checked, record_id)
        data, holder = self.person_data(person), self._people[person]
        record = mutations.rescore(data, checked, key, changes, self.current_time(), holder.seed)
        holder.mutated = True
        self.stats.rescored += 1
        return record

    def score_pending(self, *, person: int = 0) -> int:
        """Score every PENDING_SCORE record of ``person`` (as WHOOP does after delivery); returns how many.

        Raises:
            ValueError: no such person.
        """
        data, holder = self.person_data(person), self._people[person]
        count = mutations.score_pending(data, self.current_time(), holder.seed)
        holder.mutated = holder.mutated or count > 0
        self.stats.rescored += count
        return count

    def corrupt(
        self, kind: str, record_id: int | str | uuid.UUID, changes: Mapping[str, Any], *, person: int = 0
    ) -> dict[str, Any]:
        """Set fields of one record to anything, even values the spec forbids; returns the record.

        ``changes`` maps dotted paths to values: ``{"timezone_offset": "+ab:cd"}``,
        ``{"score.recovery_score": math.inf}``, ``{"sport_name": "..."}``; ``None`` removes a field.
        ``updated_at`` moves forward, so a syncing client fetches the record again.

        Raises:
            ValueError: unknown kind, malformed id, a path that cannot be set, or no such person.
            UnknownRecordError: no record of that kind has that id.
        """
        checked = mutations.check_kind(kind)
        key = mutations.record_key(checked, record_id)
        data = self.person_data(person)
        record = mutations.corrupt(data, checked, key, dict(changes), self.current_time())
        self._people[person].mutated = True
        self.stats.rescored += 1
        return record

    def delete_record(
        self, kind: str, record_id: int | str | uuid.UUID, *, person: int = 0
    ) -> dict[str, list[int | str]]:
        """Delete a record upstream; returns the ids removed by kind (a sleep takes its recovery along).

        Raises:
            ValueError: unknown kind, malformed id or no such person.
            UnknownRecordError: no record of that kind has that id.
        """
        checked: Kind = mutations.check_kind(kind)
        key = mutations.record_key(checked, record_id)
        removed = mutations.delete(self.person_data(person), checked, key)
        self._people[person].mutated = True
        self.stats.deleted += sum(len(ids) for ids in removed.values())
        return removed

    def set_down(self, down: bool) -> None:
        """Take WHOOP down (every API and OAuth request answers 503) or bring it back up."""
        self.down = down

    def expire_access_tokens(self) -> int:
        """Expire every access token now (refresh tokens stay valid); returns how many."""
        count = 0
        now = self.clock()
        for token in self._access.values():
            if token.valid and token.expires_at > now:
                token.expires_at = now
                count += 1
        return count

    def access_token_is_valid(self, token: str) -> bool:
        """Whether the API would accept this access token right now."""
        return self._valid_access(token) is not None

    def _check_person(self, person: object) -> int:
        """``person`` as a valid person index (an int, or its decimal text from a form or query).

        Raises:
            ValueError: not an integer from 0 to ``people - 1``.
        """
        text = str(person).strip() if isinstance(person, int | str) and not isinstance(person, bool) else ""
        if not re.fullmatch(r"\d{1,9}", text) or int(text) >= self.people:
            raise ValueError(f"person must be an integer from 0 to {self.people - 1}, got {person!r}")
        return int(text)

    # ----------------------------------------------------------------------------- tokens

    def _new_tokens(self, grant: _Grant, ttl: int | None = None) -> dict[str, Any]:
        lifetime = self.access_token_ttl if ttl is None else ttl
        self._grants.setdefault(grant.id, grant)
        record = _AccessToken(grant, self.clock() + lifetime)
        access = self._mint("access", grant, record.expires_at)
        grant.access_tokens.append(record)
        self._access[access] = record
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": int(lifetime),
            "scope": " ".join(grant.scopes),
            "token_type": "bearer",
        }
        if "offline" in grant.scopes:
            refresh = self._mint("refresh", grant)
            refresh_record = _RefreshToken(grant)
            grant.refresh_tokens.append(refresh_record)
            self._refresh[refresh] = refresh_record
            body["refresh_token"] = refresh
        return body

    def _mint(self, kind: Literal["access", "refresh"], grant: _Grant, expires_at: float = 0.0) -> str:
        if self.token_secret is None:
            return secrets.token_urlsafe(32)
        claims = {"k": kind, "g": grant.id, "c": grant.client_id, "s": list(grant.scopes), "x": expires_at}
        if grant.person:  # person 0's tokens stay exactly what they were before there were people
            claims["p"] = grant.person
        claims["n"] = secrets.token_urlsafe(12)
        payload = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode()
        return f"wk1.{payload}.{self._signature(payload)}"

    def _signature(self, payload: str) -> str:
        assert self.token_secret is not None
        digest = hmac.new(self.token_secret.encode(), payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def _claims(self, token: str, kind: str) -> dict[str, Any] | None:
        """The claims of a signed token of ``kind`` for this client, or None (unsigned, forged, other)."""
        if self.token_secret is None:
            return None
        prefix, _, rest = token.partition(".")
        payload, _, signature = rest.partition(".")
        if (
            prefix != "wk1"
            or not payload
            or not hmac.compare_digest(signature.encode(), self._signature(payload).encode())
        ):
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload.encode()))
        except (binascii.Error, ValueError):
            return None
        if not isinstance(claims, dict) or claims.get("k") != kind or claims.get("c") != self.client_id:
            return None
        scopes = claims.get("s")
        if not isinstance(claims.get("g"), str) or not isinstance(scopes, list):
            return None
        person = claims.get("p", 0)
        # A person this fake does not simulate (another fake with more people signed it): not ours.
        if not isinstance(person, int) or isinstance(person, bool) or not 0 <= person < self.people:
            return None
        return claims

    def _adopt_grant(self, claims: dict[str, Any]) -> _Grant:
        """This fake's record of the grant a signed token belongs to (new if another fake issued it)."""
        grant = self._grants.get(claims["g"])
        if grant is None:
            scopes = tuple(s for s in claims["s"] if isinstance(s, str))
            grant = _Grant(self.client_id, scopes, id=claims["g"], person=claims.get("p", 0))
            self._grants[grant.id] = grant
        return grant

    def _adopt_access(self, token: str) -> _AccessToken | None:
        claims = self._claims(token, "access")
        expires_at = claims.get("x") if claims is not None else None
        if claims is None or not isinstance(expires_at, int | float):
            return None
        grant = self._adopt_grant(claims)
        record = _AccessToken(grant, float(expires_at))
        grant.access_tokens.append(record)
        self._access[token] = record
        return record

    def _valid_access(self, token: str) -> _AccessToken | None:
        record = self._access.get(token) or self._adopt_access(token)
        if record is None or not record.valid or record.grant.revoked or self.clock() >= record.expires_at:
            return None
        return record

    # ----------------------------------------------------------------------------- plumbing

    async def _delay(self) -> None:
        if self.faults.latency > 0:
            await anyio.sleep(self.faults.latency)

    def _unavailable(self) -> Response:
        self.stats.unavailable += 1
        return _error(503, "service_unavailable", "WHOOP is down (simulated); try again later.")

    def _failure_response(self, failure: _Failure) -> Response:
        self.stats.injected_failures += 1
        headers: dict[str, str] = {}
        if failure.retry_after is not None:
            seconds = str(max(0, math.ceil(failure.retry_after)))
            headers["Retry-After"] = seconds
            if failure.status == 429:
                headers["X-RateLimit-Remaining"] = "0"
                headers["X-RateLimit-Reset"] = seconds
        messages = {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
        return _error(
            failure.status, "injected_fault", messages.get(failure.status, "Injected failure"), headers
        )

    def _trickled(self, response: Response) -> Response:
        """``response`` with its body sent one byte per ``faults.trickle`` seconds (headers at once)."""
        body, interval = bytes(response.body), self.faults.trickle

        async def drip() -> AsyncIterator[bytes]:
            for i in range(len(body)):
                await anyio.sleep(interval)
                yield body[i : i + 1]

        return StreamingResponse(drip(), status_code=response.status_code, headers=dict(response.headers))

    def _api_route(
        self,
        path: str,
        scope: str | None,
        handler: Callable[[Request, _Grant], Response],
        methods: list[str] | None = None,
    ) -> Route:
        async def endpoint(request: Request) -> Response:
            arrived = round(self.clock() * 1000)
            person: list[int] = []  # filled once the token names the person
            answer = await checked(request, person)
            self.request_log.append((arrived, answer.status_code, person[0] if person else None))
            return answer

        async def checked(request: Request, person: list[int]) -> Response:
            self.stats.requests += 1
            self.stats.requests_by_path[_route_path(request.scope)] += 1
            await self._delay()
            if self.down:
                return self._unavailable()
            failure = self.faults.take("api")
            if failure is not None:
                return self._failure_response(failure)
            header = request.headers.get("authorization", "")
            kind, _, token = header.partition(" ")
            if kind.lower() != "bearer" or not token.strip():
                self.stats.unauthorized += 1
                return _error(
                    401, "unauthorized", "Missing bearer token.", {"WWW-Authenticate": 'Bearer realm="whoop"'}
                )
            access = self._valid_access(token.strip())
            if access is None:
                self.stats.unauthorized += 1
                return _error(
                    401,
                    "invalid_token",
                    "The access token is invalid, expired or revoked.",
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            grant = access.grant
            person.append(grant.person)
            self.stats.requests_by_person[grant.person] += 1
            # One budget per app: keyed by the client id, never by the person the token signs in.
            allowed, headers, retry_after = self._limiter.hit(grant.client_id)
            if not allowed:
                self.stats.rate_limited += 1
                return _error(
                    429, "rate_limited", "Too Many Requests", {**headers, "Retry-After": str(retry_after)}
                )
            # WHOOP answers 401 (not 403) when the token lacks the scope; see the module docstring.
            if scope is not None and scope not in grant.scopes:
                self.stats.unauthorized += 1
                return _error(
                    401,
                    "insufficient_scope",
                    f"This request needs the {scope} scope.",
                    {**headers, "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
                )
            response = handler(request, grant)
            response.headers.update(headers)
            return self._trickled(response) if self.faults.trickle > 0 else response

        return Route(path, endpoint, methods=methods or ["GET"])

    async def _not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        response = _error(404, "not_found", f"No route for {_route_path(scope)}")
        await response(scope, receive, send)

    # ----------------------------------------------------------------------------- API handlers

    def _collection(self, name: str) -> Callable[[Request, _Grant], Response]:
        def handler(request: Request, grant: _Grant) -> Response:
            query = request.query_params
            raw_limit = query.get("limit")
            if raw_limit is None or raw_limit == "":
                limit = DEFAULT_LIMIT
            elif re.fullmatch(r"[+-]?\d{1,9}", raw_limit.strip()):
                limit = int(raw_limit)
            else:
                return _error(400, "bad_request", f"limit must be an integer, got {raw_limit!r}.")
            if not 1 <= limit <= MAX_LIMIT:
                return _error(400, "bad_request", f"limit must be between 1 and {MAX_LIMIT}, got {limit}.")
            try:
                start_ms = _parse_time(query.get("start"))
                end_ms = _parse_time(query.get("end"))
            except ValueError:
                return _error(400, "bad_request", "start and end must be ISO 8601 date-times.")
            raw_token = query.get("nextToken")
            token = None
            if raw_token:
                token = decode_token(raw_token)
                if token is None:
                    return _error(400, "bad_request", "nextToken is not valid.")
            collection: Collection = getattr(self.person_data(grant.person), name)
            result = collection.page(start_ms=start_ms, end_ms=end_ms, limit=limit, token=token)
            if result is None:
                return _error(400, "bad_request", "nextToken is not valid.")
            records, next_token = result
            body: dict[str, Any] = {"records": records}
            if next_token is not None:
                body["next_token"] = next_token
            return _RecordsResponse(body)

        return handler

    @staticmethod
    def _cycle_id(request: Request) -> int | Response:
        raw: str = request.path_params["cycle_id"]
        if not re.fullmatch(r"\d{1,19}", raw) or int(raw) > _INT64_MAX:
            return _error(400, "bad_request", f"cycleId must be an int64, got {raw!r}.")
        return int(raw)

    @staticmethod
    def _uuid(request: Request, name: str, label: str) -> uuid.UUID | Response:
        raw: str = request.path_params[name]
        if not _UUID_RE.fullmatch(raw):
            return _error(400, "bad_request", f"{label} must be a UUID, got {raw!r}.")
        return uuid.UUID(raw)

    @staticmethod
    def _found(record: dict[str, Any] | None, what: str) -> Response:
        if record is None:
            return _error(404, "not_found", f"No {what} found.")
        return _RecordsResponse(record)

    def _cycle_by_id(self, request: Request, grant: _Grant) -> Response:
        cycle_id = self._cycle_id(request)
        if isinstance(cycle_id, Response):
            return cycle_id
        return self._found(self.person_data(grant.person).cycle(cycle_id), "cycle")

    def _cycle_recovery(self, request: Request, grant: _Grant) -> Response:
        cycle_id = self._cycle_id(request)
        if isinstance(cycle_id, Response):
            return cycle_id
        return self._found(
            self.person_data(grant.person).recovery_for_cycle(cycle_id), "recovery for this cycle"
        )

    def _cycle_sleep(self, request: Request, grant: _Grant) -> Response:
        cycle_id = self._cycle_id(request)
        if isinstance(cycle_id, Response):
            return cycle_id
        return self._found(self.person_data(grant.person).sleep_for_cycle(cycle_id), "sleep for this cycle")

    def _sleep_by_id(self, request: Request, grant: _Grant) -> Response:
        sleep_id = self._uuid(request, "sleep_id", "sleepId")
        if isinstance(sleep_id, Response):
            return sleep_id
        return self._found(self.person_data(grant.person).sleep(sleep_id), "sleep")

    def _workout_by_id(self, request: Request, grant: _Grant) -> Response:
        workout_id = self._uuid(request, "workout_id", "workoutId")
        if isinstance(workout_id, Response):
            return workout_id
        return self._found(self.person_data(grant.person).workout(workout_id), "workout")

    def _profile(self, request: Request, grant: _Grant) -> Response:
        return JSONResponse(self.person_data(grant.person).profile)

    def _body(self, request: Request, grant: _Grant) -> Response:
        return JSONResponse(self.person_data(grant.person).body)

    def _revoke(self, request: Request, grant: _Grant) -> Response:
        grant.revoked = True
        self.stats.revocations += 1
        return Response(status_code=204)

    def _activity_mapping(self, request: Request, grant: _Grant) -> Response:
        raw: str = request.path_params["activity_id"]
        if not re.fullmatch(r"\d{1,19}", raw) or int(raw) > _INT64_MAX:
            return _error(400, "bad_request", f"activityV1Id must be an int64, got {raw!r}.")
        v2 = self.person_data(grant.person).v2_activity_id(int(raw))
        if v2 is None:
            return _error(404, "not_found", "Activity mapping not found.")
        return JSONResponse({"v2_activity_id": v2})

    # ----------------------------------------------------------------------------- OAuth

    def _html_error(self, message: str) -> HTMLResponse:
        return HTMLResponse(
            error_page(message),
            status_code=400,
            headers={**_NO_STORE, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )

    async def _authorize(self, request: Request) -> Response:
        if self.down:
            await self._delay()
            return self._unavailable()
        if request.method == "POST":
            return await self._authorize_decision(request)
        params = _raw_query(request.scope.get("query_string", b""))
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        state = params.get("state", "")
        if client_id != self.client_id:
            return self._html_error("Unknown client_id: the app is not registered with WHOOP.")
        if not redirect_uri:
            return self._html_error("redirect_uri is missing.")
        if redirect_uri not in self.redirect_uris and not _is_loopback_redirect(redirect_uri):
            return self._html_error("redirect_uri is not registered for this app.")
        if len(state) < MIN_STATE_LENGTH:
            return self._html_error(f"state must be at least {MIN_STATE_LENGTH} characters long.")
        if params.get("response_type") != "code":
            return self._redirect_error(
                redirect_uri, state, "unsupported_response_type", "response_type must be code"
            )
        scopes = tuple(s for s in params.get("scope", "").split(" ") if s)
        unknown = [s for s in scopes if s not in ALL_SCOPES]
        if not scopes or unknown:
            detail = f"unknown scope(s): {' '.join(unknown)}" if unknown else "scope is missing"
            return self._redirect_error(redirect_uri, state, "invalid_scope", detail)
        person: int | None = None
        if "person" in params:
            try:
                person = self._check_person(params["person"])
            except ValueError as exc:
                return self._redirect_error(redirect_uri, state, "invalid_request", str(exc))
        else:
            person = self._login_hints.get(params.get("login_hint", "").strip().lower())
        if self.auto_approve:
            location = self._issue_code(client_id, redirect_uri, scopes, state, person)
            return RedirectResponse(location, status_code=302)
        request_id = secrets.token_urlsafe(18)
        self._prune()
        self._pending[request_id] = _Pending(
            client_id, redirect_uri, scopes, state, self.clock() + PENDING_TTL, person
        )
        parts = urlsplit(redirect_uri)
        origin = f"{parts.scheme}://{parts.netloc}"
        csp = (
            "default-src 'none'; style-src 'unsafe-inline'; "
            f"form-action 'self' {origin}; frame-ancestors 'none'; base-uri 'none'"
        )
        # With one person there is nobody to choose, and the page stays what it always was.
        choices = [
            (k, f"{p['first_name']} {p['last_name']} ({p['email']})") for k, p in enumerate(self._profiles)
        ]
        page = consent_page(
            request_id=request_id,
            client_id=client_id,
            scopes=list(scopes),
            redirect_uri=redirect_uri,
            people=choices if self.people > 1 else (),
            selected=person,
        )
        return HTMLResponse(
            page, headers={**_NO_STORE, "Content-Security-Policy": csp, "Referrer-Policy": "no-referrer"}
        )

    async def _authorize_decision(self, request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
        request_id = (form.get("request_id") or [""])[0]
        decision = (form.get("decision") or [""])[0]
        chosen = (form.get("person") or [""])[0].strip()
        self._prune()
        pending = self._pending.pop(request_id, None)
        if pending is None:
            return self._html_error("This authorization request has expired or was already answered.")
        if decision == "approve":
            person = pending.person
            if chosen:  # "" is the page's "next in turn" choice
                try:
                    person = self._check_person(chosen)
                except ValueError:
                    return self._html_error("Choose one of the simulated people.")
            location = self._issue_code(
                pending.client_id, pending.redirect_uri, pending.scopes, pending.state, person
            )
            return RedirectResponse(location, status_code=303)
        if decision == "deny":
            params = {
                "error": "access_denied",
                "error_description": "The user denied access",
                "state": pending.state,
            }
            return RedirectResponse(_with_query(pending.redirect_uri, params), status_code=303)
        return self._html_error("Choose Approve or Deny.")

    def _redirect_error(self, redirect_uri: str, state: str, error: str, description: str) -> Response:
        params = {"error": error, "error_description": description, "state": state}
        return RedirectResponse(_with_query(redirect_uri, params), status_code=302)

    def _issue_code(
        self, client_id: str, redirect_uri: str, scopes: tuple[str, ...], state: str, person: int | None
    ) -> str:
        """Where to send the user back: with a code for ``person`` (None: the next in turn), or refused."""
        chosen = self._turn % self.people if person is None else person
        if chosen not in self._members:
            if self.member_cap is not None and len(self._members) >= self.member_cap:
                self.stats.member_cap_refusals += 1
                params = {"error": "access_denied", "error_description": MEMBER_CAP_MESSAGE, "state": state}
                return _with_query(redirect_uri, params)
            self._members.add(chosen)
        if person is None:
            self._turn += 1
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Code(client_id, redirect_uri, scopes, self.clock() + CODE_TTL, person=chosen)
        self.stats.authorizations += 1
        return _with_query(redirect_uri, {"code": code, "scope": " ".join(scopes), "state": state})

    def _prune(self) -> None:
        now = self.clock()
        for key in [k for k, p in self._pending.items() if p.expires_at <= now]:
            del self._pending[key]
        for key in [k for k, c in self._codes.items() if c.expires_at <= now]:
            del self._codes[key]

    def _client_credentials(self, request: Request, form: dict[str, list[str]]) -> tuple[str, str] | None:
        header = request.headers.get("authorization", "")
        kind, _, value = header.partition(" ")
        if kind.lower() == "basic" and value:
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            user, sep, password = decoded.partition(":")
            return (unquote_plus(user), unquote_plus(password)) if sep else None
        if "client_id" not in form or "client_secret" not in form:
            return None
        return form["client_id"][0], form["client_secret"][0]

    async def _token(self, request: Request) -> Response:
        self.stats.token_requests += 1
        await self._delay()
        if self.down:
            return self._unavailable()
        failure = self.faults.take("token")
        if failure is not None:
            return self._failure_response(failure)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request", "Send the token request as a urlencoded form.")
        try:
            form = parse_qs((await request.body()).decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return _oauth_error(400, "invalid_request", "The form is not valid UTF-8.")
        credentials = self._client_credentials(request, form)
        if credentials is None or not (
            secrets.compare_digest(credentials[0].encode(), self.client_id.encode())
            and secrets.compare_digest(credentials[1].encode(), self.client_secret.encode())
        ):
            return _oauth_error(401, "invalid_client", "Client authentication failed.")

        def field_(name: str) -> str:
            return (form.get(name) or [""])[0]

        grant_type = field_("grant_type")
        if grant_type == "authorization_code":
            return self._exchange_code(field_("code"), field_("redirect_uri"))
        if grant_type == "refresh_token":
            answer = self._refresh_grant(field_("refresh_token"))
            if answer.status_code == 200 and self.faults.hold_after_rotation > 0:
                self.faults.hold_after_rotation -= 1
                self.stats.held_rotations += 1
                self.faults.rotation_held.set()
                with anyio.move_on_after(self.faults.hold_timeout):
                    while (await request.receive())["type"] != "http.disconnect":
                        pass
            return answer
        if not grant_type:
            return _oauth_error(400, "invalid_request", "grant_type is missing.")
        return _oauth_error(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported.")

    def _invalid_grant(self, description: str) -> Response:
        self.stats.invalid_grants += 1
        return _oauth_error(400, "invalid_grant", description)

    def _exchange_code(self, code: str, redirect_uri: str) -> Response:
        if not code:
            return _oauth_error(400, "invalid_request", "code is missing.")
        self._prune()
        record = self._codes.get(code)
        if record is None or record.used:
            return self._invalid_grant("The authorization code is invalid, expired or already used.")
        record.used = True  # single use, even when the rest of the request is wrong
        if redirect_uri != record.redirect_uri:
            return self._invalid_grant("redirect_uri does not match the authorization request.")
        if record.client_id != self.client_id:
            return self._invalid_grant("The code was issued to another client.")
        self.stats.token_grants["authorization_code"] += 1
        grant = _Grant(record.client_id, record.scopes, person=record.person)
        return JSONResponse(self._new_tokens(grant), headers=_NO_STORE)

    def _refresh_grant(self, refresh_token: str) -> Response:
        if not refresh_token:
            return _oauth_error(400, "invalid_request", "refresh_token is missing.")
        record = self._refresh.get(refresh_token)
        claims = self._claims(refresh_token, "refresh") if record is None else None
        if claims is not None:
            # Issued by another fake with the same secret: from now on this fake tracks its rotation.
            grant = self._adopt_grant(claims)
            record = _RefreshToken(grant)
            grant.refresh_tokens.append(record)
            self._refresh[refresh_token] = record
        if record is None or not record.valid or record.grant.revoked:
            return self._invalid_grant("The refresh token is invalid, rotated or revoked.")
        # Rotation: the used refresh token and every access token of the grant stop working.
        record.valid = False
        for access in record.grant.access_tokens:
            access.valid = False
        self.stats.token_grants["refresh_token"] += 1
        return JSONResponse(self._new_tokens(record.grant), headers=_NO_STORE)

    # ----------------------------------------------------------------------------- control endpoints

    async def _json_body(self, request: Request) -> dict[str, Any] | None:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        return body if isinstance(body, dict) else None

    def _query_person(self, request: Request) -> int | Response:
        try:
            return self._check_person(request.query_params.get("person", "0"))
        except ValueError as exc:
            return _error(400, "bad_request", f"{exc}.")

    async def _control_stats(self, request: Request) -> Response:
        person = self._query_person(request)
        if isinstance(person, Response):
            return person
        data = self._people[person].data
        records = mutations.counts(data) if data is not None else None
        return JSONResponse({**self.stats.as_dict(), "down": self.down, "records": records})

    async def _control_requests(self, request: Request) -> Response:
        # ?since=MS keeps a long benchmark's polls small: only the requests that arrived at or after it.
        raw = request.query_params.get("since", "0")
        try:
            since = int(raw)
        except ValueError:
            return _error(400, "bad_request", f"since must be epoch milliseconds, got {raw!r}.")
        rows = [
            {"at_ms": at, "status": status, "person": person}
            for at, status, person in self.request_log
            if at >= since
        ]
        return JSONResponse({"requests": rows, "count": len(rows)})

    async def _kind_and_id(self, request: Request) -> tuple[dict[str, Any], str, Any, int] | Response:
        body = await self._json_body(request)
        if body is None:
            return _error(400, "bad_request", "Send a JSON object.")
        if "kind" not in body or "id" not in body:
            return _error(400, "bad_request", 'The body needs "kind" and "id".')
        try:
            person = self._check_person(body.pop("person", 0))
        except ValueError as exc:
            return _error(400, "bad_request", f"{exc}.")
        return body, body.pop("kind"), body.pop("id"), person

    async def _control_rescore(self, request: Request) -> Response:
        parsed = await self._kind_and_id(request)
        if isinstance(parsed, Response):
            return parsed
        changes, kind, record_id, person = parsed
        try:
            record = self.rescore(kind, record_id, person=person, **changes)
        except UnknownRecordError as exc:
            return _error(404, "not_found", f"{exc.args[0]}.")
        except (TypeError, ValueError) as exc:
            return _error(400, "bad_request", f"{exc}.")
        return JSONResponse(record)

    async def _control_score_pending(self, request: Request) -> Response:
        body = await self._json_body(request)
        if body is None:
            return _error(400, "bad_request", "Send a JSON object (or nothing).")
        try:
            person = self._check_person(body.get("person", 0))
        except ValueError as exc:
            return _error(400, "bad_request", f"{exc}.")
        return JSONResponse({"scored": self.score_pending(person=person)})

    async def _control_corrupt(self, request: Request) -> Response:
        parsed = await self._kind_and_id(request)
        if isinstance(parsed, Response):
            return parsed
        extra, kind, record_id, person = parsed
        changes = extra.pop("set", None)
        if extra or not isinstance(changes, dict):
            return _error(400, "bad_request", 'The body is {"kind", "id", "set": {path: value}}.')
        try:
            record = self.corrupt(kind, record_id, changes, person=person)
        except UnknownRecordError as exc:
            return _error(404, "not_found", f"{exc.args[0]}.")
        except ValueError as exc:
            return _error(400, "bad_request", f"{exc}.")
        return _RecordsResponse(record)

    async def _control_delete(self, request: Request) -> Response:
        parsed = await self._kind_and_id(request)
        if isinstance(parsed, Response):
            return parsed
        extra, kind, record_id, person = parsed
        if extra:
            return _error(400, "bad_request", f"Unknown field(s): {', '.join(sorted(extra))}.")
        try:
            removed = self.delete_record(kind, record_id, person=person)
        except UnknownRecordError as exc:
            return _error(404, "not_found", f"{exc.args[0]}.")
        except ValueError as exc:
            return _error(400, "bad_request", f"{exc}.")
        return JSONResponse({"deleted": removed})

    async def _control_down(self, request: Request) -> Response:
        if request.method == "POST":
            body = await self._json_body(request)
            if body is None or not isinstance(body.get("down"), bool):
                return _error(400, "bad_request", 'Send {"down": true} or {"down": false}.')
            self.set_down(body["down"])
        return JSONResponse({"down": self.down})

    async def _control_faults(self, request: Request) -> Response:
        if request.method == "POST":
            body = await self._json_body(request)
            if body is None:
                return _error(400, "bad_request", "Send a JSON object.")
            try:
                if "latency_ms" in body:
                    self.faults.latency = max(0.0, float(body["latency_ms"]) / 1000)
                if "hold_after_rotation" in body:
                    self.faults.hold_after_rotation = max(0, int(body["hold_after_rotation"]))
                if "error_rate" in body:
                    self.faults.error_rate = min(1.0, max(0.0, float(body["error_rate"])))
                if "trickle_ms" in body:
                    self.faults.trickle = max(0.0, float(body["trickle_ms"]) / 1000)
                if body.get("next_status") is not None:
                    retry = body.get("retry_after")
                    target = body.get("target", "api")
                    if target not in ("api", "token"):
                        raise ValueError("target must be api or token")
                    self.faults.fail_next(
                        int(body["next_status"]),
                        int(body.get("next_count", 1)),
                        None if retry is None else float(retry),
                        target=target,
                    )
            except (TypeError, ValueError) as exc:
                return _error(400, "bad_request", str(exc))
        return JSONResponse(self.faults.as_dict())

    async def _control_export(self, request: Request) -> Response:
        # On the event loop, like every mutation of the records: the export is one consistent snapshot
        # (a year takes about 0.2 s).
        person = self._query_person(request)
        if isinstance(person, Response):
            return person
        body = export_zip(self.person_data(person))
        return Response(
            body,
            media_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="whoop_export.zip"', **_NO_STORE},
        )

    async def _control_reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"ok": True})

    async def _control_token(self, request: Request) -> Response:
        body = await self._json_body(request)
        if body is None:
            return _error(400, "bad_request", "Send a JSON object.")
        scopes: Any = body.get("scopes", body.get("scope", ALL_SCOPES))
        if isinstance(scopes, str):
            scopes = scopes.split()
        ttl = body.get("ttl")
        try:
            if not isinstance(scopes, list | tuple) or not all(isinstance(s, str) for s in scopes):
                raise ValueError("scopes must be a list of strings or a space-separated string")
            person = self._check_person(body.get("person", 0))
            return JSONResponse(
                self.issue_token(scopes, None if ttl is None else int(ttl), person=person),
                headers=_NO_STORE,
            )
        except (TypeError, ValueError) as exc:
            return _error(400, "bad_request", str(exc))

    async def _control_expire(self, request: Request) -> Response:
        return JSONResponse({"expired": self.expire_access_tokens()})


def create_fake_whoop(
    *,
    client_id: str = "demo-client",
    client_secret: str = "demo-secret",  # noqa: S107 - the fake's well-known demo secret
    auto_approve: bool = False,
    access_token_ttl: int = 3600,
    seed: int = 7,
    days: int = 180,
    now: datetime | None = None,
    requests_per_minute: int = 100,
    requests_per_day: int = 10_000,
    redirect_uris: Iterable[str] = (),
    clock: Callable[[], float] = time.time,
    control_endpoints: bool = True,
    token_secret: str | None = None,
    data_step: float | None = None,
    effects: PlantedEffects | None = None,
    people: int = 1,
    member_cap: int | None = None,
) -> FakeWhoop:
    """Build a fake WHOOP (OAuth + API v2) as an ASGI app; data is generated lazily on first use.

    ``token_secret`` signs the tokens so that every fake with the same secret accepts them;
    ``data_step`` anchors the data to the clock floored to that many seconds (see ``FakeWhoop.data``);
    ``effects`` plants known effects in the data (see ``PlantedEffects``); ``people`` simulated people
    can sign in, at most ``member_cap`` of them (see the ``app`` module docstring).

    Raises:
        ValueError: ``people`` or ``member_cap`` is below 1.
    """
    return FakeWhoop(
        client_id=client_id,
        client_secret=client_secret,
        auto_approve=auto_approve,
        access_token_ttl=access_token_ttl,
        seed=seed,
        days=days,
        now=now,
        requests_per_minute=requests_per_minute,
        requests_per_day=requests_per_day,
        redirect_uris=redirect_uris,
        clock=clock,
        control_endpoints=control_endpoints,
        token_secret=token_secret,
        data_step=data_step,
        effects=effects,
        people=people,
        member_cap=member_cap,
    )
