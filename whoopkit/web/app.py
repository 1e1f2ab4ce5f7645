"""The FastAPI app: ``create_app(settings)`` wires the data service, templates, static files and routes.

One ``WhoopService`` per app, built in the lifespan (``service.build_service``), so every page shares
one store and one HTTP connection pool; the lifespan also runs the background sync
(``web.background``). In demo mode the fake WHOOP is mounted under ``/_fake_whoop`` so the browser
sees its consent page while server-side calls reach the same fake in-process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from whoopkit import runtime
from whoopkit.config import Settings, get_settings
from whoopkit.errors import WhoopkitError
from whoopkit.service import build_service
from whoopkit.web import background, formatting
from whoopkit.web.errors import install_error_handlers
from whoopkit.web.security import FAKE_PREFIX, SecurityMiddleware, check_bind, install_log_redaction
from whoopkit.web.state import WebState

if TYPE_CHECKING:
    from whoopkit.fake_whoop import FakeWhoop

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent


def _templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(formatting.FILTERS)
    return Jinja2Templates(env=env)


def create_app(
    settings: Settings | None = None,
    *,
    demo: bool | None = None,
    fake: FakeWhoop | None = None,
    ollama_factory: Any = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """Build the web app; ``demo=None`` decides like the runtime (no credentials or WHOOP_DEMO=1).

    ``fake`` (tests) makes server-side calls go to that in-process fake WHOOP; in demo mode it is
    also mounted for the browser. ``ollama_factory`` replaces the Ollama client and ``clock`` the
    current time (tests).

    The data service (``service.build_service``) is built in the lifespan; if that fails (e.g. a
    database from a newer whoopkit), the app still starts and every page says why. The background
    sync runs every ``WHOOP_SYNC_INTERVAL`` seconds (0 = off).

    Raises:
        ConfigError: the host is not loopback and remote access is not protected by an access token.
    """
    settings = settings or get_settings()
    check_bind(settings)
    install_log_redaction()
    if demo is None:
        demo = runtime.is_demo(settings)
    default_redirect = Settings.model_fields["whoop_redirect_uri"].default
    if demo and settings.whoop_redirect_uri == default_redirect and settings.port != 3000:
        # The simulated WHOOP accepts any loopback redirect URI, so follow the port we run on.
        settings = settings.model_copy(
            update={"whoop_redirect_uri": f"http://localhost:{settings.port}/callback"}
        )
    if demo and fake is None:
        from whoopkit.fake_whoop import create_fake_whoop

        # No control endpoints: the browser can reach this fake, and nothing should mint tokens there.
        fake = create_fake_whoop(
            client_id=runtime.DEMO_CLIENT_ID,
            client_secret=runtime.DEMO_CLIENT_SECRET,
            auto_approve=False,
            control_endpoints=False,
        )
    state = WebState(
        settings=settings, templates=_templates(), demo=demo, fake=fake, ollama_factory=ollama_factory
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.startup_error = None
        try:
            service = build_service(settings, demo=demo, fake=fake, clock=clock)
        except WhoopkitError as exc:
            # No traceback and no dead server: every page explains it (e.g. a newer database schema).
            logger.error("whoopkit web cannot use its data: %s", exc)
            state.startup_error = exc
            yield
            return
        state.service = service
        # Compile the templates now, not on the first page view (a 365-day view should not pay it).
        for name in state.templates.env.list_templates(extensions=["html"]):
            state.templates.env.get_template(name)
        state.sync_wake = asyncio.Event()  # one per lifespan: an Event belongs to the loop it waits in
        task = background.start(service, state.sync, settings.whoop_sync_interval, state.sync_wake)
        logger.info("whoopkit web ready (%s mode)", "demo" if demo else "real")
        try:
            yield
        finally:
            await background.stop(task)
            state.service = None
            await service.aclose()

    app = FastAPI(
        title="whoopkit",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.web = state
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    if demo and fake is not None:
        app.mount(FAKE_PREFIX, fake, name="fake_whoop")

    from whoopkit.web.routers import router

    app.include_router(router)
    install_error_handlers(app)
    app.add_middleware(SecurityMiddleware, settings=settings)
    return app
