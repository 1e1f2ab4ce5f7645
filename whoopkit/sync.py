"""Sync WHOOP collections into the store: incremental, idempotent and resumable.

Design notes (the WHY):

* WHOOP filters ``start``/``end`` on when a record happened and has no modified-since filter, while
  records are re-scored and deleted after delivery. So every refresh re-lists a trailing window by
  occurrence time (at least ``TRAILING_DAYS``, and back to the oldest record still PENDING_SCORE),
  upserts by id (a newer ``updated_at`` wins) and deletes what vanished inside each fully listed
  window. Re-deliveries can never double-count, and re-scores always land.
* What has been fetched is kept per collection as merged intervals in ``sync_state``; that is the
  checkpoint. A window is committed (records, deletions, interval) before the next batch starts, so a
  ``kill -9`` loses at most the batch in flight, and the next sync fetches only the gaps.
* Windows are sized from the data's density (learned from the store or from the first page) to fill
  about ``FILL`` of a 25-record page: a year costs close to the minimum number of pages, and the
  windows of a batch go out in parallel, newest first, so recent days are usable at once.
* One sync per collection at a time across processes: an inter-process file lock per collection
  (plus an asyncio lock within the process). A waiting process re-reads the state under the lock and
  skips work that the other process just did.
* Small questions go first. A long range (more than one batch of windows) and a full sync are bulk
  work (``ratelimit.bulk``): they book only part of each minute's budget, take the collection's lock
  one batch at a time, wait for the budget outside the lock, and yield the lock to a waiting small
  question, so "how am I today" is never queued behind a year-long backfill.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import anyio
import filelock
from pydantic import BaseModel

from whoopkit.client import MAX_PAGE_SIZE, WhoopClient
from whoopkit.errors import NotFoundError, RateLimitedError, SyncBusyError, WhoopUnavailableError
from whoopkit.ratelimit import bulk, is_bulk
from whoopkit.store import COLLECTIONS, Collection, Store, SyncState, Upserted, to_ms

logger = logging.getLogger(__name__)

DAY_MS = 86_400_000
TRAILING_DAYS = 7
PENDING_LOOKBACK_DAYS = 30
FILL = 21  # records a window aims for, of a page of 25: room for the data's day-to-day variance
BATCH = 8  # windows of one collection in flight at once
DEFAULT_DENSITY: dict[Collection, float] = {"cycles": 1.0, "recoveries": 1.0, "sleeps": 1.2, "workouts": 1.2}
LOCK_TIMEOUT = 60.0
MAX_CONFIRMATIONS = 25  # vanished records of one window confirmed by id before deleting them
MAX_RATE_PAUSES = 20
# After WHOOP failed to answer, on-demand backfills (many windows) wait this long before trying again:
# each would send a burst of requests (and their retries) at a WHOOP that is down, spending the shared
# budget that small questions and the recovery need.
BULK_RETRY_AFTER_DOWN = 60.0
MAX_RATE_PAUSE = 120.0  # longer than this, WHOOP's limit is the daily one: fail instead of pausing

ProgressFn = Callable[["SyncProgress"], None]


class InterProcessLock(Protocol):
    """A lock shared by every process syncing one store: a file lock locally, a Redis lock when hosted."""

    def acquire(self, timeout: float) -> object:
        """Block until held.

        Raises:
            TimeoutError: not held within ``timeout`` seconds (``filelock.Timeout`` is one).
        """

    def release(self) -> None:
        """Let the next process in."""


LockFactory = Callable[[Collection], InterProcessLock]


@dataclass
class SyncProgress:
    """Progress of one collection: pages ``done`` of ``total`` (None while unknown), records seen."""

    collection: str
    done: int
    total: int | None
    records: int


@dataclass
class CollectionReport:
    """What a sync did to one collection."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    requests: int = 0
    records: int = 0

    def add(self, done: Upserted, deleted: int) -> None:
        """Count one committed window."""
        self.new += done.new
        self.updated += done.updated
        self.unchanged += done.unchanged
        self.deleted += deleted


@dataclass
class SyncReport:
    """What a sync did, per collection and in total."""

    collections: dict[str, CollectionReport] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        """Upstream page requests, all collections."""
        return sum(c.requests for c in self.collections.values())

    @property
    def new(self) -> int:
        """Records stored for the first time."""
        return sum(c.new for c in self.collections.values())

    @property
    def updated(self) -> int:
        """Records replaced by a newer copy (re-scored, or scored after PENDING_SCORE)."""
        return sum(c.updated for c in self.collections.values())

    @property
    def deleted(self) -> int:
        """Records removed because WHOOP no longer lists them."""
        return sum(c.deleted for c in self.collections.values())


@dataclass
class _Run:
    """One collection's sync in progress: its report and progress callback."""

    kind: Collection
    report: CollectionReport
    progress: ProgressFn | None
    total: int | None = None
    done: int = 0

    def page_done(self, records: int) -> None:
        self.done += 1
        self.report.requests += 1
        self.report.records += records
        if self.progress is not None:
            total = None if self.total is None else max(self.total, self.done)
            self.progress(SyncProgress(self.kind, self.done, total, self.report.records))


class _KindLock:
    """An asyncio lock that hands itself to waiting small questions before waiting bulk work."""

    def __init__(self) -> None:
        self._held = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self, bulk_work: bool) -> None:
        """Wait for the lock; bulk work waits until no small question does."""
        if not self._held and not self._waiters:
            self._held = True
            return
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (int(bulk_work), next(self._order), waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed the lock just as the caller gave up: pass it on
            raise

    def release(self) -> None:
        """Hand the lock to the most urgent waiter still waiting, else free it."""
        while self._waiters:
            _, _, waiter = heapq.heappop(self._waiters)
            if not waiter.done():
                waiter.set_result(None)
                return
        self._held = False


def _window_plan(lo: int, hi: int, density: float) -> list[tuple[int, int]]:
    """``[lo, hi)`` cut into equal windows of at most about ``FILL`` records each, newest first.

    Equal windows, rather than full ones and a remainder, keep every window inside one page: a window
    made larger to swallow a sliver is the one that overflows into a second, sequential request.
    """
    if hi <= lo:
        return []
    span = max(DAY_MS / 24, FILL / max(density, 0.01) * DAY_MS)
    count = max(1, math.ceil((hi - lo) / span - 0.05))
    step = (hi - lo) / count
    edges = [lo + round(i * step) for i in range(count)] + [hi]
    return [(edges[i], edges[i + 1]) for i in reversed(range(count))]


class Syncer:
    """Brings store collections up to date from one ``WhoopClient``."""

    def __init__(
        self,
        client: WhoopClient,
        store: Store,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lock_dir: Path | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        trailing_days: int = TRAILING_DAYS,
        time_left: Callable[[], float] = lambda: math.inf,
        locks: LockFactory | None = None,
    ) -> None:
        """Sync through ``client`` into ``store``; ``lock_dir`` holds the inter-process locks.

        ``locks`` replaces the file locks of ``lock_dir`` (hosted: a Redis lock per user and collection).

        ``time_left`` says how long the caller may still wait (an answer's deadline): a rate-limit pause
        longer than that is not taken.
        """
        self.client = client
        self._time_left = time_left
        self._down_at: float | None = None  # time.monotonic() of WHOOP's last failure to answer
        self.store = store
        self._clock = clock
        self._lock_dir = lock_dir
        self._lock_factory = locks
        self._sleep = sleep
        self.trailing_ms = trailing_days * DAY_MS
        self._locks: dict[Collection, _KindLock] = {}

    def _now_ms(self) -> int:
        return to_ms(self._clock())

    # ------------------------------------------------------------------ locking

    def _file_lock(self, kind: Collection) -> InterProcessLock | None:
        if self._lock_factory is not None:
            return self._lock_factory(kind)
        if self._lock_dir is None:
            return None
        self._lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # thread_local=False: acquired in one worker thread, released in another.
        return filelock.FileLock(str(self._lock_dir / f"sync-{kind}.lock"), thread_local=False)

    async def _locked(self, kind: Collection, wait: float, work: Callable[[], Awaitable[object]]) -> None:
        lock = self._locks.setdefault(kind, _KindLock())
        await lock.acquire(is_bulk())
        try:
            await self._file_locked(kind, wait, work)
        finally:
            lock.release()

    async def _locked_pausing(
        self, kind: Collection, wait: float, work: Callable[[], Awaitable[object]]
    ) -> None:
        """:meth:`_locked`, waiting out WHOOP's rate limit with the lock released (bulk work).

        ``work`` must be safe to run again: it re-plans from the stored state.
        """
        await self._paused(lambda: self._locked(kind, wait, work))

    async def _file_locked(
        self, kind: Collection, wait: float, work: Callable[[], Awaitable[object]]
    ) -> None:
        flock = self._file_lock(kind)
        if flock is None:
            await work()
            return
        try:
            await anyio.to_thread.run_sync(lambda: flock.acquire(timeout=wait))
        except TimeoutError:  # filelock.Timeout is one
            raise SyncBusyError(
                f"Another whoopkit process is syncing {kind} and did not finish within {wait:.0f} s; "
                "try again in a moment.",
                location=str(self._lock_dir),
            ) from None
        try:
            await work()
        finally:
            flock.release()

    # ------------------------------------------------------------------ pages

    async def _page(
        self,
        kind: Collection,
        lo: int | None,
        hi: int | None,
        next_token: str | None,
        limit: int = MAX_PAGE_SIZE,
    ) -> tuple[list[Any], list[dict[str, Any]], str | None]:
        start = datetime.fromtimestamp(lo / 1000, UTC) if lo is not None else None
        end = datetime.fromtimestamp(hi / 1000, UTC) if hi is not None else None
        page, raw = await self.client.page_with_raw(
            kind, start=start, end=end, limit=limit, next_token=next_token
        )
        return list(page.records), raw, page.next_token

    async def _window(self, run: _Run, lo: int, hi: int) -> tuple[list[Any], list[dict[str, Any]]]:
        """Every record starting in ``[lo, hi)`` (models and raw JSON), following ``next_token``."""
        records: list[Any] = []
        raws: list[dict[str, Any]] = []
        token: str | None = None
        seen: set[str] = set()
        while True:
            page, raw, token = await self._page(run.kind, lo, hi, token)
            run.page_done(len(page))
            records.extend(page)
            raws.extend(raw)
            if not token or not page:
                return records, raws
            if token in seen:
                logger.warning("WHOOP repeated a next_token for %s; stopping this window", run.kind)
                return records, raws
            seen.add(token)

    def _commit(
        self,
        user_id: int,
        run: _Run,
        lo: int,
        hi: int,
        records: Sequence[Any],
        raws: Sequence[dict[str, Any]] | None,
        *,
        head: bool,
        gone: Sequence[Any] | None = None,
    ) -> None:
        """Store one fully listed window: upsert, delete what vanished, mark the interval fetched."""
        done, deleted = self.store.commit_window(
            user_id, run.kind, lo, hi, records, raws, self._clock(), head=head, gone=gone
        )
        run.report.add(done, deleted)

    async def _by_id(self, kind: Collection, ident: Any) -> tuple[BaseModel, dict[str, Any]]:
        return await self.client.record_with_raw(kind, ident)

    async def _store_windows(
        self,
        user_id: int,
        run: _Run,
        arrived: list[tuple[int, int, list[Any], list[dict[str, Any]]]],
        head_hi: int | None,
    ) -> None:
        """Commit the windows of a batch that arrived, in one transaction (one thread hop)."""
        if not arrived:
            return

        def commit(items: list[Any]) -> list[list[Any]] | None:
            result = self.store.commit_windows(user_id, run.kind, items, self._clock(), refuse_deletions=True)
            if result is None or isinstance(result, dict):
                return None if result is None else list(result.values())
            for done, deleted in result:
                run.report.add(done, deleted)
            return None

        heads = [head_hi is not None and hi >= head_hi for _, hi, _, _ in arrived]
        # Usually nothing vanished: then one transaction stores the batch. Otherwise the store names
        # the missing ids (committing nothing), WHOOP is asked about them, and the batch is stored.
        first = [
            (lo, hi, records, raws, head, None)
            for (lo, hi, records, raws), head in zip(arrived, heads, strict=True)
        ]
        candidates = await anyio.to_thread.run_sync(commit, first)
        if candidates is None:
            return
        gones = await asyncio.gather(
            *(self._confirm_deletions(run, c, w[2], w[3]) for c, w in zip(candidates, arrived, strict=True))
        )
        second = [
            (lo, hi, records, raws, head, gone)
            for (lo, hi, records, raws), head, gone in zip(arrived, heads, gones, strict=True)
        ]
        await anyio.to_thread.run_sync(commit, second)

    async def _confirm_deletions(
        self, run: _Run, candidates: list[Any], records: list[Any], raws: list[dict[str, Any]]
    ) -> list[Any]:
        """Of the ids a window lacked, those WHOOP confirms deleted (404 by id).

        A record can also leave a window because its start was edited to another time; asking for it
        by id tells the two apart, so a moved record is stored again (appended to ``records``) instead of
        lost. Deletions are rare, so this costs a request only when one happens (many at once are taken
        on trust).
        """
        if not candidates or len(candidates) > MAX_CONFIRMATIONS:
            return candidates
        found = await asyncio.gather(
            *(self._by_id(run.kind, ident) for ident in candidates), return_exceptions=True
        )
        run.report.requests += len(candidates)
        gone: list[Any] = []
        for ident, result in zip(candidates, found, strict=True):
            if isinstance(result, NotFoundError):
                gone.append(ident)
            elif isinstance(result, tuple):
                records.append(result[0])
                raws.append(result[1])
            # Any other failure: not sure it is gone, so it stays until a later sync can tell.
        return gone

    async def _fetch_windows(
        self,
        user_id: int,
        run: _Run,
        windows: Sequence[tuple[int, int]],
        *,
        head_hi: int | None,
        pause: bool = True,
    ) -> None:
        """Fetch windows (newest first) in parallel batches, committing every window that arrived.

        A window that hits the rate limit is fetched again after a pause (with ``pause=False``, the
        ``RateLimitedError`` is raised instead, for the caller to wait with its lock released); any
        other failure is raised once the rest of its batch has finished and been committed, so no task
        outlives the call.
        """
        for first in range(0, len(windows), BATCH):
            pending = list(windows[first : first + BATCH])
            for _ in range(MAX_RATE_PAUSES + 1):
                results = await asyncio.gather(
                    *(self._window(run, lo, hi) for lo, hi in pending), return_exceptions=True
                )
                limited: list[tuple[int, int]] = []
                wait_for = 0.0
                failure: BaseException | None = None
                arrived: list[tuple[int, int, list[Any], list[dict[str, Any]]]] = []
                for (lo, hi), result in zip(pending, results, strict=True):
                    if isinstance(result, RateLimitedError) and not result.daily:
                        limited.append((lo, hi))
                        wait_for = max(wait_for, result.retry_after)
                    elif isinstance(result, BaseException):
                        failure = failure or result
                    else:
                        arrived.append((lo, hi, result[0], result[1]))
                await self._store_windows(user_id, run, arrived, head_hi)
                if failure is not None:
                    raise failure
                if not limited:
                    break
                if not pause:
                    raise RateLimitedError(wait_for)
                if wait_for > MAX_RATE_PAUSE:
                    # The day's budget is spent: waiting hours in a sync helps nobody.
                    raise RateLimitedError(wait_for)
                wait = max(wait_for, 1.0)
                logger.info("rate limited; sync of %s pauses %.0f s", run.kind, wait)
                await self._sleep(wait)
                pending = limited
            else:
                raise RateLimitedError(wait_for)

    async def _paused(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``call``, pausing (never failing) when WHOOP's rate limit is hit."""
        # Bulk work with no deadline (a hosted job, `whoopkit sync`) pauses as often as the budget asks: with
        # many users sharing it, a backfill meets it every few requests, and failing after a count of
        # pauses would only make the caller start over and send its first requests again.
        patient = is_bulk() and self._time_left() == math.inf
        pauses = 0
        while patient or pauses < MAX_RATE_PAUSES:
            pauses += 1
            try:
                return await call()
            except RateLimitedError as exc:
                wait = max(exc.retry_after, 1.0)
                if exc.daily or exc.retry_after > MAX_RATE_PAUSE or wait >= self._time_left():
                    raise
                logger.info("rate limited; sync pauses %.0f s", wait)
                await self._sleep(wait)
        return await call()

    def _density(self, user_id: int, kind: Collection, state: SyncState, now: int) -> float:
        lo = max(state.covered_from or now, now - 90 * DAY_MS)
        learned = self.store.density(user_id, kind, lo, now)
        return learned if learned is not None else DEFAULT_DENSITY[kind]

    # ------------------------------------------------------------------ on demand

    async def ensure(
        self, user_id: int, kinds: Sequence[Collection], lo: datetime, hi: datetime, fresh_seconds: float
    ) -> None:
        """Make ``[lo, hi)`` of each kind present, and the head fresh within ``fresh_seconds``.

        Raises:
            AuthError, WhoopUnavailableError, RateLimitedError, WhoopAPIError: WHOOP could not serve.
            SyncBusyError: another process held the lock too long.
        """
        lo_ms, hi_ms = to_ms(lo), to_ms(hi)
        _raise_first(
            await asyncio.gather(
                *(self._ensure_one(user_id, k, lo_ms, hi_ms, fresh_seconds) for k in kinds),
                return_exceptions=True,
            )
        )

    def _parts(
        self, user_id: int, kind: Collection, lo: int, hi: int, fresh_seconds: float, now: int | None = None
    ) -> list[tuple[int, int]]:
        """What ``[lo, hi)`` needs fetched, newest first: its gaps, plus the re-listed head when stale."""
        now = self._now_ms() if now is None else now
        state = self.store.sync_state(user_id, kind)
        covered_to = state.covered_to
        fresh = state.last_success_ms is not None and now - state.last_success_ms < fresh_seconds * 1000
        hi = min(hi, now)
        if fresh and covered_to is not None:
            # What happened since a fresh head refresh is what "fresh" allows us not to ask about.
            hi = min(hi, covered_to)
        parts = state.gaps(lo, hi) if lo < hi else []
        touches_head = covered_to is None or hi >= covered_to - self.trailing_ms
        if touches_head and not fresh:
            if covered_to is None:
                head_lo = min(lo, now - self.trailing_ms)
            else:
                head_lo = min(covered_to, now) - self.trailing_ms
                pending = self.store.oldest_pending(user_id, kind, now - PENDING_LOOKBACK_DAYS * DAY_MS)
                if pending is not None:
                    head_lo = min(head_lo, pending)
            parts.append((head_lo, now))
        merged = SyncState()
        for part in parts:
            merged.add(*part)
        return list(reversed(merged.intervals))

    def needs(
        self, user_id: int, kinds: Sequence[Collection], lo: datetime, hi: datetime, fresh_seconds: float
    ) -> bool:
        """Whether :meth:`ensure` would fetch anything (a few small queries, no upstream call)."""
        lo_ms, hi_ms = to_ms(lo), to_ms(hi)
        return any(self._parts(user_id, k, lo_ms, hi_ms, fresh_seconds) for k in kinds)

    async def _ensure_one(
        self, user_id: int, kind: Collection, lo: int, hi: int, fresh_seconds: float
    ) -> None:
        planned = self._plan(user_id, kind, lo, hi, fresh_seconds, self._now_ms())
        if not planned:
            return
        try:
            await self._ensure_planned(user_id, kind, lo, hi, fresh_seconds, len(planned))
        except WhoopUnavailableError:
            self._down_at = time.monotonic()
            raise
        self._down_at = None

    async def _ensure_planned(
        self, user_id: int, kind: Collection, lo: int, hi: int, fresh_seconds: float, planned: int
    ) -> None:
        if planned <= BATCH:
            await self._locked(kind, 5.0, lambda: self._ensure_batch(user_id, kind, lo, hi, fresh_seconds))
            return
        if self._down_at is not None and time.monotonic() - self._down_at < BULK_RETRY_AFTER_DOWN:
            raise WhoopUnavailableError(
                "WHOOP did not answer moments ago; the backfill waits for a later sync."
            )
        # A long range is bulk work: a batch per turn of the lock, so a small question can cut in.
        with bulk():
            more = [True]
            for _ in range(math.ceil(planned / BATCH) + MAX_RATE_PAUSES):
                if not more[0]:
                    return

                async def work(more: list[bool] = more) -> None:
                    more[0] = await self._ensure_batch(user_id, kind, lo, hi, fresh_seconds, bulk_work=True)

                await self._locked_pausing(kind, 5.0, work)

    def _plan(
        self, user_id: int, kind: Collection, lo: int, hi: int, fresh_seconds: float, now: int
    ) -> list[tuple[int, int]]:
        parts = self._parts(user_id, kind, lo, hi, fresh_seconds, now)
        density = self._density(user_id, kind, self.store.sync_state(user_id, kind), now)
        return [w for a, b in parts for w in _window_plan(a, b, density)]

    async def _ensure_batch(
        self,
        user_id: int,
        kind: Collection,
        lo: int,
        hi: int,
        fresh_seconds: float,
        *,
        bulk_work: bool = False,
    ) -> bool:
        """Fetch what ``[lo, hi)`` of ``kind`` lacks (one batch for bulk work); True while more remains."""
        # Re-read under the lock: another process may have just done this. One "now" for the plan and
        # for judging which window reached it: with a moving clock, two readings would never match.
        now = self._now_ms()
        windows = self._plan(user_id, kind, lo, hi, fresh_seconds, now)
        run = _Run(kind, CollectionReport(), None)
        batch = windows[:BATCH] if bulk_work else windows
        await self._fetch_windows(user_id, run, batch, head_hi=now, pause=not bulk_work)
        if any(b >= now for _, b in batch):
            await self._old_pending(user_id, run, now)
        return len(windows) > len(batch)

    async def newest(self, user_id: int, kind: Collection) -> None:
        """Fetch the newest page of ``kind`` (however far back it reaches): "the last N" on a new store.

        Raises:
            AuthError, WhoopUnavailableError, RateLimitedError, WhoopAPIError: WHOOP could not serve.
        """
        run = _Run(kind, CollectionReport(), None)

        async def work() -> None:
            await self._first_page(user_id, run, None, self._now_ms())

        await self._locked(kind, 5.0, work)

    async def _old_pending(self, user_id: int, run: _Run, now: int) -> None:
        """Ask by id for records still PENDING_SCORE from before the re-listed lookback.

        The head re-lists back to pending records of the last ``PENDING_LOOKBACK_DAYS``; older ones (a
        strap synced weeks late) are few, so fetching each by id beats re-listing months.
        """
        before = now - PENDING_LOOKBACK_DAYS * DAY_MS
        ids = await anyio.to_thread.run_sync(
            lambda: self.store.pending_ids(user_id, run.kind, before, MAX_CONFIRMATIONS)
        )
        if not ids:
            return
        found = await asyncio.gather(*(self._by_id(run.kind, i) for i in ids), return_exceptions=True)
        run.report.requests += len(ids)
        fresh = [r for r in found if isinstance(r, tuple)]
        gone = [i for i, r in zip(ids, found, strict=True) if isinstance(r, NotFoundError)]

        def store() -> None:
            done = self.store.upsert(
                user_id, run.kind, [r[0] for r in fresh], self._clock(), [r[1] for r in fresh]
            )
            run.report.updated += done.updated
            run.report.deleted += self.store.delete_ids(user_id, run.kind, gone)

        await anyio.to_thread.run_sync(store)

    # ------------------------------------------------------------------ full sync

    async def sync_all(
        self,
        user_id: int,
        *,
        days: int | None = None,
        since: datetime | None = None,
        progress: ProgressFn | None = None,
    ) -> SyncReport:
        """Refresh the head of every collection, then backfill: to ``since`` (or ``days`` back), or all of
        history.

        Raises:
            AuthError, WhoopUnavailableError, WhoopAPIError: WHOOP could not serve (work done so far is kept).
            SyncBusyError: another process held a collection's lock too long.
        """
        started = time.perf_counter()
        report = SyncReport(collections={k: CollectionReport() for k in COLLECTIONS})
        # Every collection runs to its end (keeping what it fetched) before a failure is raised. A full
        # sync is bulk work: the questions asked meanwhile go first.
        with bulk():
            results = await asyncio.gather(
                *(
                    self._sync_one(user_id, _Run(k, report.collections[k], progress), days, since)
                    for k in COLLECTIONS
                ),
                self.refresh_profile(user_id, max_age=3600.0),
                return_exceptions=True,
            )
        _raise_first(results)
        report.seconds = time.perf_counter() - started
        return report

    async def _sync_one(self, user_id: int, run: _Run, days: int | None, since: datetime | None) -> None:
        now = self._now_ms()
        # A floor on a day boundary, a day further back than asked: a second sync the same day finds no
        # sliver of new gap at the bottom, and a question about those N local days in any zone is inside.
        floor = (now - (days + 1) * DAY_MS) // DAY_MS * DAY_MS if days is not None else None
        if since is not None:
            floor = to_ms(since)

        async def head() -> None:
            if self.store.sync_state(user_id, run.kind).covered_to is None:
                await self._first_page(user_id, run, floor, now)
            else:
                await self._head(user_id, run, now)
                await self._old_pending(user_id, run, now)

        await self._locked_pausing(run.kind, LOCK_TIMEOUT, head)
        # Each backfill step takes the lock on its own, so the other process's questions get a turn.
        more = True
        while more:
            result: list[bool] = []

            async def step(result: list[bool] = result) -> None:
                result.append(await self._backfill_step(user_id, run, floor, now))

            await self._locked_pausing(run.kind, LOCK_TIMEOUT, step)
            more = result[0]

    async def _first_page(self, user_id: int, run: _Run, floor: int | None, now: int) -> None:
        """The newest page, unbounded below: usable at once, and it measures the data's density."""
        records, raws, token = await self._paused(lambda: self._page(run.kind, floor, now, None))
        run.page_done(len(records))
        if token is None or not records:
            lo = floor if floor is not None else 0
            await anyio.to_thread.run_sync(
                lambda: self._commit(user_id, run, lo, now, records, raws, head=True)
            )
            if floor is None:
                await anyio.to_thread.run_sync(self._mark_complete, user_id, run.kind)
            return
        oldest = min(_start_ms(r) for r in records)
        # Everything from the oldest record on is in this page (ties at the boundary are re-listed).
        await anyio.to_thread.run_sync(
            lambda: self._commit(user_id, run, oldest + 1, now, records, raws, head=True)
        )

    async def _head(self, user_id: int, run: _Run, now: int) -> None:
        state = self.store.sync_state(user_id, run.kind)
        parts = self._parts(user_id, run.kind, now, now, 0.0, now)
        if not parts:
            return
        density = self._density(user_id, run.kind, state, now)
        windows = [w for a, b in parts for w in _window_plan(a, b, density)]
        run.total = len(windows)
        await self._fetch_windows(user_id, run, windows, head_hi=now, pause=False)

    async def _backfill_step(self, user_id: int, run: _Run, floor: int | None, now: int) -> bool:
        """Fetch one batch towards ``floor`` (None: the beginning of history); True while more remains."""
        state = self.store.sync_state(user_id, run.kind)
        density = self._density(user_id, run.kind, state, now)
        if floor is not None or state.complete:
            gaps = state.gaps(floor if floor is not None else 0, now)
            windows = [w for a, b in gaps for w in _window_plan(a, b, density)]
            run.total = run.done + len(windows)
            await self._fetch_windows(user_id, run, windows[:BATCH], head_hi=None, pause=False)
            return len(windows) > BATCH
        oldest = state.covered_from if state.covered_from is not None else now
        windows = [w for a, b in state.gaps(oldest, now) for w in _window_plan(a, b, density)]
        if windows:
            await self._fetch_windows(user_id, run, windows[:BATCH], head_hi=None, pause=False)
            return True
        # Going back into the unknown: one page ending at the oldest point fetched says whether older
        # records exist at all (past any gap: a strap left in a drawer for months), and how dense.
        records, raws, token = await self._paused(lambda: self._page(run.kind, None, oldest, None))
        run.page_done(len(records))
        if not records:
            await anyio.to_thread.run_sync(self._mark_complete, user_id, run.kind)
            return False
        lowest = min(_start_ms(r) for r in records)
        bottom = 0 if token is None else lowest + 1

        def commit() -> None:
            self._commit(user_id, run, bottom, oldest, records, raws, head=False)

        await anyio.to_thread.run_sync(commit)
        if token is None:
            await anyio.to_thread.run_sync(self._mark_complete, user_id, run.kind)
            return False
        span_days = max((oldest - lowest) / DAY_MS, 1.0)
        window_density = len(records) / span_days
        edge = max(0, int(bottom - BATCH * FILL / window_density * DAY_MS))
        await self._fetch_windows(user_id, run, _window_plan(edge, bottom, window_density), head_hi=None)
        return True

    def _mark_complete(self, user_id: int, kind: Collection) -> None:
        state = self.store.sync_state(user_id, kind)
        state.complete = True
        lowest = state.covered_from
        if lowest is not None:
            state.add(0, lowest)
        self.store.save_sync_state(user_id, kind, state)

    # ------------------------------------------------------------------ profile and body

    async def refresh_profile(self, user_id: int, *, max_age: float) -> None:
        """Fetch the profile and body measurements when older than ``max_age`` seconds.

        Raises:
            AuthError, WhoopUnavailableError, RateLimitedError, WhoopAPIError: WHOOP could not serve.
        """
        now = self._clock()

        def stale(what: str) -> bool:
            synced = self.store.meta_synced(user_id, what)
            return synced is None or (now - synced).total_seconds() >= max_age

        want_profile, want_body = stale("profile"), stale("body")
        if not want_profile and not want_body:
            return
        profile, body = await asyncio.gather(
            self.client.get_profile() if want_profile else _none(),
            self._body_or_none() if want_body else _none(),
        )
        if profile is not None:
            await anyio.to_thread.run_sync(self.store.save_profile, profile, now)
        if want_body:
            await anyio.to_thread.run_sync(self.store.save_body, user_id, body, now)

    async def _body_or_none(self) -> Any:
        try:
            return await self.client.get_body_measurement()
        except NotFoundError:
            return None


async def _none() -> None:
    return None


def _raise_first(results: Sequence[object]) -> None:
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _start_ms(record: Any) -> int:
    start = getattr(record, "start", None)
    if start is None:
        # Recoveries carry no start; their creation (the morning after the sleep) stands in.
        start = record.created_at
    return to_ms(start)
