"""OAuth ``state`` for hosted mode: kept in Redis, so a login begun on one web process ends on any other.

The state is random (``oauth.new_state``), bound to the browser that asked for it (its login cookie holds
the same value and the callback must bring both), expires after ten minutes (the key's TTL) and is used
once across every process: :meth:`RedisLoginStates.consume` is a single ``GETDEL``, so two callbacks racing
with one state cannot both win. Keys hold a SHA-256 of the state, never the state itself.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from whoopkit.errors import WhoopUnavailableError
from whoopkit.oauth import STATE_TTL, new_state

if TYPE_CHECKING:
    import redis

    from whoopkit.oauth import LoginStateStore

DEFAULT_PREFIX = "whoopkit:oauth_state:"


class RedisLoginStates:
    """Single-use, expiring OAuth states shared by every web process through one Redis."""

    def __init__(
        self,
        redis_url: str,
        *,
        ttl: float = STATE_TTL,
        prefix: str = DEFAULT_PREFIX,
        socket_timeout: float = 2.0,
    ) -> None:
        """Keep states in the Redis at ``redis_url`` for ``ttl`` seconds each."""
        self.redis_url = redis_url
        self.ttl = ttl
        self.prefix = prefix
        self._socket_timeout = socket_timeout
        self._client: redis.Redis | None = None

    def _redis(self) -> redis.Redis:
        import redis

        if self._client is None:
            self._client = redis.Redis.from_url(
                self.redis_url,
                socket_timeout=self._socket_timeout,
                socket_connect_timeout=self._socket_timeout,
            )
        return self._client

    def _key(self, state: str) -> str:
        return self.prefix + hashlib.sha256(state.encode("utf-8")).hexdigest()

    @staticmethod
    def _bound(state: str | None, cookie: str | None) -> bool:
        return bool(state and cookie) and hmac.compare_digest(str(state).encode(), str(cookie).encode())

    def _ask(
        self, state: str | None, cookie: str | None, question: Callable[[redis.Redis, str], bool]
    ) -> bool:
        """False unless ``state`` is bound to ``cookie``; else ``question`` asked of Redis about its key.

        Raises:
            WhoopUnavailableError: Redis could not be reached.
        """
        from redis.exceptions import RedisError

        if state is None or not self._bound(state, cookie):
            return False
        try:
            return question(self._redis(), self._key(state))
        except (RedisError, OSError):
            raise WhoopUnavailableError(
                "The session store is not reachable, so the login cannot finish now."
            ) from None

    def issue(self) -> tuple[str, str]:
        """A new state; the login cookie carries the same value.

        Raises:
            WhoopUnavailableError: Redis could not be reached.
        """
        from redis.exceptions import RedisError

        state = new_state()
        try:
            self._redis().set(self._key(state), b"1", px=math.ceil(self.ttl * 1000), nx=True)
        except (RedisError, OSError):
            raise WhoopUnavailableError(
                "The session store is not reachable, so a login cannot start now."
            ) from None
        return state, state

    def matches(self, state: str | None, cookie: str | None) -> bool:
        """Whether ``state`` is this browser's and still waits for its callback (unexpired, unused).

        Raises:
            WhoopUnavailableError: Redis could not be reached.
        """
        return self._ask(state, cookie, lambda client, key: bool(client.exists(key)))

    def consume(self, state: str | None, cookie: str | None) -> bool:
        """Like :meth:`matches`, and no process can use the state again.

        Raises:
            WhoopUnavailableError: Redis could not be reached.
        """
        return self._ask(state, cookie, lambda client, key: client.getdel(key) is not None)

    def close(self) -> None:
        """Close the Redis connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None


if TYPE_CHECKING:

    def _is_a_login_state_store(states: RedisLoginStates) -> LoginStateStore:
        # mypy checks here that the web app can use either store.
        return states
