"""The shared token cache (``.token_cache.json``) and the refresh logic around it.

The web app and the MCP server are separate processes that read and write the same file, and
WHOOP rotates refresh tokens: after a refresh the old refresh token AND the old access token are
dead, and a second refresh with the old refresh token fails with ``invalid_grant``. So a refresh is
serialised across processes with a file lock on ``<cache>.lock``, and the file is re-read under
that lock before refreshing, because the other process may have rotated it a moment ago.

File format: the token endpoint's JSON (``access_token``, ``token_type``, ``expires_in``,
``scope``, ``refresh_token``) plus ``expires_at`` (epoch seconds). Files written by older tools
without ``expires_at`` are taken to expire ``expires_in`` seconds after the file's mtime, which
is when they were written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import filelock
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from whoopkit.config import OAUTH_SCOPES
from whoopkit.errors import NotLoggedInError, TokenRefreshError, WhoopUnavailableError

if TYPE_CHECKING:
    from whoopkit.oauth import OAuthClient

logger = logging.getLogger(__name__)

#: Refresh this long before expiry at most; short-lived tokens use 10 % of their lifetime instead.
MAX_REFRESH_MARGIN = 300.0
#: How long to wait for another process that holds the token lock.
DEFAULT_LOCK_TIMEOUT = 30.0


class Token(BaseModel):
    """An OAuth token as WHOOP issued it, plus the absolute expiry time; repr hides the secrets."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    access_token: str = Field(min_length=1)
    token_type: str = "Bearer"  # noqa: S105 - a token type, not a secret
    expires_in: int = Field(ge=0)
    scope: str = ""
    refresh_token: str | None = None
    # NaN or infinity would make the token look valid forever and never refresh.
    expires_at: float = Field(allow_inf_nan=False)

    @classmethod
    def from_response(cls, data: Any, *, now: float) -> Token:
        """Build a token from a token-endpoint JSON answer received at ``now`` (epoch seconds).

        Raises:
            ValueError: the answer is not a usable token (pydantic's ValidationError is a ValueError).
        """
        if not isinstance(data, dict):
            raise ValueError("the token answer is not a JSON object")
        fields = {k: v for k, v in data.items() if k != "expires_at"}
        expires_in = fields.get("expires_in")
        expires_at = now + expires_in if isinstance(expires_in, int | float) else now
        return cls.model_validate({**fields, "expires_at": expires_at})

    @property
    def scopes(self) -> frozenset[str]:
        """The granted scopes."""
        return frozenset(self.scope.split())

    def seconds_left(self, now: float) -> float:
        """Seconds until the access token expires (negative once it has)."""
        return self.expires_at - now

    @property
    def refresh_margin(self) -> float:
        """How long before expiry to refresh: 10 % of the lifetime, at most five minutes."""
        return min(0.1 * self.expires_in, MAX_REFRESH_MARGIN)

    def needs_refresh(self, now: float) -> bool:
        """Whether the access token is expired or within its refresh margin."""
        return now >= self.expires_at - self.refresh_margin

    def is_expired(self, now: float) -> bool:
        """Whether the access token is past its expiry."""
        return now >= self.expires_at

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Fields for repr, with the secrets masked."""
        for name, value in super().__repr_args__():
            if name in ("access_token", "refresh_token") and value is not None:
                yield name, "***"
            else:
                yield name, value

    def __str__(self) -> str:
        """A description without secrets."""
        expires = datetime.fromtimestamp(self.expires_at, UTC).isoformat(timespec="seconds")
        refresh = "with" if self.refresh_token else "without"
        return f"WHOOP token (expires {expires}, {refresh} refresh token, scopes: {self.scope or 'none'})"


class TokenStatus(BaseModel):
    """What the token cache holds, for status pages and tools; never contains secrets."""

    logged_in: bool
    path: Path
    expires_at: datetime | None = None
    seconds_left: float | None = None
    expired: bool = False
    can_refresh: bool = False
    scopes: list[str] = Field(default_factory=list)
    has_offline_scope: bool = False
    missing_scopes: list[str] = Field(default_factory=list)
    error: str | None = None


def _corrupt(path: Path, why: str) -> NotLoggedInError:
    return NotLoggedInError(f"The token cache {path} is corrupt ({why}): log in again.")


def _describe_validation(exc: ValidationError) -> str:
    # Only field names and error kinds: pydantic's messages can quote the (secret) input.
    err = exc.errors()[0]
    field = ".".join(str(part) for part in err["loc"]) or "the object"
    if err["type"] == "missing":
        return f"field {field} is missing"
    return f"field {field} has the wrong type or value"


class TokenStore:
    """The token cache file: validated reads, atomic 0600 writes, an inter-process lock."""

    def __init__(self, path: Path) -> None:
        """Use the token cache at ``path`` (nothing is read yet)."""
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def exists(self) -> bool:
        """Whether the token file exists (it may still be corrupt)."""
        return self.path.is_file()

    def stat_key(self) -> tuple[int, int, int] | None:
        """A cheap fingerprint of the file (inode, size, mtime), or None when it is missing."""
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def load(self) -> Token:
        """Read and validate the token; the file is never modified.

        Raises:
            NotLoggedInError: the file is missing, unreadable, empty or corrupt.
        """
        path = self.path
        try:
            raw = path.read_bytes()
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            raise NotLoggedInError(
                f"Not logged in to WHOOP (there is no token cache at {path}): log in."
            ) from None
        except OSError as exc:
            raise NotLoggedInError(
                f"The token cache {path} could not be read ({type(exc).__name__}): "
                "fix its permissions or log in again."
            ) from None
        if not raw.strip():
            raise _corrupt(path, "the file is empty")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _corrupt(path, "it is not valid JSON") from None
        if not isinstance(data, dict):
            raise _corrupt(path, f"it holds a JSON {type(data).__name__}, not an object")
        if "expires_at" not in data:
            expires_in = data.get("expires_in")
            # Older tools did not store expires_at: the file was written when the token was issued.
            data = {**data, "expires_at": mtime + expires_in if isinstance(expires_in, int) else 0.0}
        try:
            return Token.model_validate(data)
        except ValidationError as exc:
            raise _corrupt(path, _describe_validation(exc)) from None

    def save(self, token: Token) -> None:
        """Write the token atomically with mode 0600 from the first byte.

        A temporary file in the same directory is created with O_EXCL and 0600, written, fsynced and
        renamed over the cache, so readers see the old or the new token, never half of one, and a
        replaced file that had wider permissions ends up 0600 too.

        Raises:
            OSError: the directory is not writable or the disk is full (the old file is untouched).
        """
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        payload = json.dumps(token.model_dump(mode="json"), indent=2).encode("utf-8")
        tmp = directory / f".{self.path.name}.{secrets.token_hex(8)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(tmp, flags, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        self._fsync_dir(directory)
        logger.debug("saved the WHOOP token to %s", self.path)

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        # Makes the rename durable; directories cannot be opened on Windows, where it is not needed.
        try:
            dir_fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)

    def delete(self, *, lock_timeout: float = 10.0) -> None:
        """Remove the token file (logout); a missing file is fine.

        Taken under the token lock, so a refresh running in another process cannot save a new
        token right after the logout; if the lock stays busy, the file is removed anyway.
        """
        try:
            with self.lock(timeout=lock_timeout):
                self.path.unlink(missing_ok=True)
        except WhoopUnavailableError:
            logger.warning("token lock busy; removing %s without it", self.path)
            self.path.unlink(missing_ok=True)

    def file_lock(self, timeout: float = DEFAULT_LOCK_TIMEOUT) -> filelock.BaseFileLock:
        """An unacquired inter-process lock on ``<path>.lock``, usable from any thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # thread_local=False: it is acquired in a worker thread and may be released from another.
        return filelock.FileLock(self.lock_path, timeout=timeout, mode=0o600, thread_local=False)

    @contextlib.contextmanager
    def lock(self, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
        """Hold the inter-process token lock (blocking; use from threads or sync code).

        Raises:
            WhoopUnavailableError: another process held the lock for longer than ``timeout``.
        """
        lock = self.file_lock(timeout)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise _lock_timeout(self.lock_path, timeout) from None
        try:
            yield
        finally:
            lock.release()


def _lock_timeout(lock_path: Path, timeout: float) -> WhoopUnavailableError:
    return WhoopUnavailableError(
        f"Another whoopkit process held the token lock {lock_path} for more than {timeout:.0f} s: try again."
    )


class TokenManager:
    """Hands out valid access tokens, refreshing them once across all processes (a TokenProvider)."""

    def __init__(
        self,
        store: TokenStore,
        oauth: OAuthClient,
        *,
        clock: Callable[[], float] = time.time,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        """Manage the token in ``store``, refreshing through ``oauth``; ``clock`` gives epoch seconds."""
        self.store = store
        self.oauth = oauth
        self.clock = clock
        self.lock_timeout = lock_timeout
        self.refreshes = 0  # refreshes this manager performed (tests and benchmarks read it)
        self._lock = anyio.Lock()
        self._cached: tuple[tuple[int, int, int], Token] | None = None

    def _load(self) -> Token:
        # Re-reading only when the file changed keeps access_token() cheap on every request while
        # still picking up a token that another process rotated.
        key = self.store.stat_key()
        if key is not None and self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        token = self.store.load()
        if key is not None:
            self._cached = (key, token)
        return token

    def current(self) -> Token:
        """The stored token as it is, without refreshing.

        Raises:
            NotLoggedInError: no usable token cache.
        """
        return self._load()

    async def access_token(self) -> str:
        """A valid access token, refreshed first if it is within its refresh margin.

        Raises:
            NotLoggedInError: no usable token cache.
            TokenRefreshError: the token expired and WHOOP refused to refresh it.
            WhoopUnavailableError: WHOOP could not be reached to refresh an expired token.
        """
        token = self._load()
        if not token.needs_refresh(self.clock()):
            return token.access_token
        token = await self._refresh_if(lambda current: current.needs_refresh(self.clock()))
        return token.access_token

    async def refresh_after_unauthorized(self, rejected: str) -> str:
        """After WHOOP answered 401 for ``rejected``: a token to retry with, refreshed if still needed.

        Raises:
            NotLoggedInError: no usable token cache.
            TokenRefreshError: WHOOP refused to refresh the token.
            WhoopUnavailableError: WHOOP could not be reached.
        """

        def stale(current: Token) -> bool:
            return current.access_token == rejected or current.needs_refresh(self.clock())

        token = await self._refresh_if(stale, rejected=rejected)
        return token.access_token

    async def force_refresh(self) -> Token:
        """Refresh now, whatever the expiry (for tools and tests).

        Raises:
            NotLoggedInError: no usable token cache.
            TokenRefreshError: WHOOP refused to refresh the token.
            WhoopUnavailableError: WHOOP could not be reached.
        """
        before = self._load().access_token
        return await self._refresh_if(lambda current: current.access_token == before)

    async def _refresh_if(
        self, should_refresh: Callable[[Token], bool], *, rejected: str | None = None
    ) -> Token:
        async with self._lock:
            lock = self.store.file_lock(self.lock_timeout)
            try:
                try:
                    await anyio.to_thread.run_sync(lock.acquire)
                except filelock.Timeout:
                    raise _lock_timeout(self.store.lock_path, self.lock_timeout) from None
                # Under the lock, the file is the truth: another process may have rotated it.
                current = self.store.load()
                self._cached = None
                if not should_refresh(current):
                    logger.debug("the WHOOP token was already refreshed by someone else")
                    return current
                return await self._do_refresh(current, rejected=current.access_token == rejected)
            finally:
                if lock.is_locked:
                    lock.release(force=True)

    async def _do_refresh(self, current: Token, *, rejected: bool = False) -> Token:
        if not current.refresh_token:
            if not rejected and not current.is_expired(self.clock()):
                return current
            offline = "" if "offline" in current.scopes else " (the login lacked the offline scope)"
            what = "was rejected by WHOOP" if rejected else "expired"
            raise TokenRefreshError(
                f"The WHOOP login {what} and cannot be renewed because it has no refresh token{offline}: "
                "log in again and grant the offline scope."
            )
        new = await self.oauth.refresh(current.refresh_token)
        if not new.scope:
            new = new.model_copy(update={"scope": current.scope})
        await anyio.to_thread.run_sync(self.store.save, new)
        self.refreshes += 1
        logger.info("refreshed the WHOOP access token (expires in %d s)", new.expires_in)
        return new

    def status(self) -> TokenStatus:
        """A secret-free summary of the stored login."""
        try:
            token = self.store.load()
        except NotLoggedInError as exc:
            return TokenStatus(logged_in=False, path=self.store.path, error=str(exc))
        now = self.clock()
        expired = token.is_expired(now)
        scopes = sorted(token.scopes)
        return TokenStatus(
            logged_in=not expired or bool(token.refresh_token),
            path=self.store.path,
            expires_at=datetime.fromtimestamp(token.expires_at, UTC),
            seconds_left=round(token.seconds_left(now), 1),
            expired=expired,
            can_refresh=bool(token.refresh_token),
            scopes=scopes,
            has_offline_scope="offline" in token.scopes,
            missing_scopes=[s for s in OAUTH_SCOPES if s not in token.scopes],
            error=None,
        )
