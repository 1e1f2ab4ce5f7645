"""Hosted mode's WHOOP tokens: one encrypted row per user, refreshed once across every process.

WHOOP rotates refresh tokens: the first refresh kills the old refresh token, and a second process that
spends it too gets ``invalid_grant`` and logs the user out. So :meth:`HostedTokenStore.fresh_token` takes
a lock on the user's row (``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), re-reads
the row under it (another process may have refreshed a moment ago), sends at most one refresh grant and
writes the new token with ``version + 1`` in the same transaction. The lock is held across the refresh's
HTTP call on purpose, which is what makes it exactly one grant per expiry; that call is bounded by a
timeout, and the transaction is rolled back (the lock released) on any error or cancellation.

Rows hold only :class:`~whoopkit.token_crypto.TokenCipher` ciphertext bound to the user id; logs and
errors name the user id and the row version, never a token.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
from sqlalchemy import Connection, Engine, create_engine, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from whoopkit.errors import (
    NotLoggedInError,
    StoreError,
    TokenKeyError,
    TokenRefreshError,
    WhoopUnavailableError,
)
from whoopkit.store.schema import user_tokens
from whoopkit.tokens import DEFAULT_LOCK_TIMEOUT, Token, TokenStatus, hmac_equal

if TYPE_CHECKING:
    from whoopkit.oauth import OAuthClient
    from whoopkit.token_crypto import TokenCipher

logger = logging.getLogger(__name__)

Refresh = Callable[[Token], Awaitable[Token]]

#: How long one refresh grant may take while it holds the user's row lock.
DEFAULT_REFRESH_TIMEOUT = 30.0
#: PostgreSQL ends a session idle in a transaction this much later than the refresh timeout: a safety net
#: for a process that hangs while holding a row lock (a dead process drops its connection anyway).
_IDLE_GRACE_S = 30.0
#: PostgreSQL's SQLSTATE for lock_timeout (lock_not_available).
_PG_LOCK_NOT_AVAILABLE = "55P03"


def oauth_refresh(oauth: OAuthClient) -> Refresh:
    """The ``refresh`` callable of :meth:`HostedTokenStore.fresh_token` for a real OAuth client."""

    async def refresh(token: Token) -> Token:
        if not token.refresh_token:
            raise TokenRefreshError("The WHOOP login has no refresh token: the user has to log in again.")
        return await oauth.refresh(token.refresh_token)

    return refresh


def _to_ms(seconds: float) -> int:
    return math.floor(seconds * 1000)


class _Locked:
    """An open transaction holding the user's row lock, and what it read."""

    def __init__(self, conn: Connection, token: Token | None, version: int) -> None:
        self.conn = conn
        self.token = token
        self.version = version


class HostedTokenStore:
    """Encrypted per-user tokens in the ``user_tokens`` table, refreshed under a per-user row lock."""

    def __init__(
        self,
        engine_or_url: Engine | str,
        cipher: TokenCipher,
        *,
        clock: Callable[[], float] = time.time,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        refresh_timeout: float = DEFAULT_REFRESH_TIMEOUT,
    ) -> None:
        """Use ``engine_or_url`` (whose schema is migrated, see ``Store.open``) and ``cipher``."""
        if isinstance(engine_or_url, str):
            # check_same_thread=False: one locked transaction is used from several worker threads in turn
            # (lock, then write), never from two at once.
            args = {"check_same_thread": False} if engine_or_url.startswith("sqlite") else {}
            engine_or_url = create_engine(engine_or_url, pool_pre_ping=True, connect_args=args)
        self.engine = engine_or_url
        self.cipher = cipher
        self.clock = clock
        self.lock_timeout = lock_timeout
        self.refresh_timeout = refresh_timeout
        self.refreshes = 0  # refresh grants this store sent (tests read it)

    @property
    def _sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def __repr__(self) -> str:
        """The dialect only (the URL may carry a password)."""
        return f"HostedTokenStore({self.engine.dialect.name})"

    # ---------------------------------------------------------------- plain reads and writes

    def load(self, user_id: int) -> Token | None:
        """The user's token, or None when the user has none.

        Raises:
            TokenKeyError: the row cannot be decrypted for this user (corrupt, old key, wrong user).
            StoreError: the database cannot be read.
        """
        try:
            with self.engine.connect() as conn:
                blob = conn.execute(
                    select(user_tokens.c.blob).where(user_tokens.c.user_id == user_id)
                ).scalar()
        except SQLAlchemyError as exc:
            raise self._store_error("read", user_id, exc) from None
        return None if blob is None else self.cipher.decrypt(blob, user_id=user_id)

    def save(self, user_id: int, token: Token) -> None:
        """Store ``token`` for the user (after a login), replacing any token and raising the version.

        Raises:
            StoreError: the database cannot be written.
        """
        now_ms = _to_ms(self.clock())
        values = {
            "user_id": user_id,
            "blob": self.cipher.encrypt(token, user_id=user_id),
            "expires_ms": _to_ms(token.expires_at),
            "version": 1,
            "updated_ms": now_ms,
        }
        insert = sqlite_insert if self._sqlite else pg_insert
        stmt = insert(user_tokens).values(values)
        # One atomic upsert: two logins of one user at once must not fail on the primary key.
        stmt = stmt.on_conflict_do_update(
            index_elements=[user_tokens.c.user_id],
            set_={
                "blob": stmt.excluded.blob,
                "expires_ms": stmt.excluded.expires_ms,
                "version": user_tokens.c.version + 1,
                "updated_ms": stmt.excluded.updated_ms,
            },
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(stmt)
        except SQLAlchemyError as exc:
            raise self._store_error("write", user_id, exc) from None

    def delete(self, user_id: int) -> None:
        """Remove the user's token (logout or account deletion; a refused refresh never calls this).

        Raises:
            StoreError: the database cannot be written.
        """
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(user_tokens).where(user_tokens.c.user_id == user_id))
        except SQLAlchemyError as exc:
            raise self._store_error("delete", user_id, exc) from None

    def version(self, user_id: int) -> int | None:
        """The row's version (how many times it was written), or None without a row.

        Raises:
            StoreError: the database cannot be read.
        """
        try:
            with self.engine.connect() as conn:
                found = conn.execute(
                    select(user_tokens.c.version).where(user_tokens.c.user_id == user_id)
                ).scalar()
        except SQLAlchemyError as exc:
            raise self._store_error("read", user_id, exc) from None
        return None if found is None else int(found)

    def rotate_keys(self) -> int:
        """Re-encrypt every row that opens only with an older key under the newest one; how many were.

        Each row is replaced only if it is still the blob that was read (compare and set), so a refresh
        that wrote a new token meanwhile is never undone; that one is already under the newest key.

        Raises:
            TokenKeyError: a row opens with none of the keys, or belongs to another user.
            StoreError: the database cannot be read or written.
        """
        rotated = 0
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(select(user_tokens.c.user_id, user_tokens.c.blob)).all()
            for user_id, blob in rows:
                if not self.cipher.needs_rotation(blob):
                    continue
                fresh = self.cipher.rotate(blob, user_id=int(user_id))
                with self.engine.begin() as conn:
                    rotated += conn.execute(
                        update(user_tokens)
                        .where(user_tokens.c.user_id == user_id, user_tokens.c.blob == blob)
                        .values(blob=fresh)
                    ).rowcount
        except SQLAlchemyError as exc:
            raise StoreError(f"Could not re-encrypt the token rows ({type(exc).__name__}).") from None
        if rotated:
            logger.info("re-encrypted %d token rows under the newest key", rotated)
        return rotated

    # ---------------------------------------------------------------- the refresh

    def _valid(self, token: Token, margin_s: float | None) -> bool:
        margin = token.refresh_margin if margin_s is None else margin_s
        # A margin longer than the token's lifetime would refresh on every call, one grant each time.
        margin = min(margin, 0.5 * token.expires_in)
        return self.clock() < token.expires_at - margin

    def _usable(self, token: Token, margin_s: float | None, rejected: str | None) -> bool:
        # A token WHOOP refused is never handed out again, however valid its expiry says it is.
        if rejected is not None and hmac_equal(token.access_token, rejected):
            return False
        return self._valid(token, margin_s)

    async def fresh_token(
        self, user_id: int, refresh: Refresh, *, margin_s: float | None = None, rejected: str | None = None
    ) -> Token:
        """The user's token, refreshed first (once across all processes) unless valid for ``margin_s``.

        ``margin_s`` defaults to the token's own refresh margin (10 % of its lifetime, at most 5 min).
        ``rejected`` is an access token WHOOP just answered 401 to: the row is refreshed if it still holds
        that token, however valid it looks; a token another process put there instead is used if valid.
        On a refused refresh the row is kept as it was and the error is raised for the caller to word.

        Raises:
            NotLoggedInError: the user has no stored token.
            TokenRefreshError: the token has no refresh token, or WHOOP refused it (e.g. ``invalid_grant``).
            WhoopUnavailableError: WHOOP did not answer within the refresh timeout, or another process held
                the user's lock for longer than the lock timeout.
            TokenKeyError: the stored row cannot be decrypted for this user.
            StoreError: the database cannot be used.
        """
        token = await anyio.to_thread.run_sync(self.load, user_id)
        if token is None:
            raise _not_logged_in(user_id)
        if self._usable(token, margin_s, rejected):
            return token
        locked: _Locked | None = None
        try:
            locked = await anyio.to_thread.run_sync(self._lock_row, user_id)
            # Under the lock the row is the truth: another process may have refreshed it meanwhile.
            current = locked.token
            if current is None:
                raise _not_logged_in(user_id)
            if self._usable(current, margin_s, rejected):
                logger.debug("user %s: token already refreshed by another process", user_id)
                return current
            if not current.refresh_token:
                raise TokenRefreshError(
                    "The WHOOP login expired and cannot be renewed because it has no refresh token: "
                    "the user has to log in again."
                )
            try:
                with anyio.fail_after(self.refresh_timeout):
                    new = await refresh(current)
            except TimeoutError:
                raise WhoopUnavailableError(
                    f"WHOOP did not answer the token refresh within {self.refresh_timeout:.0f} s: try again."
                ) from None
            self.refreshes += 1
            if not new.scope:
                new = new.model_copy(update={"scope": current.scope})
            conn, version = locked.conn, locked.version
            locked = None  # _commit closes the connection whatever happens
            await anyio.to_thread.run_sync(self._commit, conn, user_id, new, version)
            logger.info("user %s: refreshed the WHOOP token (row version %d)", user_id, version + 1)
            return new
        finally:
            if locked is not None:
                # Shielded: a cancelled caller must still release the row lock, not leave it to the pool.
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(_rollback, locked.conn)

    def _lock_row(self, user_id: int) -> _Locked:
        """Open a transaction holding the user's row lock and read the row in it (blocking).

        Raises:
            WhoopUnavailableError: the lock was not granted within the lock timeout.
            TokenKeyError: the row cannot be decrypted for this user.
            StoreError: the database cannot be used.
        """
        conn = self.engine.connect()
        try:
            if self._sqlite:
                # SQLite has no row locks: BEGIN IMMEDIATE takes the database's write lock up front, so
                # a second refresher waits here (busy timeout) instead of both reading the old token.
                conn.exec_driver_sql(f"PRAGMA busy_timeout={int(self.lock_timeout * 1000)}")
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                query = select(user_tokens.c.blob, user_tokens.c.version)
            else:
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(self.lock_timeout * 1000)}ms'")
                idle_ms = int((self.refresh_timeout + _IDLE_GRACE_S) * 1000)
                conn.exec_driver_sql(f"SET LOCAL idle_in_transaction_session_timeout = '{idle_ms}ms'")
                query = select(user_tokens.c.blob, user_tokens.c.version).with_for_update()
            row = conn.execute(query.where(user_tokens.c.user_id == user_id)).first()
            if row is None:
                return _Locked(conn, None, 0)
            token = self.cipher.decrypt(row.blob, user_id=user_id)
            return _Locked(conn, token, int(row.version))
        except BaseException as exc:
            _rollback(conn)
            if isinstance(exc, DBAPIError) and _is_lock_timeout(exc):
                raise WhoopUnavailableError(
                    f"Another process held the token lock of user {user_id} for more than "
                    f"{self.lock_timeout:.0f} s: try again."
                ) from None
            if isinstance(exc, SQLAlchemyError):
                raise self._store_error("lock", user_id, exc) from None
            raise

    def _commit(self, conn: Connection, user_id: int, token: Token, version: int) -> None:
        """Write the refreshed token as ``version + 1`` and commit, releasing the lock (blocking).

        Raises:
            StoreError: the write or the commit failed (WHOOP has rotated: the user must log in again).
        """
        try:
            conn.execute(
                user_tokens.update()
                .where(user_tokens.c.user_id == user_id)
                .values(
                    blob=self.cipher.encrypt(token, user_id=user_id),
                    expires_ms=_to_ms(token.expires_at),
                    version=version + 1,
                    updated_ms=_to_ms(self.clock()),
                )
            )
            conn.commit()
        except SQLAlchemyError as exc:
            raise self._store_error("save the refreshed token of", user_id, exc) from None
        finally:
            _rollback(conn)

    def _store_error(self, action: str, user_id: int, exc: SQLAlchemyError) -> StoreError:
        # Only the driver's error class: its message may quote SQL parameters, i.e. ciphertext.
        orig = exc.orig if isinstance(exc, DBAPIError) else exc
        return StoreError(
            f"whoopkit could not {action} the WHOOP token of user {user_id} ({type(orig).__name__}).",
            location=self.engine.dialect.name,
        )


class HostedUserTokens:
    """One hosted user's WHOOP login as a :class:`~whoopkit.tokens.TokenAccess`.

    It is their encrypted row in ``user_tokens``, refreshed once across every web and worker process
    (:meth:`HostedTokenStore.fresh_token`).
    """

    def __init__(
        self,
        store: HostedTokenStore,
        user_id: int,
        refresh: Refresh,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Serve ``user_id``'s login from ``store``, refreshing with ``refresh`` (:func:`oauth_refresh`)."""
        self.store = store
        self.user_id = user_id
        self.refresh = refresh
        self.clock = clock

    def exists(self) -> bool:
        """Whether the user has a token row.

        Raises:
            StoreError: the database cannot be read.
        """
        return self.store.version(self.user_id) is not None

    def current(self) -> Token:
        """The stored token as it is, without refreshing.

        Raises:
            NotLoggedInError: the user has no token row.
            TokenKeyError: the row cannot be decrypted for this user.
            StoreError: the database cannot be read.
        """
        token = self.store.load(self.user_id)
        if token is None:
            raise _not_logged_in(self.user_id)
        return token

    def status(self) -> TokenStatus:
        """A secret-free summary of the user's login (no file: ``path`` is None)."""
        try:
            token = self.current()
        except (NotLoggedInError, TokenKeyError, StoreError) as exc:
            return TokenStatus(logged_in=False, path=None, error=str(exc))
        return TokenStatus.of(token, self.clock(), path=None)

    async def access_token(self) -> str:
        """A valid access token, refreshed first (once across every process) within its refresh margin.

        Raises:
            NotLoggedInError, TokenRefreshError, WhoopUnavailableError, TokenKeyError, StoreError: see
                :meth:`HostedTokenStore.fresh_token`.
        """
        return (await self.store.fresh_token(self.user_id, self.refresh)).access_token

    async def refresh_after_unauthorized(self, rejected: str) -> str:
        """A new access token after WHOOP refused ``rejected`` (another process's refresh counts).

        Raises:
            NotLoggedInError, TokenRefreshError, WhoopUnavailableError, TokenKeyError, StoreError: see
                :meth:`HostedTokenStore.fresh_token`.
        """
        return (await self.store.fresh_token(self.user_id, self.refresh, rejected=rejected)).access_token

    def save_login(self, token: Token) -> None:
        """Store a new login for the user (blocking).

        Raises:
            StoreError: the database cannot be written.
        """
        self.store.save(self.user_id, token)

    def delete(self) -> None:
        """Remove the user's token row (blocking).

        Raises:
            StoreError: the database cannot be written.
        """
        self.store.delete(self.user_id)


if TYPE_CHECKING:
    from whoopkit.tokens import TokenAccess

    def _is_token_access(tokens: HostedUserTokens) -> TokenAccess:
        # mypy checks here that a hosted login can stand in for the token file.
        return tokens


def _not_logged_in(user_id: int) -> NotLoggedInError:
    return NotLoggedInError(f"User {user_id} has no WHOOP login stored: they have to log in.")


def _is_lock_timeout(exc: DBAPIError) -> bool:
    if getattr(exc.orig, "sqlstate", None) == _PG_LOCK_NOT_AVAILABLE:
        return True
    return "database is locked" in str(exc.orig).lower()


def _rollback(conn: Connection) -> None:
    """Roll back whatever is open and return the connection to the pool (never raises)."""
    try:
        if conn.in_transaction():
            conn.rollback()
    except SQLAlchemyError:
        logger.warning("rolling back a token transaction failed; the connection is discarded")
        conn.invalidate()
    finally:
        conn.close()
