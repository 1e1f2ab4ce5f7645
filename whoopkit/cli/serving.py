"""``whoopkit serve``, ``whoopkit worker`` and ``whoopkit migrate``: running the web app and hosted mode.

``serve`` hands uvicorn the web app's factory by name (``whoopkit.web.app:create_app``), so the command
line never imports the web face; the options reach the factory as the settings they stand for
(``--hosted`` is ``WHOOP_HOSTED=1``, ``--host`` ``HOST``, ``--port`` ``PORT``).
"""

from __future__ import annotations

import copy
import os
import socket
from typing import TYPE_CHECKING, Any

from whoopkit.config import Settings
from whoopkit.errors import ConfigError

if TYPE_CHECKING:
    from whoopkit.hosted.jobs import WorkerOptions

WEB_FACTORY = "whoopkit.web.app:create_app"


def _check_port(host: str, port: int) -> None:
    """Refuse a port that is already taken, in a sentence (uvicorn would print ``[Errno 98]``).

    Raises:
        ConfigError: the address is in use or cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"Cannot listen on {host}:{port} ({exc.strerror or exc}): is another whoopkit running? "
                "Choose another port with --port/PORT."
            ) from None


def serve(settings: Settings, *, hosted: bool) -> None:
    """Run the web app with uvicorn on ``settings.host``:``settings.port`` until interrupted.

    Raises:
        ConfigError: hosted mode lacks a setting, or the address cannot be used.
    """
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    if hosted:
        problem = settings.model_copy(update={"whoop_hosted": True}).hosted_problem()
        if problem is not None:
            raise ConfigError(problem)
    _check_port(settings.host, settings.port)
    # The factory reads the settings from the environment, in this process.
    os.environ["HOST"] = settings.host
    os.environ["PORT"] = str(settings.port)
    if hosted:
        os.environ["WHOOP_HOSTED"] = "1"
        from whoopkit.hosted.logjson import configure_json_logging

        configure_json_logging("INFO")
        log_config: dict[str, Any] | None = None  # the JSON handler above takes uvicorn's lines too
    else:
        log_config = copy.deepcopy(LOGGING_CONFIG)
        log_config["loggers"]["whoopkit"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    # Hosted, the reverse proxy's X-Forwarded-Proto says https; locally nothing stands in front.
    config = uvicorn.Config(
        WEB_FACTORY,
        factory=True,
        host=settings.host,
        port=settings.port,
        proxy_headers=hosted,
        log_config=log_config,
    )
    from whoopkit.config import get_settings

    get_settings.cache_clear()  # the factory must see HOST, PORT and WHOOP_HOSTED as set above
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise ConfigError("The web app did not start (see the log above).")


def worker(settings: Settings, options: WorkerOptions, *, metrics_port: int | None) -> None:
    """Run one hosted worker process until SIGINT/SIGTERM (its running jobs finish or are re-queued).

    Raises:
        ConfigError: hosted mode lacks a setting, or the metrics port cannot be bound.
    """
    from whoopkit.hosted import jobs
    from whoopkit.hosted.logjson import configure_json_logging

    settings = settings.model_copy(update={"whoop_hosted": True})
    configure_json_logging("INFO")
    built = jobs.build_worker(settings, options)
    if metrics_port is not None:
        from whoopkit.hosted.metrics import start_metrics_server
        from whoopkit.ratelimit_redis import RedisRateLimiter

        assert settings.whoop_redis_url is not None
        try:
            start_metrics_server(
                metrics_port, RedisRateLimiter(settings.whoop_redis_url), settings.whoop_redis_url
            )
        except OSError as exc:
            raise ConfigError(
                f"Cannot serve metrics on port {metrics_port} ({exc.strerror or exc})."
            ) from None
    built.run()


def migrate(settings: Settings) -> tuple[str, str, int | None]:
    """Bring the database (``WHOOP_DATABASE_URL``, else the local SQLite file) to the newest schema.

    With ``WHOOP_TOKEN_KEY`` set, also re-encrypt the hosted token rows under its first (newest) key: a key
    rotation is "put the new key first, keep the old one after it, run migrate".

    Returns its location (without a password), its revision and how many tokens were re-encrypted (None
    without a key).

    Raises:
        StoreError: the database cannot be opened, or is newer than this whoopkit.
        TokenKeyError: the key is malformed, or a row opens with none of the keys.
    """
    from whoopkit.service import migrate_database

    key = settings.whoop_token_key.get_secret_value().strip() if settings.whoop_token_key else ""
    return migrate_database(settings, rotate_keys=bool(key))
