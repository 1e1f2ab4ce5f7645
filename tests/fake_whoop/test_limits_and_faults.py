"""Rate limiting and fault injection of the fake."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest

from tests.fake_whoop.conftest import NOW, Clock
from whoopkit.fake_whoop import FakeWhoop, create_fake_whoop

pytestmark = pytest.mark.anyio


async def test_api_responses_carry_whoop_rate_limit_headers(
    client: httpx.AsyncClient, auth: dict[str, str], clock: Clock
) -> None:
    clock.now = 1_759_347_000.0 + 57  # 3 s before the minute window ends
    first = await client.get("/developer/v2/cycle", headers=auth)
    assert first.headers["x-ratelimit-limit"] == "100, 100;window=60, 10000;window=86400"
    assert first.headers["x-ratelimit-remaining"] == "99"
    assert first.headers["x-ratelimit-reset"] == "3"
    second = await client.get("/developer/v2/user/profile/basic", headers=auth)
    assert second.headers["x-ratelimit-remaining"] == "98"
    not_found = await client.get("/developer/v2/cycle/1", headers=auth)
    assert not_found.status_code == 404 and not_found.headers["x-ratelimit-remaining"] == "97"


async def test_past_the_minute_limit_the_api_answers_429_until_the_window_resets(clock: Clock) -> None:
    fake = create_fake_whoop(requests_per_minute=5, now=NOW, clock=clock)
    clock.now = 1_759_347_000.0 + 20
    auth = {"Authorization": f"Bearer {fake.issue_token()['access_token']}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as client:
        statuses = [(await client.get("/developer/v2/cycle", headers=auth)).status_code for _ in range(5)]
        assert statuses == [200] * 5
        limited = await client.get("/developer/v2/cycle", headers=auth)
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "40"
        assert limited.headers["x-ratelimit-remaining"] == "0"
        assert limited.headers["x-ratelimit-reset"] == "40"
        assert fake.stats.rate_limited == 1
        clock.advance(40)
        assert (await client.get("/developer/v2/cycle", headers=auth)).status_code == 200


async def test_the_day_limit_is_reported_when_it_is_the_closest(clock: Clock) -> None:
    fake = create_fake_whoop(requests_per_minute=100, requests_per_day=3, now=NOW, clock=clock)
    auth = {"Authorization": f"Bearer {fake.issue_token()['access_token']}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as client:
        first = await client.get("/developer/v2/cycle", headers=auth)
        assert first.headers["x-ratelimit-limit"].startswith("3, 100;window=60, 3;window=86400")
        assert first.headers["x-ratelimit-remaining"] == "2"
        for _ in range(2):
            await client.get("/developer/v2/cycle", headers=auth)
        clock.advance(120)  # a new minute does not help against the day limit
        limited = await client.get("/developer/v2/cycle", headers=auth)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 3600


async def test_rate_limits_are_counted_per_client_app_not_per_token(clock: Clock) -> None:
    fake = create_fake_whoop(requests_per_minute=2, now=NOW, clock=clock)
    a = {"Authorization": f"Bearer {fake.issue_token()['access_token']}"}
    b = {"Authorization": f"Bearer {fake.issue_token()['access_token']}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as client:
        assert (await client.get("/developer/v2/cycle", headers=a)).status_code == 200
        assert (await client.get("/developer/v2/cycle", headers=b)).status_code == 200
        assert (await client.get("/developer/v2/cycle", headers=a)).status_code == 429


async def test_reset_clears_rate_limit_windows(clock: Clock) -> None:
    fake = create_fake_whoop(requests_per_minute=1, now=NOW, clock=clock)
    auth = {"Authorization": f"Bearer {fake.issue_token()['access_token']}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as client:
        await client.get("/developer/v2/cycle", headers=auth)
        assert (await client.get("/developer/v2/cycle", headers=auth)).status_code == 429
        await client.post("/_fake/reset")
        assert (await client.get("/developer/v2/cycle", headers=auth)).status_code == 200


async def test_fail_next_serves_the_queued_failures_then_recovers(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    fake.faults.fail_next(429, count=2, retry_after=1.2)
    fake.faults.fail_next(503)
    first = await client.get("/developer/v2/cycle", headers=auth)
    assert first.status_code == 429
    assert first.headers["retry-after"] == "2"
    assert first.headers["x-ratelimit-reset"] == "2"
    assert (await client.get("/developer/v2/cycle", headers=auth)).status_code == 429
    assert (await client.get("/developer/v2/cycle", headers=auth)).status_code == 503
    assert (await client.get("/developer/v2/cycle", headers=auth)).status_code == 200
    assert fake.stats.injected_failures == 3
    assert fake.stats.requests == 4


async def test_fail_next_can_target_the_token_endpoint(client: httpx.AsyncClient, fake: FakeWhoop) -> None:
    refresh = fake.issue_token()["refresh_token"]
    fake.faults.fail_next(500, target="token")
    data = {
        "grant_type": "refresh_token",
        "refresh_token": refresh,
        "client_id": "demo-client",
        "client_secret": "demo-secret",
    }
    assert (await client.post("/oauth/oauth2/token", data=data)).status_code == 500
    assert (await client.post("/oauth/oauth2/token", data=data)).status_code == 200


def test_fail_next_rejects_a_non_error_status(fake: FakeWhoop) -> None:
    with pytest.raises(ValueError, match="error status"):
        fake.faults.fail_next(200)


async def test_an_error_rate_of_one_fails_every_api_request_with_500_or_503(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    fake.faults.error_rate = 1.0
    statuses = {(await client.get("/developer/v2/cycle", headers=auth)).status_code for _ in range(20)}
    assert statuses == {500, 503}
    fake.faults.error_rate = 0.0
    assert (await client.get("/developer/v2/cycle", headers=auth)).status_code == 200


async def test_a_partial_error_rate_fails_roughly_that_share(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    fake.faults.error_rate = 0.3
    statuses = [
        (await client.get("/developer/v2/user/profile/basic", headers=auth)).status_code for _ in range(200)
    ]
    failures = sum(s >= 500 for s in statuses)
    assert 30 <= failures <= 90


async def test_latency_is_added_concurrently_not_serially(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    fake.faults.latency = 0.2
    statuses: list[int] = []

    async def fetch() -> None:
        statuses.append((await client.get("/developer/v2/user/profile/basic", headers=auth)).status_code)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(fetch)
    elapsed = time.perf_counter() - started
    assert statuses == [200] * 10
    assert 0.2 <= elapsed < 1.0


async def test_faults_can_be_set_by_another_process_through_the_control_endpoint(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    answer = await client.post(
        "/_fake/faults", json={"latency_ms": 5, "error_rate": 0, "next_status": 503, "next_count": 2}
    )
    assert answer.status_code == 200
    assert answer.json()["pending_api_failures"] == 2
    assert fake.faults.latency == pytest.approx(0.005)
    assert (await client.get("/developer/v2/cycle", headers=auth)).status_code == 503
    assert (await client.get("/developer/v2/cycle", headers=auth)).status_code == 503
    assert (await client.get("/developer/v2/cycle", headers=auth)).status_code == 200
    limited = await client.post("/_fake/faults", json={"next_status": 429, "retry_after": 0})
    assert limited.status_code == 200
    answer = await client.get("/developer/v2/cycle", headers=auth)
    assert answer.status_code == 429 and answer.headers["retry-after"] == "0"
    await client.post("/_fake/reset")
    assert fake.faults.latency == 0 and fake.faults.pending == 0


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"latency_ms": "slow"}',
        b'{"next_status": 200}',
        b'{"next_status": 500, "target": "x"}',
    ],
)
async def test_bad_fault_requests_are_a_400(client: httpx.AsyncClient, body: bytes) -> None:
    answer = await client.post("/_fake/faults", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400
