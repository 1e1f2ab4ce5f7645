"""Sync against the fake WHOOP into a real SQLite store: re-scores, deletions, pending records, resumes."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from whoopkit.errors import WhoopAPIError, WhoopUnavailableError
from whoopkit.fake_whoop import FakeWhoop, create_fake_whoop
from whoopkit.service import SyncProgress, WhoopService, build_service
from whoopkit.store import COLLECTIONS
from whoopkit.tokens import Token, TokenStore

pytestmark = pytest.mark.anyio

FAKE_KIND = {"cycles": "cycle", "recoveries": "recovery", "sleeps": "sleep", "workouts": "workout"}


def stored(service: WhoopService, kind: str) -> list[dict[str, Any]]:
    return service.stored_raw(kind, None, None)  # type: ignore[arg-type]


def snapshot(service: WhoopService) -> dict[str, list[dict[str, Any]]]:
    return {
        kind: sorted(stored(service, kind), key=lambda r: str(r.get("id", r.get("cycle_id"))))
        for kind in COLLECTIONS
    }


def upstream(fake: FakeWhoop, kind: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = getattr(fake.data, kind)
    return records


def requests_made(fake: FakeWhoop) -> int:
    return int(fake.stats.as_dict()["requests"])


async def year_service(tmp_path: Path, fake: FakeWhoop, now: datetime) -> WhoopService:
    settings = make_settings(tmp_path)
    TokenStore(settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    return build_service(settings, demo=False, fake=fake, clock=lambda: now)


@pytest.fixture
async def year(tmp_path: Path, fake_now: datetime) -> AsyncIterator[tuple[FakeWhoop, WhoopService]]:
    fake = create_fake_whoop(auto_approve=True, now=fake_now, days=365)
    service = await year_service(tmp_path, fake, fake_now)
    try:
        yield fake, service
    finally:
        await service.aclose()


async def test_a_first_sync_of_a_year_stores_every_record_once_near_the_minimum_number_of_pages(
    year: tuple[FakeWhoop, WhoopService],
) -> None:
    fake, service = year
    report = await service.sync(days=365)
    minimum = 0
    for kind in COLLECTIONS:
        expected = upstream(fake, kind)
        assert len(stored(service, kind)) == len(expected), kind
        minimum += math.ceil(len(expected) / 25)
    assert report.new == sum(len(upstream(fake, k)) for k in COLLECTIONS)
    assert report.requests <= 1.3 * minimum, (report.requests, minimum)


async def test_a_repeat_sync_with_nothing_changed_costs_one_request_per_collection(
    year: tuple[FakeWhoop, WhoopService],
) -> None:
    _fake, service = year
    await service.sync(days=365)
    before = snapshot(service)
    report = await service.sync(days=365)
    assert report.requests == len(COLLECTIONS)
    assert (report.new, report.updated, report.deleted) == (0, 0, 0)
    assert snapshot(service) == before


async def test_syncing_all_history_stops_where_history_begins(year: tuple[FakeWhoop, WhoopService]) -> None:
    fake, service = year
    await service.sync()
    status = service.store_status()
    for kind in COLLECTIONS:
        assert status.collections[kind].rows == len(upstream(fake, kind))
        assert status.collections[kind].complete
    again = await service.sync()
    assert again.requests == len(COLLECTIONS)


async def test_a_re_scored_record_is_updated_in_the_store(service: WhoopService, fake: FakeWhoop) -> None:
    await service.sync(days=30)
    recovery = upstream(fake, "recoveries")[2]
    fake.rescore("recovery", recovery["cycle_id"], recovery_score=12.0)
    report = await service.sync(days=30)
    assert report.updated >= 1
    [row] = [r for r in stored(service, "recoveries") if r["cycle_id"] == recovery["cycle_id"]]
    assert row["score"]["recovery_score"] == 12.0


async def test_a_record_deleted_upstream_is_removed_and_a_deleted_sleep_takes_its_recovery(
    service: WhoopService, fake: FakeWhoop
) -> None:
    await service.sync(days=30)
    workout = upstream(fake, "workouts")[0]
    sleep = next(s for s in upstream(fake, "sleeps")[1:] if not s["nap"])
    fake.delete_record("workout", workout["id"])
    fake.delete_record("sleep", sleep["id"])
    report = await service.sync(days=30)
    assert report.deleted >= 3
    assert all(w["id"] != workout["id"] for w in stored(service, "workouts"))
    assert all(s["id"] != sleep["id"] for s in stored(service, "sleeps"))
    assert all(r["sleep_id"] != sleep["id"] for r in stored(service, "recoveries"))
    assert len(stored(service, "sleeps")) == len(
        [s for s in upstream(fake, "sleeps") if s["start"] >= stored(service, "sleeps")[0]["start"]]
    )


async def test_an_old_pending_record_is_fetched_again_until_it_is_scored(
    service: WhoopService, fake: FakeWhoop
) -> None:
    # Older than the trailing window, so only the pending rule brings it back.
    old = upstream(fake, "sleeps")[20]
    fake.rescore("sleep", old["id"], score_state="PENDING_SCORE")
    await service.sync(days=60)
    [row] = [s for s in stored(service, "sleeps") if s["id"] == old["id"]]
    assert row["score_state"] == "PENDING_SCORE"
    fake.score_pending()
    await service.sync(days=60)
    [row] = [s for s in stored(service, "sleeps") if s["id"] == old["id"]]
    assert row["score_state"] == "SCORED"


async def test_re_deliveries_never_inflate_sleep_minutes(service: WhoopService, fake: FakeWhoop) -> None:
    await service.sync(days=60)

    def asleep_hours() -> float:
        return sum(
            (d.sleep_hours or 0.0) + (d.nap_hours or 0.0)
            for d in service.stored_days(service.today() - timedelta(days=50), service.today())
        )

    first = asleep_hours()
    for _ in range(3):
        await service.sync(days=60)
    assert asleep_hours() == first


async def test_a_sync_cut_off_midway_resumes_to_the_same_rows_as_one_clean_sync(
    tmp_path: Path, fake_now: datetime
) -> None:
    clean_fake = create_fake_whoop(now=fake_now, days=200)
    clean = await year_service(tmp_path / "clean", clean_fake, fake_now)
    cut_fake = create_fake_whoop(now=fake_now, days=200)
    cut = await year_service(tmp_path / "cut", cut_fake, fake_now)
    try:
        await clean.sync(days=200)

        def break_midway(progress: SyncProgress) -> None:
            # A non-retried error, so the cut costs no retries (the kill -9 test covers a real crash).
            if progress.done >= 9 and not cut_fake.faults.pending:
                cut_fake.faults.fail_next(400, count=10_000)

        with pytest.raises(WhoopAPIError):
            await cut.sync(days=200, progress=break_midway)
        partial = sum(len(stored(cut, k)) for k in COLLECTIONS)
        assert 0 < partial < sum(len(stored(clean, k)) for k in COLLECTIONS)
        cut_fake.faults.clear()
        await cut.sync(days=200)
        assert snapshot(cut) == snapshot(clean)
    finally:
        await clean.aclose()
        await cut.aclose()


async def test_a_question_inside_the_freshness_window_costs_no_upstream_request(
    service: WhoopService, fake: FakeWhoop
) -> None:
    await service.sync(days=30)
    before = requests_made(fake)
    answer = await service.days(service.today() - timedelta(days=13), service.today())
    assert requests_made(fake) == before
    assert len(answer.data) == 14 and not answer.freshness.stale


async def test_a_stale_head_is_refreshed_with_one_request_per_collection(
    tmp_path: Path, fake: FakeWhoop, fake_now: datetime
) -> None:
    clock = [fake_now]
    settings = make_settings(tmp_path)
    TokenStore(settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    service = build_service(settings, demo=False, fake=fake, clock=lambda: clock[0])
    try:
        await service.sync(days=30)
        clock[0] = fake_now + timedelta(seconds=settings.whoop_fresh_seconds + 1)
        before = requests_made(fake)
        answer = await service.days(service.today() - timedelta(days=6), service.today())
        assert requests_made(fake) - before == len(COLLECTIONS)
        assert answer.freshness.as_of == clock[0]
    finally:
        await service.aclose()


async def test_with_whoop_down_after_a_sync_answers_come_from_the_store_marked_stale_in_bounded_time(
    tmp_path: Path, fake: FakeWhoop, fake_now: datetime
) -> None:
    clock = [fake_now]
    settings = make_settings(tmp_path)
    TokenStore(settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    service = build_service(settings, demo=False, fake=fake, clock=lambda: clock[0])
    try:
        await service.sync(days=30)
        fake.set_down(True)
        clock[0] = fake_now + timedelta(hours=2)
        started = time.monotonic()
        answer = await service.days(service.today() - timedelta(days=6), service.today())
        assert time.monotonic() - started < settings.whoop_request_deadline
        assert answer.freshness.stale
        assert answer.freshness.as_of == fake_now
        assert answer.freshness.problem and "stored data" in answer.freshness.problem
        assert len(answer.data) == 7
    finally:
        await service.aclose()


async def test_with_whoop_down_and_nothing_stored_the_answer_is_a_clear_unavailable_error(
    service: WhoopService, fake: FakeWhoop
) -> None:
    await service.profile()  # the user id is known; the collections are not
    fake.set_down(True)
    with pytest.raises(WhoopUnavailableError):
        await service.days(service.today() - timedelta(days=6), service.today())


async def test_today_is_the_users_local_date_from_their_latest_cycle(tmp_path: Path) -> None:
    # 03:00 UTC is 22:00 the evening before for a user at -05:00.
    now = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    fake = create_fake_whoop(now=now)
    service = await year_service(tmp_path, fake, now)
    try:
        await service.sync(days=7)
        assert service.today() == now.date() - timedelta(days=1)
    finally:
        await service.aclose()


async def test_the_demo_keeps_its_history_in_its_own_store(tmp_path: Path, fake_now: datetime) -> None:
    settings = make_settings(tmp_path, WHOOP_CLIENT_ID="", WHOOP_DEMO=True)
    service = build_service(settings, clock=lambda: fake_now)
    try:
        assert service.demo
        assert service.store.location != str(settings.whoop_data_dir / "whoop.db")
        assert "demo" in service.store.location
    finally:
        await service.aclose()


async def test_with_a_moving_clock_a_repeat_question_inside_the_fresh_window_costs_no_request(
    tmp_path: Path, fake: FakeWhoop, fake_now: datetime
) -> None:
    ticks = [0]

    def clock() -> datetime:
        # Every reading is a little later, as on a real machine.
        ticks[0] += 1
        return fake_now + timedelta(milliseconds=ticks[0])

    settings = make_settings(tmp_path)
    TokenStore(settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    service = build_service(settings, demo=False, fake=fake, clock=clock)
    try:
        await service.recent()
        before = requests_made(fake)
        again = await service.recent()
        assert requests_made(fake) == before
        assert not again.freshness.stale and again.freshness.as_of is not None
    finally:
        await service.aclose()
