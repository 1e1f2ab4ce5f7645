"""Hosted mode's sync jobs on arq: first backfills, periodic refreshes and on-demand syncs.

Why arq: whoopkit's sync is asyncio from end to end (httpx, the Redis budget, the service), and arq runs
coroutines natively on one event loop per worker, with Redis as its only broker. Celery, Dramatiq and RQ
would each run a coroutine per job through ``asyncio.run`` (a new loop, new HTTP and Redis pools per job) or
need threads. arq also gives what the jobs need and nothing more: a job id that de-duplicates (one queued
``backfill:<user>`` however often it is asked for), retries with a delay, cron, and pessimistic execution:
a job stays in Redis until it finished, so a worker killed mid-job loses nothing and the job runs again on
another worker once its in-progress key expires (``job_timeout`` + 10 s).

Every job is ``sync(days=…)`` of one user's pinned service, the store issue's logic unchanged: windows are
committed one by one and upserted by id, so a job that runs again (a retry, a killed worker) adds nothing
twice and re-fetches only what was not committed. The job's only argument is the user id: no token or code
ever sits in Redis.

Fairness: jobs run as bulk work (``ratelimit.bulk``) counted for their user (``ratelimit_redis.acting_for``):
all bulk work together books at most the bulk share of each minute, each active user an equal part of it,
and web pages' "today" questions keep the rest. So one user's year-long backfill never starves the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from whoopkit.config import Settings
from whoopkit.errors import (
    AuthError,
    RateLimitedError,
    StoreError,
    WhoopkitError,
    WhoopUnavailableError,
)
from whoopkit.hosted import metrics
from whoopkit.hosted.metrics import QUEUE_KEY
from whoopkit.hosted.runtime import JOB_KINDS, HostedRuntime, JobKind, sync_pending
from whoopkit.ratelimit import bulk
from whoopkit.ratelimit_redis import acting_for
from whoopkit.store import COLLECTIONS

if TYPE_CHECKING:
    import redis.asyncio
    from arq.worker import Worker

    from whoopkit.service import SyncReport, WhoopService

logger = logging.getLogger(__name__)

QUEUE = QUEUE_KEY
KINDS: tuple[JobKind, ...] = JOB_KINDS
DEFAULT_BACKFILL_DAYS = 365
DEFAULT_CONCURRENCY = 10
DEFAULT_JOB_TIMEOUT = 3600
MAX_TRIES = 8
MAX_BUDGET_WAITS = 200  # waits for the budget within one job (each at most MAX_BUDGET_WAIT s)
MAX_BUDGET_WAIT = 120.0
# A user's periodic refresh is due once per WHOOP_SYNC_INTERVAL: while this key (with that TTL) lives, it is
# not; a sync or a sign-out sets it, and the cron's SET NX claims an expired one for one refresh.
_REFRESHED_PREFIX = "whoopkit:refresh_due:"


@dataclass(frozen=True)
class WorkerOptions:
    """What ``whoopkit worker`` was asked for."""

    concurrency: int = DEFAULT_CONCURRENCY
    job_timeout: int = DEFAULT_JOB_TIMEOUT
    backfill_days: int = DEFAULT_BACKFILL_DAYS


def job_id(kind: JobKind, user_id: int) -> str:
    """The job id of one kind of job for one user: a second request while one is queued is dropped."""
    return f"{kind}:{user_id}"


def _retry_delay(tries: int) -> float:
    return float(min(300, 5 * 2 ** max(0, tries - 1)))


async def run_sync_job(
    runtime: HostedRuntime, kind: JobKind, user_id: int, *, days: int, tries: int = 1
) -> str:
    """One sync job: ``sync(days=days)`` of ``user_id``'s service, as bulk work counted for that user.

    Returns the outcome (``done``, ``no_user``, ``signed_out``) for the log and the metrics.

    Raises:
        arq.Retry: WHOOP, Redis or the database did not answer, or the budget ran out; arq runs it again.
    """
    from arq import Retry

    from whoopkit.hosted.accounts import Accounts

    accounts = Accounts(runtime)
    try:
        if not await anyio.to_thread.run_sync(accounts.user_exists, user_id):
            metrics.SYNC_JOBS.labels(kind=kind, outcome="no_user").inc()
            return "no_user"  # deleted their account after the job was queued
        service = runtime.service_for(user_id)
        lag = _lag_seconds(runtime, user_id)
        if lag is not None:
            metrics.SYNC_LAG.observe(lag)
        with bulk(), acting_for(user_id):
            report = await _sync_within_the_budget(service, days)
    except AuthError as exc:
        # The user must sign in again (revoked at WHOOP, refresh token dead): retrying cannot help.
        logger.info("%s for user %s: signed out (%s)", kind, user_id, type(exc).__name__)
        metrics.SYNC_JOBS.labels(kind=kind, outcome="signed_out").inc()
        await _not_due_for_an_interval(runtime, user_id)
        return "signed_out"
    except (WhoopUnavailableError, RateLimitedError, StoreError) as exc:
        delay = _retry_delay(tries)
        if isinstance(exc, RateLimitedError) and exc.retry_after:
            delay = max(delay, float(exc.retry_after))
        logger.warning(
            "%s for user %s failed (%s); retrying in %.0f s", kind, user_id, type(exc).__name__, delay
        )
        metrics.SYNC_JOBS.labels(kind=kind, outcome="retry").inc()
        raise Retry(defer=delay) from None
    except WhoopkitError as exc:
        logger.warning("%s for user %s failed: %s", kind, user_id, type(exc).__name__)
        metrics.SYNC_JOBS.labels(kind=kind, outcome="failed").inc()
        raise
    metrics.SYNC_JOBS.labels(kind=kind, outcome="done").inc()
    await _not_due_for_an_interval(runtime, user_id)
    logger.info(
        "%s for user %s done: %d requests, %d new, %d updated, %d deleted",
        kind,
        user_id,
        report.requests,
        report.new,
        report.updated,
        report.deleted,
    )
    return "done"


async def _sync_within_the_budget(service: WhoopService, days: int) -> SyncReport:
    """``service.sync(days=days)``, waiting in the job whenever the user's share of the budget is used up.

    With many users backfilling, each one's fair share of a minute is small, so sync meets the budget often;
    waiting here (the worker runs other jobs meanwhile) keeps arq's retries for real failures, and a job
    never runs out of tries by being patient. The daily limit is not waited out here: arq retries it later.

    Raises:
        RateLimitedError: the app's daily limit is used up (or WHOOP asks for a long pause).
    """
    for _ in range(MAX_BUDGET_WAITS):
        try:
            return await service.sync(days=days)
        except RateLimitedError as exc:
            if exc.daily or exc.retry_after > MAX_BUDGET_WAIT:
                raise
            await asyncio.sleep(max(1.0, exc.retry_after))
    return await service.sync(days=days)


async def _not_due_for_an_interval(runtime: HostedRuntime, user_id: int) -> None:
    """The user's next periodic refresh is one ``WHOOP_SYNC_INTERVAL`` after this sync (or this sign-out)."""
    from redis.exceptions import RedisError

    interval = runtime.settings.whoop_sync_interval
    if interval <= 0:
        return
    try:
        await runtime.redis.set(_REFRESHED_PREFIX + str(user_id), b"1", ex=max(1, int(interval)))
    except (RedisError, OSError) as exc:
        logger.info("could not note user %s's sync time (%s)", user_id, type(exc).__name__)


def _lag_seconds(runtime: HostedRuntime, user_id: int) -> float | None:
    synced = [runtime.store.sync_state(user_id, kind).last_success_ms for kind in COLLECTIONS]
    if any(ms is None for ms in synced):
        return None  # never synced yet: a first backfill has no lag
    oldest = min(ms for ms in synced if ms is not None)
    return max(0.0, time.time() - oldest / 1000)


# ------------------------------------------------------------------------------------ the functions


def _runtime(ctx: dict[str, Any]) -> HostedRuntime:
    runtime: HostedRuntime = ctx["runtime"]
    return runtime


async def backfill(ctx: dict[str, Any], user_id: int) -> str:
    """A new user's first sync (``--backfill-days`` of history)."""
    return await run_sync_job(
        _runtime(ctx), "backfill", int(user_id), days=ctx["backfill_days"], tries=ctx.get("job_try", 1)
    )


async def refresh(ctx: dict[str, Any], user_id: int) -> str:
    """A periodic sync: new records and the trailing window (and any backfill left unfinished)."""
    return await run_sync_job(
        _runtime(ctx), "refresh", int(user_id), days=ctx["backfill_days"], tries=ctx.get("job_try", 1)
    )


async def on_demand(ctx: dict[str, Any], user_id: int) -> str:
    """A sync the user asked for (the dashboard's "Sync now")."""
    return await run_sync_job(
        _runtime(ctx), "on_demand", int(user_id), days=ctx["backfill_days"], tries=ctx.get("job_try", 1)
    )


async def schedule_refreshes(ctx: dict[str, Any]) -> int:
    """Queue a refresh for every user whose last one is ``WHOOP_SYNC_INTERVAL`` old (cron, every minute)."""
    from whoopkit.hosted.accounts import Accounts

    runtime = _runtime(ctx)
    interval = runtime.settings.whoop_sync_interval
    if interval <= 0:
        return 0
    users = await anyio.to_thread.run_sync(Accounts(runtime).user_ids)
    queued = 0
    for user_id in users:
        if await sync_pending(runtime.redis, user_id):
            continue  # its backfill (or another sync) is queued or running: that one brings it up to date
        # SET NX with the interval as TTL: the first worker's cron to get here queues it, once per interval.
        if await runtime.redis.set(_REFRESHED_PREFIX + str(user_id), b"1", nx=True, ex=max(1, int(interval))):
            queued += int(await enqueue(runtime.redis, "refresh", user_id))
    if queued:
        logger.info("queued %d periodic refreshes", queued)
    return queued


async def enqueue(redis: redis.asyncio.Redis, kind: JobKind, user_id: int) -> bool:
    """Queue one job for ``user_id``; False when the same job is already queued or running.

    Raises:
        WhoopUnavailableError: Redis could not be reached.
    """
    from arq.connections import ArqRedis
    from redis.exceptions import RedisError

    pool = redis if isinstance(redis, ArqRedis) else ArqRedis(connection_pool=redis.connection_pool)
    try:
        job = await pool.enqueue_job(kind, user_id, _job_id=job_id(kind, user_id), _queue_name=QUEUE)
    except (RedisError, OSError):
        raise WhoopUnavailableError(
            "The job queue (Redis) is not reachable; try again in a minute."
        ) from None
    return job is not None


async def forget_jobs(redis: redis.asyncio.Redis, user_id: int) -> None:
    """Drop the queued (not running) jobs of a deleted user; a running one finds no user and ends."""
    for kind in KINDS:
        ident = job_id(kind, user_id)
        await redis.zrem(QUEUE, ident)
        await redis.delete(f"arq:job:{ident}")
    await redis.delete(_REFRESHED_PREFIX + str(user_id))


# ---------------------------------------------------------------------------------------- the worker


def build_worker(
    settings: Settings,
    options: WorkerOptions,
    *,
    transport: Any = None,
    handle_signals: bool = True,
    burst: bool = False,
    clock: Callable[[], datetime] | None = None,
    on_ready: Callable[[HostedRuntime], Awaitable[None]] | None = None,
) -> Worker:
    """An arq worker of the hosted jobs on ``WHOOP_REDIS_URL``.

    ``transport`` replaces the network and ``clock`` the time (tests); ``burst`` ends the worker once the
    queue is empty.

    Raises:
        ConfigError: hosted mode is missing a setting.
    """
    from arq import cron
    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    problem = settings.hosted_problem()
    if problem is not None:
        from whoopkit.errors import ConfigError

        raise ConfigError(problem)
    assert settings.whoop_redis_url is not None

    async def startup(ctx: dict[str, Any]) -> None:
        runtime = await asyncio.to_thread(
            HostedRuntime.open, settings, transport=transport, clock=clock, on_upstream=metrics.on_upstream
        )
        ctx["runtime"] = runtime
        ctx["backfill_days"] = options.backfill_days
        if on_ready is not None:
            await on_ready(runtime)

    async def shutdown(ctx: dict[str, Any]) -> None:
        runtime = ctx.get("runtime")
        if runtime is not None:
            await runtime.aclose()

    functions = [func(f, max_tries=MAX_TRIES) for f in (backfill, refresh, on_demand)]
    return Worker(
        functions,
        queue_name=QUEUE,
        cron_jobs=[cron(schedule_refreshes, second=0, run_at_startup=True, max_tries=1)],
        redis_settings=RedisSettings.from_dsn(settings.whoop_redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=options.concurrency,
        job_timeout=options.job_timeout,
        keep_result=0,
        max_tries=MAX_TRIES,
        health_check_interval=30,
        handle_signals=handle_signals,
        burst=burst,
        poll_delay=0.2,
    )
