"""Hosted mode's users and sessions: sign in with WHOOP, stay signed in, sign out, delete the account.

- **Users** are found or created by their WHOOP ``user_id`` (the ``users`` table) when they sign in; the
  authorization code is exchanged, the profile read with the new token, and the token saved encrypted.
- **Sessions** are server-side, in Redis: ``whoopkit:session:<sha256(id)>`` holds the user id for
  ``SESSION_TTL`` and every session of a user is listed under ``whoopkit:user_sessions:<user>`` (so deleting
  the account ends them all). The browser holds only the random id, in an HttpOnly, Secure, SameSite=Lax
  cookie; Redis holds only its digest, so a copy of Redis cannot be replayed as a cookie.
- **Deleting an account** revokes WHOOP access (``DELETE /v2/user/access``), then removes the token row, every
  stored row of the user, the user, and their sessions. Queued jobs of a deleted user find no user and end.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio.to_thread
from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError

from whoopkit.client import WhoopClient
from whoopkit.errors import AuthError, StoreError, WhoopkitError, WhoopUnavailableError
from whoopkit.hosted.runtime import HostedRuntime
from whoopkit.models import UserBasicProfile
from whoopkit.store import schema
from whoopkit.tokens import Token, TokenStatus

logger = logging.getLogger(__name__)

SESSION_COOKIE = "whoopkit_sid"
SIGN_IN_PATIENCE = 45.0
SESSION_TTL = 30 * 86_400
SESSION_PREFIX = "whoopkit:session:"
USER_SESSIONS_PREFIX = "whoopkit:user_sessions:"
# Session ids are 43 URL-safe characters; anything else is no session (and is never looked up).
_SESSION_ID_LENGTH = 43


@dataclass(frozen=True)
class SignedIn:
    """A finished sign-in: who, their new session id (for the cookie), and whether they are new here."""

    user_id: int
    session_id: str
    new_user: bool
    profile: UserBasicProfile


class _JustIssued:
    """A token from the code exchange, in memory, for the one profile request that says whose it is."""

    def __init__(self, token: Token) -> None:
        self._token = token

    async def access_token(self) -> str:
        """The new access token."""
        return self._token.access_token

    async def refresh_after_unauthorized(self, rejected: str) -> str:
        """A token WHOOP refused a moment after issuing it: the sign-in failed.

        Raises:
            AuthError: always.
        """
        raise AuthError("WHOOP refused the token it had just issued; sign in again.")

    def status(self) -> TokenStatus:
        """Unused (the client never asks); present for symmetry with a login."""
        return TokenStatus.of(self._token, time.time(), path=None)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _plausible(session_id: str | None) -> bool:
    return bool(session_id) and len(session_id or "") == _SESSION_ID_LENGTH


def _redis_down() -> WhoopUnavailableError:
    return WhoopUnavailableError("The session store (Redis) is not reachable; try again in a minute.")


class Accounts:
    """Sign-in, sessions and account deletion over one :class:`HostedRuntime`."""

    def __init__(self, runtime: HostedRuntime, *, session_ttl: int = SESSION_TTL) -> None:
        """Keep sessions for ``session_ttl`` seconds in the runtime's Redis."""
        self.runtime = runtime
        self.session_ttl = session_ttl

    # ------------------------------------------------------------------------------------ sign-in

    async def sign_in(self, code: str) -> SignedIn:
        """Exchange ``code``, learn whose login it is, save the token, find/create the user, open a session.

        Raises:
            OAuthError: WHOOP refused the code.
            AuthError: WHOOP refused the token it had just issued.
            WhoopUnavailableError, RateLimitedError: WHOOP or Redis did not answer.
            StoreError: the database cannot be written.
        """
        runtime = self.runtime
        token = await runtime.oauth.exchange_code(code)
        probe = WhoopClient(
            runtime.http,
            _JustIssued(token),
            api_base_url=runtime.settings.whoop_api_base_url,
            limiter=runtime.limiter,
            # A sign-in is worth waiting for (the code is spent): for a busy budget, up to most of a window
            # (a slot surely frees within one), still inside the reverse proxy's 60 s.
            deadline=SIGN_IN_PATIENCE,
            rate_limit_wait_budget=SIGN_IN_PATIENCE,
            on_response=runtime.on_upstream,
        )
        profile = await probe.get_profile()
        user_id = profile.user_id
        await anyio.to_thread.run_sync(runtime.tokens.save, user_id, token)
        new_user = await anyio.to_thread.run_sync(self._upsert_user, user_id)
        now = runtime.clock() if runtime.clock else datetime.now(UTC)
        await anyio.to_thread.run_sync(runtime.store.save_profile, profile, now)
        session_id = await self.open_session(user_id)
        logger.info("user %s signed in (%s)", user_id, "new" if new_user else "returning")
        return SignedIn(user_id=user_id, session_id=session_id, new_user=new_user, profile=profile)

    def _upsert_user(self, user_id: int) -> bool:
        """Record a sign-in; True when the user is new (blocking).

        Raises:
            StoreError: the database cannot be written.
        """
        users = schema.users
        now_ms = int(time.time() * 1000)
        try:
            with self.runtime.store.engine.begin() as conn:
                if conn.execute(
                    update(users).where(users.c.user_id == user_id).values(last_sign_in_ms=now_ms)
                ).rowcount:
                    return False
                if conn.dialect.name == "postgresql":
                    from sqlalchemy.dialects.postgresql import insert

                    inserted = conn.execute(
                        insert(users)
                        .values(user_id=user_id, created_ms=now_ms, last_sign_in_ms=now_ms)
                        .on_conflict_do_nothing()
                    ).rowcount
                    return bool(inserted)
                conn.execute(
                    users.insert().values(user_id=user_id, created_ms=now_ms, last_sign_in_ms=now_ms)
                )
                return True
        except SQLAlchemyError as exc:
            raise StoreError(
                f"Could not record the sign-in of user {user_id} ({type(exc).__name__})."
            ) from None

    def user_exists(self, user_id: int) -> bool:
        """Whether ``user_id`` has an account (blocking).

        Raises:
            StoreError: the database cannot be read.
        """
        users = schema.users
        try:
            with self.runtime.store.engine.connect() as conn:
                return (
                    conn.execute(select(users.c.user_id).where(users.c.user_id == user_id)).first()
                    is not None
                )
        except SQLAlchemyError as exc:
            raise StoreError(f"Could not read the users table ({type(exc).__name__}).") from None

    def user_ids(self) -> list[int]:
        """Every account's user id, oldest first (blocking).

        Raises:
            StoreError: the database cannot be read.
        """
        users = schema.users
        try:
            with self.runtime.store.engine.connect() as conn:
                return [int(r[0]) for r in conn.execute(select(users.c.user_id).order_by(users.c.created_ms))]
        except SQLAlchemyError as exc:
            raise StoreError(f"Could not read the users table ({type(exc).__name__}).") from None

    # ----------------------------------------------------------------------------------- sessions

    async def open_session(self, user_id: int) -> str:
        """A new session id for ``user_id`` (only its digest is stored).

        Raises:
            WhoopUnavailableError: Redis could not be reached.
        """
        from redis.exceptions import RedisError

        session_id = secrets.token_urlsafe(32)
        digest = _digest(session_id)
        try:
            async with self.runtime.redis.pipeline(transaction=True) as pipe:
                pipe.set(SESSION_PREFIX + digest, str(user_id), ex=self.session_ttl)
                pipe.sadd(USER_SESSIONS_PREFIX + str(user_id), digest)
                pipe.expire(USER_SESSIONS_PREFIX + str(user_id), self.session_ttl)
                await pipe.execute()
        except (RedisError, OSError):
            raise _redis_down() from None
        return session_id

    async def user_for_session(self, session_id: str | None) -> int | None:
        """The signed-in user of a session cookie, or None (no cookie, unknown, expired or ended).

        Raises:
            WhoopUnavailableError: Redis could not be reached.
        """
        from redis.exceptions import RedisError

        if not _plausible(session_id):
            return None
        assert session_id is not None
        try:
            raw = await self.runtime.redis.get(SESSION_PREFIX + _digest(session_id))
        except (RedisError, OSError):
            raise _redis_down() from None
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            return None

    async def end_session(self, session_id: str | None) -> None:
        """Sign this browser out (the user's other sessions and their data stay).

        Raises:
            WhoopUnavailableError: Redis could not be reached.
        """
        from redis.exceptions import RedisError

        if not _plausible(session_id):
            return
        assert session_id is not None
        digest = _digest(session_id)
        try:
            raw = await self.runtime.redis.getdel(SESSION_PREFIX + digest)
            if raw is not None:
                async with self.runtime.redis.pipeline(transaction=False) as pipe:
                    pipe.srem(USER_SESSIONS_PREFIX + raw.decode("ascii", "replace"), digest)
                    await pipe.execute()
        except (RedisError, OSError):
            raise _redis_down() from None

    async def end_all_sessions(self, user_id: int) -> None:
        """End every session of ``user_id``.

        Raises:
            WhoopUnavailableError: Redis could not be reached.
        """
        from redis.exceptions import RedisError

        key = USER_SESSIONS_PREFIX + str(user_id)
        try:
            async with self.runtime.redis.pipeline(transaction=False) as pipe:
                pipe.smembers(key)
                [digests] = await pipe.execute()
            names = [SESSION_PREFIX + d.decode("ascii", "replace") for d in digests]
            if names:
                await self.runtime.redis.delete(*names)
            await self.runtime.redis.delete(key)
        except (RedisError, OSError):
            raise _redis_down() from None

    # ------------------------------------------------------------------------------------ deletion

    async def delete_account(self, user_id: int) -> None:
        """Revoke WHOOP access, then remove the user's token, rows, account and sessions.

        A WHOOP that cannot be reached does not stop the deletion (the token is removed here either way,
        and WHOOP's own access list lets the user revoke it there).

        Raises:
            StoreError: the database cannot be written (nothing is half-deleted that matters: run it again).
            WhoopUnavailableError: Redis could not be reached to end the sessions.
        """
        service = self.runtime.service_for(user_id)
        try:
            await service.logout(delete_local_data=True)
        except WhoopkitError as exc:
            if isinstance(exc, StoreError):
                raise
            logger.warning("deleting user %s: logging out of WHOOP failed (%s)", user_id, type(exc).__name__)
            await anyio.to_thread.run_sync(self.runtime.tokens.delete, user_id)
            await anyio.to_thread.run_sync(self.runtime.store.delete_user, user_id)
        await anyio.to_thread.run_sync(self._delete_user_row, user_id)
        self.runtime.forget(user_id)
        await self.end_all_sessions(user_id)
        with contextlib.suppress(Exception):
            from whoopkit.hosted.jobs import forget_jobs

            await forget_jobs(self.runtime.redis, user_id)
        logger.info("user %s deleted their account", user_id)

    def _delete_user_row(self, user_id: int) -> None:
        users = schema.users
        try:
            with self.runtime.store.engine.begin() as conn:
                conn.execute(delete(users).where(users.c.user_id == user_id))
                conn.execute(delete(schema.user_tokens).where(schema.user_tokens.c.user_id == user_id))
        except SQLAlchemyError as exc:
            raise StoreError(f"Could not delete user {user_id} ({type(exc).__name__}).") from None
