"""Hosted metrics on real Redis: the shared gauges at scrape time, upstream counters, route templates.

Counters live in prometheus_client's process-wide registry, so each test compares a counter before and
after what it does rather than assuming it starts at zero.
"""

from __future__ import annotations

import math
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from whoopkit.client import WhoopClient
from whoopkit.fake_whoop import FakeWhoop
from whoopkit.hosted import metrics
from whoopkit.ratelimit_redis import RedisRateLimiter

pytestmark = pytest.mark.anyio

redis_asyncio = pytest.importorskip("redis.asyncio")
arq_connections = pytest.importorskip("arq.connections")


def sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def parsed(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode("utf-8"))
        for s in family.samples
    }


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def limiter(redis_url: str) -> AsyncIterator[RedisRateLimiter]:
    limiter = RedisRateLimiter(redis_url, max_requests=100, max_per_day=10_000)
    yield limiter
    await limiter.aclose()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Any]:
    client = redis_asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()


class FakeTokens:
    """A token minted by the fake, re-minted after a 401."""

    def __init__(self, fake: FakeWhoop) -> None:
        self.fake = fake
        self.token: str = fake.issue_token()["access_token"]

    async def access_token(self) -> str:
        return self.token

    async def refresh_after_unauthorized(self, rejected: str) -> str:
        self.token = self.fake.issue_token()["access_token"]
        return self.token


async def no_wait(seconds: float) -> None:
    """The client's own backoff, skipped (the shared limiter still holds for a 429)."""


# ---------------------------------------------------------------------------------- scrape time


async def test_render_shows_the_budget_left_after_bookings_from_redis(
    limiter: RedisRateLimiter, redis: Any
) -> None:
    for _ in range(3):
        await limiter.acquire()
    body, content_type = await metrics.render(limiter, redis)
    samples = parsed(body)
    assert content_type.startswith("text/plain")
    assert samples[("whoopkit_budget_left", (("window", "minute"),))] == 97
    assert samples[("whoopkit_budget_left", (("window", "day"),))] == 9_997


async def test_the_budget_left_counts_bookings_made_by_another_limiter_on_the_same_redis(
    redis_url: str, limiter: RedisRateLimiter, redis: Any
) -> None:
    other = RedisRateLimiter(redis_url, max_requests=100, max_per_day=10_000)
    try:
        for _ in range(5):
            await other.acquire()
    finally:
        await other.aclose()
    samples = parsed((await metrics.render(limiter, redis))[0])
    assert samples[("whoopkit_budget_left", (("window", "minute"),))] == 95


async def test_render_shows_the_queue_depth_of_enqueued_arq_jobs(
    redis_url: str, limiter: RedisRateLimiter, redis: Any
) -> None:
    pool = await arq_connections.create_pool(
        arq_connections.RedisSettings.from_dsn(redis_url), default_queue_name=metrics.QUEUE_KEY
    )
    try:
        for user_id in (1, 2, 3):
            assert await pool.enqueue_job("backfill", user_id, _job_id=f"backfill:{user_id}") is not None
        # the same job id is not queued twice, so the depth stays 3
        assert await pool.enqueue_job("backfill", 1, _job_id="backfill:1") is None
        samples = parsed((await metrics.render(limiter, redis))[0])
        assert samples[("whoopkit_queue_depth", ())] == 3
    finally:
        await pool.aclose()


def test_the_queue_key_is_the_queue_the_jobs_use() -> None:
    jobs = pytest.importorskip("whoopkit.hosted.jobs")
    assert jobs.QUEUE == metrics.QUEUE_KEY


async def test_render_answers_with_unknown_gauges_when_redis_is_unreachable() -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    limiter = RedisRateLimiter(url, socket_timeout=1.0)
    client = redis_asyncio.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        samples = parsed((await metrics.render(limiter, client))[0])
    finally:
        await client.aclose()
        await limiter.aclose()
    assert math.isnan(samples[("whoopkit_budget_left", (("window", "minute"),))])
    assert math.isnan(samples[("whoopkit_queue_depth", ())])


async def test_the_worker_metrics_server_reads_the_shared_gauges_when_scraped(
    redis_url: str, limiter: RedisRateLimiter
) -> None:
    server = metrics.start_metrics_server(0, limiter, redis_url, addr="127.0.0.1")
    try:
        port = server.server_port
        for _ in range(4):
            await limiter.acquire()
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    assert answer.status_code == 200
    samples = parsed(answer.content)
    assert samples[("whoopkit_budget_left", (("window", "minute"),))] == 96
    assert samples[("whoopkit_queue_depth", ())] == 0


# -------------------------------------------------------------------------------- upstream calls


async def test_upstream_responses_and_429s_are_counted_through_on_upstream(
    fake: FakeWhoop, limiter: RedisRateLimiter, redis: Any
) -> None:
    before = {
        status: sample("whoopkit_upstream_requests_total", status=status) for status in ("200", "429", "503")
    }
    limited = sample("whoopkit_upstream_rate_limited_total")
    fake.faults.fail_next(503)
    fake.faults.fail_next(429, retry_after=1)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake)) as http:
        client = WhoopClient(
            http,
            FakeTokens(fake),
            api_base_url="http://fake/developer",
            limiter=limiter,
            sleep=no_wait,
            on_response=metrics.on_upstream,
        )
        await client.get_profile()
    assert sample("whoopkit_upstream_requests_total", status="503") == before["503"] + 1
    assert sample("whoopkit_upstream_requests_total", status="429") == before["429"] + 1
    assert sample("whoopkit_upstream_requests_total", status="200") == before["200"] + 1
    assert sample("whoopkit_upstream_rate_limited_total") == limited + 1
    # every attempt was booked in the shared budget
    samples = parsed((await metrics.render(limiter, redis))[0])
    assert samples[("whoopkit_budget_left", (("window", "minute"),))] == 97


def test_a_5xx_is_counted_but_not_as_rate_limited() -> None:
    limited = sample("whoopkit_upstream_rate_limited_total")
    errors = sample("whoopkit_upstream_requests_total", status="502")
    metrics.on_upstream("GET", 502)
    assert sample("whoopkit_upstream_requests_total", status="502") == errors + 1
    assert sample("whoopkit_upstream_rate_limited_total") == limited


# ---------------------------------------------------------------------------------- HTTP requests


def instrumented_app(tmp_path: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/records/{kind}")
    def records(kind: str) -> dict[str, str]:
        return {"kind": kind}

    @app.get("/users/{user_id:int}/days/{day}")
    def day(user_id: int, day: str) -> dict[str, str]:
        return {"day": day}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("exploded")

    @app.get("/refused")
    def refused() -> None:
        raise HTTPException(403, "no")

    (tmp_path / "app.css").write_text("body {}", encoding="utf-8")
    app.mount("/static", StaticFiles(directory=tmp_path), name="static")
    app.add_middleware(metrics.MetricsMiddleware)
    return app


def requests(method: str, route: str, status: str) -> float:
    return sample("whoopkit_http_requests_total", method=method, route=route, status=status)


def test_requests_are_labelled_by_their_route_template_never_the_raw_path(tmp_path: Any) -> None:
    before = requests("GET", "/records/{kind}", "200")
    deep = requests("GET", "/users/{user_id}/days/{day}", "200")
    with TestClient(instrumented_app(tmp_path)) as client:
        assert client.get("/records/sleep").status_code == 200
        assert client.get("/records/cycle-8675309").status_code == 200
        assert client.get("/users/424242/days/2026-11-30").status_code == 200
    assert requests("GET", "/records/{kind}", "200") == before + 2
    assert requests("GET", "/users/{user_id}/days/{day}", "200") == deep + 1
    body = metrics.generate_latest(REGISTRY).decode("utf-8")
    assert "8675309" not in body
    assert "424242" not in body
    assert "2026-11-30" not in body


def test_unmatched_refused_failing_and_static_requests_get_bounded_labels(tmp_path: Any) -> None:
    unmatched = requests("GET", metrics.UNMATCHED, "404")
    not_allowed = requests("POST", "/records/{kind}", "405")
    failed = requests("GET", "/boom", "500")
    refused = requests("GET", "/refused", "403")
    static = requests("GET", "/static/{path}", "200")
    odd = requests("OTHER", metrics.UNMATCHED, "404")
    with TestClient(instrumented_app(tmp_path), raise_server_exceptions=False) as client:
        assert client.get("/wp-admin/setup-config.php").status_code == 404
        assert client.post("/records/sleep").status_code == 405
        assert client.get("/boom").status_code == 500
        assert client.get("/refused").status_code == 403
        assert client.get("/static/app.css").status_code == 200
        assert client.request("BREW", "/coffee-pot").status_code == 404
    assert requests("GET", metrics.UNMATCHED, "404") == unmatched + 1
    assert requests("POST", "/records/{kind}", "405") == not_allowed + 1
    assert requests("GET", "/boom", "500") == failed + 1
    assert requests("GET", "/refused", "403") == refused + 1
    assert requests("GET", "/static/{path}", "200") == static + 1
    assert requests("OTHER", metrics.UNMATCHED, "404") == odd + 1
    body = metrics.generate_latest(REGISTRY).decode("utf-8")
    assert "wp-admin" not in body
    assert "BREW" not in body
    assert "app.css" not in body


async def test_no_token_code_or_state_ever_shows_in_the_metrics(
    tmp_path: Any, fake: FakeWhoop, limiter: RedisRateLimiter, redis: Any
) -> None:
    tokens = FakeTokens(fake)
    secrets = ["code-5ecr3t-value", "state-5ecr3t-value", "bearer-5ecr3t-value", tokens.token]
    app = instrumented_app(tmp_path)

    @app.get("/callback")
    def callback(code: str, state: str) -> dict[str, str]:
        return {"ok": "yes"}

    with TestClient(app) as client:
        client.get(f"/callback?code={secrets[0]}&state={secrets[1]}")
        client.get(f"/records/x?access_token={secrets[2]}", headers={"Authorization": f"Bearer {secrets[3]}"})
        client.get(f"/{secrets[0]}")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake)) as http:
        whoop = WhoopClient(
            http,
            tokens,
            api_base_url="http://fake/developer",
            limiter=limiter,
            on_response=metrics.on_upstream,
        )
        await whoop.get_profile()
    body = (await metrics.render(limiter, redis))[0].decode("utf-8")
    assert 'route="/callback"' in body
    for secret in [*secrets, tokens.token]:
        assert secret not in body
