"""Async client of the WHOOP API v2 (consumer endpoints), with retries and shared in-flight GETs.

Design notes (the WHY):

* One injected ``httpx.AsyncClient``; its timeouts apply to each read, so a server that trickles a byte
  at a time would never trip them. Every logical request therefore has a total ``deadline`` (token,
  budget wait, every attempt with its body, and the pauses between them), and a retry is only started
  while time remains.
* A wait for the rate budget is capped (``rate_limit_wait_budget``): longer, and the caller is told at
  once when to retry (``RateLimitedError``), so no page or tool sits silently behind the budget.
* No response cache: the history store (``whoopkit.store``) is the cache, and ``whoopkit.sync`` decides
  what to fetch. Identical GETs that are in flight at the same moment still share one upstream request
  (key: path + sorted params), because concurrent faces often ask the same thing at once. The shared
  request ends by its own deadline, and is cancelled once nobody waits for it any more, so a stuck
  upstream never holds later callers after WHOOP recovers.
* The client reads single pages and single records; walking date ranges and ``next_token`` chains is
  the syncer's job, so that there is one implementation of it.
* Datetimes sent to WHOOP are ISO-8601 in UTC with a ``Z``. Naive datetimes are taken to be UTC
  (documented choice: callers often build them from plain dates).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

import httpx
from pydantic import BaseModel, ValidationError

from whoopkit import USER_AGENT
from whoopkit.errors import (
    NotFoundError,
    RateLimitedError,
    TokenRefreshError,
    WhoopAPIError,
    WhoopUnavailableError,
)
from whoopkit.models import (
    Cycle,
    Page,
    Recovery,
    Sleep,
    UserBasicProfile,
    UserBodyMeasurement,
    Workout,
)
from whoopkit.ratelimit import Budget, is_bulk

__all__ = ["USER_AGENT", "TokenProvider", "WhoopClient", "format_datetime"]

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 25

_ModelT = TypeVar("_ModelT", bound=BaseModel)
_InflightKey = tuple[str, tuple[tuple[str, str], ...]]
_UNAVAILABLE = "WHOOP is unreachable or too slow right now ({detail}); please try again in a minute."
_NOT_ANSWERING = (
    "WHOOP is not answering ({detail} took longer than {seconds:g} s); please try again in a minute."
)


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

    Identical GETs that are in flight at the same moment share one upstream request; nothing is
    cached beyond that. Naive datetimes are taken as UTC.

    Raises (from every request method):
        AuthError: not logged in, or WHOOP rejected the token even after a refresh.
        NotFoundError: WHOOP has no such record (404).
        RateLimitedError: WHOOP answered 429, or the rate budget is used up, and the wait would exceed
            ``rate_limit_wait_budget``; carries when to retry.
        WhoopUnavailableError: timeouts, connection errors or 5xx persisted after bounded retries, or
            the request passed its total ``deadline``.
        WhoopAPIError: any other error status, or a response that is not the documented JSON.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: TokenProvider,
        *,
        api_base_url: str,
        limiter: Budget | None = None,
        deadline: float | None = 20.0,
        max_retries: int = 3,
        rate_limit_wait_budget: float = 10.0,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        on_response: Callable[[str, int], None] | None = None,
    ) -> None:
        """Wrap ``http`` with ``tokens`` as the source of access tokens.

        ``deadline`` bounds each logical request in total (None: only ``http``'s per-read timeouts).
        ``on_response(method, status)`` hears of every upstream response, 429s and 5xx included
        (hosted mode counts them in its metrics).
        """
        self._http = http
        self._tokens = tokens
        self._base = api_base_url.rstrip("/")
        self._limiter = limiter
        self.deadline = deadline
        self.max_retries = max(0, max_retries)
        self.rate_limit_wait_budget = rate_limit_wait_budget
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._sleep = sleep
        self._on_response = on_response
        self._inflight: dict[_InflightKey, asyncio.Future[Any]] = {}
        self._waiters: dict[asyncio.Future[Any], int] = {}
        self._rng = random.Random()  # noqa: S311 - jitter, not security

    # ------------------------------------------------------------------ plumbing

    @property
    def limiter(self) -> Budget | None:
        """The rate limiter this client books its requests with."""
        return self._limiter

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._backoff_max, self._backoff_base * (2.0**attempt))
        # "Equal jitter": never less than half the ceiling, so retries do not hammer a struggling server.
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    async def _retry_pause(self, method: str, path: str, why: str, delay: float) -> None:
        logger.info("%s %s %s; retrying in %.1f s", method, path, why, delay)
        await self._sleep(delay)

    async def _request(self, method: str, path: str, params: dict[str, str] | None = None) -> Any:
        """Send one logical request (with retries) within ``deadline``; its decoded JSON (None for 204)."""
        if self.deadline is None:
            return await self._attempts(method, path, params, None)
        loop = asyncio.get_running_loop()
        ends = loop.time() + self.deadline
        try:
            async with asyncio.timeout_at(ends):
                return await self._attempts(method, path, params, ends)
        except TimeoutError:
            logger.info("%s %s passed its deadline of %.1f s", method, path, self.deadline)
            raise WhoopUnavailableError(
                _NOT_ANSWERING.format(detail=f"{method} {path}", seconds=self.deadline)
            ) from None

    def _time_left(self, ends: float | None) -> float | None:
        return None if ends is None else ends - asyncio.get_running_loop().time()

    def _may_retry(self, attempt: int, delay: float, ends: float | None) -> bool:
        left = self._time_left(ends)
        # A retry that could not even start before the deadline only delays the clear answer.
        return attempt < self.max_retries and (left is None or delay < left)

    async def _attempts(
        self, method: str, path: str, params: dict[str, str] | None, ends: float | None
    ) -> Any:
        url = self._base + path
        retryable = method == "GET"
        attempt = 0
        refreshed = False
        waited_for_rate_limit = 0.0
        token: str | None = None
        while True:
            if token is None:
                token = await finish_anyway(self._tokens.access_token())
            if self._limiter is not None:
                left = self._time_left(ends)
                cap = self.rate_limit_wait_budget if left is None else min(self.rate_limit_wait_budget, left)
                # Bulk work never queues for the budget: it waits with its sync lock released (see sync).
                await self._limiter.acquire(max_wait=0.0 if is_bulk() else max(0.0, cap))
            headers = {
                "Authorization": f"Bearer {token}",
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
            }
            started = time.perf_counter()
            try:
                response = await self._http.request(method, url, params=params, headers=headers)
            except httpx.TransportError as exc:
                kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
                logger.debug("%s %s %s after %.0f ms", method, path, kind, _ms(started))
                delay = self._backoff(attempt)
                if retryable and self._may_retry(attempt, delay, ends):
                    await self._retry_pause(method, path, kind, delay)
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
            if self._on_response is not None:
                self._on_response(method, status)
            if self._limiter is not None:
                self._limiter.observe(response.headers)

            if status == 401:
                if refreshed:
                    raise TokenRefreshError(
                        "WHOOP rejected the access token even after refreshing it "
                        f"({_error_text(response, token)}): log in again."
                    )
                refreshed = True
                token = await finish_anyway(self._tokens.refresh_after_unauthorized(token))
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
                    and self._may_retry(attempt, delay, ends)
                    and waited_for_rate_limit + delay <= self.rate_limit_wait_budget
                ):
                    waited_for_rate_limit += delay
                    await self._retry_pause(method, path, "was rate limited (429)", delay)
                    attempt += 1
                    token = None
                    continue
                raise RateLimitedError(wait if wait is not None else 60.0)
            if status >= 500:
                delay = self._backoff(attempt)
                if retryable and self._may_retry(attempt, delay, ends):
                    await self._retry_pause(method, path, f"answered {status}", delay)
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
        """GET through the in-flight table: identical concurrent GETs share one upstream request."""
        params = params or {}
        key: _InflightKey = (path, tuple(sorted(params.items())))
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(self._request("GET", path, params or None))
            self._inflight[key] = future
            future.add_done_callback(lambda done: self._forget_inflight(key, done))
        self._waiters[future] = self._waiters.get(future, 0) + 1
        try:
            # shield: one caller being cancelled must not cancel the request others are waiting on.
            return await asyncio.shield(future)
        finally:
            left = self._waiters.pop(future, 1) - 1
            if left > 0:
                self._waiters[future] = left
            elif not future.done():
                # Nobody waits any more (every caller passed its own deadline): stop the upstream call
                # rather than let a stuck one catch the next caller.
                if self._inflight.get(key) is future:
                    del self._inflight[key]
                future.cancel()

    def _forget_inflight(self, key: _InflightKey, done: asyncio.Future[Any]) -> None:
        if self._inflight.get(key) is done:
            del self._inflight[key]
        if not done.cancelled():
            done.exception()  # mark as retrieved even if every waiter was cancelled

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
        if kind not in _RECORD_PATHS:
            raise ValueError(f"unknown collection {kind!r}")
        path_of, model = _RECORD_PATHS[kind]
        path = path_of(ident)
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


# A record by id, per collection (a recovery by its cycle's id); the id's form is checked on the way.
_RECORD_PATHS: dict[str, tuple[Callable[[int | str], str], type[BaseModel]]] = {
    "cycles": (lambda ident: f"/v2/cycle/{int(ident)}", Cycle),
    "recoveries": (lambda ident: f"/v2/cycle/{int(ident)}/recovery", Recovery),
    "sleeps": (lambda ident: f"/v2/activity/sleep/{UUID(str(ident))}", Sleep),
    "workouts": (lambda ident: f"/v2/activity/workout/{UUID(str(ident))}", Workout),
}


async def finish_anyway(work: Awaitable[str]) -> str:
    """``work``'s result; if the caller gives up first (its deadline), ``work`` still runs to its end.

    A token refresh cut short after WHOOP rotated the refresh token would lose the login, so the
    deadline may stop waiting for it but never stops it.
    """
    task = asyncio.ensure_future(work)
    _UNFINISHED.add(task)
    task.add_done_callback(lambda done: None if done.cancelled() else done.exception())
    return await asyncio.shield(task)


_UNFINISHED: weakref.WeakSet[asyncio.Future[str]] = weakref.WeakSet()


async def finish_pending(grace: float = 10.0) -> None:
    """Wait (at most ``grace`` s) for refreshes whose callers gave up, before their HTTP client closes.

    Closing the client under a refresh would cut it after WHOOP may have rotated the token.
    """
    loop = asyncio.get_running_loop()
    pending = [task for task in _UNFINISHED if not task.done() and task.get_loop() is loop]
    if pending:
        await asyncio.wait(pending, timeout=grace)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


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
