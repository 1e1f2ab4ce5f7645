"""The FastAPI app: ``create_app(settings)`` wires the data service, templates, static files and routes.

One ``WhoopService`` per app, built in the lifespan (``service.build_service``), so every page shares
one store and one HTTP connection pool; the lifespan also runs the background sync
(``web.background``). In demo mode the fake WHOOP is mounted under ``/_fake_whoop`` so the browser
sees its consent page while server-side calls reach the same fake in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import errno
import hashlib
import hmac
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from whoopkit import firstrun, runtime
from whoopkit.config import Settings, get_settings
from whoopkit.errors import ConfigError, WhoopkitError
from whoopkit.service import build_service
from whoopkit.web import background, formatting
from whoopkit.web.errors import install_error_handlers
from whoopkit.web.security import (
    FAKE_PREFIX,
    SecurityMiddleware,
    check_bind,
    install_log_redaction,
    origin_of,
)
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
    hosted: bool | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the web app; ``demo=None`` decides like the runtime (no credentials or WHOOP_DEMO=1).

    ``fake`` (tests) makes server-side calls go to that in-process fake WHOOP; in demo mode it is
    also mounted for the browser. ``ollama_factory`` replaces the Ollama client and ``clock`` the
    current time (tests).

    The data service (``service.build_service``) is built in the lifespan; if that fails (e.g. a
    database from a newer whoopkit), the app still starts and every page says why. The background
    sync runs every ``WHOOP_SYNC_INTERVAL`` seconds (0 = off).

    ``hosted`` (default: ``WHOOP_HOSTED``) serves many users who sign in with WHOOP (``whoopkit.hosted``):
    PostgreSQL, Redis and the job queue instead of the local files, and no sync in the web process (the
    workers sync). ``transport`` (tests) replaces the network to WHOOP in hosted mode.

    Raises:
        ConfigError: the host is not loopback and remote access is not protected by an access token;
            hosted mode is missing a setting.
    """
    settings = settings or get_settings()
    if hosted is None:
        hosted = settings.whoop_hosted
    if hosted:
        return _create_hosted_app(
            settings, fake=fake, ollama_factory=ollama_factory, clock=clock, transport=transport
        )
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
        # No control endpoints: the browser can reach this fake, and nothing should mint tokens there.
        fake = runtime.create_demo_fake(auto_approve=False, control_endpoints=False)
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
        preload = asyncio.create_task(service.preload_statistics(), name="whoopkit-preload-statistics")
        if settings.credentials_problem:
            logger.warning("%s", settings.credentials_problem)
        if demo:
            logger.info("whoopkit web ready in demo mode (simulated WHOOP data) at %s", settings.web_origin)
        else:
            logger.info("whoopkit web ready in real mode (your WHOOP account) at %s", settings.web_origin)
        try:
            yield
        finally:
            await background.stop(task)
            preload.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await preload  # an import already in its worker thread ends first
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


def _create_hosted_app(
    settings: Settings,
    *,
    fake: FakeWhoop | None,
    ollama_factory: Any,
    clock: Callable[[], datetime] | None,
    transport: httpx.AsyncBaseTransport | None,
) -> FastAPI:
    """The web app of hosted mode (see :func:`create_app`).

    Raises:
        ConfigError: a hosted setting is missing (PostgreSQL, Redis, the token key, the WHOOP app).
    """
    from whoopkit.hosted import metrics
    from whoopkit.hosted.accounts import Accounts
    from whoopkit.hosted.runtime import HostedRuntime
    from whoopkit.hosted.states import RedisLoginStates

    settings = settings.model_copy(update={"whoop_hosted": True, "whoop_demo": False})
    problem = settings.hosted_problem()
    if problem is not None:
        raise ConfigError(problem)
    check_bind(settings, hosted=True)
    install_log_redaction()
    if transport is None and fake is not None:
        transport = httpx.ASGITransport(app=fake)
    assert settings.whoop_redis_url is not None and settings.whoop_token_key is not None
    states = RedisLoginStates(settings.whoop_redis_url)
    state = WebState(
        settings=settings,
        templates=_templates(),
        demo=False,
        fake=None,
        ollama_factory=ollama_factory,
        states=states,
        hosted=True,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.startup_error = None
        try:
            runtime = await asyncio.to_thread(
                HostedRuntime.open,
                settings,
                transport=transport,
                clock=clock,
                on_upstream=metrics.on_upstream,
            )
        except WhoopkitError as exc:
            logger.error("whoopkit hosted web cannot start its runtime: %s", exc)
            state.startup_error = exc
            yield
            return
        state.runtime = runtime
        state.accounts = Accounts(runtime)
        for name in state.templates.env.list_templates(extensions=["html"]):
            state.templates.env.get_template(name)
        logger.info("whoopkit web ready in hosted mode at %s", origin_of(settings.whoop_redirect_uri))
        try:
            yield
        finally:
            state.runtime, state.accounts = None, None
            await runtime.aclose()
            await asyncio.to_thread(states.close)

    app = FastAPI(title="whoopkit", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = state
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    from whoopkit.web.routers import router

    app.include_router(router)
    install_error_handlers(app)
    # One CSRF key for every web process (a form from one may be posted to another), derived from the
    # token key so there is no further secret to configure.
    secret = settings.whoop_token_key.get_secret_value().encode("utf-8")
    csrf_key = hmac.new(secret, b"whoopkit-csrf-v1", hashlib.sha256).digest()
    app.add_middleware(SecurityMiddleware, settings=settings, hosted=True, csrf_key=csrf_key)
    app.add_middleware(metrics.MetricsMiddleware)
    return app


def bind_socket(settings: Settings, *, demo: bool) -> socket.socket:
    """A listening socket on ``settings.host``:``settings.port``, bound before uvicorn starts.

    Binding here (not in uvicorn) turns a busy port into a sentence instead of ``[Errno 98]``.

    Raises:
        ConfigError: the port is taken (another whoopkit or program) or the address cannot be used.
    """
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name != "nt":  # on Windows SO_REUSEADDR would let two servers share the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.host, settings.port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            message = firstrun.port_in_use_message(
                settings.host, settings.port, settings.web_origin, demo=demo
            )
            raise ConfigError(message) from None
        raise ConfigError(
            f"Cannot listen on {settings.host}:{settings.port} ({exc.strerror or exc}): "
            "choose another address with --host/HOST or port with --port/PORT."
        ) from None
    sock.set_inheritable(True)
    return sock


def serve(app: FastAPI) -> None:
    """Run ``app`` (from :func:`create_app`) with uvicorn on its settings' host and port.

    Raises:
        ConfigError: the address cannot be bound (see :func:`bind_socket`).
    """
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    state: WebState = app.state.web
    sock = bind_socket(state.settings, demo=state.demo)
    if state.hosted:
        from whoopkit.hosted.logjson import configure_json_logging

        # JSON lines for the log pipeline; behind the reverse proxy, its X-Forwarded-Proto says https (the
        # proxies trusted are FORWARDED_ALLOW_IPS, uvicorn's setting: 127.0.0.1 unless set).
        configure_json_logging("INFO")
        hosted_config = uvicorn.Config(app, proxy_headers=True, log_config=None)
        uvicorn.Server(hosted_config).run(sockets=[sock])
        return
    # uvicorn's logging, plus whoopkit's INFO lines (the mode and URL at start-up) in the same format.
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["whoopkit"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config = uvicorn.Config(app, proxy_headers=False, log_config=log_config)
    uvicorn.Server(config).run(sockets=[sock])
