"""The one data service both faces call: the web routes, the MCP tools and the CLI.

It answers from the local store, syncing the missing or stale part from WHOOP first when it can, and
says how fresh each answer is. Faces never talk to ``WhoopClient`` or the store directly.

Day arguments are WHOOP days (the user's local date a record belongs to, as in
``analytics.whoop_day``), both ends included. "Today" is the user's local date from the timezone
offset of their latest stored cycle, falling back to the machine's zone.

Every answer waits for WHOOP at most ``WHOOP_REQUEST_DEADLINE`` seconds in total: a face marks one page
or one tool call with :func:`one_answer`, and every service call inside shares that deadline (outside
one, each call has its own). When it passes, the answer comes from the store, or, with nothing stored,
is a clear "WHOOP is not answering".
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import anyio
import filelock

from whoopkit import analytics, imports, models
from whoopkit.client import finish_anyway
from whoopkit.config import Settings
from whoopkit.errors import (
    AuthError,
    RateLimitedError,
    SyncBusyError,
    WhoopkitError,
    WhoopUnavailableError,
)
from whoopkit.models import Cycle, Recovery, Sleep, UserBasicProfile, UserBodyMeasurement, Workout
from whoopkit.store import COLLECTIONS, Collection, JournalRow, Store, StoreStatus
from whoopkit.sync import LockFactory, Syncer, SyncProgress, SyncReport
from whoopkit.tokens import Token, TokenStatus

if TYPE_CHECKING:
    from whoopkit.runtime import Whoop

__all__ = [
    "COLLECTIONS",
    "Answer",
    "Collection",
    "Freshness",
    "Recent",
    "StoreStatus",
    "SyncProgress",
    "SyncReport",
    "WhoopService",
    "one_answer",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
Record = Cycle | Recovery | Sleep | Workout
RecordKind = Literal["cycles", "recoveries", "sleeps", "workouts"]

# How far back a "today" question looks: enough for the newest scored recovery and last night's sleep.
RECENT_DAYS = 7
# Day rows the warm-up prepares, so a year-long first question is answered from memory.
WARM_DAYS = 400
# Longer than this for the rate budget, and a question is answered from the store instead.
BUDGET_WAIT_LIMIT = 2.0
# Issue 10: the drivers need four weeks of outcomes; history questions reach back at most ten years, and
# the drivers read a month before their window for the usual bedtime (28 nights) and the previous day.
DRIVERS_MIN_DAYS = 28
MAX_HISTORY_DAYS = 3650
DRIVERS_HISTORY_DAYS = 29
RECORDS_SYNC_DAYS = 365
STATISTICS_PRELOAD_DELAY = 10.0
NOT_ANSWERING = (
    "WHOOP is not answering, and nothing is stored locally yet to answer from; try again in a minute."
)

_ANSWER_STARTED: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "whoopkit_answer_started", default=None
)


@contextmanager
def one_answer() -> Iterator[None]:
    """Mark what runs inside as one answer (a page, a tool call): its waits for WHOOP share one deadline.

    Nested marks keep the outermost start, so a page that asks the service several things still
    answers within ``WHOOP_REQUEST_DEADLINE`` of its start.
    """
    if _ANSWER_STARTED.get() is not None:
        yield
        return
    token = _ANSWER_STARTED.set(time.monotonic())
    try:
        yield
    finally:
        _ANSWER_STARTED.reset(token)


@dataclass(frozen=True)
class Freshness:
    """How current an answer is.

    ``as_of``: when the data it used was last synced successfully (the oldest of the collections used;
    None when never). ``stale``: a refresh was due but could not be done, so the answer is older than
    ``WHOOP_FRESH_SECONDS``. ``problem``: why, as a sentence (None when not stale).
    """

    as_of: datetime | None
    stale: bool = False
    problem: str | None = None

    @property
    def as_of_iso(self) -> str | None:
        """``as_of`` as ISO 8601 (UTC), for structured output."""
        return self.as_of.astimezone(UTC).isoformat(timespec="seconds") if self.as_of else None


@dataclass
class Answer(Generic[T]):
    """Data from the service plus its freshness."""

    data: T
    freshness: Freshness


@dataclass
class Recent:
    """What a "how am I today" view needs, newest first: the last ``RECENT_DAYS`` days of records."""

    profile: UserBasicProfile | None
    body: UserBodyMeasurement | None
    cycles: list[Cycle] = field(default_factory=list)
    recoveries: list[Recovery] = field(default_factory=list)
    sleeps: list[Sleep] = field(default_factory=list)
    workouts: list[Workout] = field(default_factory=list)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def query_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """UTC bounds that surely hold every record whose WHOOP day lies in ``start..end``.

    Two days of slack before cover a cycle that starts the day before its WHOOP day in a zone up to
    +14:00; two after cover the far side of the date line.
    """
    return _midnight(start - timedelta(days=2)), _midnight(end + timedelta(days=2))


class WhoopService:
    """Reads, sync, login and logout over one store and one WHOOP stack (see the module docstring)."""

    def __init__(
        self,
        whoop: Whoop,
        store: Store,
        *,
        clock: Callable[[], datetime] | None = None,
        owns_whoop: bool = True,
        owns_store: bool = True,
        user_id: int | None = None,
        sync_locks: LockFactory | None = None,
        synced_elsewhere: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        """Serve from ``store``, syncing through ``whoop``; ``clock`` is "now" (tests pin it).

        ``user_id`` pins the service to one user of a shared store (hosted mode: one service per signed-in
        user, whose ``whoop.tokens`` is that user's login); ``sync_locks`` then replaces the file locks.
        ``synced_elsewhere`` says (a sentence) when another process is syncing this user right now (a hosted
        worker's job): an answer then comes from the store, if it has something, instead of fetching the
        same records twice.
        """
        self.whoop = whoop
        self.store = store
        self.settings: Settings = whoop.settings
        self._clock = clock or (lambda: datetime.now(UTC))
        from whoopkit.runtime import state_dir

        self.syncer = Syncer(
            whoop.client,
            store,
            clock=self._clock,
            lock_dir=None if sync_locks is not None else state_dir(whoop.settings, whoop.demo),
            time_left=self._answer_time_left,
            locks=sync_locks,
        )
        self._owns_whoop = owns_whoop
        self._owns_store = owns_store
        self._synced_elsewhere = synced_elsewhere
        self._pinned = user_id
        self._user_id: int | None = user_id
        self._user_lock = asyncio.Lock()
        self._days_cache = _DayRowsCache()  # stored_days
        self._history_cache = _DayRowsCache()  # history_days

    # ------------------------------------------------------------------ identity, time

    @property
    def demo(self) -> bool:
        """Whether the data comes from the simulated WHOOP."""
        return self.whoop.demo

    @property
    def login_url(self) -> str:
        """Where the user logs in (from settings: the web app's host and port)."""
        return self.settings.login_url

    def now(self) -> datetime:
        """The current time (UTC, aware)."""
        return self._clock().astimezone(UTC)

    def user_zone(self) -> timezone | None:
        """The timezone of the user's latest stored cycle, or None when the store has none."""
        user_id = self._stored_user()
        if user_id is None:
            return None
        offset = self.store.latest_offset(user_id)
        return None if offset is None else timezone(offset)

    def today(self) -> date:
        """The user's local date: their latest cycle's offset, else the machine's zone."""
        zone = self.user_zone()
        now = self.now()
        return now.astimezone(zone).date() if zone is not None else now.astimezone().date()

    def window(self, days: int) -> tuple[date, date]:
        """The last ``days`` days: the WHOOP days ``today() - (days - 1)``..``today()``, both included.

        Raises:
            ValueError: if ``days`` < 1.
        """
        return analytics.day_window(self.today(), days)

    # ------------------------------------------------------------------ auth

    def auth_status(self) -> TokenStatus:
        """The saved login: expiry, scopes, whether it can refresh (no upstream call)."""
        return self.whoop.tokens.status()

    def require_login(self) -> Token:
        """The saved token.

        Raises:
            NotLoggedInError: there is no usable token file.
        """
        return self.whoop.tokens.current()

    def authorize_url(self, state: str) -> str:
        """WHOOP's consent page URL for ``state``."""
        return self.whoop.oauth.authorize_url(state)

    async def login_with_code(self, code: str) -> None:
        """Exchange an authorization code and save the token under the inter-process lock.

        Raises:
            OAuthError: WHOOP refused the code.
            WhoopUnavailableError: WHOOP could not be reached.
        """
        try:
            token = await self._bounded(self.whoop.oauth.exchange_code(code))
        except TimeoutError:
            raise WhoopUnavailableError(
                "WHOOP is not answering, so the login could not be completed; try again in a minute."
            ) from None

        await anyio.to_thread.run_sync(self.whoop.tokens.save_login, token)
        self._user_id = self._pinned
        if self._pinned is not None:
            return
        # Learn who logged in now: a different WHOOP member must never inherit the last one's history.
        try:
            profile = await self._bounded(self.whoop.client.get_profile())
        except (WhoopkitError, TimeoutError) as exc:
            logger.info("could not fetch the new login's profile yet: %s", type(exc).__name__)
            await anyio.to_thread.run_sync(self.store.forget_local_user)
            return
        await anyio.to_thread.run_sync(self.store.save_profile, profile, self.now())
        self._user_id = profile.user_id

    async def logout(self, *, delete_local_data: bool = False) -> None:
        """Delete the token file, then revoke WHOOP access and, if asked, delete this user's local history.

        The file goes first: if it cannot be removed, nothing was revoked, so no dead login stays on disk.

        Raises:
            TokenFileError: the token file or its lock cannot be used (nothing was changed).
        """
        user_id = self._user_id if self._user_id is not None else self.store.local_user_id()
        if self.whoop.tokens.exists():
            access: str | None = None
            try:
                # Within the answer's deadline: a slow WHOOP must not hold the Log out button.
                access = await self._bounded(finish_anyway(self.whoop.tokens.access_token()))
            except (WhoopkitError, TimeoutError):
                with contextlib.suppress(WhoopkitError):
                    access = self.whoop.tokens.current().access_token
            # Takes the token file's lock, so a refresh still running finishes first and cannot
            # bring the file back afterwards.
            await anyio.to_thread.run_sync(self.whoop.tokens.delete)
            if access is not None:
                try:
                    await self._bounded(self.whoop.oauth.revoke(access))
                except (WhoopkitError, TimeoutError) as exc:
                    # The local login is removed anyway: the user asked to be logged out.
                    logger.warning("revoking WHOOP access failed: %s", type(exc).__name__)
        if delete_local_data and user_id is not None:
            await anyio.to_thread.run_sync(self.store.delete_user, user_id)
        self._user_id = self._pinned

    async def user_id(self) -> int:
        """The logged-in WHOOP user's id: remembered in the store, else fetched once from the profile.

        Raises:
            AuthError: not logged in.
            WhoopUnavailableError, RateLimitedError: the profile was needed and WHOOP did not answer.
        """
        self.require_login()
        if self._user_id is not None:
            return self._user_id
        async with self._user_lock:
            if self._user_id is None:
                known = self.store.local_user_id()
                if known is None:
                    try:
                        profile = await self._bounded(self.whoop.client.get_profile())
                    except TimeoutError:
                        raise WhoopUnavailableError(NOT_ANSWERING) from None
                    await anyio.to_thread.run_sync(self.store.save_profile, profile, self.now())
                    known = profile.user_id
                self._user_id = known
        return self._user_id

    async def demo_login(self) -> None:
        """In demo mode, log in to the simulated WHOOP unless the saved demo login still works.

        Raises:
            OAuthError: the simulated WHOOP did not hand out a code.
        """
        if self.demo:
            from whoopkit import runtime

            await runtime.demo_login(self.whoop)

    async def warm_up(self) -> None:
        """Do the first call's set-up now: the demo login, the user id, and the last year's day rows.

        Never raises: a problem shows up again, worded, in the first real call.
        """
        try:
            await self.demo_login()
            await anyio.to_thread.run_sync(self.store.local_user_id)
            if self.whoop.tokens.exists():
                await self.user_id()
                await self._import_demo_journal()
                today = self.today()
                await anyio.to_thread.run_sync(self.stored_days, today - timedelta(days=WARM_DAYS - 1), today)
        except WhoopkitError as exc:
            logger.info("warm-up stopped early: %s", type(exc).__name__)

    async def preload_statistics(self, *, delay: float = STATISTICS_PRELOAD_DELAY) -> None:
        """After ``delay`` s, import SciPy's statistics and build a year of merged history (worker threads).

        Both cost seconds of CPU the first drivers answer would otherwise pay; waiting first keeps them out of
        start-up and the first answers (which wait for :meth:`warm_up`, not for this). Never raises.
        """
        await asyncio.sleep(delay)
        try:
            await anyio.to_thread.run_sync(analytics.load_statistics)
            if self._stored_user() is not None:
                today = self.today()
                await anyio.to_thread.run_sync(
                    self.history_days, today - timedelta(days=WARM_DAYS - 1), today
                )
        except (WhoopkitError, ImportError) as exc:
            logger.info("preloading the statistics stopped: %s", type(exc).__name__)

    # ------------------------------------------------------------------ deadlines

    def time_left(self) -> float:
        """Seconds the current answer may still wait for WHOOP (see :func:`one_answer`)."""
        deadline = self.settings.whoop_request_deadline
        started = _ANSWER_STARTED.get()
        return deadline if started is None else started + deadline - time.monotonic()

    def _answer_time_left(self) -> float:
        # Sync's own runs (the background loop, `whoopkit sync`) may wait out the rate limit; an answer
        # may not wait past its deadline.
        return math.inf if _ANSWER_STARTED.get() is None else self.time_left()

    async def _bounded(self, work: Awaitable[T]) -> T:
        """Await ``work`` within :meth:`time_left`.

        Raises:
            TimeoutError: the deadline passed (the work is cancelled, never left running).
        """
        left = self.time_left()
        if left <= 0:
            if asyncio.iscoroutine(work):
                work.close()
            raise TimeoutError
        async with asyncio.timeout(left):
            return await work

    # ------------------------------------------------------------------ sync

    async def sync(
        self, *, days: int | None = None, progress: Callable[[SyncProgress], None] | None = None
    ) -> SyncReport:
        """A full sync: new records, the trailing window, and a backfill (all history, or ``days``).

        Raises:
            AuthError: not logged in.
            SyncBusyError: another process is syncing and did not finish in time.
        """
        user_id = await self.user_id()
        since = None
        if days is not None:
            # The lowest bound a read of those N days can have in any zone (the user's today is at most a
            # day behind UTC's), so asking about them afterwards costs no request. UTC's date, not the
            # user's: it must not move once the first records reveal their zone, or a resumed sync would
            # reach a day further back than the sync it resumes.
            since = _midnight(self.now().date() - timedelta(days=days + 2))
        report = await self.syncer.sync_all(user_id, days=days, since=since, progress=progress)
        # The web app's demo has no warm-up: its first sync gives the demo its journal.
        await self._import_demo_journal()
        return report

    async def _ensure(self, kinds: Sequence[Collection], start: date, end: date) -> Freshness:
        """Sync what ``start..end`` misses or what is stale for ``kinds``; never raises for WHOOP trouble.

        Raises:
            AuthError: not logged in.
            WhoopUnavailableError, RateLimitedError: WHOOP could not serve and the store has nothing.
        """
        user_id = await self.user_id()
        lo, hi = query_bounds(start, end)
        if self.user_zone() is None:
            # "Today" is still the machine's, and the user's may be a day behind it: fetch that day too,
            # so the same question asked once the zone is known costs nothing more.
            lo -= timedelta(days=1)
        hi = min(hi, self.now())
        fresh_seconds = self.settings.whoop_fresh_seconds
        if not self.syncer.needs(user_id, kinds, lo, hi, fresh_seconds):
            return self._freshness(user_id, kinds, None)
        error: WhoopkitError | None = None
        elsewhere = await self._elsewhere()
        # Asked only when this process would fetch: hosted, it is a Redis round trip on every page.
        wait = 0.0 if elsewhere is not None else self._budget_wait()
        if elsewhere is not None:
            error = _SyncedElsewhere(elsewhere)
        elif wait > BUDGET_WAIT_LIMIT:
            # Waiting for the budget would outlast the question: answer from the store at once.
            error = RateLimitedError(
                wait,
                f"WHOOP's request budget for this app is used up for the next {wait:.0f} s, so this is "
                "stored data.",
            )
        else:
            try:
                await self._bounded(self.syncer.ensure(user_id, kinds, lo, hi, fresh_seconds))
            except AuthError:
                raise
            except TimeoutError:
                error = WhoopUnavailableError(_offline_sentence(TimeoutError()))
            except (WhoopUnavailableError, RateLimitedError) as exc:
                error = exc
            except WhoopkitError as exc:
                error = exc
        return self._freshness(user_id, kinds, error)

    async def _elsewhere(self) -> str | None:
        """Why to answer from the store because another process is syncing this user (None: fetch)."""
        if self._synced_elsewhere is None:
            return None
        try:
            return await self._synced_elsewhere()
        except WhoopkitError:
            return None

    def _budget_wait(self) -> float:
        limiter = self.whoop.client.limiter
        return 0.0 if limiter is None else limiter.expected_wait()

    def _freshness(self, user_id: int, kinds: Sequence[Collection], error: WhoopkitError | None) -> Freshness:
        synced = [self.store.last_synced(user_id, kind) for kind in kinds]
        as_of = None if any(s is None for s in synced) else min(s for s in synced if s is not None)
        if error is None:
            return Freshness(as_of=as_of)
        stored = self.store.has_records(user_id, kinds) or self.store.has_imported(user_id, kinds)
        if isinstance(error, _SyncedElsewhere):
            # Another process is fetching exactly this (a hosted worker's job): what it stored so far, even
            # nothing yet, is the answer, and the page says the rest is on its way.
            return Freshness(as_of=as_of, stale=True, problem=str(error))
        if not any(synced) and not stored:
            # Nothing to answer from: the face says WHOOP is not answering (or when to retry).
            if isinstance(error, RateLimitedError):
                raise error
            raise WhoopUnavailableError(NOT_ANSWERING)
        problem = str(error) if isinstance(error, RateLimitedError) and "stored data" in str(error) else None
        return Freshness(as_of=as_of, stale=True, problem=problem or _offline_sentence(error))

    # ------------------------------------------------------------------ reads

    async def cycles(self, start: date, end: date) -> Answer[list[Cycle]]:
        """Cycles whose WHOOP day is in ``start..end``, newest first.

        Raises:
            AuthError: not logged in.
            WhoopUnavailableError: WHOOP cannot be reached and the store has nothing.
        """
        fresh = await self._ensure(("cycles",), start, end)
        return Answer(self.stored_cycles(start, end), fresh)

    async def recoveries(self, start: date, end: date) -> Answer[list[Recovery]]:
        """Recoveries whose cycle's WHOOP day is in ``start..end``, newest first.

        Raises:
            AuthError: not logged in.
            WhoopUnavailableError: WHOOP cannot be reached and the store has nothing.
        """
        fresh = await self._ensure(("recoveries", "cycles"), start, end)
        return Answer(self.stored_recoveries(start, end), fresh)

    async def sleeps(self, start: date, end: date) -> Answer[list[Sleep]]:
        """Sleeps and naps whose WHOOP day is in ``start..end``, newest first.

        Raises:
            AuthError: not logged in.
            WhoopUnavailableError: WHOOP cannot be reached and the store has nothing.
        """
        fresh = await self._ensure(("sleeps",), start, end)
        return Answer(self.stored_sleeps(start, end), fresh)

    async def workouts(self, start: date, end: date) -> Answer[list[Workout]]:
        """Workouts whose local date is in ``start..end``, newest first.

        Raises:
            AuthError: not logged in.
            WhoopUnavailableError: WHOOP cannot be reached and the store has nothing.
        """
        fresh = await self._ensure(("workouts",), start, end)
        return Answer(self.stored_workouts(start, end), fresh)

    async def days(self, start: date, end: date) -> Answer[list[analytics.DaySummary]]:
        """Joined day rows (``analytics.build_days``) for ``start..end``, newest first.

        Raises:
            AuthError: not logged in.
            WhoopUnavailableError: WHOOP cannot be reached and the store has nothing.
        """
        fresh = await self._ensure(COLLECTIONS, start, end)
        return Answer(self.stored_days(start, end), fresh)

    async def recent(self) -> Answer[Recent]:
        """Profile, body and the last ``RECENT_DAYS`` days of every collection, newest first.

        Raises:
            AuthError: not logged in.
            WhoopUnavailableError: WHOOP cannot be reached and the store has nothing.
        """
        start, end = self.window(RECENT_DAYS)
        fresh, profile, body = await asyncio.gather(
            self._ensure(COLLECTIONS, start, end), self._profile_or_none(), self._body_or_none()
        )
        lo, hi = query_bounds(start, end)
        user_id = await self.user_id()
        recent = Recent(
            profile=profile,
            body=body,
            cycles=self.store.records(user_id, "cycles", lo, hi),
            recoveries=self.store.records(user_id, "recoveries", lo, hi),
            sleeps=self.store.records(user_id, "sleeps", lo, hi),
            workouts=self.store.records(user_id, "workouts", lo, hi),
        )
        return Answer(recent, fresh)

    async def latest(self, kind: RecordKind, limit: int) -> Answer[list[Any]]:
        """The newest ``limit`` records of ``kind`` (fresh within ``WHOOP_FRESH_SECONDS``).

        Raises:
            AuthError: not logged in.
            WhoopUnavailableError: WHOOP cannot be reached and the store has nothing.
        """
        end = self.today()
        span = max(RECENT_DAYS, limit + 2 if kind in ("cycles", "recoveries") else limit)
        fresh = await self._ensure((kind,), end - timedelta(days=span), end)
        user_id = await self.user_id()
        rows = self.store.latest(user_id, kind, limit)
        if len(rows) < limit and not fresh.stale and not self.store.sync_state(user_id, kind).complete:
            # Sparse records (a weekly trainer's workouts): one page of the newest, however old.
            try:
                await self._bounded(self.syncer.newest(user_id, kind))
            except AuthError:
                raise
            except (WhoopkitError, TimeoutError) as exc:
                logger.info("could not fetch older %s: %s", kind, type(exc).__name__)
            rows = self.store.latest(user_id, kind, limit)
        return Answer(rows, fresh)

    async def profile(self) -> Answer[UserBasicProfile]:
        """The member's profile (refreshed at most daily).

        Raises:
            AuthError: not logged in.
            WhoopUnavailableError: WHOOP cannot be reached and the store has no profile.
        """
        user_id = await self.user_id()
        problem = await self._refresh_profile(user_id)
        profile = self.store.profile(user_id)
        if profile is None:
            raise WhoopUnavailableError(problem or "WHOOP has no profile for this login.")
        return Answer(profile, self._meta_freshness(user_id, "profile", problem))

    async def body(self) -> Answer[UserBodyMeasurement | None]:
        """Body measurements (refreshed at most daily); None when the member never entered them.

        Raises:
            AuthError: not logged in.
        """
        user_id = await self.user_id()
        problem = await self._refresh_profile(user_id)
        return Answer(self.store.body(user_id), self._meta_freshness(user_id, "body", problem))

    async def _profile_or_none(self) -> UserBasicProfile | None:
        try:
            return (await self.profile()).data
        except WhoopUnavailableError:
            return None

    async def _body_or_none(self) -> UserBodyMeasurement | None:
        return (await self.body()).data

    async def _refresh_profile(self, user_id: int) -> str | None:
        if self.store.profile(user_id) is not None and (elsewhere := await self._elsewhere()) is not None:
            return elsewhere  # the job syncing this user refreshes the profile and body too
        try:
            await self._bounded(self.syncer.refresh_profile(user_id, max_age=86_400.0))
        except AuthError:
            raise
        except (WhoopUnavailableError, RateLimitedError, TimeoutError) as exc:
            return _offline_sentence(exc)
        except WhoopkitError as exc:
            return str(exc)
        return None

    def _meta_freshness(
        self, user_id: int, what: Literal["profile", "body"], problem: str | None
    ) -> Freshness:
        as_of = self.store.meta_synced(user_id, what)
        return Freshness(as_of=as_of, stale=problem is not None, problem=problem)

    # ------------------------------------------------------------------ store-only reads (exports)

    def _stored_user(self) -> int | None:
        return self._user_id if self._user_id is not None else self.store.local_user_id()

    def stored_cycles(self, start: date, end: date) -> list[Cycle]:
        """Stored cycles of ``start..end`` (no sync), newest first."""
        rows: list[Cycle] = self._stored("cycles", start, end)
        return [c for c in rows if start <= analytics.whoop_day(c) <= end]

    def stored_recoveries(self, start: date, end: date) -> list[Recovery]:
        """Stored recoveries of ``start..end`` (no sync), newest first."""
        cycles = {c.id: c for c in self._stored("cycles", start - timedelta(days=1), end + timedelta(days=1))}
        out: list[Recovery] = []
        for recovery in self._stored("recoveries", start, end):
            cycle = cycles.get(recovery.cycle_id)
            if cycle is not None and start <= analytics.whoop_day(cycle) <= end:
                out.append(recovery)
        return out

    def stored_sleeps(self, start: date, end: date) -> list[Sleep]:
        """Stored sleeps and naps of ``start..end`` (no sync), newest first."""
        rows: list[Sleep] = self._stored("sleeps", start, end)
        return [s for s in rows if start <= analytics.whoop_day(s) <= end]

    def stored_workouts(self, start: date, end: date) -> list[Workout]:
        """Stored workouts of ``start..end`` (no sync), newest first."""
        rows: list[Workout] = self._stored("workouts", start, end)
        return [w for w in rows if start <= analytics.local_date(w) <= end]

    def stored_days(self, start: date, end: date) -> list[analytics.DaySummary]:
        """Stored day rows of ``start..end`` (no sync), newest first.

        Rows are kept for the last range asked (the warm-up asks for a year) and reused for any range
        inside it while the store's data version is unchanged: building a year of rows takes longer
        than reading its records.
        """
        user_id = self._stored_user()
        if user_id is None:
            return []
        version = self.store.data_version()
        cached = self._days_cache.get(user_id, version, start, end)
        if cached is not None:
            return cached
        lo, hi = start - timedelta(days=1), end + timedelta(days=1)
        built = analytics.build_days(
            self._stored("cycles", lo, hi),
            self._stored("recoveries", lo, hi),
            self._stored("sleeps", lo, hi),
            self._stored("workouts", lo, hi),
        )
        rows = [r for r in built if start <= r.date <= end]
        self._days_cache.put(user_id, version, start, end, rows)
        return rows

    def _stored(self, kind: Collection, start: date, end: date) -> list[Any]:
        user_id = self._stored_user()
        if user_id is None:
            return []
        lo, hi = query_bounds(start, end)
        return self.store.records(user_id, kind, lo, hi)

    def stored_raw(self, kind: Collection, start: date | None, end: date | None) -> list[dict[str, Any]]:
        """The raw WHOOP JSON of stored records (no sync), oldest first, for JSONL exports."""
        user_id = self._stored_user()
        if user_id is None:
            return []
        lo = _midnight(start - timedelta(days=1)) if start else None
        hi = _midnight(end + timedelta(days=2)) if end else None
        return self.store.raw_records(user_id, kind, lo, hi)

    # ---- drivers, records and the recovery calendar (issue 10)

    async def drivers(self, days: int, outcome: str) -> Answer[analytics.DriversReport]:
        """What is associated with ``outcome`` over the last ``days`` days (``analytics.drivers_report``).

        Rows from up to ``DRIVERS_HISTORY_DAYS`` before the window serve as history (the usual bedtime,
        the previous day), never as outcome days. Only the last year is synced first; older days come
        from the store as they are (a backfill's or an import's).

        Raises:
            ValueError: ``days`` is not a whole number from 28 to 3650, or ``outcome`` is not one of
                recovery, hrv, rhr (the message is a sentence a face can show).
            AuthError: not logged in.
            WhoopUnavailableError: WHOOP cannot be reached and the store has nothing.
        """
        _check_days(days, DRIVERS_MIN_DAYS)
        if not isinstance(outcome, str) or outcome not in analytics.OUTCOMES:
            raise ValueError(f"outcome must be one of recovery, hrv or rhr; got {outcome!r}.")
        start, end = self.window(days)
        fresh = await self._ensure(COLLECTIONS, self._synced_from(start, end), end)
        rows = self.history_days(start - timedelta(days=DRIVERS_HISTORY_DAYS), end)
        journal = self.journal_days(start - timedelta(days=1), end)
        report = await anyio.to_thread.run_sync(
            functools.partial(
                analytics.drivers_report, rows, journal, outcome=outcome, today=end, window_days=days
            )
        )
        return Answer(report, fresh)

    @staticmethod
    def _synced_from(start: date, end: date) -> date:
        # Years of history are a backfill's job (the background sync, `whoopkit sync`) or an import's:
        # asking WHOOP for them within one answer would spend the minute's budget and the deadline on
        # mostly empty windows. Beyond the last year, what is stored is used as it is.
        return max(start, end - timedelta(days=RECORDS_SYNC_DAYS - 1))

    async def records(self) -> Answer[analytics.RecordsReport]:
        """Personal records and green streaks over every stored day (the last year synced first).

        Raises:
            AuthError: not logged in.
            WhoopUnavailableError: WHOOP cannot be reached and the store has nothing.
        """
        start, end = self.window(RECORDS_SYNC_DAYS)
        fresh = await self._ensure(COLLECTIONS, start, end)
        rows = self.history_days(end - timedelta(days=MAX_HISTORY_DAYS - 1), end)
        report = await anyio.to_thread.run_sync(functools.partial(analytics.records_report, rows, today=end))
        return Answer(report, fresh)

    async def recovery_calendar(self, days: int = 365) -> Answer[list[analytics.CalendarDay]]:
        """One calendar cell per day of the last ``days`` days, oldest first, with its tooltip.

        Raises:
            ValueError: ``days`` is not a whole number from 1 to 3650.
            AuthError: not logged in.
            WhoopUnavailableError: WHOOP cannot be reached and the store has nothing.
        """
        _check_days(days, 1)
        start, end = self.window(days)
        fresh = await self._ensure(COLLECTIONS, self._synced_from(start, end), end)
        rows = self.history_days(start, end)
        return Answer(analytics.recovery_calendar(rows, start=start, end=end), fresh)

    # ---- the app's export: import, merged history and the journal (issue 10)

    # (user, data version, answer): see has_journal.
    _journal_known: tuple[int, int, bool] | None = None

    async def import_export(
        self, path: Path | Sequence[Path], *, dry_run: bool = False
    ) -> imports.ImportReport:
        """Import the WHOOP app's data export (its zip, its folder, or CSV files) into the store.

        The files are read in a worker thread; records the API also has (same kind, starting within
        ``imports.MATCH_WINDOW`` or covering the same span: ``imports.match_spans``) are counted as
        matched, and each journal answer is tied to its cycle's API twin. Everything is written in one
        transaction, so a malformed file leaves the store as it was; ``dry_run`` reads and reports
        without writing. WHOOP is not called when the store already knows whose history this is.

        Raises:
            ImportFileError: a file is missing or malformed (the message names it and the line).
            AuthError: no WHOOP account is known yet, so the history has no owner.
            WhoopUnavailableError: the account had to be asked of WHOOP, which did not answer.
            StoreError: the database could not be written (nothing was).
        """
        paths = [path] if isinstance(path, Path) else [Path(p) for p in path]
        imports.check_paths(paths)
        user_id = await self._import_user()
        batch = await anyio.to_thread.run_sync(imports.read_export, paths, user_id)
        return await anyio.to_thread.run_sync(self._commit_import, batch, dry_run)

    async def _import_user(self) -> int:
        known = self._stored_user()
        if known is not None:
            return known
        if not self.whoop.tokens.exists():
            raise AuthError("No WHOOP account is known yet, so the export has no owner to be filed under.")
        return await self.user_id()

    def _commit_import(self, batch: imports.ImportBatch, dry_run: bool) -> imports.ImportReport:
        """Match ``batch`` against the stored API records and, unless ``dry_run``, save it."""
        user_id = batch.user_id
        ours = batch.models()
        starts = [r.start_ms for records in batch.records.values() for r in records]
        starts += [a.cycle_start_ms for a in batch.journal]
        api: dict[Collection, list[Any]] = {kind: [] for kind in COLLECTIONS}
        if starts:
            slack = imports.MATCH_WINDOW + timedelta(days=1)
            lo = datetime.fromtimestamp(min(starts) / 1000, UTC) - slack
            hi = datetime.fromtimestamp(max(starts) / 1000, UTC) + slack
            api = {kind: self.store.records(user_id, kind, lo, hi) for kind in COLLECTIONS}
        pairing = imports.pair_records(api, ours)
        cycles = api["cycles"]

        def ms(moment: datetime) -> int:
            return int(moment.timestamp() * 1000)

        # An answer follows its cycle: the imported cycle's pairing, else the same match on its own span.
        spans = {a.cycle_start_ms: a.cycle_end_ms for a in batch.journal}
        found = imports.match_spans(
            [imports.open_span(begin, finish) for begin, finish in spans.items()],
            [imports.open_span(ms(c.start), None if c.end is None else ms(c.end)) for c in cycles],
        )
        by_span = {begin: None if j is None else cycles[j].id for begin, j in zip(spans, found, strict=True)}
        twins = [
            pairing.cycle_ids.get(imports.cycle_id_for(a.cycle_start_ms), by_span[a.cycle_start_ms])
            for a in batch.journal
        ]
        journal = [
            JournalRow(
                cycle_start_ms=a.cycle_start_ms,
                question=a.question,
                answered_yes=a.answered_yes,
                notes=a.notes,
                cycle_end_ms=a.cycle_end_ms,
                timezone_offset=a.timezone_offset,
                cycle_id=twin,
            )
            for a, twin in zip(batch.journal, twins, strict=True)
        ]
        report = imports.ImportReport(
            source=batch.source,
            dry_run=dry_run,
            files=batch.files,
            ignored_files=batch.ignored_files,
            records={kind: len(batch.records.get(kind, [])) for kind in COLLECTIONS},
            matched={kind: pairing.matched(kind) for kind in COLLECTIONS},
            journal_answers=len(journal),
            journal_matched=sum(row.cycle_id is not None for row in journal),
            questions=batch.questions,
        )
        if not dry_run:
            counts = self.store.save_import(user_id, batch.raw_records(), journal, batch.source, self.now())
            report.new, report.updated, report.unchanged = counts.new, counts.updated, counts.unchanged
        return report

    def history_days(self, start: date, end: date) -> list[analytics.DaySummary]:
        """Day rows of ``start..end`` from the store alone, newest first: the API's records plus the
        imported ones the API lacks (no API record of the same kind is it: ``imports.pair_records``).

        The API's copy wins wherever both exist. Rows are cached like :meth:`stored_days`.
        """
        user_id = self._stored_user()
        if user_id is None:
            return []
        version = self.store.data_version()
        cached = self._history_cache.get(user_id, version, start, end)
        if cached is not None:
            return cached
        lo, hi = query_bounds(start - timedelta(days=1), end + timedelta(days=1))
        imported = {kind: self.store.imported_records(user_id, kind, lo, hi) for kind in COLLECTIONS}
        if not any(imported.values()):
            rows = self.stored_days(start, end)
        else:
            api = {kind: self.store.records(user_id, kind, lo, hi) for kind in COLLECTIONS}
            merged = imports.merge_records(api, imported)
            if all(len(merged[kind]) == len(api[kind]) for kind in COLLECTIONS):
                # The API has every imported record of the range: the rows are stored_days' (often cached).
                rows = self.stored_days(start, end)
            else:
                built = analytics.build_days(
                    merged["cycles"], merged["recoveries"], merged["sleeps"], merged["workouts"]
                )
                rows = [r for r in built if start <= r.date <= end]
        self._history_cache.put(user_id, version, start, end, rows)
        return rows

    def journal_days(self, start: date, end: date) -> dict[date, dict[str, bool]]:
        """The journal by WHOOP day of ``start..end`` (the day of the behaviour): question -> answered yes.

        A day is its cycle's, from the cycle's start and offset exactly as ``analytics.whoop_day``.
        """
        user_id = self._stored_user()
        if user_id is None:
            return {}
        lo, hi = query_bounds(start, end)
        out: dict[date, dict[str, bool]] = {}
        for row in self.store.journal(user_id, lo, hi):
            day = imports.cycle_day(row.cycle_start_ms, row.timezone_offset)
            if start <= day <= end:
                out.setdefault(day, {})[row.question] = row.answered_yes
        return dict(sorted(out.items()))

    def has_journal(self) -> bool:
        """Whether the store holds any journal answer of the user (imported from the app's export)."""
        user_id = self._stored_user()
        if user_id is None:
            return False
        version = self.store.data_version()
        known = self._journal_known
        if known is not None and known[:2] == (user_id, version):
            return known[2]
        found = bool(self.store.journal(user_id, models.EARLIEST, models.LATEST))
        self._journal_known = (user_id, version, found)
        return found

    async def _import_demo_journal(self) -> None:
        """In demo mode, import the simulated WHOOP's app export once, so the demo has a journal.

        The web app and the MCP server share the demo store: a file lock and the check under it make
        the import happen once, and importing the same export again would change nothing anyway.
        """
        fake = self.whoop.fake
        if not self.demo or fake is None or self._stored_user() is None or self.has_journal():
            return
        from whoopkit.runtime import state_dir

        lock = filelock.FileLock(
            str(state_dir(self.settings, True) / "demo_journal.lock"), thread_local=False
        )

        def run() -> None:
            from whoopkit.fake_whoop.export import export_zip

            with lock.acquire(timeout=30):
                user_id = self._stored_user()
                if user_id is None or self.has_journal():
                    return
                batch = imports.read_zip_bytes(export_zip(fake.data), "demo-export.zip", user_id)
                self._commit_import(batch, False)
                logger.info("imported the demo's app export: %d journal answers", len(batch.journal))

        try:
            await anyio.to_thread.run_sync(run)
        except filelock.Timeout:
            logger.info("another process is importing the demo's export")

    # ---- score history (issue 10)

    def score_changes(self, start: date, end: date) -> dict[date, list[analytics.ScoreChange]]:
        """WHOOP's re-scores of the records of ``start..end`` (store only, no sync), by WHOOP day.

        Each day's changes come oldest first; a day without any is absent.
        """
        user_id = self._stored_user()
        if user_id is None:
            return {}
        versions = self.store.score_versions(user_id, *query_bounds(start, end), rescored_only=True)
        if not versions:
            return {}
        # Dated by the day rows' own placement (a workout by the cycle containing it, a nap by its
        # start), from the records around the changes within stored_days' window for this range.
        first = datetime.fromtimestamp(min(v.start_ms for v in versions) / 1000, UTC).date()
        last = datetime.fromtimestamp(max(v.start_ms for v in versions) / 1000, UTC).date()
        lo, hi = max(start, first - timedelta(days=1)), min(end, last + timedelta(days=1))
        lo, hi = lo - timedelta(days=1), hi + timedelta(days=1)
        placed = analytics.days.record_days(
            self._stored("cycles", lo, hi),
            self._stored("recoveries", lo, hi),
            self._stored("sleeps", lo, hi),
            self._stored("workouts", lo, hi),
        )
        out: dict[date, list[analytics.ScoreChange]] = {}
        for change in analytics.score_changes(versions, days=placed):
            if start <= change.date <= end:
                out.setdefault(change.date, []).append(change)
        return out

    def stored_profile(self) -> UserBasicProfile | None:
        """The user's stored WHOOP profile (no upstream call), or None when none is stored yet."""
        user_id = self._stored_user()
        return None if user_id is None else self.store.profile(user_id)

    def store_status(self) -> StoreStatus:
        """Rows per collection, range covered, last sync and size of the store (no upstream call)."""
        return self.store.status(self._stored_user())

    def rate_budget(self) -> dict[str, int]:
        """Requests used in the last minute and today by every process sharing the budget."""
        limiter = self.whoop.client.limiter
        used = getattr(limiter, "usage", None)
        return used() if callable(used) else {}

    async def aclose(self) -> None:
        """Close the store and the WHOOP stack, each if owned."""
        if self._owns_store:
            await anyio.to_thread.run_sync(self.store.close)
        if self._owns_whoop:
            await self.whoop.aclose()


class _SyncedElsewhere(SyncBusyError):
    """Another process is syncing this very user now: answer from the store (never raised to a face)."""


def _check_days(days: object, low: int) -> None:
    """Refuse a day count outside ``low..MAX_HISTORY_DAYS`` in a sentence a face can show.

    Raises:
        ValueError: ``days`` is not a whole number in range.
    """
    if isinstance(days, bool) or not isinstance(days, int) or not low <= days <= MAX_HISTORY_DAYS:
        raise ValueError(f"days must be a whole number from {low} to {MAX_HISTORY_DAYS}; got {days!r}.")


class _DayRowsCache:
    """Day rows of the widest range asked, reused for any range inside it while the data version holds."""

    def __init__(self) -> None:
        # (user, data version, first day, last day, rows)
        self._kept: tuple[int, int, date, date, list[analytics.DaySummary]] | None = None

    def get(self, user_id: int, version: int, start: date, end: date) -> list[analytics.DaySummary] | None:
        """The kept rows of ``start..end``, or None when they were not kept for this user and version."""
        kept = self._kept
        if kept is None or kept[0] != user_id or kept[1] != version or start < kept[2] or kept[3] < end:
            return None
        return [r for r in kept[4] if start <= r.date <= end]

    def put(
        self, user_id: int, version: int, start: date, end: date, rows: list[analytics.DaySummary]
    ) -> None:
        """Keep ``rows``, unless rows of a wider range are kept for the same version."""
        kept = self._kept
        if kept is None or kept[1] != version or (end - start) >= (kept[3] - kept[2]):
            self._kept = (user_id, version, start, end, rows)


def _offline_sentence(exc: BaseException) -> str:
    if isinstance(exc, RateLimitedError):
        return f"WHOOP's rate limit was reached (retry in {exc.retry_after:.0f} s), so this is stored data."
    if isinstance(exc, TimeoutError) or "in time" in str(exc):
        return "WHOOP is not answering in time, so this is stored data."
    if isinstance(exc, WhoopUnavailableError):
        return "WHOOP is unreachable right now, so this is stored data."
    return f"WHOOP could not refresh this ({exc}), so this is stored data."


def migrate_database(settings: Settings, *, rotate_keys: bool) -> tuple[str, str, int | None]:
    """Bring the configured database to the newest schema (``whoopkit migrate``), in one opening.

    With ``rotate_keys``, also re-encrypt the hosted token rows under the newest ``WHOOP_TOKEN_KEY``.
    Returns the location, the revision and how many rows were re-encrypted (None without ``rotate_keys``).

    Raises:
        StoreError: the database cannot be opened, or was written by a newer whoopkit.
        TokenKeyError: the key is malformed, or a row opens with none of the keys.
    """
    store = Store.open(settings.database_url)
    try:
        rotated = None
        if rotate_keys:
            from whoopkit.hosted_tokens import HostedTokenStore
            from whoopkit.token_crypto import TokenCipher

            rotated = HostedTokenStore(store.engine, TokenCipher.from_settings(settings)).rotate_keys()
        return store.location, store.schema_revision() or Store.head_revision(), rotated
    finally:
        store.close()


def build_service(
    settings: Settings,
    *,
    demo: bool | None = None,
    fake: Any = None,
    transport: Any = None,
    clock: Callable[[], datetime] | None = None,
) -> WhoopService:
    """The service for one process: the WHOOP stack (``runtime.build_whoop``) plus the store.

    Demo mode keeps its own store under ``WHOOP_DATA_DIR/demo/``, never the real one.

    Raises:
        ConfigError: the settings cannot build a client.
        StoreError: the database is newer than this code or cannot be opened.
    """
    from whoopkit import runtime

    whoop = runtime.build_whoop(settings, demo=demo, fake=fake, transport=transport)
    # An httpx client holds no sockets until its first request, so a failed open leaks nothing.
    store = Store.open(runtime.database_url(whoop.settings, whoop.demo))
    return WhoopService(whoop, store, clock=clock)
