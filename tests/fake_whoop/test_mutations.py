"""What the fake does after delivery, like WHOOP: re-scoring, late scoring, deletions and outages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.fake_whoop.conftest import NOW, Clock, authorize_url
from tests.test_contract import assert_valid
from whoopkit.fake_whoop import FakeWhoop, UnknownRecordError, create_fake_whoop
from whoopkit.fake_whoop.data import iso

pytestmark = pytest.mark.anyio

SCHEMAS = {
    "/developer/v2/cycle": "PaginatedCycleResponse",
    "/developer/v2/recovery": "RecoveryCollection",
    "/developer/v2/activity/sleep": "PaginatedSleepResponse",
    "/developer/v2/activity/workout": "WorkoutCollection",
}
RECORD_SCHEMAS = {"cycle": "Cycle", "recovery": "Recovery", "sleep": "Sleep", "workout": "WorkoutV2"}


def _key(record: dict[str, Any]) -> str:
    return str(record.get("id", record.get("cycle_id")))


async def _walk(
    client: httpx.AsyncClient, path: str, auth: dict[str, str], limit: int = 25
) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    token = None
    for _ in range(1000):
        params: dict[str, Any] = {"limit": limit, **({"nextToken": token} if token else {})}
        answer = await client.get(path, params=params, headers=auth)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert_valid(SCHEMAS[path], body)
        records += body["records"]
        token = body.get("next_token")
        if token is None:
            return records
    raise AssertionError("pagination did not end")


def _scored(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["score_state"] == "SCORED"]


def _later(a: str, b: str) -> bool:
    return datetime.fromisoformat(a) > datetime.fromisoformat(b)


# ------------------------------------------------------------------------------------------- rescore


async def test_a_rescored_recovery_is_served_with_the_new_score_and_a_newer_updated_at(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    recovery = _scored(fake.data.recoveries)[5]
    cycle_id, before = recovery["cycle_id"], recovery["updated_at"]
    fake.rescore("recovery", cycle_id, recovery_score=12)
    by_id = (await client.get(f"/developer/v2/cycle/{cycle_id}/recovery", headers=auth)).json()
    assert by_id["score"]["recovery_score"] == 12.0
    assert by_id["updated_at"] == iso(NOW)
    assert _later(by_id["updated_at"], before)
    listed = [r for r in await _walk(client, "/developer/v2/recovery", auth) if r["cycle_id"] == cycle_id]
    assert listed == [by_id]
    assert_valid("Recovery", by_id)


async def test_rescoring_twice_at_the_same_fake_now_still_moves_updated_at_forward(
    fake: FakeWhoop,
) -> None:
    cycle = _scored(fake.data.cycles)[3]
    first = fake.rescore("cycle", cycle["id"], strain=15.5)["updated_at"]
    second = fake.rescore("cycle", cycle["id"], strain=16)["updated_at"]
    assert _later(second, first)
    assert cycle["score"]["strain"] == 16.0


async def test_updated_at_follows_the_fake_now_when_a_test_moves_it(fake: FakeWhoop) -> None:
    fake.now = NOW + timedelta(days=1)
    workout = _scored(fake.data.workouts)[0]
    assert fake.rescore("workout", workout["id"], strain=9.5)["updated_at"] == iso(NOW + timedelta(days=1))


async def test_rescored_sleep_stages_still_add_up_to_the_time_in_bed(fake: FakeWhoop) -> None:
    sleep = next(
        s for s in _scored(fake.data.sleeps) if not s["nap"] and "sleep_efficiency_percentage" in s["score"]
    )
    stages = sleep["score"]["stage_summary"]
    fake.rescore(
        "sleep", sleep["id"], total_light_sleep_time_milli=stages["total_light_sleep_time_milli"] + 3_600_000
    )
    stages = sleep["score"]["stage_summary"]
    parts = (
        "total_awake_time_milli",
        "total_no_data_time_milli",
        "total_light_sleep_time_milli",
        "total_slow_wave_sleep_time_milli",
        "total_rem_sleep_time_milli",
    )
    assert stages["total_in_bed_time_milli"] == sum(stages[p] for p in parts)
    asleep = (
        stages["total_in_bed_time_milli"]
        - stages["total_awake_time_milli"]
        - stages["total_no_data_time_milli"]
    )
    assert sleep["score"]["sleep_efficiency_percentage"] == pytest.approx(
        asleep / stages["total_in_bed_time_milli"] * 100
    )
    assert_valid("Sleep", sleep)


async def test_a_pending_workout_rescored_without_changes_becomes_scored_with_a_plausible_score(
    fake: FakeWhoop,
) -> None:
    pending = next(w for w in fake.data.workouts if w["score_state"] == "PENDING_SCORE")
    record = fake.rescore("workout", pending["id"])
    assert record["score_state"] == "SCORED"
    assert 0 < record["score"]["strain"] <= 21
    assert 60 < record["score"]["average_heart_rate"] < record["score"]["max_heart_rate"] <= 192
    assert_valid("WorkoutV2", record)


async def test_a_record_can_be_made_pending_again_and_gets_its_score_back_when_scored(
    fake: FakeWhoop,
) -> None:
    sleep = _scored(fake.data.sleeps)[2]
    original = sleep["score"]
    fake.rescore("sleep", sleep["id"], score_state="PENDING_SCORE")
    assert "score" not in sleep and sleep["score_state"] == "PENDING_SCORE"
    assert_valid("Sleep", sleep)
    fake.rescore("sleep", sleep["id"])
    assert sleep["score_state"] == "SCORED" and sleep["score"] == original


async def test_an_unscorable_cycle_given_a_strain_becomes_scored_with_a_step_count(fake: FakeWhoop) -> None:
    cycle = next(c for c in fake.data.cycles if c["score_state"] == "UNSCORABLE")
    fake.rescore("cycle", cycle["id"], strain=11.2)
    assert cycle["score_state"] == "SCORED" and cycle["score"]["strain"] == 11.2
    assert isinstance(cycle["step_count"], int)
    assert_valid("Cycle", cycle)
    fake.rescore("cycle", cycle["id"], score_state="UNSCORABLE")
    assert "score" not in cycle and cycle["step_count"] is None
    assert_valid("Cycle", cycle)


async def test_every_kind_unscored_then_scored_again_by_synthesis_stays_valid(fake: FakeWhoop) -> None:
    data = fake.data
    targets = [
        ("cycle", data.cycles[0]["id"]),
        ("recovery", data.recoveries[0]["cycle_id"]),
        ("sleep", data.sleeps[0]["id"]),
        ("sleep", next(s for s in data.sleeps if s["nap"])["id"]),
        ("workout", data.workouts[1]["id"]),
    ]
    for kind, record_id in targets:
        record = fake.rescore(kind, record_id, score_state="UNSCORABLE")
        fake.data.hidden_scores.clear()  # forces a synthesized score below
        record = fake.rescore(kind, record_id, score_state="SCORED")
        assert record["score_state"] == "SCORED" and record["score"], kind
        assert_valid(RECORD_SCHEMAS[kind], record)


async def test_optional_score_fields_can_be_removed_but_required_ones_cannot(fake: FakeWhoop) -> None:
    recovery = _scored(fake.data.recoveries)[10]
    fake.rescore("recovery", recovery["cycle_id"], spo2_percentage=None, skin_temp_celsius=None)
    assert "spo2_percentage" not in recovery["score"]
    assert_valid("Recovery", recovery)
    with pytest.raises(ValueError, match="recovery_score cannot be removed"):
        fake.rescore("recovery", recovery["cycle_id"], recovery_score=None)


@pytest.mark.parametrize(
    ("kind", "changes", "message"),
    [
        ("recovery", {"recovery_score": 101}, "between 0 and 100"),
        ("recovery", {"recovery_score": "high"}, "must be a number"),
        ("recovery", {"user_calibrating": 1}, "true or false"),
        ("recovery", {"mood": 3}, "unknown recovery field"),
        ("sleep", {"total_rem_sleep_time_milli": 1.5}, "must be an integer"),
        ("workout", {"score_state": "DONE"}, "score_state must be one of"),
        ("workout", {"score_state": "UNSCORABLE", "strain": 3}, "only be set on a SCORED record"),
    ],
)
async def test_bad_changes_are_refused_with_a_clear_message(
    fake: FakeWhoop, kind: str, changes: dict[str, Any], message: str
) -> None:
    record = _scored(getattr(fake.data, {"recovery": "recoveries"}.get(kind, kind + "s")))[0]
    record_id = record["cycle_id"] if kind == "recovery" else record["id"]
    with pytest.raises(ValueError, match=message):
        fake.rescore(kind, record_id, **changes)


async def test_unknown_kinds_ids_and_records_are_refused(fake: FakeWhoop) -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        fake.rescore("nap", 1)
    with pytest.raises(ValueError, match="is a UUID"):
        fake.rescore("sleep", 42)
    with pytest.raises(ValueError, match="integer cycle id"):
        fake.delete_record("cycle", "abc")
    with pytest.raises(UnknownRecordError):
        fake.rescore("cycle", 1)
    with pytest.raises(UnknownRecordError):
        fake.delete_record("workout", "00000000-0000-4000-8000-000000000000")


# ------------------------------------------------------------------------------------------- score_pending


async def test_score_pending_scores_every_pending_record_and_counts_them(clock: Clock) -> None:
    # Just after waking: the newest sleep and its recovery are still being scored.
    fake = create_fake_whoop(now=datetime(2025, 10, 1, 12, 30, tzinfo=UTC), clock=clock)
    token = {"Authorization": f"Bearer {fake.issue_token()['access_token']}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as c:
        before = {path: await _walk(c, path, token) for path in SCHEMAS}
        pending = sum(r["score_state"] == "PENDING_SCORE" for rs in before.values() for r in rs)
        assert pending == 3  # the night just ended, its recovery, the newest workout
        assert fake.score_pending() == pending
        after = {path: await _walk(c, path, token) for path in SCHEMAS}
    assert not any(r["score_state"] == "PENDING_SCORE" for rs in after.values() for r in rs)
    for path, records in before.items():
        changed = [r for r in records if r["score_state"] == "PENDING_SCORE"]
        fresh = {_key(r): r for r in after[path]}
        for record in changed:
            assert fresh[_key(record)]["score"]
            assert _later(fresh[_key(record)]["updated_at"], record["updated_at"])
    assert fake.score_pending() == 0


# ------------------------------------------------------------------------------------------- delete


async def test_a_deleted_sleep_disappears_and_takes_its_recovery_along(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    sleep = next(s for s in fake.data.sleeps[5:] if not s["nap"])
    cycle_id = sleep["cycle_id"]
    assert fake.delete_record("sleep", sleep["id"]) == {"sleep": [sleep["id"]], "recovery": [cycle_id]}
    assert (await client.get(f"/developer/v2/activity/sleep/{sleep['id']}", headers=auth)).status_code == 404
    assert (await client.get(f"/developer/v2/cycle/{cycle_id}/recovery", headers=auth)).status_code == 404
    assert (await client.get(f"/developer/v2/cycle/{cycle_id}/sleep", headers=auth)).status_code == 404
    assert (await client.get(f"/developer/v2/cycle/{cycle_id}", headers=auth)).status_code == 200
    sleeps = await _walk(client, "/developer/v2/activity/sleep", auth)
    recoveries = await _walk(client, "/developer/v2/recovery", auth)
    assert sleep["id"] not in {s["id"] for s in sleeps}
    assert cycle_id not in {r["cycle_id"] for r in recoveries}
    assert len(recoveries) == len(fake.data.cycles) - 1


async def test_deleting_a_nap_keeps_the_recovery_of_that_cycle(fake: FakeWhoop) -> None:
    nap = next(s for s in fake.data.sleeps if s["nap"])
    assert fake.delete_record("sleep", nap["id"]) == {"sleep": [nap["id"]]}
    assert fake.data.recovery_for_cycle(nap["cycle_id"]) is not None


async def test_a_deleted_workout_also_loses_its_v1_activity_mapping(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    workout = next(w for w in fake.data.workouts if "v1_id" in w)
    v1_id, workout_id = workout["v1_id"], workout["id"]
    fake.delete_record("workout", workout_id)
    assert (await client.get(f"/developer/v2/activity/workout/{workout_id}", headers=auth)).status_code == 404
    assert (await client.get(f"/developer/v1/activity-mapping/{v1_id}", headers=auth)).status_code == 404


async def test_a_deleted_cycle_disappears_with_its_recovery(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    cycle_id = fake.data.cycles[7]["id"]
    response = await client.post("/_fake/delete", json={"kind": "cycle", "id": cycle_id})
    assert response.json() == {"deleted": {"cycle": [cycle_id], "recovery": [cycle_id]}}
    assert (await client.get(f"/developer/v2/cycle/{cycle_id}", headers=auth)).status_code == 404
    assert (await client.get(f"/developer/v2/cycle/{cycle_id}/recovery", headers=auth)).status_code == 404
    assert cycle_id not in {c["id"] for c in await _walk(client, "/developer/v2/cycle", auth)}


@pytest.mark.parametrize("which", ["next", "on_this_page", "far_ahead"])
async def test_a_walk_in_progress_still_sees_every_remaining_record_once_after_a_deletion(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop, which: str
) -> None:
    path = "/developer/v2/activity/workout"
    expected = [w["id"] for w in fake.data.workouts]
    first = (await client.get(path, params={"limit": 5}, headers=auth)).json()
    victim = {"next": expected[5], "on_this_page": expected[2], "far_ahead": expected[40]}[which]
    fake.delete_record("workout", victim)
    seen = [w["id"] for w in first["records"]]
    token = first["next_token"]
    while token:
        page = await client.get(path, params={"limit": 5, "nextToken": token}, headers=auth)
        assert page.status_code == 200, page.text
        seen += [w["id"] for w in page.json()["records"]]
        token = page.json().get("next_token")
    assert seen == [i for i in expected if i != victim or which == "on_this_page"]


async def test_a_forged_token_is_still_a_400_after_deletions(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    fake.delete_record("workout", fake.data.workouts[3]["id"])
    answer = await client.get(
        "/developer/v2/activity/workout", params={"nextToken": "MTIzOjEyMzEyMw"}, headers=auth
    )
    assert answer.status_code == 400


# ------------------------------------------------------------------------------------------- down


async def test_while_down_api_and_oauth_answer_503_and_control_endpoints_bring_it_back(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    assert (await client.post("/_fake/down", json={"down": True})).json() == {"down": True}
    api = await client.get("/developer/v2/cycle", headers=auth)
    token = await client.post(
        "/oauth/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "x",
            "client_id": "demo-client",
            "client_secret": "demo-secret",
        },
    )
    login = await client.get(authorize_url())
    assert [api.status_code, token.status_code, login.status_code] == [503, 503, 503]
    assert api.json()["error"] == "service_unavailable"
    stats = (await client.get("/_fake/stats")).json()
    assert stats["down"] is True and stats["unavailable"] == 3
    assert (await client.post("/_fake/down", json={"down": False})).json() == {"down": False}
    assert (await client.get("/developer/v2/cycle", headers=auth)).status_code == 200


async def test_bringing_the_fake_up_again_keeps_queued_faults(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    fake.set_down(True)
    fake.faults.fail_next(429, retry_after=2)
    assert (await client.get("/developer/v2/cycle", headers=auth)).status_code == 503
    fake.set_down(False)
    assert (await client.get("/developer/v2/cycle", headers=auth)).status_code == 429
    assert (await client.get("/developer/v2/cycle", headers=auth)).status_code == 200


async def test_reset_brings_a_down_fake_back_up(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    fake.set_down(True)
    await client.post("/_fake/reset")
    assert (await client.get("/developer/v2/user/profile/basic", headers=auth)).status_code == 200


# ------------------------------------------------------------------------------------ control endpoints


async def test_the_rescore_endpoint_returns_the_changed_record(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeWhoop
) -> None:
    workout = _scored(fake.data.workouts)[4]
    answer = await client.post(
        "/_fake/rescore",
        json={"kind": "workout", "id": workout["id"], "strain": 17.25, "zone_five_milli": 60_000},
    )
    assert answer.status_code == 200
    assert answer.json()["score"]["strain"] == 17.25
    assert answer.json()["score"]["zone_durations"]["zone_five_milli"] == 60_000
    served = await client.get(f"/developer/v2/activity/workout/{workout['id']}", headers=auth)
    assert served.json() == answer.json()


async def test_the_score_pending_endpoint_counts_what_it_scored(client: httpx.AsyncClient) -> None:
    assert (await client.post("/_fake/score_pending")).json() == {"scored": 1}
    assert (await client.post("/_fake/score_pending")).json() == {"scored": 0}


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/_fake/rescore", b"[1, 2]", 400, "JSON object"),
        ("/_fake/rescore", b"{not json", 400, "JSON object"),
        ("/_fake/rescore", b'{"kind": "sleep"}', 400, '"kind" and "id"'),
        ("/_fake/rescore", b'{"kind": "naps", "id": 1}', 400, "kind must be one of"),
        ("/_fake/rescore", b'{"kind": "cycle", "id": 1}', 404, "no cycle with id 1"),
        ("/_fake/rescore", b'{"kind": "cycle", "id": "x"}', 400, "integer cycle id"),
        ("/_fake/delete", b'{"kind": "cycle", "id": 1, "also": 2}', 400, "Unknown field"),
        ("/_fake/delete", b'{"kind": "sleep", "id": "nope"}', 400, "is a UUID"),
        ("/_fake/down", b'{"down": "yes"}', 400, '{"down": true}'),
        ("/_fake/down", b"{}", 400, '{"down": true}'),
    ],
)
async def test_control_endpoints_answer_bad_bodies_with_a_clear_message(
    client: httpx.AsyncClient, path: str, body: bytes, status: int, message: str
) -> None:
    answer = await client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status
    assert message in answer.json()["message"]


async def test_stats_count_records_by_state_and_mutations(client: httpx.AsyncClient, fake: FakeWhoop) -> None:
    total = len(fake.data.sleeps)
    await client.post("/_fake/delete", json={"kind": "sleep", "id": fake.data.sleeps[3]["id"]})
    stats = (await client.get("/_fake/stats")).json()
    assert stats["records"]["sleep"]["total"] == total - 1
    assert stats["records"]["workout"]["PENDING_SCORE"] == 1
    assert stats["deleted"] >= 1 and stats["down"] is False


async def test_without_control_endpoints_there_is_no_way_to_mutate_over_http(clock: Clock) -> None:
    fake = create_fake_whoop(now=NOW, clock=clock, control_endpoints=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as c:
        for path in ("/_fake/rescore", "/_fake/score_pending", "/_fake/delete", "/_fake/down"):
            assert (await c.post(path, json={})).status_code == 404


# ------------------------------------------------------------------------------------------- long histories


@pytest.mark.parametrize("days", [365, 400])
async def test_a_fake_with_a_long_history_serves_one_cycle_per_day(clock: Clock, days: int) -> None:
    fake = create_fake_whoop(now=NOW, clock=clock, days=days, requests_per_minute=10_000)
    token = {"Authorization": f"Bearer {fake.issue_token()['access_token']}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as c:
        cycles = await _walk(c, "/developer/v2/cycle", token)
        recoveries = await _walk(c, "/developer/v2/recovery", token)
    assert len(cycles) == days == len(recoveries)
    assert datetime.fromisoformat(cycles[-1]["start"]) < NOW - timedelta(days=days - 2)
