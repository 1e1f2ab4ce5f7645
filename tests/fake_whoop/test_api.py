"""API v2 behaviour of the fake: pagination, validation, look-ups by id, scopes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from whoopkit.fake_whoop import FakeWhoop

pytestmark = pytest.mark.anyio

COLLECTIONS = {
    "/developer/v2/cycle": "cycles",
    "/developer/v2/recovery": "recoveries",
    "/developer/v2/activity/sleep": "sleeps",
    "/developer/v2/activity/workout": "workouts",
}


def _key(record: dict[str, Any]) -> str:
    return str(record.get("id", record.get("cycle_id")))


async def _all_pages(client: httpx.AsyncClient, path: str, auth: dict[str, str], **params: Any) -> list[Any]:
    records: list[Any] = []
    token = None
    for _ in range(100):
        query = dict(params)
        if token:
            query["nextToken"] = token
        page = await client.get(path, params=query, headers=auth)
        assert page.status_code == 200, page.text
        body = page.json()
        records += body["records"]
        token = body.get("next_token")
        if token is None:
            return records
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("path", COLLECTIONS)
async def test_a_collection_returns_ten_records_newest_first_by_default(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop, path: str
) -> None:
    body = (await client.get(path, headers=auth)).json()
    assert len(body["records"]) == 10
    assert body["records"] == getattr(fake.data, COLLECTIONS[path])[:10]
    assert isinstance(body["next_token"], str) and body["next_token"]


@pytest.mark.parametrize("path", COLLECTIONS)
async def test_following_next_token_walks_every_record_exactly_once(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop, path: str
) -> None:
    records = await _all_pages(client, path, auth, limit=25)
    expected = getattr(fake.data, COLLECTIONS[path])
    assert [_key(r) for r in records] == [_key(r) for r in expected]
    assert len({_key(r) for r in records}) == len(records)


async def test_start_is_inclusive_and_end_is_exclusive_on_the_record_start(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    cycles = fake.data.cycles
    newer, older = cycles[3]["start"], cycles[8]["start"]
    records = await _all_pages(client, "/developer/v2/cycle", auth, start=older, end=newer, limit=3)
    assert [r["id"] for r in records] == [c["id"] for c in cycles[4:9]]


async def test_the_window_applies_to_every_collection_consistently(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    start, end = "2025-08-01T00:00:00Z", "2025-08-15T00:00:00Z"
    low, high = datetime(2025, 8, 1, tzinfo=UTC), datetime(2025, 8, 15, tzinfo=UTC)
    for path in ("/developer/v2/cycle", "/developer/v2/activity/sleep", "/developer/v2/activity/workout"):
        records = await _all_pages(client, path, auth, start=start, end=end, limit=25)
        assert records
        starts = [datetime.fromisoformat(r["start"]) for r in records]
        assert all(low <= s < high for s in starts)
        assert starts == sorted(starts, reverse=True)
    recoveries = await _all_pages(client, "/developer/v2/recovery", auth, start=start, end=end, limit=25)
    cycles = await _all_pages(client, "/developer/v2/cycle", auth, start=start, end=end, limit=25)
    assert [r["cycle_id"] for r in recoveries] == [c["id"] for c in cycles]


async def test_dates_with_offsets_are_understood(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    utc = await _all_pages(client, "/developer/v2/cycle", auth, start="2025-08-01T05:00:00Z", limit=25)
    local = await _all_pages(client, "/developer/v2/cycle", auth, start="2025-08-01T00:00:00-05:00", limit=25)
    assert utc == local


async def test_an_empty_window_gives_no_records_and_no_token(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = (
        await client.get("/developer/v2/cycle", params={"start": "2030-01-01T00:00:00Z"}, headers=auth)
    ).json()
    assert body == {"records": []}
    body = (
        await client.get(
            "/developer/v2/cycle",
            params={"start": "2025-08-02T00:00:00Z", "end": "2025-08-01T00:00:00Z"},
            headers=auth,
        )
    ).json()
    assert body == {"records": []}


async def test_a_page_that_exactly_fills_the_window_has_no_next_token(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    cycles = fake.data.cycles
    body = (
        await client.get(
            "/developer/v2/cycle",
            params={"start": cycles[4]["start"], "end": cycles[0]["start"], "limit": 4},
            headers=auth,
        )
    ).json()
    assert [c["id"] for c in body["records"]] == [c["id"] for c in cycles[1:5]]
    assert "next_token" not in body


@pytest.mark.parametrize("limit", ["0", "-1", "26", "100", "ten", "2.5", " "])
async def test_an_out_of_range_or_malformed_limit_is_a_400(
    client: httpx.AsyncClient, auth: dict[str, str], limit: str
) -> None:
    answer = await client.get("/developer/v2/cycle", params={"limit": limit}, headers=auth)
    assert answer.status_code == 400
    assert "limit" in answer.json()["message"]


@pytest.mark.parametrize("limit", ["1", "25"])
async def test_limits_from_1_to_25_are_accepted(
    client: httpx.AsyncClient, auth: dict[str, str], limit: str
) -> None:
    answer = await client.get(
        "/developer/v2/workout".replace("workout", "activity/workout"), params={"limit": limit}, headers=auth
    )
    assert answer.status_code == 200
    assert len(answer.json()["records"]) == int(limit)


@pytest.mark.parametrize(
    "params",
    [
        {"start": "yesterday"},
        {"start": "2025-08-01"},
        {"end": "2025-13-01T00:00:00Z"},
        {"start": "2025-08-01T00:00:00 00:00"},
        {"nextToken": "not-a-token!"},
        {"nextToken": "MTIzOjEyMzEyMw"},
    ],
)
async def test_malformed_dates_and_tokens_are_a_400(
    client: httpx.AsyncClient, auth: dict[str, str], params: dict[str, str]
) -> None:
    answer = await client.get("/developer/v2/cycle", params=params, headers=auth)
    assert answer.status_code == 400
    assert answer.json()["error"] == "bad_request"


async def test_records_can_be_fetched_by_id(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    data = fake.data
    cycle = data.cycles[5]
    assert (await client.get(f"/developer/v2/cycle/{cycle['id']}", headers=auth)).json() == cycle
    recovery = (await client.get(f"/developer/v2/cycle/{cycle['id']}/recovery", headers=auth)).json()
    assert recovery["cycle_id"] == cycle["id"]
    sleep = (await client.get(f"/developer/v2/cycle/{cycle['id']}/sleep", headers=auth)).json()
    assert sleep["id"] == recovery["sleep_id"] and sleep["start"] == cycle["start"] and not sleep["nap"]
    assert (await client.get(f"/developer/v2/activity/sleep/{sleep['id']}", headers=auth)).json() == sleep
    workout = data.workouts[3]
    assert (
        await client.get(f"/developer/v2/activity/workout/{workout['id']}", headers=auth)
    ).json() == workout
    upper = str(workout["id"]).upper()
    assert (await client.get(f"/developer/v2/activity/workout/{upper}", headers=auth)).json() == workout


async def test_the_profile_and_body_measurement_are_served(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    profile = (await client.get("/developer/v2/user/profile/basic", headers=auth)).json()
    assert set(profile) == {"user_id", "email", "first_name", "last_name"}
    body = (await client.get("/developer/v2/user/measurement/body", headers=auth)).json()
    assert 1.4 < body["height_meter"] < 2.2 and 40 < body["weight_kilogram"] < 150
    assert 150 < body["max_heart_rate"] < 220


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/developer/v2/cycle/1", 404),
        ("/developer/v2/cycle/1/recovery", 404),
        ("/developer/v2/cycle/1/sleep", 404),
        ("/developer/v2/cycle/abc", 400),
        ("/developer/v2/cycle/-5", 400),
        ("/developer/v2/cycle/99999999999999999999", 400),
        ("/developer/v2/activity/sleep/123e4567-e89b-12d3-a456-426614174000", 404),
        ("/developer/v2/activity/sleep/not-a-uuid", 400),
        ("/developer/v2/activity/workout/123e4567-e89b-12d3-a456-426614174000", 404),
        ("/developer/v2/activity/workout/123", 400),
        ("/developer/v1/activity-mapping/1", 404),
        ("/developer/v1/activity-mapping/x1", 400),
        ("/developer/v2/nothing-here", 404),
    ],
)
async def test_unknown_ids_are_404_and_malformed_ids_400(
    client: httpx.AsyncClient, auth: dict[str, str], path: str, status: int
) -> None:
    answer = await client.get(path, headers=auth)
    assert answer.status_code == status
    assert answer.json()["error"] in ("not_found", "bad_request")


async def test_the_activity_mapping_returns_the_v2_uuid_of_a_v1_id(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    mapping = fake.data.v1_activity_ids()
    assert mapping
    v1_id, v2_id = next(iter(mapping.items()))
    answer = await client.get(f"/developer/v1/activity-mapping/{v1_id}", headers=auth)
    assert answer.json() == {"v2_activity_id": v2_id}
    sleeps = {s["id"] for s in fake.data.sleeps} | {w["id"] for w in fake.data.workouts}
    assert set(mapping.values()) <= sleeps


@pytest.mark.parametrize(
    ("path", "scope"),
    [
        ("/developer/v2/cycle", "read:cycles"),
        ("/developer/v2/recovery", "read:recovery"),
        ("/developer/v2/activity/sleep", "read:sleep"),
        ("/developer/v2/activity/workout", "read:workout"),
        ("/developer/v2/user/profile/basic", "read:profile"),
        ("/developer/v2/user/measurement/body", "read:body_measurement"),
    ],
)
async def test_each_endpoint_requires_its_scope_and_answers_401_without_it(
    client: httpx.AsyncClient, fake: FakeWhoop, path: str, scope: str
) -> None:
    others = [
        s
        for s in (
            "read:recovery",
            "read:cycles",
            "read:workout",
            "read:sleep",
            "read:profile",
            "read:body_measurement",
        )
        if s != scope
    ]
    without = fake.issue_token(others)["access_token"]
    answer = await client.get(path, headers={"Authorization": f"Bearer {without}"})
    assert answer.status_code == 401
    assert answer.json()["error"] == "insufficient_scope"
    assert "insufficient_scope" in answer.headers["www-authenticate"]
    only = fake.issue_token([scope])["access_token"]
    assert (await client.get(path, headers={"Authorization": f"Bearer {only}"})).status_code == 200


async def test_cycle_sub_resources_require_the_scope_of_what_they_return(
    client: httpx.AsyncClient, fake: FakeWhoop
) -> None:
    cycle_id = fake.data.cycles[2]["id"]
    cycles_only = {"Authorization": f"Bearer {fake.issue_token(['read:cycles'])['access_token']}"}
    assert (
        await client.get(f"/developer/v2/cycle/{cycle_id}/recovery", headers=cycles_only)
    ).status_code == 401
    assert (await client.get(f"/developer/v2/cycle/{cycle_id}/sleep", headers=cycles_only)).status_code == 401
    assert (await client.get(f"/developer/v2/cycle/{cycle_id}", headers=cycles_only)).status_code == 200


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer ", "Bearer nope", "Basic ZGVtbzpkZW1v", "bearer nope"]
)
async def test_missing_or_unknown_tokens_get_401(
    client: httpx.AsyncClient, fake: FakeWhoop, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    answer = await client.get("/developer/v2/cycle", headers=headers)
    assert answer.status_code == 401
    assert "www-authenticate" in answer.headers
    assert fake.stats.unauthorized == 1


async def test_the_bearer_scheme_is_case_insensitive(client: httpx.AsyncClient, fake: FakeWhoop) -> None:
    token = fake.issue_token()["access_token"]
    assert (
        await client.get("/developer/v2/cycle", headers={"Authorization": f"bearer {token}"})
    ).status_code == 200


async def test_stats_count_api_requests_by_path(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    await client.get("/developer/v2/cycle", headers=auth)
    await client.get("/developer/v2/cycle", headers=auth)
    await client.get("/developer/v2/recovery", headers=auth)
    await client.get("/developer/v2/cycle")  # unauthorized requests count too
    assert fake.stats.requests == 4
    assert fake.stats.requests_by_path["/developer/v2/cycle"] == 3
    remote = (await client.get("/_fake/stats")).json()
    assert remote["requests"] == 4
    assert remote["requests_by_path"] == {"/developer/v2/cycle": 3, "/developer/v2/recovery": 1}
    fake.reset_stats()
    assert fake.stats.requests == 0 and not fake.stats.requests_by_path
    await client.post("/_fake/reset")
    assert (await client.get("/_fake/stats")).json()["requests"] == 0


async def test_control_endpoints_can_be_switched_off(fake: FakeWhoop) -> None:
    from whoopkit.fake_whoop import create_fake_whoop

    quiet = create_fake_whoop(control_endpoints=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=quiet), base_url="http://fake") as client:
        assert (await client.get("/_fake/stats")).status_code == 404
        assert (await client.post("/_fake/token")).status_code == 404
