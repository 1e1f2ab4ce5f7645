"""The server's lifespan state: the one ``WhoopService`` of the process, built once in the background.

Building the service costs several hundred ms (importing the store, sync and HTTP stacks, opening the
database with its migrations, creating the client, learning the user id). The server starts that work
right after ``initialize`` (see :class:`WarmUp`; it lets the client's ``tools/list`` go first), in the
pause while the person types, so the first tool call does not pay it; a tool that arrives earlier
simply waits for the same build.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.context import Context

from whoopkit.config import Settings

if TYPE_CHECKING:
    from whoopkit.service import WhoopService

logger = logging.getLogger(__name__)

# How long the warm-up lets the client's opening burst (tools/list, …) go first when the client never
# lists tools: the build's imports in a worker thread compete with it for the GIL (the bench measured
# cold start at 1.30x a bare server when building at once, 1.02x when waiting for tools/list).
LISTING_GRACE_SECONDS = 0.5
# After tools/list is answered, a moment for the response to be written before the build starts.
AFTER_LISTING_SECONDS = 0.02


class ServerState:
    """The lifespan context every tool reads: settings and the (lazily built) service."""

    def __init__(
        self,
        settings: Settings,
        service: WhoopService | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Serve ``service`` if given (the caller closes it), else build one from ``settings``."""
        self.settings = settings
        self.clock = clock
        self._service = service
        self._owned = False
        self._task: asyncio.Task[WhoopService] | None = None
        self._preload: asyncio.Task[None] | None = None
        self._go: asyncio.Event | None = None

    @property
    def built(self) -> WhoopService | None:
        """The service, once built (or injected)."""
        return self._service

    @property
    def building(self) -> bool:
        """Whether a build has been started and has not finished yet."""
        return self._task is not None and not self._task.done()

    def warm_up(self) -> None:
        """Start building the service in the background (once); the build waits for the opening burst."""
        if self._service is None and self._task is None:
            self._start(wait=True)

    def listed(self) -> None:
        """The client's tool listing was answered: the warm-up may start building now."""
        go = self._go
        if go is not None and not go.is_set():
            asyncio.get_running_loop().call_later(AFTER_LISTING_SECONDS, go.set)

    async def service(self) -> WhoopService:
        """The process's service, waiting for (or starting) its build.

        Raises:
            ConfigError: the settings cannot build a client.
            StoreError: the database cannot be opened.
            OAuthError: the demo login failed.
        """
        if self._service is not None:
            return self._service
        if self._task is None:
            self._start(wait=False)
        assert self._task is not None and self._go is not None
        self._go.set()
        # Shielded: a cancelled tool call must not cancel the build the next call needs.
        return await asyncio.shield(self._task)

    def _start(self, *, wait: bool) -> None:
        self._go = asyncio.Event()
        if not wait:
            self._go.set()
        task = asyncio.get_running_loop().create_task(self._build(self._go), name="whoop-mcp-warm-up")
        task.add_done_callback(self._built)
        self._task = task

    async def _build(self, go: asyncio.Event) -> WhoopService:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(go.wait(), LISTING_GRACE_SECONDS)
        started = anyio.current_time()
        service = await anyio.to_thread.run_sync(self._build_sync)
        try:
            # The demo login, the user id and a year of day rows: the first tool call's set-up.
            await service.warm_up()
        except BaseException:
            await service.aclose()
            raise
        logger.info("WHOOP service ready in %.0f ms", (anyio.current_time() - started) * 1000)
        # Not part of the warm-up: tool calls wait for that, and SciPy's import is seconds of CPU.
        self._preload = asyncio.get_running_loop().create_task(
            service.preload_statistics(), name="whoop-mcp-preload-statistics"
        )
        return service

    def _build_sync(self) -> WhoopService:
        from whoopkit.service import build_service  # deferred: keeps initialize/list_tools fast

        return build_service(self.settings, clock=self.clock)

    def _built(self, task: asyncio.Task[WhoopService]) -> None:
        if task.cancelled():
            self._task = None
            return
        error = task.exception()
        if error is not None:
            # The next tool call tries again and reports the problem; a failed warm-up is only logged.
            logger.warning("building the WHOOP service failed: %s", error)
            self._task = None
            return
        self._service, self._owned = task.result(), True

    async def aclose(self) -> None:
        """Stop a build in progress and close the service if this state built it."""
        preload, self._preload = self._preload, None
        if preload is not None:
            preload.cancel()
            with anyio.CancelScope(shield=True), contextlib.suppress(BaseException):
                await preload
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with anyio.CancelScope(shield=True):
                # Cancelled or failed: either way there is nothing to close.
                with contextlib.suppress(BaseException):
                    await task
        if self._owned and self._service is not None:
            service, self._service, self._owned = self._service, None, False
            await service.aclose()


class WarmUp:
    """Server middleware: start building the service right after ``initialize`` is answered."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Pass the message on, then nudge the warm-up on ``initialize`` and ``tools/list``."""
        result = await call_next(ctx)
        state = ctx.lifespan_context
        if isinstance(state, ServerState):
            if ctx.method in ("initialize", "server/discover"):
                state.warm_up()
            elif ctx.method == "tools/list":
                state.listed()
        return result


StateContext = Context[ServerState, Any]


async def service_of(ctx: StateContext) -> WhoopService:
    """The service from a tool's lifespan context (``ctx.request_context.lifespan_context``).

    Raises:
        ConfigError, StoreError, OAuthError: the service could not be built (see ``ServerState.service``).
    """
    state: ServerState = ctx.request_context.lifespan_context
    return await state.service()


def state_of(ctx: StateContext) -> ServerState:
    """The lifespan state of a request."""
    state: ServerState = ctx.request_context.lifespan_context
    return state
