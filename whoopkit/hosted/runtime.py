"""Hosted mode's wiring: one store, one WHOOP budget and one token table for every user of one process.

A web or worker process builds one :class:`HostedRuntime` (:meth:`HostedRuntime.open`) and asks it for
``service_for(user_id)``: a :class:`~whoopkit.service.WhoopService` pinned to that user. The service is
the very one the local mode uses; only what sits below it differs:

- the store is the shared PostgreSQL database (every query already carries ``user_id``);
- the login is the user's encrypted row (:class:`~whoopkit.hosted_tokens.HostedUserTokens`), refreshed once
  across every process;
- the budget is :class:`~whoopkit.ratelimit_redis.RedisRateLimiter` (one for the whole app);
- sync's inter-process locks are Redis locks per user and collection, since processes may sit on
  different machines (a file lock would not reach them).

The HTTP connection pool and the OAuth client are shared by all users of the process; nothing that names a
user is shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import anyio.to_thread
import httpx
from sqlalchemy import text

from whoopkit import USER_AGENT
from whoopkit.client import WhoopClient, finish_pending
from whoopkit.config import Settings
from whoopkit.errors import ConfigError, WhoopUnavailableError
from whoopkit.hosted.metrics import QUEUE_KEY
from whoopkit.hosted_tokens import HostedTokenStore, HostedUserTokens, oauth_refresh
from whoopkit.oauth import OAuthClient
from whoopkit.ratelimit_redis import RedisRateLimiter
from whoopkit.runtime import Whoop
from whoopkit.service import WhoopService
from whoopkit.store import Collection, Store
from whoopkit.sync import InterProcessLock, LockFactory
from whoopkit.token_crypto import TokenCipher

if TYPE_CHECKING:
    import redis
    import redis.asyncio

logger = logging.getLogger(__name__)

#: Services kept per process (one per recently active user); an evicted one is rebuilt on demand.
SERVICE_CACHE = 256
#: A sync lock expires this long after its holder last renewed it (a killed process cannot hold it for ever).
SYNC_LOCK_LEASE = 15.0
REDIS_TIMEOUT = 5.0


class RedisSyncLock:
    """One user's sync lock of one collection, shared by every process through Redis.

    The lock lives ``lease`` seconds and is renewed every third of that while held, so a process killed
    while holding it blocks the others for at most one lease, and a slow sync keeps it.
    """

    def __init__(self, client: redis.Redis, name: str, *, lease: float = SYNC_LOCK_LEASE) -> None:
        """A lock under ``name`` that expires ``lease`` seconds after its holder stopped renewing it."""
        # thread_local=False: taken in one worker thread, released in another.
        self._lock = client.lock(name, timeout=lease, thread_local=False)
        self._lease = lease
        self._held = threading.Event()

    def acquire(self, timeout: float) -> object:
        """Block until held.

        Raises:
            TimeoutError: another process held it for ``timeout`` seconds.
            WhoopUnavailableError: Redis could not be reached.
        """
        from redis.exceptions import RedisError

        try:
            held = self._lock.acquire(blocking_timeout=max(timeout, 0.01))
        except (RedisError, OSError):
            raise _redis_down("the sync lock") from None
        if not held:
            raise TimeoutError
        self._held.set()
        threading.Thread(target=self._renew, name="whoopkit-sync-lock", daemon=True).start()
        return True

    def _renew(self) -> None:
        from redis.exceptions import RedisError

        stopped = threading.Event()
        while self._held.is_set() and not stopped.wait(self._lease / 3):
            if not self._held.is_set():
                return
            try:
                self._lock.reacquire()
            except (RedisError, OSError):
                logger.info("could not renew a sync lock; another process may take it after its lease")
                return

    def release(self) -> None:
        """Let the next process in (a lease that ran out already did)."""
        from redis.exceptions import RedisError

        self._held.clear()
        with contextlib.suppress(RedisError, OSError):
            self._lock.release()


def sync_locks(client: redis.Redis, user_id: int) -> LockFactory:
    """The lock factory of one user's ``Syncer``: ``whoopkit:sync:<user>:<collection>``."""

    def lock(kind: Collection) -> InterProcessLock:
        return RedisSyncLock(client, f"whoopkit:sync:{user_id}:{kind}")

    return lock


#: The kinds of sync job (whoopkit.hosted.jobs), whose ids are ``{kind}:{user}``.
JobKind = Literal["backfill", "refresh", "on_demand"]
JOB_KINDS: tuple[JobKind, ...] = ("backfill", "refresh", "on_demand")
SYNCING_NOW = "Your WHOOP history is being synced right now; this page shows what has arrived so far."


async def sync_pending(client: redis.asyncio.Redis, user_id: int) -> bool:
    """Whether a sync job of ``user_id`` is queued or running (arq's job and in-progress keys).

    Raises:
        WhoopUnavailableError: Redis could not be reached.
    """
    from redis.exceptions import RedisError

    names = [f"arq:job:{kind}:{user_id}" for kind in JOB_KINDS]
    names += [f"arq:in-progress:{kind}:{user_id}" for kind in JOB_KINDS]
    try:
        return bool(await client.exists(*names))
    except (RedisError, OSError):
        raise _redis_down("the job queue") from None


def _redis_down(what: str) -> WhoopUnavailableError:
    return WhoopUnavailableError(f"Redis (for {what}) cannot be reached; try again in a minute.")


class HostedRuntime:
    """The shared parts of a hosted process, and a pinned service per user (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        http: httpx.AsyncClient,
        store: Store,
        tokens: HostedTokenStore,
        limiter: RedisRateLimiter,
        redis_async: redis.asyncio.Redis,
        redis_sync: redis.Redis,
        clock: Callable[[], datetime] | None = None,
        on_upstream: Callable[[str, int], None] | None = None,
    ) -> None:
        """Use these shared parts; :meth:`open` builds them from settings."""
        self.settings = settings
        self.http = http
        self.oauth = OAuthClient(http, settings)
        self.store = store
        self.tokens = tokens
        self.limiter = limiter
        self.redis = redis_async
        self.redis_sync = redis_sync
        self.clock = clock
        self.on_upstream = on_upstream
        self._services: OrderedDict[int, WhoopService] = OrderedDict()

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] | None = None,
        on_upstream: Callable[[str, int], None] | None = None,
    ) -> HostedRuntime:
        """Connect to the settings' PostgreSQL (migrating it) and Redis; ``transport`` replaces the network.

        Raises:
            ConfigError: hosted mode is missing a setting (``Settings.hosted_problem``), or the token key
                is malformed.
            StoreError: the database cannot be opened or is newer than this code.
        """
        problem = settings.hosted_problem()
        if problem is not None:
            raise ConfigError(problem)
        import redis
        import redis.asyncio

        assert settings.whoop_redis_url is not None  # hosted_problem() checked it
        cipher = TokenCipher.from_settings(settings)
        store = Store.open(settings.database_url)
        http = httpx.AsyncClient(
            transport=transport, timeout=settings.whoop_http_timeout, headers={"User-Agent": USER_AGENT}
        )
        url = settings.whoop_redis_url
        return cls(
            settings,
            http=http,
            store=store,
            tokens=HostedTokenStore(store.engine, cipher),
            limiter=RedisRateLimiter(url),
            redis_async=redis.asyncio.Redis.from_url(
                url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
            ),
            redis_sync=redis.Redis.from_url(
                url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
            ),
            clock=clock,
            on_upstream=on_upstream,
        )

    def whoop_for(self, user_id: int) -> Whoop:
        """The WHOOP stack of one user: the shared HTTP pool and budget, the user's own login."""
        tokens = HostedUserTokens(self.tokens, user_id, oauth_refresh(self.oauth))
        client = WhoopClient(
            self.http,
            tokens,
            api_base_url=self.settings.whoop_api_base_url,
            limiter=self.limiter,
            deadline=self.settings.whoop_request_deadline,
            on_response=self.on_upstream,
        )
        return Whoop(
            settings=self.settings, http=self.http, oauth=self.oauth, tokens=tokens, client=client, demo=False
        )

    def service_for(self, user_id: int) -> WhoopService:
        """The data service pinned to ``user_id`` (kept for the process's recently active users)."""
        service = self._services.get(user_id)
        if service is not None:
            self._services.move_to_end(user_id)
            return service
        service = WhoopService(
            self.whoop_for(user_id),
            self.store,
            clock=self.clock,
            owns_whoop=False,
            owns_store=False,
            user_id=user_id,
            sync_locks=sync_locks(self.redis_sync, user_id),
            synced_elsewhere=lambda: self._syncing_now(user_id),
        )
        self._services[user_id] = service
        while len(self._services) > SERVICE_CACHE:
            self._services.popitem(last=False)
        return service

    async def _syncing_now(self, user_id: int) -> str | None:
        return SYNCING_NOW if await sync_pending(self.redis, user_id) else None

    def forget(self, user_id: int) -> None:
        """Drop the process's service of ``user_id`` (after the account is deleted)."""
        self._services.pop(user_id, None)

    async def ready(self) -> dict[str, str]:
        """Whether the database, Redis and the queue answer: ``{"database": "ok" | why, ...}``."""
        from redis.exceptions import RedisError

        checks: dict[str, str] = {}

        def ping_database() -> None:
            with self.store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        try:
            with anyio.fail_after(REDIS_TIMEOUT):
                await anyio.to_thread.run_sync(ping_database, abandon_on_cancel=True)
            checks["database"] = "ok"
        except Exception as exc:  # any failure is "not ready", named by its class only
            checks["database"] = f"unreachable ({type(exc).__name__})"
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                await self.redis.ping()
            checks["redis"] = "ok"
        except (RedisError, OSError, TimeoutError) as exc:
            checks["redis"] = f"unreachable ({type(exc).__name__})"
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                await self.redis.zcard(QUEUE_KEY)
            checks["queue"] = "ok"
        except (RedisError, OSError, TimeoutError) as exc:
            checks["queue"] = f"unreachable ({type(exc).__name__})"
        return checks

    async def aclose(self) -> None:
        """Close the HTTP pool, Redis and the database (after any unfinished token refresh)."""
        self._services.clear()
        await finish_pending()
        await self.http.aclose()
        await self.limiter.aclose()
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        with contextlib.suppress(Exception):
            self.redis_sync.close()
        await anyio.to_thread.run_sync(self.store.close)


if TYPE_CHECKING:

    def _is_a_sync_lock(lock: RedisSyncLock) -> InterProcessLock:
        # mypy checks here that sync can take a Redis lock where it takes a file lock.
        return lock
