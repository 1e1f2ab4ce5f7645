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
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import anyio

from whoopkit import analytics
from whoopkit.client import finish_anyway
from whoopkit.config import Settings
from whoopkit.errors import (
    AuthError,
    RateLimitedError,
    WhoopkitError,
    WhoopUnavailableError,
)
from whoopkit.models import Cycle, Recovery, Sleep, UserBasicProfile, UserBodyMeasurement, Workout
from whoopkit.store import COLLECTIONS, Collection, Store, StoreStatus
from whoopkit.sync import Syncer, SyncProgress, SyncReport
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
    ) -> None:
        """Serve from ``store``, syncing through ``whoop``; ``clock`` is "now" (tests pin it)."""
        self.whoop = whoop
        self.store = store
        self.settings: Settings = whoop.settings
        self._clock = clock or (lambda: datetime.now(UTC))
        from whoopkit.runtime import state_dir

        self.syncer = Syncer(
            whoop.client, store, clock=self._clock, lock_dir=state_dir(whoop.settings, whoop.demo)
        )
        self._owns_whoop = owns_whoop
        self._user_id: int | None = None
        self._user_lock = asyncio.Lock()
        # (user, data version, first day, last day, rows): see stored_days.
        self._days_cache: tuple[int, int, date, date, list[analytics.DaySummary]] | None = None

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

        def save() -> None:
            with self.whoop.store.lock():
                self.whoop.store.save(token)

        await anyio.to_thread.run_sync(save)
        self._user_id = None
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
        if self.whoop.store.exists():
            access: str | None = None
            try:
                # Within the answer's deadline: a slow WHOOP must not hold the Log out button.
                access = await self._bounded(finish_anyway(self.whoop.tokens.access_token()))
            except (WhoopkitError, TimeoutError):
                with contextlib.suppress(WhoopkitError):
                    access = self.whoop.tokens.current().access_token
            # Takes the token file's lock, so a refresh still running finishes first and cannot
            # bring the file back afterwards.
            await anyio.to_thread.run_sync(self.whoop.store.delete)
            if access is not None:
                try:
                    await self._bounded(self.whoop.oauth.revoke(access))
                except (WhoopkitError, TimeoutError) as exc:
                    # The local login is removed anyway: the user asked to be logged out.
                    logger.warning("revoking WHOOP access failed: %s", type(exc).__name__)
        if delete_local_data and user_id is not None:
            await anyio.to_thread.run_sync(self.store.delete_user, user_id)
        self._user_id = None

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
            if self.whoop.store.exists():
                await self.user_id()
                today = self.today()
                await anyio.to_thread.run_sync(self.stored_days, today - timedelta(days=WARM_DAYS - 1), today)
        except WhoopkitError as exc:
            logger.info("warm-up stopped early: %s", type(exc).__name__)

    # ------------------------------------------------------------------ deadlines

    def time_left(self) -> float:
        """Seconds the current answer may still wait for WHOOP (see :func:`one_answer`)."""
        deadline = self.settings.whoop_request_deadline
        started = _ANSWER_STARTED.get()
        return deadline if started is None else started + deadline - time.monotonic()

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
        return await self.syncer.sync_all(user_id, days=days, since=since, progress=progress)

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
        wait = self._budget_wait()
        if wait > BUDGET_WAIT_LIMIT:
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

    def _budget_wait(self) -> float:
        limiter = self.whoop.client.limiter
        return 0.0 if limiter is None else limiter.expected_wait()

    def _freshness(self, user_id: int, kinds: Sequence[Collection], error: WhoopkitError | None) -> Freshness:
        synced = [self.store.last_synced(user_id, kind) for kind in kinds]
        as_of = None if any(s is None for s in synced) else min(s for s in synced if s is not None)
        if error is None:
            return Freshness(as_of=as_of)
        if not any(synced) and not self.store.has_records(user_id, kinds):
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
        cached = self._days_cache
        if (
            cached is not None
            and cached[0] == user_id
            and cached[1] == version
            and cached[2] <= start
            and end <= cached[3]
        ):
            return [r for r in cached[4] if start <= r.date <= end]
        lo, hi = start - timedelta(days=1), end + timedelta(days=1)
        built = analytics.build_days(
            self._stored("cycles", lo, hi),
            self._stored("recoveries", lo, hi),
            self._stored("sleeps", lo, hi),
            self._stored("workouts", lo, hi),
        )
        rows = [r for r in built if start <= r.date <= end]
        if cached is None or cached[1] != version or (end - start) >= (cached[3] - cached[2]):
            self._days_cache = (user_id, version, start, end, rows)
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

    def store_status(self) -> StoreStatus:
        """Rows per collection, range covered, last sync and size of the store (no upstream call)."""
        return self.store.status(self._stored_user())

    def rate_budget(self) -> dict[str, int]:
        """Requests used in the last minute and today by every process sharing the budget."""
        limiter = self.whoop.client.limiter
        used = getattr(limiter, "usage", None)
        return used() if callable(used) else {}

    async def aclose(self) -> None:
        """Close the store and, if owned, the WHOOP stack."""
        await anyio.to_thread.run_sync(self.store.close)
        if self._owns_whoop:
            await self.whoop.aclose()


def _offline_sentence(exc: BaseException) -> str:
    if isinstance(exc, RateLimitedError):
        return f"WHOOP's rate limit was reached (retry in {exc.retry_after:.0f} s), so this is stored data."
    if isinstance(exc, TimeoutError) or "in time" in str(exc):
        return "WHOOP is not answering in time, so this is stored data."
    if isinstance(exc, WhoopUnavailableError):
        return "WHOOP is unreachable right now, so this is stored data."
    return f"WHOOP could not refresh this ({exc}), so this is stored data."


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
