"""WhoopClient behaviour, through its public API, on httpx.MockTransport and on the in-process fake."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from tests.helpers.clock import FakeClock
from whoopkit.client import USER_AGENT, WhoopClient, format_datetime
from whoopkit.errors import (
    AuthError,
    NotFoundError,
    NotLoggedInError,
    RateLimitedError,
    TokenRefreshError,
    WhoopAPIError,
    WhoopUnavailableError,
)
from whoopkit.models import Cycle, Page, Recovery, Sleep, UserBasicProfile, UserBodyMeasurement, Workout
from whoopkit.ratelimit import RateLimiter

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parent.parent / "spec" / "examples"
BASE = "https://whoop.test/developer"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def _example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return data


class FakeTokens:
    """A TokenProvider that hands out ``token-N`` and records refreshes."""

    def __init__(self, error: Exception | None = None) -> None:
        self.current = "token-1"
        self.refreshed_for: list[str] = []
        self.error = error

    async def access_token(self) -> str:
        if self.error is not None:
            raise self.error
        return self.current

    async def refresh_after_unauthorized(self, rejected: str) -> str:
        self.refreshed_for.append(rejected)
        self.current = f"token-{len(self.refreshed_for) + 1}"
        return self.current


@dataclass
class Recorder:
    """Wraps an async handler; records requests and the peak number of concurrent requests."""

    handler: Handler
    requests: list[httpx.Request] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            # Yield a few times so that concurrently started requests all get to this point.
            for _ in range(5):
                await asyncio.sleep(0)
            return await self.handler(request)
        finally:
            self.in_flight -= 1


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1000.0)


@pytest.fixture
async def make_client(clock: FakeClock) -> Any:
    """Build WhoopClients on MockTransport; every AsyncClient is closed at teardown."""
    opened: list[httpx.AsyncClient] = []

    def make(
        handler: Handler | Callable[[httpx.Request], httpx.Response],
        *,
        tokens: FakeTokens | None = None,
        **kwargs: Any,
    ) -> tuple[WhoopClient, Recorder, FakeTokens]:
        async def as_async(request: httpx.Request) -> httpx.Response:
            result = handler(request)
            if isinstance(result, httpx.Response):
                return result
            return await result

        recorder = Recorder(as_async)
        http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
        opened.append(http)
        tokens = tokens or FakeTokens()
        kwargs.setdefault("sleep", clock.sleep)
        client = WhoopClient(http, tokens, api_base_url=BASE, **kwargs)
        return client, recorder, tokens

    yield make
    for http in opened:
        await http.aclose()


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=data, headers=headers)


def _sequence(*responses: httpx.Response | Exception) -> Callable[[httpx.Request], httpx.Response]:
    """A handler answering with ``responses`` in order (exceptions are raised)."""
    pending = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = pending.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler


PROFILE = _example("user_profile_basic.json")


# ---------------------------------------------------------------- basics


async def test_requests_carry_the_bearer_token_our_user_agent_and_accept_json(make_client: Any) -> None:
    client, rec, _ = make_client(lambda r: _json(PROFILE))
    profile = await client.get_profile()
    assert profile == UserBasicProfile.model_validate(PROFILE)
    request = rec.requests[0]
    assert request.url == httpx.URL(BASE + "/v2/user/profile/basic")
    assert request.headers["authorization"] == "Bearer token-1"
    assert request.headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("whoopkit/")
    assert request.headers["accept"] == "application/json"
    assert len(rec.requests) == 1


async def test_every_example_in_the_spec_parses_through_the_client(make_client: Any) -> None:
    routes = {
        "/developer/v2/user/profile/basic": "user_profile_basic.json",
        "/developer/v2/user/measurement/body": "user_body_measurement.json",
        "/developer/v2/cycle": "cycle_collection.json",
        "/developer/v2/recovery": "recovery_collection.json",
        "/developer/v2/activity/sleep": "sleep_collection.json",
        "/developer/v2/activity/workout": "workout_collection.json",
    }
    assert {p.name for p in EXAMPLES.glob("*.json")} == set(routes.values())
    cycle = _example("cycle_collection.json")["records"][0]
    recovery = _example("recovery_collection.json")["records"][0]
    sleep = _example("sleep_collection.json")["records"][0]
    workout = _example("workout_collection.json")["records"][0]
    singles = {
        f"/developer/v2/cycle/{cycle['id']}": cycle,
        f"/developer/v2/cycle/{cycle['id']}/recovery": recovery,
        f"/developer/v2/cycle/{cycle['id']}/sleep": sleep,
        f"/developer/v2/activity/sleep/{sleep['id']}": sleep,
        f"/developer/v2/activity/workout/{workout['id']}": workout,
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path in singles:
            return _json(singles[request.url.path])
        return _json(_example(routes[request.url.path]))

    client, _, _ = make_client(handler)
    assert (await client.get_profile()).first_name == "John"
    assert (await client.get_body_measurement()).max_heart_rate == 200
    cycles = await client.list_cycles()
    assert isinstance(cycles, Page) and cycles.next_token == "MTIzOjEyMzEyMw"
    assert cycles.records[0].score is not None and cycles.records[0].score.strain == pytest.approx(5.2951527)
    assert cycles.records[0].step_count == 8234
    recoveries = await client.list_recoveries()
    assert recoveries.records[0].score is not None and recoveries.records[0].score.recovery_score == 44.0
    sleeps = await client.list_sleeps()
    assert sleeps.records[0].nap is False and sleeps.records[0].score is not None
    workouts = await client.list_workouts()
    assert workouts.records[0].sport_name == "running"
    assert (await client.get_cycle(cycle["id"])) == Cycle.model_validate(cycle)
    assert (await client.get_cycle_recovery(cycle["id"])) == Recovery.model_validate(recovery)
    assert (await client.get_cycle_sleep(cycle["id"])) == Sleep.model_validate(sleep)
    assert (await client.get_sleep(UUID(sleep["id"]))) == Sleep.model_validate(sleep)
    assert (await client.get_workout(workout["id"])) == Workout.model_validate(workout)
    assert isinstance(await client.get_body_measurement(), UserBodyMeasurement)


async def test_page_parameters_are_sent_as_utc_iso_with_z_and_camel_case_next_token(make_client: Any) -> None:
    client, rec, _ = make_client(lambda r: _json({"records": [], "next_token": None}))
    await client.list_cycles(
        start=datetime(2025, 1, 1, 1, 0, tzinfo=timedelta_tz(hours=1)),
        end=datetime(2025, 1, 2, 3, 4, 5, 678901),  # naive: taken as UTC
        limit=25,
        next_token="abc",
    )
    params = dict(rec.requests[0].url.params)
    assert params == {
        "start": "2025-01-01T00:00:00.000Z",
        "end": "2025-01-02T03:04:05.678Z",
        "limit": "25",
        "nextToken": "abc",
    }
    assert format_datetime(date(2025, 3, 4)) == "2025-03-04T00:00:00.000Z"


def timedelta_tz(hours: int) -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=hours))


async def test_a_limit_outside_one_to_twenty_five_is_refused_before_sending(make_client: Any) -> None:
    client, rec, _ = make_client(lambda r: _json({"records": []}))
    with pytest.raises(ValueError, match="limit"):
        await client.list_workouts(limit=26)
    with pytest.raises(ValueError, match="limit"):
        await client.list_sleeps(limit=0)
    assert rec.requests == []


# ---------------------------------------------------------------- retries


async def test_a_429_with_retry_after_is_waited_out_and_retried(make_client: Any, clock: FakeClock) -> None:
    client, rec, _ = make_client(
        _sequence(_json({}, 429, {"Retry-After": "2"}), _json(PROFILE)),
    )
    assert (await client.get_profile()).user_id == PROFILE["user_id"]
    assert clock.sleeps == [2.0]
    assert len(rec.requests) == 2


async def test_a_429_with_only_x_ratelimit_reset_waits_that_many_seconds(
    make_client: Any, clock: FakeClock
) -> None:
    client, _, _ = make_client(
        _sequence(_json({}, 429, {"X-RateLimit-Reset": "3", "X-RateLimit-Remaining": "0"}), _json(PROFILE)),
    )
    await client.get_profile()
    assert clock.sleeps == [3.0]


async def test_a_429_asking_for_longer_than_the_budget_fails_at_once_with_retry_after(
    make_client: Any, clock: FakeClock
) -> None:
    client, rec, _ = make_client(_sequence(_json({}, 429, {"Retry-After": "45"})))
    with pytest.raises(RateLimitedError) as info:
        await client.get_profile()
    assert info.value.retry_after == 45.0
    assert "45" in str(info.value)
    assert clock.sleeps == []
    assert len(rec.requests) == 1


async def test_repeated_429s_stop_once_the_wait_budget_is_spent(make_client: Any, clock: FakeClock) -> None:
    client, rec, _ = make_client(lambda r: _json({}, 429, {"Retry-After": "4"}))
    with pytest.raises(RateLimitedError):
        await client.get_profile()
    assert clock.sleeps == [4.0, 4.0]  # a third wait would exceed the 10 s budget
    assert len(rec.requests) == 3


async def test_a_5xx_is_retried_with_backoff_and_then_succeeds(make_client: Any, clock: FakeClock) -> None:
    client, rec, _ = make_client(_sequence(_json({}, 503), _json({}, 500), _json(PROFILE)))
    await client.get_profile()
    assert len(rec.requests) == 3
    assert len(clock.sleeps) == 2
    assert 0.25 <= clock.sleeps[0] <= 0.5 and 0.5 <= clock.sleeps[1] <= 1.0  # jittered, growing


async def test_persistent_5xx_gives_whoop_unavailable_after_bounded_retries(
    make_client: Any, clock: FakeClock
) -> None:
    client, rec, _ = make_client(lambda r: _json({"message": "boom"}, 502))
    with pytest.raises(WhoopUnavailableError, match="try again") as info:
        await client.get_profile()
    assert "unreachable" in str(info.value)
    assert len(rec.requests) == 4  # 1 + max_retries
    assert len(clock.sleeps) == 3


async def test_a_timeout_is_retried_and_the_retry_succeeds(make_client: Any) -> None:
    client, rec, _ = make_client(_sequence(httpx.ReadTimeout("slow"), _json(PROFILE)))
    assert (await client.get_profile()).email == PROFILE["email"]
    assert len(rec.requests) == 2


async def test_persistent_connection_errors_give_whoop_unavailable(make_client: Any) -> None:
    client, rec, _ = make_client(_sequence(*(httpx.ConnectError("refused") for _ in range(4))), max_retries=3)
    with pytest.raises(WhoopUnavailableError, match="please try again"):
        await client.get_profile()
    assert len(rec.requests) == 4


async def test_timeouts_with_max_retries_zero_fail_on_the_first_attempt(make_client: Any) -> None:
    client, rec, _ = make_client(_sequence(httpx.ConnectTimeout("slow")), max_retries=0)
    with pytest.raises(WhoopUnavailableError, match="timed out"):
        await client.get_profile()
    assert len(rec.requests) == 1


async def test_delete_is_never_retried_on_5xx(make_client: Any, clock: FakeClock) -> None:
    client, rec, _ = make_client(lambda r: _json({}, 500))
    with pytest.raises(WhoopUnavailableError):
        await client.revoke_access()
    assert len(rec.requests) == 1
    assert clock.sleeps == []


async def test_revoke_access_sends_one_delete_to_the_access_endpoint(make_client: Any) -> None:
    client, rec, _ = make_client(lambda r: httpx.Response(204))
    assert await client.revoke_access() is None
    assert [(r.method, r.url.path) for r in rec.requests] == [("DELETE", "/developer/v2/user/access")]


# ---------------------------------------------------------------- auth


async def test_a_401_refreshes_the_token_once_and_retries_with_the_new_one(make_client: Any) -> None:
    client, rec, tokens = make_client(_sequence(_json({}, 401), _json(PROFILE)))
    await client.get_profile()
    assert tokens.refreshed_for == ["token-1"]
    assert [r.headers["authorization"] for r in rec.requests] == ["Bearer token-1", "Bearer token-2"]


async def test_a_second_401_after_refreshing_is_an_auth_error_pointing_at_login(make_client: Any) -> None:
    client, rec, tokens = make_client(lambda r: _json({}, 401))
    with pytest.raises(TokenRefreshError) as info:
        await client.get_profile()
    assert isinstance(info.value, AuthError)
    assert "log in again" in str(info.value)
    assert tokens.refreshed_for == ["token-1"]
    assert len(rec.requests) == 2


async def test_a_second_401_names_whoops_reason_such_as_a_missing_scope(make_client: Any) -> None:
    body = {"error": "insufficient_scope", "message": "This request needs the read:cycles scope."}
    client, _, _ = make_client(lambda r: _json(body, 401))
    with pytest.raises(TokenRefreshError, match="read:cycles scope"):
        await client.list_cycles()


async def test_a_429_with_an_http_date_retry_after_is_understood(make_client: Any, clock: FakeClock) -> None:
    later = datetime.now(UTC) + timedelta(minutes=5)
    client, _, _ = make_client(
        _sequence(_json({}, 429, {"Retry-After": later.strftime("%a, %d %b %Y %H:%M:%S GMT")}))
    )
    with pytest.raises(RateLimitedError) as info:
        await client.get_profile()
    assert 280 <= info.value.retry_after <= 300
    assert clock.sleeps == []


async def test_errors_from_the_token_provider_propagate_unchanged(make_client: Any) -> None:
    error = NotLoggedInError()
    client, rec, _ = make_client(lambda r: _json(PROFILE), tokens=FakeTokens(error=error))
    with pytest.raises(NotLoggedInError) as info:
        await client.get_profile()
    assert info.value is error
    assert rec.requests == []


# ---------------------------------------------------------------- error statuses and bad bodies


async def test_a_404_is_not_found(make_client: Any) -> None:
    client, rec, _ = make_client(lambda r: _json({"message": "no"}, 404))
    with pytest.raises(NotFoundError) as info:
        await client.get_cycle(42)
    assert info.value.status == 404
    assert len(rec.requests) == 1


async def test_a_400_is_an_api_error_with_whoops_text_but_never_the_token(make_client: Any) -> None:
    client, rec, _ = make_client(
        lambda r: _json({"message": "limit must be <= 25 (you sent token-1)"}, 400),
    )
    with pytest.raises(WhoopAPIError) as info:
        await client.list_cycles()
    assert info.value.status == 400
    assert "limit must be <= 25" in str(info.value)
    assert "token-1" not in str(info.value)
    assert len(rec.requests) == 1


async def test_a_redirect_is_an_api_error_not_an_empty_success(make_client: Any) -> None:
    client, _, _ = make_client(lambda r: httpx.Response(302, headers={"Location": "https://elsewhere.test/"}))
    with pytest.raises(WhoopAPIError) as info:
        await client.get_profile()
    assert info.value.status == 302


async def test_a_response_that_is_not_json_is_a_clear_api_error(make_client: Any) -> None:
    client, _, _ = make_client(lambda r: httpx.Response(200, text="<html>oops</html>"))
    with pytest.raises(WhoopAPIError, match="not valid JSON"):
        await client.get_profile()


async def test_a_response_of_the_wrong_shape_is_a_clear_api_error_not_a_pydantic_traceback(
    make_client: Any,
) -> None:
    bad = _example("cycle_collection.json")["records"][0]
    del bad["start"]
    client, _, _ = make_client(lambda r: _json(bad))
    with pytest.raises(WhoopAPIError, match=r"does not match the API v2 schema: start") as info:
        await client.get_cycle(bad["id"])
    assert info.value.__cause__ is None and info.value.__suppress_context__


async def test_a_page_skips_a_record_of_the_wrong_shape_and_keeps_the_rest(make_client: Any) -> None:
    # Issue 9.3: one unusable record must not cost the rest of the page.
    page = _example("cycle_collection.json")
    good = page["records"][0]
    broken = {key: value for key, value in good.items() if key != "start"} | {"id": good["id"] + 1}
    page["records"] = [broken, good]
    client, _, _ = make_client(lambda r: _json(page))
    listed = await client.list_cycles()
    assert [c.id for c in listed.records] == [good["id"]]


async def test_debug_logs_name_method_path_and_status_but_never_the_token(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client, _, _ = make_client(_sequence(_json({}, 401), _json(PROFILE)))
    with caplog.at_level(logging.DEBUG):
        await client.get_profile()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET /v2/user/profile/basic -> 401" in text
    assert "GET /v2/user/profile/basic -> 200" in text
    assert "token-1" not in text and "token-2" not in text and "Bearer" not in text


# ---------------------------------------------------------------- in-flight sharing, no response cache


async def test_identical_requests_one_after_another_each_reach_whoop(make_client: Any) -> None:
    client, rec, _ = make_client(lambda r: _json(PROFILE))
    await client.get_profile()
    await client.get_profile()
    assert len(rec.requests) == 2


async def test_a_failed_request_is_not_reused_by_the_next_identical_one(make_client: Any) -> None:
    client, _, _ = make_client(_sequence(_json({}, 404), _json(PROFILE)))
    with pytest.raises(NotFoundError):
        await client.get_profile()
    assert (await client.get_profile()).user_id == PROFILE["user_id"]


async def test_concurrent_identical_requests_share_one_upstream_request(make_client: Any) -> None:
    client, rec, _ = make_client(lambda r: _json(PROFILE))
    profiles = await asyncio.gather(*(client.get_profile() for _ in range(10)))
    assert all(p == profiles[0] for p in profiles)
    assert len(rec.requests) == 1


async def test_concurrent_requests_with_different_parameters_are_not_shared(make_client: Any) -> None:
    client, rec, _ = make_client(lambda r: _json({"records": []}))
    await asyncio.gather(client.list_cycles(limit=5), client.list_cycles(limit=6))
    assert sorted(r.url.params["limit"] for r in rec.requests) == ["5", "6"]


async def test_concurrent_identical_requests_all_see_the_shared_failure(make_client: Any) -> None:
    client, rec, _ = make_client(lambda r: _json({}, 404))
    results = await asyncio.gather(*(client.get_profile() for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, NotFoundError) for r in results)
    assert len(rec.requests) == 1


async def test_cancelling_one_waiter_does_not_cancel_the_shared_request(make_client: Any) -> None:
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return _json(PROFILE)

    client, rec, _ = make_client(handler)
    first = asyncio.ensure_future(client.get_profile())
    second = asyncio.ensure_future(client.get_profile())
    for _ in range(10):
        await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert (await second).user_id == PROFILE["user_id"]
    assert first.cancelled()
    assert len(rec.requests) == 1


# ---------------------------------------------------------------- rate limiter integration


async def test_the_rate_limiter_holds_requests_beyond_the_budget_for_a_short_wait(
    make_client: Any, clock: FakeClock
) -> None:
    limiter = RateLimiter(3, 5.0, clock=clock, sleep=clock.sleep)
    client, rec, _ = make_client(lambda r: _json({"records": []}), limiter=limiter)
    for n in range(1, 5):
        await client.list_cycles(limit=n)
    assert clock.sleeps == [5.0]
    assert len(rec.requests) == 4


async def test_a_wait_for_the_budget_longer_than_the_cap_says_when_to_retry_at_once(
    make_client: Any, clock: FakeClock
) -> None:
    limiter = RateLimiter(3, 60.0, clock=clock, sleep=clock.sleep)
    client, rec, _ = make_client(lambda r: _json({"records": []}), limiter=limiter)
    for n in range(1, 4):
        await client.list_cycles(limit=n)
    with pytest.raises(RateLimitedError) as caught:
        await client.list_cycles(limit=4)
    assert caught.value.retry_after == pytest.approx(60.0)
    assert "retry after 60 s" in str(caught.value)
    assert clock.sleeps == [] and len(rec.requests) == 3


async def test_a_429_also_holds_other_requests_through_the_limiter(
    make_client: Any, clock: FakeClock
) -> None:
    limiter = RateLimiter(100, 60.0, clock=clock, sleep=clock.sleep)
    client, _, _ = make_client(
        _sequence(_json({}, 429, {"Retry-After": "5"}), _json(PROFILE)), limiter=limiter
    )
    await client.get_profile()
    # The retry itself sleeps 5 s; afterwards the limiter's hold has already passed.
    assert clock.sleeps == [5.0]


# ---------------------------------------------------------------- against the in-process fake WHOOP


def _fake_or_skip() -> Any:
    fake_whoop = pytest.importorskip("whoopkit.fake_whoop")
    return fake_whoop.create_fake_whoop


class FakeAppTokens:
    """TokenProvider for the fake: one minted token, refreshed by minting another."""

    def __init__(self, fake: Any) -> None:
        self.fake = fake
        self.token: str = fake.issue_token()["access_token"]

    async def access_token(self) -> str:
        return self.token

    async def refresh_after_unauthorized(self, rejected: str) -> str:
        self.token = self.fake.issue_token()["access_token"]
        return self.token


@pytest.fixture
def fake() -> Any:
    create = _fake_or_skip()
    return create(now=NOW, days=180, seed=7)


@pytest.fixture
async def fake_client(fake: Any, clock: FakeClock) -> AsyncIterator[WhoopClient]:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake")
    client = WhoopClient(http, FakeAppTokens(fake), api_base_url="http://fake/developer", sleep=clock.sleep)
    yield client
    await http.aclose()


def _expected_ids(collection: Any, lo: datetime, hi: datetime | None) -> list[str]:
    lo_ms = int(lo.timestamp() * 1000)
    hi_ms = int(hi.timestamp() * 1000) if hi is not None else None
    return [
        rid
        for rid, start in zip(collection.ids, collection.starts, strict=True)
        if start >= lo_ms and (hi_ms is None or start < hi_ms)
    ]


async def test_every_endpoint_of_the_fake_parses_into_models(fake: Any, fake_client: WhoopClient) -> None:
    client = fake_client
    profile = await client.get_profile()
    assert profile.email == fake.data.profile["email"]
    body = await client.get_body_measurement()
    assert body.max_heart_rate == fake.data.body["max_heart_rate"]
    cycles = await client.list_cycles()
    assert len(cycles.records) == 10 and cycles.next_token
    current = cycles.records[0]
    assert current.end is None  # the open, current cycle
    scored = next(c for c in cycles.records if c.score is not None)
    assert await client.get_cycle(scored.id) == scored
    recovery = await client.get_cycle_recovery(scored.id)
    assert recovery.cycle_id == scored.id
    cycle_sleep = await client.get_cycle_sleep(scored.id)
    assert cycle_sleep.cycle_id == scored.id and not cycle_sleep.nap
    assert await client.get_sleep(cycle_sleep.id) == cycle_sleep
    assert recovery.sleep_id == cycle_sleep.id
    workouts = await client.list_workouts(limit=3)
    assert len(workouts.records) == 3
    assert await client.get_workout(workouts.records[0].id) == workouts.records[0]
    assert (await client.list_recoveries(limit=2)).records[0].cycle_id == int(
        fake.data.recovery_collection.ids[0]
    )
    assert (await client.list_sleeps(limit=1)).records[0].id == UUID(fake.data.sleep_collection.ids[0])
    with pytest.raises(NotFoundError):
        await client.get_cycle(1)
    with pytest.raises(NotFoundError):
        await client.get_sleep(uuid4())


async def test_limit_and_next_token_page_through_the_fake_without_overlap(
    fake: Any, fake_client: WhoopClient
) -> None:
    first = await fake_client.list_cycles(limit=5)
    assert len(first.records) == 5 and first.next_token
    second = await fake_client.list_cycles(limit=5, next_token=first.next_token)
    ids = [c.id for c in first.records + second.records]
    assert ids == [int(i) for i in fake.data.cycle_collection.ids[:10]]
    full = await fake_client.list_workouts(limit=25)
    assert len(full.records) == 25
    window = await fake_client.list_sleeps(
        start=NOW - timedelta(days=2), end=NOW - timedelta(days=1), limit=25
    )
    assert [str(s.id) for s in window.records] == _expected_ids(
        fake.data.sleep_collection, NOW - timedelta(days=2), NOW - timedelta(days=1)
    )
    assert window.next_token is None


async def test_an_expired_token_on_the_fake_is_refreshed_once_and_the_call_succeeds(
    fake: Any, fake_client: WhoopClient
) -> None:
    assert fake.expire_access_tokens() >= 1
    profile = await fake_client.get_profile()
    assert profile.user_id == fake.data.profile["user_id"]
    assert fake.stats.requests == 2


async def test_injected_faults_on_the_fake_are_retried(
    fake: Any, fake_client: WhoopClient, clock: FakeClock
) -> None:
    fake.faults.fail_next(503, count=2)
    await fake_client.get_profile()
    assert fake.stats.requests == 3
    fake.faults.fail_next(429, retry_after=2)
    await fake_client.get_body_measurement()
    assert clock.sleeps[-1] == 2.0
    fake.faults.fail_next(500, count=10)
    with pytest.raises(WhoopUnavailableError):
        await fake_client.list_cycles()


async def test_the_fakes_rate_limit_surfaces_as_rate_limited_error(clock: FakeClock) -> None:
    create = _fake_or_skip()
    fake = create(now=NOW, requests_per_minute=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake)) as http:
        client = WhoopClient(
            http, FakeAppTokens(fake), api_base_url="http://fake/developer", sleep=clock.sleep
        )
        await client.get_profile()
        await client.get_profile()
        with pytest.raises(RateLimitedError) as info:
            for _ in range(5):
                await client.get_profile()
        assert 0 < info.value.retry_after <= 60


async def test_revoking_access_on_the_fake_invalidates_the_token(fake: Any) -> None:
    tokens = FakeAppTokens(fake)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake)) as http:
        client = WhoopClient(http, tokens, api_base_url="http://fake/developer")
        await client.get_profile()
        assert fake.access_token_is_valid(tokens.token)
        await client.revoke_access()
        assert not fake.access_token_is_valid(tokens.token)


async def test_concurrent_pages_that_all_hit_an_expired_token_share_a_single_refresh(
    tmp_path: Path, clock: FakeClock
) -> None:
    """End to end with the real TokenManager: five pages get 401 at once, WHOOP sees one refresh."""
    import time

    tokens_mod = pytest.importorskip("whoopkit.tokens")
    oauth_mod = pytest.importorskip("whoopkit.oauth")
    from whoopkit.config import load_settings

    fake = _fake_or_skip()(now=NOW)
    settings = load_settings(
        WHOOP_CLIENT_ID="demo-client",
        WHOOP_CLIENT_SECRET="demo-secret",
        WHOOP_API_BASE_URL="http://fake/developer",
        WHOOP_OAUTH_BASE_URL="http://fake/oauth/oauth2",
        WHOOP_TOKEN_CACHE=str(tmp_path / "token.json"),
        WHOOP_DATA_DIR=str(tmp_path / "data"),
    )
    store = tokens_mod.TokenStore(settings.whoop_token_cache)
    store.save(tokens_mod.Token.from_response(fake.issue_token(), now=time.time()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake)) as http:
        manager = tokens_mod.TokenManager(store, oauth_mod.OAuthClient(http, settings))
        client = WhoopClient(http, manager, api_base_url=settings.whoop_api_base_url, sleep=clock.sleep)
        fake.expire_access_tokens()
        # Five different windows, so in-flight sharing cannot fold them into one request.
        windows = [(NOW - timedelta(days=18 * (n + 1)), NOW - timedelta(days=18 * n)) for n in range(5)]
        pages = await asyncio.gather(*(client.list_cycles(start=lo, end=hi, limit=25) for lo, hi in windows))
    for (lo, hi), page in zip(windows, pages, strict=True):
        assert [str(c.id) for c in page.records] == _expected_ids(fake.data.cycle_collection, lo, hi)[:25]
    assert fake.stats.token_grants["refresh_token"] == 1
    assert fake.stats.invalid_grants == 0
