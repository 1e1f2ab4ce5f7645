"""Prometheus metrics of a hosted process: requests, upstream calls and 429s, the budget, the queue, sync lag.

Every web and worker process keeps its own counters in ``prometheus_client``'s default registry and serves
them itself (the web app at ``GET /metrics`` through :func:`render`, a worker through
:func:`start_metrics_server`); Prometheus sums them. The two gauges that describe what the processes share
(the WHOOP budget left and the queue depth) are read from Redis when scraped, so every process reports the
same, current numbers.

Labels stay few and bounded: a route is its path template (``/records/{kind}``), never the raw path; a
method outside the usual few is ``OTHER``; sync lag is a histogram over every user, never a label per user.
No token, OAuth code or user id is ever a label value.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.registry import Collector, CollectorRegistry
from starlette.routing import BaseRoute, Match, Mount

from whoopkit.errors import WhoopUnavailableError

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    import redis.asyncio
    from prometheus_client.metrics_core import Metric
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from whoopkit.ratelimit_redis import RedisRateLimiter

logger = logging.getLogger(__name__)

#: arq's queue: a sorted set under this very key (whoopkit.hosted.jobs.QUEUE; jobs imports this module).
QUEUE_KEY = "whoopkit:queue"
#: The route label of a request no route matched (404s, probes of random paths): one value, not the path.
UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "whoopkit_http_requests_total",
    "HTTP requests answered by this web process, by method, route template and status.",
    ["method", "route", "status"],
)
UPSTREAM_REQUESTS = Counter(
    "whoopkit_upstream_requests_total",
    "Responses this process received from WHOOP's API and token endpoint, by HTTP status.",
    ["status"],
)
UPSTREAM_RATE_LIMITED = Counter(
    "whoopkit_upstream_rate_limited_total",
    "429 Too Many Requests answers this process received from WHOOP.",
)
SYNC_JOBS = Counter(
    "whoopkit_sync_jobs_total",
    "Sync jobs this worker finished, by kind (backfill, refresh, on_demand) and outcome.",
    ["kind", "outcome"],
)
SYNC_LAG = Histogram(
    "whoopkit_sync_lag_seconds",
    "How old a user's last successful sync was when a sync job for them started (one sample per job).",
    buckets=(60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400, math.inf),
)
BUDGET_LEFT = Gauge(
    "whoopkit_budget_left",
    "Requests left in the app's shared WHOOP budget (every process), read from Redis at scrape time.",
    ["window"],
)
QUEUE_DEPTH = Gauge(
    "whoopkit_queue_depth",
    "Jobs waiting or running in the arq queue (every worker), read from Redis at scrape time.",
)


def on_upstream(method: str, status: int) -> None:
    """Count one upstream response (``WhoopClient(on_response=on_upstream)``); the method is not a label."""
    UPSTREAM_REQUESTS.labels(status=str(status)).inc()
    if status == 429:
        UPSTREAM_RATE_LIMITED.inc()


# ------------------------------------------------------------------------------------ scrape time


def _set_budget(usage: dict[str, int] | None) -> None:
    if usage is None:
        # An unknown budget is NaN, not a stale number a dashboard would take for the truth.
        BUDGET_LEFT.labels(window="minute").set(math.nan)
        BUDGET_LEFT.labels(window="day").set(math.nan)
        return
    BUDGET_LEFT.labels(window="minute").set(max(0, usage["per_minute"] - usage["last_minute"]))
    BUDGET_LEFT.labels(window="day").set(max(0, usage["per_day"] - usage["today"]))


def _unreadable(what: str, exc: BaseException) -> None:
    # The exception's class only: a Redis error's text can quote the URL, password included.
    logger.warning("metrics: could not read %s from Redis (%s)", what, type(exc).__name__)


async def refresh(limiter: RedisRateLimiter, redis: redis.asyncio.Redis) -> None:
    """Set the budget-left and queue-depth gauges from Redis (NaN for whichever cannot be read)."""
    from redis.exceptions import RedisError

    try:
        _set_budget(await limiter.usage_async())
    except WhoopUnavailableError as exc:
        _unreadable("the budget", exc)
        _set_budget(None)
    try:
        QUEUE_DEPTH.set(await redis.zcard(QUEUE_KEY))
    except (RedisError, OSError) as exc:
        _unreadable("the queue depth", exc)
        QUEUE_DEPTH.set(math.nan)


def refresh_blocking(limiter: RedisRateLimiter, redis_url: str, *, socket_timeout: float = 2.0) -> None:
    """:func:`refresh` for a thread without an event loop (the worker's metrics server), blocking."""
    import redis
    from redis.exceptions import RedisError

    try:
        _set_budget(limiter.usage())
    except WhoopUnavailableError as exc:
        _unreadable("the budget", exc)
        _set_budget(None)
    try:
        with redis.Redis.from_url(
            redis_url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        ) as client:
            QUEUE_DEPTH.set(int(client.zcard(QUEUE_KEY)))
    except (RedisError, OSError) as exc:
        _unreadable("the queue depth", exc)
        QUEUE_DEPTH.set(math.nan)


async def render(limiter: RedisRateLimiter, redis: redis.asyncio.Redis) -> tuple[bytes, str]:
    """The body and content type of ``GET /metrics``, with the shared gauges just read from Redis."""
    await refresh(limiter, redis)
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class _ReadAtScrape(CollectorRegistry):
    """The default registry's metrics, with the shared gauges refreshed first (for the worker's server)."""

    def __init__(self, limiter: RedisRateLimiter, redis_url: str) -> None:
        super().__init__(auto_describe=False)
        self._limiter, self._redis_url = limiter, redis_url
        # Scrapes run on the server's threads; one Redis read at a time is plenty.
        self._lock = threading.Lock()

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            refresh_blocking(self._limiter, self._redis_url)
        return REGISTRY.collect()

    def restricted_registry(self, names: Iterable[str]) -> Any:
        """``?name[]=…`` scrapes: the same refresh, then only the named metrics."""
        with self._lock:
            refresh_blocking(self._limiter, self._redis_url)
        return REGISTRY.restricted_registry(names)


def start_metrics_server(
    port: int, limiter: RedisRateLimiter, redis_url: str, *, addr: str = "0.0.0.0"
) -> WSGIServer:
    """Serve ``/metrics`` on ``addr:port`` from a daemon thread (a worker's ``--metrics-port``).

    Raises:
        OSError: the port cannot be bound.
    """
    registry: Collector = _ReadAtScrape(limiter, redis_url)
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    return server


# ------------------------------------------------------------------------------------ HTTP requests


def _mount_prefix(mount: Mount) -> str:
    # A Mount's path_format is its prefix plus "/{path}".
    return mount.path_format.removesuffix("/{path}")


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str | None:
    """The path template of the route ``scope`` reaches (``/records/{kind}``), or None if none matches.

    A route that matches only the path (the method is not allowed: a 405) still names its template.
    """
    partial: str | None = None
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        if isinstance(route, Mount) and route.routes:
            inner = route_template(route.routes, {**scope, **child})
            template = None if inner is None else _mount_prefix(route) + inner
        else:
            # Route, APIRoute, a leaf Mount (static files); a Host has no path template
            template = getattr(route, "path_format", None)
        if template is None:
            continue
        if match is Match.FULL:
            return template
        if partial is None:
            partial = template
    return partial


class MetricsMiddleware:
    """ASGI middleware counting every HTTP request by method, route template and status.

    Add it with ``app.add_middleware(MetricsMiddleware)``; the route is found in the app's own routes
    (``scope["app"]``), so ``/records/sleep`` and ``/records/cycle`` count as ``/records/{kind}``.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request through and count it once its response started (500 if the app raised)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The router rewrites the scope it routes (root_path, path_params): match on a copy as it came in.
        original = dict(scope)
        status = 500

        async def send_counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            method = str(scope.get("method", "")).upper()
            HTTP_REQUESTS.labels(
                method=method if method in _METHODS else "OTHER",
                route=self._routed(scope) or self._route(original),
                status=str(status),
            ).inc()

    @staticmethod
    def _routed(scope: Scope) -> str | None:
        # The route the router picked: FastAPI puts it in the scope (and its own router nests included
        # routers, which the matching below cannot see through).
        template = getattr(scope.get("route"), "path_format", None)
        return template if isinstance(template, str) else None

    @staticmethod
    def _route(scope: Scope) -> str:
        routes = getattr(scope.get("app"), "routes", None)
        if not routes:
            return UNMATCHED
        try:
            return route_template(routes, scope) or UNMATCHED
        except Exception:  # a route's matcher choking on odd input must not turn a response into a 500
            logger.debug("metrics: route matching failed", exc_info=True)
            return UNMATCHED
