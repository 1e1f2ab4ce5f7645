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

Odd local states never turn into a traceback: a file larger than any token is refused without being
read, a directory or a FIFO at the token path is explained, a symlink at the lock path is refused
(filelock opens it with O_NOFOLLOW), and a token file readable by others is tightened to 0600. Reads
are cached by the file's stat fingerprint, so a corrupt file costs one read, not one per request.

A refresh writes ``<cache>.refreshing`` (a fingerprint of the refresh token being spent) before it
sends the grant and removes it after the new token is saved. If the process dies in between, after
WHOOP already rotated the token, the next refresh that WHOOP rejects with ``invalid_grant`` finds the
marker still naming the saved refresh token and says exactly that (see ``INTERRUPTED_REFRESH``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.to_thread
import filelock
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from whoopkit.config import OAUTH_SCOPES
from whoopkit.errors import (
    NotLoggedInError,
    TokenFileError,
    TokenRefreshError,
    WhoopkitError,
    WhoopUnavailableError,
)

if TYPE_CHECKING:
    from whoopkit.oauth import OAuthClient

logger = logging.getLogger(__name__)

#: Refresh this long before expiry at most; short-lived tokens use 10 % of their lifetime instead.
MAX_REFRESH_MARGIN = 300.0
#: How long to wait for another process that holds the token lock.
DEFAULT_LOCK_TIMEOUT = 30.0
#: A token file is about 2 KB; anything much larger is not one, and is refused without being read.
MAX_TOKEN_FILE_BYTES = 64 * 1024
#: What a refresh rejected after an interrupted refresh means (see the module docstring).
INTERRUPTED_REFRESH = (
    "The last refresh of the WHOOP login was interrupted (whoopkit stopped after WHOOP had already "
    "replaced the saved login, before the new one was written), so the saved login no longer works: "
    "log in again."
)


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
    path: Path | None = None  # the token file; None when hosted (a database row per user)
    expires_at: datetime | None = None
    seconds_left: float | None = None
    expired: bool = False
    can_refresh: bool = False
    scopes: list[str] = Field(default_factory=list)
    has_offline_scope: bool = False
    missing_scopes: list[str] = Field(default_factory=list)
    error: str | None = None

    @classmethod
    def of(cls, token: Token, now: float, *, path: Path | None, refused: str | None = None) -> TokenStatus:
        """Describe ``token`` at ``now``; a ``refused`` reason (its refresh token is dead) rules out both."""
        expired = token.is_expired(now)
        usable = refused is None
        return cls(
            logged_in=usable and (not expired or bool(token.refresh_token)),
            path=path,
            expires_at=datetime.fromtimestamp(token.expires_at, UTC),
            seconds_left=round(token.seconds_left(now), 1),
            expired=expired,
            can_refresh=bool(token.refresh_token) and usable,
            scopes=sorted(token.scopes),
            has_offline_scope="offline" in token.scopes,
            missing_scopes=[s for s in OAUTH_SCOPES if s not in token.scopes],
            error=refused,
        )


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
        self.marker_path = self.path.with_name(self.path.name + ".refreshing")
        # (stat fingerprint, token or the NotLoggedInError message) of the last read.
        self._cache: tuple[tuple[int, int, int], Token | str] | None = None

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

    def load(self, *, fresh: bool = False) -> Token:
        """Read and validate the token; cached until the file changes (``fresh`` reads it anyway).

        The file's content is never modified; a file readable by other users is made 0600.

        Raises:
            NotLoggedInError: the file is missing, unreadable, not a file, too large, empty or corrupt.
        """
        key = self.stat_key()
        cached = self._cache
        if not fresh and key is not None and cached is not None and cached[0] == key:
            if isinstance(cached[1], Token):
                return cached[1]
            raise NotLoggedInError(cached[1])
        try:
            read_key, token = self._read()
        except NotLoggedInError as exc:
            if key is not None:
                self._cache = (key, str(exc))
            raise
        self._cache = (read_key, token)
        return token

    def problem(self, *, short: bool = False) -> str | None:
        """Why an existing token file cannot be used (corrupt, a directory...); None if fine or absent.

        ``short`` names the file without its folder (for pages, where a long path does not wrap).
        """
        if not os.path.lexists(self.path):
            return None
        try:
            self.load()
        except NotLoggedInError as exc:
            if not os.path.lexists(self.path):
                return None
            return str(exc).replace(str(self.path), self.path.name) if short else str(exc)
        return None

    def _read(self) -> tuple[tuple[int, int, int], Token]:
        path = self.path
        # O_NONBLOCK: a FIFO at the token path must not hang the process; it is refused below.
        flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            raise NotLoggedInError(
                f"Not logged in to WHOOP (there is no token cache at {path}): log in."
            ) from None
        except OSError as exc:
            raise NotLoggedInError(
                f"The token cache {path} could not be read ({type(exc).__name__}): "
                "fix its permissions or log in again."
            ) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
                raise NotLoggedInError(
                    f"The token cache {path} is {kind}, not a token file: move it away and log in again."
                )
            if st.st_size > MAX_TOKEN_FILE_BYTES:
                raise _corrupt(path, f"it is {st.st_size:,} bytes, far more than a token")
            self._tighten(fd, path, st.st_mode)
            chunks: list[bytes] = []
            size = 0
            while size <= MAX_TOKEN_FILE_BYTES:
                chunk = os.read(fd, MAX_TOKEN_FILE_BYTES + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except OSError as exc:
            raise NotLoggedInError(
                f"The token cache {path} could not be read ({type(exc).__name__}): "
                "fix its permissions or log in again."
            ) from None
        finally:
            os.close(fd)
        raw = b"".join(chunks)
        if len(raw) > MAX_TOKEN_FILE_BYTES:
            raise _corrupt(path, "it grew far beyond the size of a token while being read")
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        return key, self._parse(raw, st.st_mtime)

    @staticmethod
    def _tighten(fd: int, path: Path, mode: int) -> None:
        # Someone copied the file or restored a backup with a umask of 022: the token is a password.
        if os.name != "posix" or not mode & 0o077:
            return
        try:
            os.fchmod(fd, 0o600)
        except OSError:
            logger.warning("the token cache %s is readable by other users and could not be made 0600", path)
            return
        logger.warning(
            "the token cache %s was readable by other users (mode %o): it is 0600 now",
            path,
            stat.S_IMODE(mode),
        )

    def _parse(self, raw: bytes, mtime: float) -> Token:
        path = self.path
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
            TokenFileError: the path is a directory, the directory is not writable or the disk is full
                (the old file is untouched).
        """
        payload = json.dumps(token.model_dump(mode="json"), indent=2).encode("utf-8")
        if self.path.is_dir():
            raise TokenFileError(
                f"whoopkit cannot save the WHOOP login: {self.path} is a directory. Move it away "
                "(or set WHOOP_TOKEN_CACHE to a file path) and log in again."
            )
        try:
            self._write_atomic(self.path, payload)
        except OSError as exc:
            raise TokenFileError(
                f"whoopkit cannot save the WHOOP login to {self.path} ({exc.strerror or exc}): "
                "check that its folder is writable and the disk is not full, then log in again."
            ) from exc
        self._cache = None
        logger.debug("saved the WHOOP token to %s", self.path)

    def _write_atomic(self, target: Path, payload: bytes) -> None:
        directory = target.parent
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = directory / f".{target.name}.{secrets.token_hex(8)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(tmp, flags, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        self._fsync_dir(directory)

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

        Raises:
            TokenFileError: the lock path is unusable (e.g. a symlink) or the file cannot be removed.
        """
        try:
            with self.lock(timeout=lock_timeout):
                self._unlink()
        except WhoopUnavailableError:
            logger.warning("token lock busy; removing %s without it", self.path)
            self._unlink()

    def _unlink(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
            self.marker_path.unlink(missing_ok=True)
        except OSError as exc:
            raise TokenFileError(
                f"whoopkit cannot remove the saved WHOOP login {self.path} ({exc.strerror or exc}): "
                "remove it by hand."
            ) from exc
        self._cache = None

    def move_aside(self, now: float | None = None) -> Path:
        """Rename an unusable token file to ``<name>.corrupt-<UTC time>`` (never delete it); the new path.

        Raises:
            TokenFileError: the file is usable (nothing to move), or it cannot be renamed.
        """
        with self.lock(timeout=10.0):
            if self.problem() is None:
                raise TokenFileError(f"The token cache {self.path} is not corrupt, so it was left in place.")
            stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC).strftime(
                "%Y%m%dT%H%M%SZ"
            )
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
            try:
                if os.path.lexists(target):
                    target = target.with_name(f"{target.name}-{secrets.token_hex(3)}")
                os.rename(self.path, target)
            except OSError as exc:
                raise TokenFileError(
                    f"whoopkit could not rename {self.path} ({exc.strerror or exc}): move it away by hand."
                ) from exc
            self._cache = None
        logger.warning("moved the unusable token cache %s aside to %s", self.path, target)
        return target

    # ---------------------------------------------------------------- interrupted-refresh marker

    def mark_refreshing(self, refresh_token: str) -> None:
        """Record, durably, that ``refresh_token`` is about to be spent (call under the lock).

        Raises:
            TokenFileError: the marker cannot be written (the refresh is not attempted).
        """
        payload = json.dumps(
            {"refresh_sha256": _fingerprint(refresh_token), "started_at": time.time(), "pid": os.getpid()}
        ).encode("utf-8")
        try:
            self._write_atomic(self.marker_path, payload)
        except OSError as exc:
            raise TokenFileError(
                f"whoopkit cannot write {self.marker_path} before renewing the WHOOP login "
                f"({exc.strerror or exc}): check that the folder is writable."
            ) from exc

    def refresh_marker(self) -> dict[str, Any] | None:
        """The interrupted-refresh marker's content, or None when there is none (or it is unreadable)."""
        try:
            with self.marker_path.open("rb") as fh:
                data = json.loads(fh.read(4096).decode("utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def marker_names(self, token: Token) -> bool:
        """Whether the marker names ``token``'s refresh token, i.e. a refresh of it never saved its result."""
        marker = self.refresh_marker()
        return bool(
            marker is not None
            and token.refresh_token
            and hmac_equal(str(marker.get("refresh_sha256", "")), _fingerprint(token.refresh_token))
        )

    def mark_rejected(self) -> None:
        """Note in the marker that WHOOP refused the saved token after the interrupted refresh."""
        marker = self.refresh_marker()
        if marker is None:
            return
        with contextlib.suppress(OSError):
            self._write_atomic(self.marker_path, json.dumps({**marker, "rejected": True}).encode("utf-8"))

    def clear_refreshing(self) -> None:
        """Remove the marker (the refresh's outcome is saved, or WHOOP provably did not rotate)."""
        try:
            self.marker_path.unlink(missing_ok=True)
        except OSError:
            logger.warning("could not remove %s", self.marker_path)

    # ---------------------------------------------------------------- lock

    def file_lock(self, timeout: float = DEFAULT_LOCK_TIMEOUT) -> filelock.BaseFileLock:
        """An unacquired inter-process lock on ``<path>.lock``, usable from any thread.

        Raises:
            TokenFileError: the token file's folder cannot be created.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise TokenFileError(
                f"whoopkit cannot create the folder of {self.path} ({exc.strerror or exc})."
            ) from exc
        # thread_local=False: it is acquired in a worker thread and may be released from another.
        return filelock.FileLock(self.lock_path, timeout=timeout, mode=0o600, thread_local=False)

    def lock_error(self, exc: OSError) -> TokenFileError:
        """The explanation of a lock file that cannot be opened (a symlink, a directory, no permission)."""
        if os.path.islink(self.lock_path):
            why = "it is a symbolic link, which whoopkit refuses to follow"
        elif self.lock_path.is_dir():
            why = "it is a directory"
        else:
            why = exc.strerror or type(exc).__name__
        return TokenFileError(
            f"whoopkit cannot use the token lock file {self.lock_path} ({why}): remove it (whoopkit "
            "creates it again) and try again. The saved login was left untouched."
        )

    @contextlib.contextmanager
    def lock(self, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
        """Hold the inter-process token lock (blocking; use from threads or sync code).

        Raises:
            WhoopUnavailableError: another process held the lock for longer than ``timeout``.
            TokenFileError: the lock file cannot be opened (e.g. it is a symlink).
        """
        lock = self.file_lock(timeout)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise _lock_timeout(self.lock_path, timeout) from None
        except OSError as exc:
            raise self.lock_error(exc) from None
        try:
            yield
        finally:
            lock.release()


def _fingerprint(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode("utf-8")).hexdigest()[:32]


def hmac_equal(a: str, b: str) -> bool:
    """Constant-time string equality."""
    return secrets.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def _lock_timeout(lock_path: Path, timeout: float) -> WhoopUnavailableError:
    return WhoopUnavailableError(
        f"Another whoopkit process held the token lock {lock_path} for more than {timeout:.0f} s: try again."
    )


REFUSED_REFRESH = "WHOOP refused to renew the saved login (revoked, or renewed elsewhere): log in again."


class TokenAccess(Protocol):
    """One user's WHOOP login, wherever it is kept: the token file locally (:class:`TokenManager`), an
    encrypted database row per user when hosted. The service uses only this, never the file itself."""

    def exists(self) -> bool:
        """Whether a login is stored (usable or not)."""
        ...

    def current(self) -> Token:
        """The stored token as it is, without refreshing.

        Raises:
            NotLoggedInError: no usable login is stored.
        """
        ...

    def status(self) -> TokenStatus:
        """A secret-free summary of the stored login."""
        ...

    async def access_token(self) -> str:
        """A valid access token, refreshed first (once across every process) when it must be."""
        ...

    async def refresh_after_unauthorized(self, rejected: str) -> str:
        """A new access token after WHOOP refused ``rejected`` (unless another holder already refreshed)."""
        ...

    def save_login(self, token: Token) -> None:
        """Store a new login (blocking: call it from a worker thread)."""
        ...

    def delete(self) -> None:
        """Remove the stored login (blocking: call it from a worker thread)."""
        ...


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
        # The refresh token WHOOP last refused: the file still holds it, and status() must not call
        # that login working (the /healthz and get_auth_status of this process tell the truth).
        self._rejected: str | None = None

    def _load(self) -> Token:
        # The store re-reads only when the file changed, which keeps access_token() cheap on every
        # request while still picking up a token that another process rotated.
        return self.store.load()

    def current(self) -> Token:
        """The stored token as it is, without refreshing.

        Raises:
            NotLoggedInError: no usable token cache.
        """
        return self._load()

    def exists(self) -> bool:
        """Whether the token cache file exists (usable or not)."""
        return self.store.exists()

    def save_login(self, token: Token) -> None:
        """Save a new login under the inter-process lock, so a refresh in flight cannot overwrite it.

        Raises:
            TokenFileError: the token file or its lock cannot be used.
            WhoopUnavailableError: another process held the lock too long.
        """
        with self.store.lock():
            self.store.save(token)

    def delete(self) -> None:
        """Delete the token file; a refresh still running finishes first (it holds the file's lock).

        Raises:
            TokenFileError: the token file or its lock cannot be used (nothing was changed).
        """
        self.store.delete()

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
                except OSError as exc:
                    raise self.store.lock_error(exc) from None
                # Under the lock, the file is the truth: another process may have rotated it.
                current = self.store.load(fresh=True)
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
        # We hold the lock, so nobody else is refreshing: a marker naming this refresh token means an
        # earlier refresh of it died before saving what WHOOP answered.
        interrupted = self.store.marker_names(current)
        await anyio.to_thread.run_sync(self.store.mark_refreshing, current.refresh_token)
        try:
            new = await self.oauth.refresh(current.refresh_token, on_token=self._save_rotated(current))
        except TokenRefreshError as exc:
            if interrupted and exc.code == "invalid_grant":
                await anyio.to_thread.run_sync(self.store.mark_rejected)
                raise TokenRefreshError(INTERRUPTED_REFRESH, code=exc.code) from None
            # WHOOP refused without rotating (or after an unrelated revocation): nothing is in flight.
            await anyio.to_thread.run_sync(self.store.clear_refreshing)
            self._rejected = current.refresh_token
            raise
        except WhoopkitError:
            # The outcome is unknown (the answer may have been lost after WHOOP rotated): keep the marker.
            raise
        await anyio.to_thread.run_sync(self.store.clear_refreshing)
        self.refreshes += 1
        logger.info("refreshed the WHOOP access token (expires in %d s)", new.expires_in)
        return new

    def _save_rotated(self, current: Token) -> Callable[[Token], Token]:
        def save(new: Token) -> Token:
            # Runs on the event loop right after the answer is parsed, before anything else: WHOOP has
            # already made the old token useless, so every moment before this write can lose the login.
            if not new.scope:
                new = new.model_copy(update={"scope": current.scope})
            self.store.save(new)
            return new

        return save

    def status(self) -> TokenStatus:
        """A secret-free summary of the stored login."""
        try:
            token = self.store.load()
        except NotLoggedInError as exc:
            return TokenStatus(logged_in=False, path=self.store.path, error=str(exc))
        marker = self.store.refresh_marker() if os.path.lexists(self.store.marker_path) else None
        dead = bool(marker is not None and marker.get("rejected") and self.store.marker_names(token))
        refused = not dead and self._rejected is not None and self._rejected == token.refresh_token
        why = INTERRUPTED_REFRESH if dead else REFUSED_REFRESH if refused else None
        return TokenStatus.of(token, self.clock(), path=self.store.path, refused=why)
