"""The FastAPI app: ``create_app(settings)`` wires the runtime, templates, static files and routes.

One ``runtime.Whoop`` per app, created in the lifespan, so every page shares one HTTP connection pool
and the WhoopClient's TTL cache. In demo mode the fake WHOOP is mounted under ``/_fake_whoop`` so the
browser sees its consent page while server-side calls reach the same fake in-process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from whoopkit import runtime
from whoopkit.config import Settings, get_settings
from whoopkit.oauth import StateStore
from whoopkit.web import formatting
from whoopkit.web.errors import install_error_handlers
from whoopkit.web.security import FAKE_PREFIX, SecurityMiddleware, check_bind, install_log_redaction

if TYPE_CHECKING:
    import ollama

    from whoopkit.fake_whoop import FakeWhoop

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent


@dataclass
class WebState:
    """What the routes share: settings, the WHOOP runtime, login states, templates."""

    settings: Settings
    templates: Jinja2Templates
    demo: bool
    fake: FakeWhoop | None
    states: StateStore = field(default_factory=StateStore)
    whoop: runtime.Whoop | None = None
    ollama_factory: Any = None  # () -> ollama.AsyncClient; tests point it at a fake Ollama
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    insight_cache: dict[str, tuple[float, Any]] = field(default_factory=dict)  # prompt hash -> answer

    def now(self) -> datetime:
        """The current time (tests pin it to the fake WHOOP's clock)."""
        return self.clock()

    def require_whoop(self) -> runtime.Whoop:
        """The runtime (built in the lifespan).

        Raises:
            RuntimeError: the app is used without its lifespan (a programming error, not a user's).
        """
        if self.whoop is None:
            raise RuntimeError("the app's lifespan has not run")
        return self.whoop

    def ollama_client(self) -> ollama.AsyncClient:
        """A client for the local Ollama, with a timeout (the library's default has none)."""
        if self.ollama_factory is not None:
            client: ollama.AsyncClient = self.ollama_factory()
            return client
        import ollama

        return ollama.AsyncClient(host=self.settings.ollama_host, timeout=self.settings.ollama_timeout)


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
    if clock is not None:
        state.clock = clock

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.whoop = runtime.build_whoop(settings, demo=demo, fake=fake)
        logger.info("whoopkit web ready (%s mode)", "demo" if demo else "real")
        try:
            yield
        finally:
            await state.whoop.aclose()
            state.whoop = None

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

    from whoopkit.web.routes import router

    app.include_router(router)
    install_error_handlers(app)
    app.add_middleware(SecurityMiddleware, settings=settings)
    return app
