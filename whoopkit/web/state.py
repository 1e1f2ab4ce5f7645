"""What the routes share for the app's lifetime: settings, the data service, login states, templates."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi.templating import Jinja2Templates

from whoopkit.config import Settings
from whoopkit.errors import WhoopkitError
from whoopkit.oauth import LoginStates, LoginStateStore
from whoopkit.tokens import TokenStore

if TYPE_CHECKING:
    import ollama

    from whoopkit.fake_whoop import FakeWhoop
    from whoopkit.hosted.accounts import Accounts
    from whoopkit.hosted.runtime import HostedRuntime
    from whoopkit.service import WhoopService


@dataclass
class SyncStatus:
    """What the background sync did last; tests wait on it with :meth:`wait_for` (no sleeping)."""

    last_success: datetime | None = None
    last_error: str | None = None
    runs: int = 0  # attempts finished (synced, skipped or failed)
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def finished(self, *, success: datetime | None = None, error: str | None = None) -> None:
        """Record one finished attempt and wake whoever waits."""
        with self._changed:
            if success is not None:
                self.last_success = success
            self.last_error = error
            self.runs += 1
            self._changed.notify_all()

    def wait_for(self, runs: int, timeout: float) -> bool:
        """Block until ``runs`` attempts have finished; False when ``timeout`` seconds passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: self.runs >= runs, timeout=timeout)


@dataclass
class WebState:
    """What the routes share: settings, the service (built in the lifespan), login states, templates."""

    settings: Settings
    templates: Jinja2Templates
    demo: bool
    fake: FakeWhoop | None
    states: LoginStateStore = field(default_factory=LoginStates)
    service: WhoopService | None = None
    startup_error: WhoopkitError | None = None  # why the service could not be built (shown as a page)
    ollama_factory: Any = None  # () -> ollama.AsyncClient; tests point it at a fake Ollama
    insight_cache: dict[str, tuple[float, Any]] = field(default_factory=dict)  # prompt hash -> answer
    sync: SyncStatus = field(default_factory=SyncStatus)
    sync_wake: asyncio.Event = field(default_factory=asyncio.Event)  # set: the background sync runs now
    hosted: bool = False  # many users signing in with WHOOP (see whoopkit.hosted)
    runtime: HostedRuntime | None = None  # hosted mode's shared parts, built in the lifespan
    accounts: Accounts | None = None  # hosted mode's users and sessions
    # The configured (real) token cache, also in demo mode: the pages say when it is unusable.
    token_file: TokenStore = field(init=False)

    def __post_init__(self) -> None:
        """Open (not read) the configured token cache."""
        self.token_file = TokenStore(self.settings.whoop_token_cache)

    def require_service(self) -> WhoopService:
        """The data service.

        Raises:
            WhoopkitError: the service could not be built at start-up (e.g. StoreError, ConfigError).
            RuntimeError: the app is used without its lifespan (a programming error, not a user's).
        """
        if self.startup_error is not None:
            raise self.startup_error
        if self.service is None:
            raise RuntimeError("the app's lifespan has not run")
        return self.service

    def require_accounts(self) -> Accounts:
        """Hosted mode's accounts.

        Raises:
            WhoopkitError: the hosted runtime could not be built at start-up.
            RuntimeError: not in hosted mode, or used without the lifespan (a programming error).
        """
        if self.startup_error is not None:
            raise self.startup_error
        if self.accounts is None:
            raise RuntimeError("the hosted runtime is not running")
        return self.accounts

    def token_problem(self) -> str | None:
        """Why the local token file cannot be used (hosted mode has none), for the pages' banner."""
        return None if self.hosted else self.token_file.problem(short=True)

    def ollama_client(self) -> ollama.AsyncClient:
        """A client for the local Ollama, with a timeout (the library's default has none)."""
        if self.ollama_factory is not None:
            client: ollama.AsyncClient = self.ollama_factory()
            return client
        import ollama

        return ollama.AsyncClient(host=self.settings.ollama_host, timeout=self.settings.ollama_timeout)
