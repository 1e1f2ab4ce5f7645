"""Async client of the WHOOP API v2 (consumer endpoints), with caching, retries and fast range reads.

Design notes (the WHY):

* One injected ``httpx.AsyncClient``; timeouts are whatever the caller configured on it.
* Every GET goes through a per-instance TTL cache (key: method + path + sorted params) and an
  in-flight table so identical concurrent GETs share one upstream request. Errors are never cached.
* Range helpers (``cycles()`` etc.) split ``[start, end)`` into date windows sized so that a window
  normally fits one page of 25, and fetch all windows concurrently: 90 days of history costs about
  one round trip of wall time instead of 4-10 sequential ``next_token`` pages.
* Datetimes sent to WHOOP are ISO-8601 in UTC with a ``Z``. Naive datetimes are taken to be UTC
  (documented choice: callers such as the MCP tools often build them from plain dates).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

import httpx
from pydantic import BaseModel, ValidationError

from whoopkit import USER_AGENT
from whoopkit.errors import (
    LOGIN_URL,
    NotFoundError,
    RateLimitedError,
    TokenRefreshError,
    WhoopAPIError,
    WhoopUnavailableError,
)
from whoopkit.models import (
    Cycle,
    Page,
    RecordT,
    Recovery,
    Sleep,
    UserBasicProfile,
    UserBodyMeasurement,
    Workout,
)
from whoopkit.ratelimit import RateLimiter

__all__ = ["USER_AGENT", "Collected", "TokenProvider", "WhoopClient", "format_datetime"]

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 25

# Window sizes chosen so one window normally fits in one page of 25: ~1 cycle/recovery a day,
# up to ~2 sleeps a day with naps, up to ~3 workouts a day.
CYCLE_WINDOW_DAYS = 20.0
RECOVERY_WINDOW_DAYS = 20.0
SLEEP_WINDOW_DAYS = 12.0
WORKOUT_WINDOW_DAYS = 8.0

_ModelT = TypeVar("_ModelT", bound=BaseModel)
_CacheKey = tuple[str, str, tuple[tuple[str, str], ...]]
_UNAVAILABLE = "WHOOP is unreachable or too slow right now ({detail}); please try again in a minute."


class TokenProvider(Protocol):
    """Where the client gets access tokens (``tokens.TokenManager`` implements it)."""

    async def access_token(self) -> str:
        """A valid access token (may refresh proactively).

        Raises:
            AuthError: the user has to log in (again).
        """
        ...

    async def refresh_after_unauthorized(self, rejected: str) -> str:
        """A new access token after WHOOP answered 401 for ``rejected``.

        Raises:
            AuthError: the refresh failed; the user has to log in again.
        """
        ...


class Collected(BaseModel, Generic[RecordT]):
    """Records of a date range, newest first and de-duplicated; ``truncated`` when more exist."""

    records: list[RecordT]
    truncated: bool = False


def _as_utc(value: datetime | date) -> datetime:
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_datetime(value: datetime | date) -> str:
    """Format a datetime the way WHOOP expects: UTC, millisecond precision, ``Z`` suffix.

    Naive datetimes are taken to be UTC; a ``date`` means its midnight UTC.
    """
    utc = _as_utc(value)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _describe_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _header_seconds(value: str | None) -> float | None:
    """Seconds from ``Retry-After``/``X-RateLimit-Reset``: a number, or an HTTP date."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value.split(",")[0].strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
        return max(0.0, seconds)
    return seconds if seconds >= 0 else None


class WhoopClient:
    """Async WHOOP API v2 client; one instance per user session.

    ``cache_ttl=0`` turns the response cache off; identical GETs that are in flight at the same
    moment still share one upstream request. ``upstream_requests`` counts real HTTP sends, retries
    included; ``cache_hits`` counts answers served from the cache. Naive datetimes are taken as UTC.

    Raises (from every request method):
        AuthError: not logged in, or WHOOP rejected the token even after a refresh.
        NotFoundError: WHOOP has no such record (404).
        RateLimitedError: WHOOP answered 429 and the wait would exceed the retry budget.
        WhoopUnavailableError: timeouts, connection errors or 5xx persisted after bounded retries.
        WhoopAPIError: any other error status, or a response that is not the documented JSON.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: TokenProvider,
        *,
        api_base_url: str,
        cache_ttl: float = 60.0,
        limiter: RateLimiter | None = None,
        max_retries: int = 3,
        rate_limit_wait_budget: float = 10.0,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_cache_entries: int = 512,
    ) -> None:
        """Wrap ``http`` (timeouts come from it) with ``tokens`` as the source of access tokens."""
        self._http = http
        self._tokens = tokens
        self._base = api_base_url.rstrip("/")
        self.cache_ttl = max(0.0, cache_ttl)
        self._limiter = limiter
        self.max_retries = max(0, max_retries)
        self.rate_limit_wait_budget = rate_limit_wait_budget
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._sleep = sleep
        self._clock = clock
        self._now = now
        self._max_cache_entries = max_cache_entries
        self._cache: dict[_CacheKey, tuple[float, Any]] = {}
        self._inflight: dict[_CacheKey, asyncio.Future[Any]] = {}
        self._generation = 0
        self._rng = random.Random()  # noqa: S311 - jitter, not security
        self.upstream_requests = 0
        self.cache_hits = 0

    # ------------------------------------------------------------------ plumbing

    @property
    def limiter(self) -> RateLimiter | None:
        """The rate limiter this client books its requests with."""
        return self._limiter

    def clear_cache(self) -> None:
        """Forget every cached response (in-flight requests finish but are not stored)."""
        self._cache.clear()
        self._inflight.clear()
        self._generation += 1

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._backoff_max, self._backoff_base * (2.0**attempt))
        # "Equal jitter": never less than half the ceiling, so retries do not hammer a struggling server.
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    async def _retry_pause(self, method: str, path: str, why: str, delay: float) -> None:
        logger.info("%s %s %s; retrying in %.1f s", method, path, why, delay)
        await self._sleep(delay)

    async def _request(self, method: str, path: str, params: dict[str, str] | None = None) -> Any:
        """Send one logical request (with retries) and return its decoded JSON (None for 204)."""
        url = self._base + path
        retryable = method == "GET"
        attempt = 0
        refreshed = False
        waited_for_rate_limit = 0.0
        token: str | None = None
        while True:
            if token is None:
                token = await self._tokens.access_token()
            if self._limiter is not None:
                await self._limiter.acquire()
            headers = {
                "Authorization": f"Bearer {token}",
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
            }
            started = time.perf_counter()
            self.upstream_requests += 1
            try:
                response = await self._http.request(method, url, params=params, headers=headers)
            except httpx.TransportError as exc:
                kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
                logger.debug("%s %s %s after %.0f ms", method, path, kind, _ms(started))
                if retryable and attempt < self.max_retries:
                    await self._retry_pause(method, path, kind, self._backoff(attempt))
                    attempt += 1
                    token = None
                    continue
                raise WhoopUnavailableError(_UNAVAILABLE.format(detail=f"{method} {path} {kind}")) from None
            except httpx.HTTPError as exc:
                raise WhoopUnavailableError(
                    _UNAVAILABLE.format(detail=f"{method} {path} failed: {type(exc).__name__}")
                ) from None
            status = response.status_code
            logger.debug("%s %s -> %d in %.0f ms", method, path, status, _ms(started))
            if self._limiter is not None:
                self._limiter.observe(response.headers)

            if status == 401:
                if refreshed:
                    raise TokenRefreshError(
                        "WHOOP rejected the access token even after refreshing it "
                        f"({_error_text(response, token)}): log in again at {LOGIN_URL}."
                    )
                refreshed = True
                token = await self._tokens.refresh_after_unauthorized(token)
                continue
            if status == 429:
                wait = _header_seconds(response.headers.get("retry-after"))
                if wait is None:
                    wait = _header_seconds(response.headers.get("x-ratelimit-reset"))
                if self._limiter is not None and wait is not None:
                    self._limiter.block_for(wait)
                delay = wait if wait is not None else self._backoff(attempt)
                if (
                    retryable
                    and attempt < self.max_retries
                    and waited_for_rate_limit + delay <= self.rate_limit_wait_budget
                ):
                    waited_for_rate_limit += delay
                    await self._retry_pause(method, path, "was rate limited (429)", delay)
                    attempt += 1
                    token = None
                    continue
                raise RateLimitedError(wait if wait is not None else 60.0)
            if status >= 500:
                if retryable and attempt < self.max_retries:
                    await self._retry_pause(method, path, f"answered {status}", self._backoff(attempt))
                    attempt += 1
                    token = None
                    continue
                raise WhoopUnavailableError(
                    _UNAVAILABLE.format(detail=f"{method} {path} answered HTTP {status}")
                )
            if status == 404:
                raise NotFoundError(f"WHOOP has no such record ({method} {path} answered 404).")
            if not 200 <= status < 300:
                raise WhoopAPIError(
                    status,
                    f"WHOOP rejected {method} {path} with HTTP {status}: {_error_text(response, token)}",
                )
            if status == 204 or not response.content:
                return None
            try:
                return response.json()
            except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                raise WhoopAPIError(
                    502, f"WHOOP sent a response to {method} {path} that is not valid JSON."
                ) from None

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        """GET through the TTL cache and the in-flight table."""
        params = params or {}
        key: _CacheKey = ("GET", path, tuple(sorted(params.items())))
        if self.cache_ttl > 0:
            hit = self._cache.get(key)
            if hit is not None:
                if hit[0] > self._clock():
                    self.cache_hits += 1
                    return hit[1]
                del self._cache[key]
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(self._fetch_and_store(key, path, params))
            self._inflight[key] = future
            future.add_done_callback(lambda done: self._forget_inflight(key, done))
        # shield: one caller being cancelled must not cancel the request others are waiting on.
        return await asyncio.shield(future)

    def _forget_inflight(self, key: _CacheKey, done: asyncio.Future[Any]) -> None:
        if self._inflight.get(key) is done:
            del self._inflight[key]
        if not done.cancelled():
            done.exception()  # mark as retrieved even if every waiter was cancelled

    async def _fetch_and_store(self, key: _CacheKey, path: str, params: dict[str, str]) -> Any:
        generation = self._generation
        data = await self._request("GET", path, params or None)
        if self.cache_ttl > 0 and generation == self._generation:
            now = self._clock()
            if len(self._cache) >= self._max_cache_entries:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                while len(self._cache) >= self._max_cache_entries:
                    del self._cache[next(iter(self._cache))]
            self._cache[key] = (now + self.cache_ttl, data)
        return data

    def _parse(self, model: type[_ModelT], data: Any, path: str) -> _ModelT:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise WhoopAPIError(
                502,
                f"WHOOP's response to GET {path} does not match the API v2 schema: "
                f"{_describe_validation(exc)}.",
            ) from None

    async def _get_model(
        self, model: type[_ModelT], path: str, params: dict[str, str] | None = None
    ) -> _ModelT:
        return self._parse(model, await self._get(path, params), path)

    # ------------------------------------------------------------------ single records

    async def get_profile(self) -> UserBasicProfile:
        """GET /v2/user/profile/basic: name and email."""
        return await self._get_model(UserBasicProfile, "/v2/user/profile/basic")

    async def get_body_measurement(self) -> UserBodyMeasurement:
        """GET /v2/user/measurement/body: height, weight, max heart rate."""
        return await self._get_model(UserBodyMeasurement, "/v2/user/measurement/body")

    async def get_cycle(self, cycle_id: int) -> Cycle:
        """GET /v2/cycle/{id}."""
        return await self._get_model(Cycle, f"/v2/cycle/{int(cycle_id)}")

    async def get_cycle_recovery(self, cycle_id: int) -> Recovery:
        """GET /v2/cycle/{id}/recovery."""
        return await self._get_model(Recovery, f"/v2/cycle/{int(cycle_id)}/recovery")

    async def get_cycle_sleep(self, cycle_id: int) -> Sleep:
        """GET /v2/cycle/{id}/sleep."""
        return await self._get_model(Sleep, f"/v2/cycle/{int(cycle_id)}/sleep")

    async def get_sleep(self, sleep_id: UUID | str) -> Sleep:
        """GET /v2/activity/sleep/{id}.

        Raises:
            ValueError: ``sleep_id`` is not a UUID.
        """
        return await self._get_model(Sleep, f"/v2/activity/sleep/{UUID(str(sleep_id))}")

    async def get_workout(self, workout_id: UUID | str) -> Workout:
        """GET /v2/activity/workout/{id}.

        Raises:
            ValueError: ``workout_id`` is not a UUID.
        """
        return await self._get_model(Workout, f"/v2/activity/workout/{UUID(str(workout_id))}")

    async def revoke_access(self) -> None:
        """DELETE /v2/user/access: revoke this app's access for the user (never retried)."""
        await self._request("DELETE", "/v2/user/access")
        self.clear_cache()

    # ------------------------------------------------------------------ one page

    @staticmethod
    def _page_params(
        start: datetime | date | None, end: datetime | date | None, limit: int, next_token: str | None
    ) -> dict[str, str]:
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
        params = {"limit": str(limit)}
        if start is not None:
            params["start"] = format_datetime(start)
        if end is not None:
            params["end"] = format_datetime(end)
        if next_token:
            params["nextToken"] = next_token
        return params

    async def _page(
        self,
        page_type: type[Page[Any]],
        path: str,
        start: datetime | date | None,
        end: datetime | date | None,
        limit: int,
        next_token: str | None,
    ) -> Any:
        return await self._get_model(page_type, path, self._page_params(start, end, limit, next_token))

    async def list_cycles(
        self,
        *,
        start: datetime | date | None = None,
        end: datetime | date | None = None,
        limit: int = 10,
        next_token: str | None = None,
    ) -> Page[Cycle]:
        """One page of GET /v2/cycle, newest first.

        Raises:
            ValueError: ``limit`` is outside 1..25.
        """
        page: Page[Cycle] = await self._page(Page[Cycle], "/v2/cycle", start, end, limit, next_token)
        return page

    async def list_recoveries(
        self,
        *,
        start: datetime | date | None = None,
        end: datetime | date | None = None,
        limit: int = 10,
        next_token: str | None = None,
    ) -> Page[Recovery]:
        """One page of GET /v2/recovery, newest first.

        Raises:
            ValueError: ``limit`` is outside 1..25.
        """
        page: Page[Recovery] = await self._page(Page[Recovery], "/v2/recovery", start, end, limit, next_token)
        return page

    async def list_sleeps(
        self,
        *,
        start: datetime | date | None = None,
        end: datetime | date | None = None,
        limit: int = 10,
        next_token: str | None = None,
    ) -> Page[Sleep]:
        """One page of GET /v2/activity/sleep (naps included), newest first.

        Raises:
            ValueError: ``limit`` is outside 1..25.
        """
        page: Page[Sleep] = await self._page(Page[Sleep], "/v2/activity/sleep", start, end, limit, next_token)
        return page

    async def list_workouts(
        self,
        *,
        start: datetime | date | None = None,
        end: datetime | date | None = None,
        limit: int = 10,
        next_token: str | None = None,
    ) -> Page[Workout]:
        """One page of GET /v2/activity/workout, newest first.

        Raises:
            ValueError: ``limit`` is outside 1..25.
        """
        page: Page[Workout] = await self._page(
            Page[Workout], "/v2/activity/workout", start, end, limit, next_token
        )
        return page

    async def record_with_raw(self, kind: str, ident: int | str) -> tuple[BaseModel, dict[str, Any]]:
        """One record by id (a recovery by its cycle id) plus the JSON WHOOP sent.

        Raises:
            NotFoundError: WHOOP has no such record (it was deleted).
            ValueError: unknown ``kind``, or an id of the wrong form.
        """
        paths: dict[str, tuple[str, type[BaseModel]]] = {
            "cycles": (f"/v2/cycle/{int(ident)}", Cycle) if kind == "cycles" else ("", Cycle),
            "recoveries": (f"/v2/cycle/{int(ident)}/recovery", Recovery)
            if kind == "recoveries"
            else ("", Recovery),
            "sleeps": (f"/v2/activity/sleep/{UUID(str(ident))}", Sleep) if kind == "sleeps" else ("", Sleep),
            "workouts": (f"/v2/activity/workout/{UUID(str(ident))}", Workout)
            if kind == "workouts"
            else ("", Workout),
        }
        if kind not in paths:
            raise ValueError(f"unknown collection {kind!r}")
        path, model = paths[kind]
        data = await self._get(path)
        parsed = self._parse(model, data, path)
        return parsed, data if isinstance(data, dict) else parsed.model_dump(mode="json", by_alias=True)

    async def page_with_raw(
        self,
        kind: str,
        *,
        start: datetime | date | None = None,
        end: datetime | date | None = None,
        limit: int = MAX_PAGE_SIZE,
        next_token: str | None = None,
    ) -> tuple[Page[Any], list[dict[str, Any]]]:
        """One page of a collection (cycles, recoveries, sleeps, workouts) and its records as sent.

        Raises:
            ValueError: unknown ``kind``, or ``limit`` outside 1..25.
        """
        paths: dict[str, tuple[str, type[Page[Any]]]] = {
            "cycles": ("/v2/cycle", Page[Cycle]),
            "recoveries": ("/v2/recovery", Page[Recovery]),
            "sleeps": ("/v2/activity/sleep", Page[Sleep]),
            "workouts": ("/v2/activity/workout", Page[Workout]),
        }
        if kind not in paths:
            raise ValueError(f"unknown collection {kind!r}")
        path, page_type = paths[kind]
        data = await self._get(path, self._page_params(start, end, limit, next_token))
        page = self._parse(page_type, data, path)
        raw = [r for r in data.get("records", []) if isinstance(r, dict)] if isinstance(data, dict) else []
        if len(raw) != len(page.records):
            raw = [r.model_dump(mode="json", by_alias=True, exclude_unset=True) for r in page.records]
        return page, raw

    # ------------------------------------------------------------------ date ranges

    def _windows(
        self, start: datetime | date, end: datetime | date | None, window_days: float
    ) -> list[tuple[datetime, datetime | None]]:
        """Split ``[start, end)`` into windows, newest first; an open ``end`` stays open ("now")."""
        if window_days <= 0:
            raise ValueError("window_days must be positive")
        lo = _as_utc(start)
        hi = _as_utc(end) if end is not None else None
        limit = hi if hi is not None else self._now().astimezone(UTC)
        if lo >= limit:
            # An open range that starts in the future still asks WHOOP (it decides what "now" is).
            return [] if hi is not None else [(lo, None)]
        step = timedelta(days=window_days)
        windows: list[tuple[datetime, datetime | None]] = []
        cursor = lo
        while cursor < limit:
            upper = cursor + step
            # Fold a sliver (< 1/8 window) into the last window rather than spending a request on it.
            if upper >= limit or limit - upper < step / 8:
                windows.append((cursor, hi))
                break
            windows.append((cursor, upper))
            cursor = upper
        windows.reverse()
        return windows

    async def _window_records(
        self,
        page_type: type[Page[Any]],
        path: str,
        lo: datetime,
        hi: datetime | None,
        max_records: int,
    ) -> tuple[list[Any], bool]:
        """All records of one window (following next_token only if it overflows); (records, cut)."""
        records: list[Any] = []
        token: str | None = None
        seen_tokens: set[str] = set()
        while True:
            page = await self._page(page_type, path, lo, hi, MAX_PAGE_SIZE, token)
            records.extend(page.records)
            token = page.next_token
            if not token or not page.records:
                return records, False
            if token in seen_tokens:
                logger.warning("WHOOP repeated a next_token for %s; stopping this window", path)
                return records, True
            seen_tokens.add(token)
            if len(records) >= max_records:
                # Every further page of this window is older than what we already hold.
                return records, True

    async def _collect(
        self,
        page_type: type[Page[Any]],
        path: str,
        start: datetime | date,
        end: datetime | date | None,
        max_records: int,
        window_days: float,
        key: Callable[[Any], Hashable],
        sort_by_start: bool,
    ) -> tuple[list[Any], bool]:
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        windows = self._windows(start, end, window_days)
        results = await asyncio.gather(
            *(self._window_records(page_type, path, lo, hi, max_records) for lo, hi in windows),
            return_exceptions=True,
        )
        merged: list[Any] = []
        seen: set[Hashable] = set()
        truncated = False
        for result in results:
            if isinstance(result, BaseException):
                raise result
            records, cut = result
            truncated = truncated or cut
            for record in records:
                k = key(record)
                if k not in seen:
                    seen.add(k)
                    merged.append(record)
        if sort_by_start:
            merged.sort(key=lambda r: r.start, reverse=True)
        if len(merged) > max_records:
            merged = merged[:max_records]
            truncated = True
        return merged, truncated

    async def cycles(
        self,
        start: datetime | date,
        end: datetime | date | None = None,
        *,
        max_records: int = 1000,
        window_days: float = CYCLE_WINDOW_DAYS,
    ) -> Collected[Cycle]:
        """Every cycle in ``[start, end)`` (``end=None``: up to now), newest first.

        Raises:
            ValueError: ``max_records`` < 1.
        """
        records, truncated = await self._collect(
            Page[Cycle], "/v2/cycle", start, end, max_records, window_days, _by_id, True
        )
        return Collected[Cycle](records=records, truncated=truncated)

    async def recoveries(
        self,
        start: datetime | date,
        end: datetime | date | None = None,
        *,
        max_records: int = 1000,
        window_days: float = RECOVERY_WINDOW_DAYS,
    ) -> Collected[Recovery]:
        """Every recovery in ``[start, end)``, newest first, one per cycle.

        Raises:
            ValueError: ``max_records`` < 1.
        """
        records, truncated = await self._collect(
            Page[Recovery], "/v2/recovery", start, end, max_records, window_days, _by_cycle_id, False
        )
        return Collected[Recovery](records=records, truncated=truncated)

    async def sleeps(
        self,
        start: datetime | date,
        end: datetime | date | None = None,
        *,
        max_records: int = 1000,
        window_days: float = SLEEP_WINDOW_DAYS,
    ) -> Collected[Sleep]:
        """Every sleep and nap in ``[start, end)``, newest first.

        Raises:
            ValueError: ``max_records`` < 1.
        """
        records, truncated = await self._collect(
            Page[Sleep], "/v2/activity/sleep", start, end, max_records, window_days, _by_id, True
        )
        return Collected[Sleep](records=records, truncated=truncated)

    async def workouts(
        self,
        start: datetime | date,
        end: datetime | date | None = None,
        *,
        max_records: int = 1000,
        window_days: float = WORKOUT_WINDOW_DAYS,
    ) -> Collected[Workout]:
        """Every workout in ``[start, end)``, newest first.

        Raises:
            ValueError: ``max_records`` < 1.
        """
        records, truncated = await self._collect(
            Page[Workout], "/v2/activity/workout", start, end, max_records, window_days, _by_id, True
        )
        return Collected[Workout](records=records, truncated=truncated)

    # ------------------------------------------------------------------ latest

    async def latest_cycle(self) -> Cycle | None:
        """The newest cycle (usually the current, unfinished one), or None."""
        return _first((await self.list_cycles(limit=1)).records)

    async def latest_recovery(self) -> Recovery | None:
        """The newest recovery (it may still be PENDING_SCORE), or None."""
        return _first((await self.list_recoveries(limit=1)).records)

    async def latest_workout(self) -> Workout | None:
        """The newest workout, or None."""
        return _first((await self.list_workouts(limit=1)).records)

    async def latest_sleep(self, include_naps: bool = False) -> Sleep | None:
        """The newest sleep; unless ``include_naps``, the newest that is not a nap."""
        if include_naps:
            return _first((await self.list_sleeps(limit=1)).records)
        # Naps are rare, so a page of 10 almost always holds the main sleep; one more page at most.
        page = await self.list_sleeps(limit=10)
        main = next((sleep for sleep in page.records if not sleep.nap), None)
        if main is None and page.next_token:
            page = await self.list_sleeps(limit=MAX_PAGE_SIZE, next_token=page.next_token)
            main = next((sleep for sleep in page.records if not sleep.nap), None)
        return main


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _first(records: Sequence[_ModelT]) -> _ModelT | None:
    return records[0] if records else None


def _by_id(record: Any) -> Hashable:
    key: Hashable = record.id
    return key


def _by_cycle_id(record: Any) -> Hashable:
    key: Hashable = record.cycle_id
    return key


def _error_text(response: httpx.Response, token: str | None) -> str:
    """WHOOP's own error text, short, without anything that looks like our token."""
    text = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for field in ("message", "error_description", "error", "detail"):
            if isinstance(body.get(field), str) and body[field]:
                text = body[field]
                break
    if not text:
        text = response.text.strip() or response.reason_phrase or "no details"
    text = " ".join(text.split())[:300]
    if token:
        text = text.replace(token, "[redacted]")
    return text
