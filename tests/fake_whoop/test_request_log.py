"""The fake's request log (``GET /_fake/requests``): when each API request arrived and how it was answered."""

from __future__ import annotations

import httpx
import pytest

from tests.fake_whoop.conftest import NOW, Clock
from whoopkit.fake_whoop import create_fake_whoop

pytestmark = pytest.mark.anyio


async def test_every_api_request_is_logged_with_its_arrival_time_status_and_person(clock: Clock) -> None:
    fake = create_fake_whoop(requests_per_minute=2, now=NOW, clock=clock, people=2)
    first = {"Authorization": f"Bearer {fake.issue_token(person=0)['access_token']}"}
    second = {"Authorization": f"Bearer {fake.issue_token(person=1)['access_token']}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as client:
        await client.get("/developer/v2/cycle", headers=first)
        clock.advance(1.5)
        await client.get("/developer/v2/user/profile/basic", headers=second)
        await client.get("/developer/v2/cycle", headers=first)  # the third in the minute: 429
        await client.get("/developer/v2/cycle")  # no token: 401, nobody
        await client.get("/_fake/stats")  # control requests are not logged
        answer = await client.get("/_fake/requests")
    assert answer.status_code == 200
    start = round(clock.now * 1000) - 1500
    assert answer.json() == {
        "requests": [
            {"at_ms": start, "status": 200, "person": 0},
            {"at_ms": start + 1500, "status": 200, "person": 1},
            {"at_ms": start + 1500, "status": 429, "person": 0},
            {"at_ms": start + 1500, "status": 401, "person": None},
        ],
        "count": 4,
    }


async def test_since_returns_only_the_requests_that_arrived_from_that_moment(clock: Clock) -> None:
    fake = create_fake_whoop(now=NOW, clock=clock)
    auth = {"Authorization": f"Bearer {fake.issue_token()['access_token']}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as client:
        await client.get("/developer/v2/cycle", headers=auth)
        clock.advance(10)
        later = round(clock.now * 1000)
        await client.get("/developer/v2/recovery", headers=auth)
        recent = (await client.get("/_fake/requests", params={"since": later})).json()
        bad = await client.get("/_fake/requests", params={"since": "yesterday"})
    assert [row["at_ms"] for row in recent["requests"]] == [later]
    assert bad.status_code == 400 and "since must be epoch milliseconds" in bad.json()["message"]


async def test_the_request_log_is_emptied_by_a_reset_and_absent_without_control_endpoints(
    clock: Clock,
) -> None:
    fake = create_fake_whoop(now=NOW, clock=clock)
    auth = {"Authorization": f"Bearer {fake.issue_token()['access_token']}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as client:
        await client.get("/developer/v2/cycle", headers=auth)
        assert len(fake.request_log) == 1
        await client.post("/_fake/reset")
        assert (await client.get("/_fake/requests")).json() == {"requests": [], "count": 0}
    closed = create_fake_whoop(now=NOW, clock=clock, control_endpoints=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=closed), base_url="http://fake") as client:
        assert (await client.get("/_fake/requests")).status_code == 404
