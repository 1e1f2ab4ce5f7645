"""The one error hierarchy of whoopkit.

Everything below raises only these; the edges convert them (the web app into a page or a
redirect, the MCP server into a ``ToolError``, the CLI into a line and an exit code). Every message
is a sentence a user can act on; where to log in is the faces' to say, from settings.

    WhoopkitError
    ├── ConfigError              a setting is missing or malformed
    │   ├── TokenFileError       the token cache or its lock is unusable (a directory, a symlink)
    │   └── TokenKeyError        WHOOP_TOKEN_KEY is malformed, or an encrypted token cannot be opened
    ├── AuthError                the user has to (re)connect WHOOP
    │   ├── NotLoggedInError     no token cache, or it is empty, corrupt or unreadable
    │   └── TokenRefreshError    WHOOP rejected the refresh token (revoked, rotated elsewhere, expired)
    ├── OAuthError               the login round trip failed (denied, bad state, failed code exchange)
    ├── RateLimitedError         WHOOP said 429 and retrying did not help; carries retry_after seconds
    ├── WhoopAPIError            WHOOP answered with an error status; carries status
    │   └── NotFoundError        404: no such record
    ├── WhoopUnavailableError    timeouts, connection errors or 5xx after bounded retries
    ├── StoreError               the local history database cannot be used (newer schema, unreadable)
    │   └── SyncBusyError        another process holds the sync lock and did not let go in time
    ├── ImportFileError          a file of the WHOOP app's export is malformed; carries path, line, column
    └── InsightsUnavailableError the local Ollama model could not answer
"""

from __future__ import annotations


class WhoopkitError(Exception):
    """Base class of every error whoopkit raises on purpose."""


class ConfigError(WhoopkitError):
    """A setting is missing or malformed."""


class TokenFileError(ConfigError):
    """The token cache file or its lock file cannot be used as it is on disk."""


class TokenKeyError(ConfigError):
    """WHOOP_TOKEN_KEY is missing or malformed, or an encrypted token cannot be opened; see ``reason``.

    ``reason`` is one of ``"no_key"`` (unset), ``"key_format"`` (not Fernet keys), ``"no_matching_key"``
    (no configured key opens the blob), ``"corrupt"`` (not a whoopkit token blob) or ``"wrong_user"``
    (the blob belongs to another user). Messages never quote a key, a blob or a token.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class AuthError(WhoopkitError):
    """The user has to (re)connect their WHOOP account."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "Not connected to WHOOP: log in.")


class NotLoggedInError(AuthError):
    """There is no usable token cache."""


class TokenRefreshError(AuthError):
    """WHOOP rejected the refresh token, so the session is over; ``code`` is WHOOP's OAuth error code."""

    def __init__(self, message: str | None = None, *, code: str = "") -> None:
        self.code = code
        super().__init__(message)


class OAuthError(WhoopkitError):
    """The OAuth login round trip failed."""


class RateLimitedError(WhoopkitError):
    """WHOOP's rate limit was hit and retrying within our budget did not help."""

    def __init__(self, retry_after: float, message: str | None = None, *, daily: bool = False) -> None:
        self.retry_after = retry_after
        self.daily = daily  # the app's 10,000 a day are used up, not its 100 a minute
        super().__init__(
            message
            or f"WHOOP's rate limit (100 requests a minute) was reached: retry after {retry_after:.0f} s."
        )


class WhoopAPIError(WhoopkitError):
    """WHOOP answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class NotFoundError(WhoopAPIError):
    """WHOOP has no such record."""

    def __init__(self, message: str = "WHOOP has no such record.") -> None:
        super().__init__(404, message)


class WhoopUnavailableError(WhoopkitError):
    """WHOOP could not be reached, timed out, or kept failing with 5xx."""


class StoreError(WhoopkitError):
    """The local history database cannot be used; carries the database's ``location``."""

    def __init__(self, message: str, *, location: str = "") -> None:
        self.location = location
        super().__init__(message)


class SyncBusyError(StoreError):
    """Another process is syncing the same collection and did not finish in time."""


class ImportFileError(WhoopkitError):
    """A file of the WHOOP app's data export cannot be imported; nothing of the import was stored.

    ``path`` names the file (``export.zip/sleeps.csv`` for a zip member), ``line`` is the 1-based line
    of the file (None when the whole file is at fault) and ``column`` the header of the column at
    fault, if one is. The message is ``<path>, line <line>: <reason>``.
    """

    def __init__(self, reason: str, *, path: str, line: int | None = None, column: str | None = None) -> None:
        self.reason = reason
        self.path = path
        self.line = line
        self.column = column
        where = path if line is None else f"{path}, line {line}"
        super().__init__(f"{where}: {reason}" if where else reason)


class InsightsUnavailableError(WhoopkitError):
    """The local Ollama model could not produce an insight."""
