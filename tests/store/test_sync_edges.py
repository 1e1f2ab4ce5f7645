"""Edge cases of the store, the sync and the service's read path, on real SQLite and the fake WHOOP.

Tests marked ``xfail(strict=True, reason="BUG: ...")`` prove a defect that is still open: they fail
today and will turn the suite red (XPASS) once the defect is fixed, so the marker must go then.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import random
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import Engine, event

import whoopkit.store.store as store_module
from tests.conftest import FAKE_HOST, make_settings
from whoopkit.config import PROJECT_ROOT, Settings
from whoopkit.errors import RateLimitedError, StoreError, WhoopAPIError
from whoopkit.fake_whoop import FakeWhoop, create_fake_whoop
from whoopkit.fake_whoop.data import Collection as FakeCollection
from whoopkit.models import Cycle, Recovery, Sleep
from whoopkit.service import SyncProgress, WhoopService, build_service
from whoopkit.store import COLLECTIONS, Store, SyncState, to_ms
from whoopkit.tokens import Token, TokenStore

pytestmark = pytest.mark.anyio

FAKE_KIND = {"cycles": "cycle", "recoveries": "recovery", "sleeps": "sleep", "workouts": "workout"}
KEY = {"cycles": "id", "recoveries": "cycle_id", "sleeps": "id", "workouts": "id"}
DAY = timedelta(days=1)


# ---------------------------------------------------------------------------------------- helpers


def logged_in_settings(home: Path, fake: FakeWhoop) -> Settings:
    settings = make_settings(home)
    TokenStore(settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    return settings


def new_service(home: Path, fake: FakeWhoop, clock: Callable[[], datetime]) -> WhoopService:
    return build_service(logged_in_settings(home, fake), demo=False, fake=fake, clock=clock)


def stored(service: WhoopService, kind: str) -> list[dict[str, Any]]:
    return service.stored_raw(kind, None, None)  # type: ignore[arg-type]


def ids(records: list[dict[str, Any]], kind: str) -> list[str]:
    return sorted(str(r[KEY[kind]]) for r in records)


def upstream(fake: FakeWhoop, kind: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = getattr(fake.data, kind)
    return records


def requests_made(fake: FakeWhoop) -> int:
    return int(fake.stats.as_dict()["requests"])


def collection_requests(fake: FakeWhoop) -> int:
    by_path: dict[str, int] = fake.stats.as_dict()["requests_by_path"]
    return sum(n for path, n in by_path.items() if "profile" not in path and "measurement" not in path)


def assert_store_mirrors_upstream(service: WhoopService, fake: FakeWhoop) -> None:
    for kind in COLLECTIONS:
        assert ids(stored(service, kind), kind) == ids(upstream(fake, kind), kind), kind


def delete_upstream_between(fake: FakeWhoop, lo: datetime, hi: datetime) -> None:
    """Remove every record starting in ``[lo, hi)`` upstream: a strap left in a drawer."""

    def inside(record: dict[str, Any]) -> bool:
        return lo <= datetime.fromisoformat(record["start"]) < hi

    for kind in ("workouts", "sleeps", "cycles"):
        for record in [r for r in upstream(fake, kind) if inside(r)]:
            fake.delete_record(FAKE_KIND[kind], record["id"])
    sleeps = {s["id"] for s in upstream(fake, "sleeps")}
    for recovery in [r for r in upstream(fake, "recoveries") if r["sleep_id"] not in sleeps]:
        fake.delete_record("recovery", recovery["cycle_id"])


def add_tied_workouts(fake: FakeWhoop, count: int, start: datetime) -> list[str]:
    """Add ``count`` workouts that all start at the same millisecond; returns their ids."""
    template = next(w for w in upstream(fake, "workouts") if w["score_state"] == "SCORED")
    added: list[str] = []
    collection = fake.data.workout_collection
    for _ in range(count):
        record = copy.deepcopy(template)
        record.pop("v1_id", None)
        record["id"] = str(uuid.uuid4())
        record["start"] = start.isoformat().replace("+00:00", "Z")
        record["end"] = (start + timedelta(minutes=40)).isoformat().replace("+00:00", "Z")
        collection.add(record, start, record["id"])
        added.append(record["id"])
    collection.finish()
    return added


@pytest.fixture
async def fresh_fake_service(
    tmp_path: Path, fake_now: datetime
) -> AsyncIterator[tuple[FakeWhoop, WhoopService]]:
    fake = create_fake_whoop(now=fake_now, days=90)
    service = new_service(tmp_path, fake, lambda: fake_now)
    try:
        yield fake, service
    finally:
        await service.aclose()


# ------------------------------------------------------------------ SyncState intervals (pure)


def test_sync_state_gaps_and_merges_agree_with_a_brute_force_model() -> None:
    rng = random.Random(3)
    for _ in range(300):
        state = SyncState()
        covered: set[int] = set()
        for _ in range(rng.randrange(0, 6)):
            a = rng.randrange(0, 60)
            b = a + rng.randrange(-3, 20)
            state.add(a, b)
            covered.update(range(a, b))
        # Merged: sorted, disjoint and not touching.
        for (_, b1), (a2, _) in itertools.pairwise(state.intervals):
            assert b1 < a2
        assert {p for a, b in state.intervals for p in range(a, b)} == covered
        lo, hi = rng.randrange(-5, 50), rng.randrange(-5, 80)
        gaps = state.gaps(lo, hi)
        assert gaps == sorted(gaps, reverse=True)
        assert all(a < b for a, b in gaps)
        assert {p for a, b in gaps for p in range(a, b)} == set(range(lo, hi)) - covered


# ------------------------------------------------------------------ window and page edges


async def test_records_tied_on_their_start_across_the_first_page_edge_are_all_stored_once(
    fresh_fake_service: tuple[FakeWhoop, WhoopService], fake_now: datetime
) -> None:
    fake, service = fresh_fake_service
    # 40 workouts at one instant: the first page of 25 ends in the middle of the tie.
    added = add_tied_workouts(fake, 40, fake_now - timedelta(hours=5))
    await service.sync(days=30)
    stored_ids = ids(stored(service, "workouts"), "workouts")
    assert len(stored_ids) == len(set(stored_ids))
    assert set(added) <= set(stored_ids)
    again = await service.sync(days=30)
    assert (again.new, again.deleted) == (0, 0)


async def test_records_tied_on_their_start_at_the_all_history_probe_edge_are_all_stored_once(
    tmp_path: Path, fake_now: datetime
) -> None:
    fake = create_fake_whoop(now=fake_now, days=40)
    # Ties well below the first page, where the all-history backfill probes with an exclusive end.
    add_tied_workouts(fake, 30, fake_now - timedelta(days=33, hours=3))
    service = new_service(tmp_path, fake, lambda: fake_now)
    try:
        await service.sync()
        assert_store_mirrors_upstream(service, fake)
        assert all(service.store_status().collections[k].complete for k in COLLECTIONS)
    finally:
        await service.aclose()


# ------------------------------------------------------------------ the all-history backfill


async def test_a_user_with_fewer_than_a_page_of_records_is_complete_after_one_request_each(
    tmp_path: Path, fake_now: datetime
) -> None:
    fake = create_fake_whoop(now=fake_now, days=6)
    service = new_service(tmp_path, fake, lambda: fake_now)
    try:
        await service.sync()
        assert collection_requests(fake) == len(COLLECTIONS)
        assert_store_mirrors_upstream(service, fake)
        assert all(service.store_status().collections[k].complete for k in COLLECTIONS)
        fake.reset_stats()
        await service.sync()
        assert collection_requests(fake) == len(COLLECTIONS)
    finally:
        await service.aclose()


async def test_an_empty_account_syncs_to_an_empty_complete_store_and_later_records_arrive(
    tmp_path: Path, fake_now: datetime
) -> None:
    fake = create_fake_whoop(now=fake_now, days=20)
    kept = {kind: copy.deepcopy(getattr(fake.data, f"{FAKE_KIND[kind]}_collection")) for kind in COLLECTIONS}
    for kind in COLLECTIONS:
        setattr(fake.data, f"{FAKE_KIND[kind]}_collection", FakeCollection())
    clock = [fake_now]
    service = new_service(tmp_path, fake, lambda: clock[0])
    try:
        report = await service.sync()
        assert report.new == 0
        status = service.store_status()
        assert all(status.collections[k].complete and status.collections[k].rows == 0 for k in COLLECTIONS)
        # The member starts wearing the strap: the records appear upstream.
        for kind in COLLECTIONS:
            setattr(fake.data, f"{FAKE_KIND[kind]}_collection", kept[kind])
        clock[0] = fake_now + timedelta(minutes=10)
        await service.sync()
        recent = fake_now - timedelta(days=6)
        for kind in COLLECTIONS:
            want = {
                str(r[KEY[kind]])
                for r in upstream(fake, kind)
                if datetime.fromisoformat(r["created_at"] if kind == "recoveries" else r["start"]) >= recent
            }
            assert want <= set(ids(stored(service, kind), kind)), kind
    finally:
        await service.aclose()


async def test_all_history_reaches_past_a_months_long_gap_in_wear(tmp_path: Path, fake_now: datetime) -> None:
    fake = create_fake_whoop(now=fake_now, days=300)
    delete_upstream_between(fake, fake_now - timedelta(days=230), fake_now - timedelta(days=60))
    service = new_service(tmp_path, fake, lambda: fake_now)
    try:
        await service.sync()
        assert_store_mirrors_upstream(service, fake)
        assert min(r["start"] for r in stored(service, "cycles")) == min(
            r["start"] for r in upstream(fake, "cycles")
        )
        assert all(service.store_status().collections[k].complete for k in COLLECTIONS)
    finally:
        await service.aclose()


# ------------------------------------------------------------------ pending records, --days


async def test_a_pending_record_older_than_a_month_is_still_fetched_again_once_scored(
    tmp_path: Path, fake_now: datetime
) -> None:
    fake = create_fake_whoop(now=fake_now, days=90)
    old = next(
        s
        for s in upstream(fake, "sleeps")
        if datetime.fromisoformat(s["start"]) < fake_now - timedelta(days=40) and not s["nap"]
    )
    fake.rescore("sleep", old["id"], score_state="PENDING_SCORE")
    service = new_service(tmp_path, fake, lambda: fake_now)
    try:
        await service.sync(days=60)
        fake.score_pending()
        await service.sync(days=60)
        [row] = [s for s in stored(service, "sleeps") if s["id"] == old["id"]]
        assert row["score_state"] == "SCORED"
    finally:
        await service.aclose()


async def test_asking_for_the_days_just_synced_with_days_costs_no_request_in_a_us_evening(
    tmp_path: Path,
) -> None:
    now = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 22:00 the evening before at -05:00
    fake = create_fake_whoop(now=now, days=60)
    service = new_service(tmp_path, fake, lambda: now)
    try:
        await service.sync(days=30)
        today = service.today()
        before = requests_made(fake)
        answer = await service.days(today - timedelta(days=29), today)
        assert requests_made(fake) == before
        assert len(answer.data) == 30
    finally:
        await service.aclose()


# ------------------------------------------------------------------ recoveries in the store


def _night(now: datetime, index: int) -> tuple[Sleep, Recovery]:
    fake = create_fake_whoop(now=now, days=30)
    sleep_raw = [s for s in fake.data.sleeps if not s["nap"] and s["score_state"] == "SCORED"][index]
    recovery_raw = next(r for r in fake.data.recoveries if r["sleep_id"] == sleep_raw["id"])
    return Sleep.model_validate(sleep_raw), Recovery.model_validate(recovery_raw)


def test_a_recovery_is_not_deleted_by_a_window_its_sleep_does_not_start_in(tmp_path: Path) -> None:
    now = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    sleep, recovery = _night(now, 5)
    store = Store.open(f"sqlite:///{tmp_path / 'whoop.db'}")
    try:
        # As in a sync cut off before its final fix: the recovery landed before its sleep.
        store.upsert(1, "recoveries", [recovery], now)
        store.upsert(1, "sleeps", [sleep], now)
        # WHOOP lists recoveries by their sleep's start: one starting before lo is not in [lo, hi).
        lo = to_ms(sleep.start) + 3_600_000
        hi = to_ms(sleep.start) + 86_400_000
        store.commit_window(1, "recoveries", lo, hi, [], [], now, head=False)
        kept = store.records(1, "recoveries", sleep.start - DAY, sleep.start + 2 * DAY)
        assert [r.cycle_id for r in kept] == [recovery.cycle_id]
    finally:
        store.close()


def test_a_recovery_stored_before_its_sleep_gets_the_sleeps_start_and_a_deleted_sleep_takes_it(
    tmp_path: Path,
) -> None:
    now = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    sleep, recovery = _night(now, 3)
    store = Store.open(f"sqlite:///{tmp_path / 'whoop.db'}")
    try:
        store.upsert(1, "recoveries", [recovery], now)
        # No sleep yet: not judged by a window, even one that would have listed it.
        lo, hi = to_ms(sleep.start) - 86_400_000, to_ms(now)
        store.commit_window(1, "recoveries", lo, hi, [], [], now, head=False)
        assert len(store.records(1, "recoveries", sleep.start - DAY, now)) == 1
        store.upsert(1, "sleeps", [sleep], now)
        assert store.fix_recovery_starts(1) == 1
        raw = store.raw_records(1, "recoveries", sleep.start, sleep.start + timedelta(milliseconds=1))
        assert [r["cycle_id"] for r in raw] == [recovery.cycle_id]
        store.commit_window(1, "sleeps", lo, hi, [], [], now, head=False)
        assert store.records(1, "recoveries", sleep.start - DAY, now) == []
    finally:
        store.close()


# ------------------------------------------------------------------ today and day filtering


async def test_a_fresh_process_on_a_synced_store_knows_the_users_today_before_any_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    now = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 22:00 on the 19th at the fake user's -05:00
    fake = create_fake_whoop(now=now, days=30)  # 30 days: the travel week (+01:00) lies in the past
    assert upstream(fake, "cycles")[0]["timezone_offset"] == "-05:00"
    first = new_service(tmp_path, fake, lambda: now)
    try:
        await first.sync(days=7)
        assert first.today() == date(2026, 11, 19)
    finally:
        await first.aclose()
    second = build_service(make_settings(tmp_path), demo=False, fake=fake, clock=lambda: now)
    try:
        assert second.today() == date(2026, 11, 19)
    finally:
        await second.aclose()
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.mark.parametrize(
    ("offset", "now", "expected"),
    [
        ("-08:00", datetime(2026, 11, 20, 6, 30, tzinfo=UTC), date(2026, 11, 19)),
        ("+14:00", datetime(2026, 11, 20, 11, 0, tzinfo=UTC), date(2026, 11, 21)),
        ("+01:00", datetime(2026, 11, 20, 23, 30, tzinfo=UTC), date(2026, 11, 21)),
    ],
)
async def test_today_follows_the_offset_of_the_latest_cycle_on_either_side_of_the_date_line(
    tmp_path: Path, offset: str, now: datetime, expected: date
) -> None:
    fake = create_fake_whoop(now=now, days=10)
    upstream(fake, "cycles")[0]["timezone_offset"] = offset
    service = new_service(tmp_path, fake, lambda: now)
    try:
        await service.sync(days=3)
        assert service.today() == expected
    finally:
        await service.aclose()


def _cycle_at(start_utc: datetime, offset: str, cycle_id: int = 424242) -> Cycle:
    return Cycle.model_validate(
        {
            "id": cycle_id,
            "user_id": 10129,
            "created_at": (start_utc + timedelta(hours=8)).isoformat(),
            "updated_at": (start_utc + timedelta(hours=9)).isoformat(),
            "start": start_utc.isoformat(),
            "end": (start_utc + timedelta(hours=24)).isoformat(),
            "timezone_offset": offset,
            "score_state": "SCORED",
            "score": {"strain": 9.0, "kilojoule": 8000.0, "average_heart_rate": 60, "max_heart_rate": 150},
        }
    )


async def test_a_plus_fourteen_cycle_of_a_day_is_read_back_for_that_day(service: WhoopService) -> None:
    user_id = await service.user_id()
    day = date(2026, 11, 20)
    # 13:00 on the 19th at +14:00 is 23:00 UTC on the 18th; +12 h puts it on WHOOP day the 20th.
    cycle = _cycle_at(datetime(2026, 11, 18, 23, 0, tzinfo=UTC), "+14:00")
    service.store.upsert(user_id, "cycles", [cycle], service.now())
    assert [row.date for row in service.stored_days(day, day) if row.cycle_id == cycle.id] == [day]
    assert [c.id for c in service.stored_cycles(day, day)] == [cycle.id]


@pytest.mark.parametrize(
    ("offset", "start_utc"),
    [
        ("-12:00", datetime(2026, 11, 20, 23, 30, tzinfo=UTC)),  # 11:30 local on the 20th
        ("-08:00", datetime(2026, 11, 20, 6, 0, tzinfo=UTC)),  # 22:00 local on the 19th
        ("+14:00", datetime(2026, 11, 19, 8, 0, tzinfo=UTC)),  # 22:00 local on the 19th
        ("+05:30", datetime(2026, 11, 19, 17, 0, tzinfo=UTC)),  # 22:30 local on the 19th
    ],
)
async def test_a_cycle_is_read_back_for_its_whoop_day_and_no_neighbouring_day(
    service: WhoopService, offset: str, start_utc: datetime
) -> None:
    user_id = await service.user_id()
    day = date(2026, 11, 20)
    cycle = _cycle_at(start_utc, offset)
    service.store.upsert(user_id, "cycles", [cycle], service.now())
    assert [c.id for c in service.stored_cycles(day, day)] == [cycle.id]
    assert service.stored_cycles(day - DAY, day - DAY) == []
    assert service.stored_cycles(day + DAY, day + DAY) == []


# ------------------------------------------------------------------ freshness and concurrency


async def test_two_concurrent_questions_on_an_empty_store_cost_what_one_costs(
    tmp_path: Path, fake_now: datetime
) -> None:
    alone_fake = create_fake_whoop(now=fake_now, days=60)
    alone = new_service(tmp_path / "alone", alone_fake, lambda: fake_now)
    both_fake = create_fake_whoop(now=fake_now, days=60)
    both = new_service(tmp_path / "both", both_fake, lambda: fake_now)
    try:
        today = alone.today()
        single = await alone.days(today - timedelta(days=13), today)
        a, b = await asyncio.gather(
            both.days(today - timedelta(days=13), today), both.days(today - timedelta(days=13), today)
        )
        assert collection_requests(both_fake) == collection_requests(alone_fake)
        assert len(a.data) == len(b.data) == len(single.data) == 14
        assert a.freshness.as_of == b.freshness.as_of == fake_now
    finally:
        await alone.aclose()
        await both.aclose()


async def test_an_old_range_already_stored_is_answered_fresh_without_a_request(
    tmp_path: Path, fake_now: datetime
) -> None:
    fake = create_fake_whoop(now=fake_now, days=90)
    clock = [fake_now]
    service = new_service(tmp_path, fake, lambda: clock[0])
    try:
        await service.sync(days=60)
        clock[0] = fake_now + timedelta(hours=3)
        before = requests_made(fake)
        today = service.today()
        answer = await service.days(today - timedelta(days=50), today - timedelta(days=40))
        assert requests_made(fake) == before
        assert not answer.freshness.stale and answer.freshness.as_of == fake_now
        assert len(answer.data) == 11
    finally:
        await service.aclose()


async def test_a_database_locked_by_another_writer_gives_a_stale_answer_or_a_store_error(
    tmp_path: Path, fake_now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 200)
    fake = create_fake_whoop(now=fake_now, days=20)
    clock = [fake_now]
    service = new_service(tmp_path, fake, lambda: clock[0])
    try:
        await service.sync(days=10)
        clock[0] = fake_now + timedelta(hours=1)
        blocker = sqlite3.connect(tmp_path / "data" / "whoop.db", timeout=1)
        blocker.execute("BEGIN IMMEDIATE")
        blocker.execute("DELETE FROM meta WHERE key = 'nothing'")
        try:
            today = service.today()
            try:
                answer = await service.days(today - timedelta(days=6), today)
            except StoreError as exc:
                assert "\n" not in str(exc)
            else:
                assert answer.freshness.stale and answer.freshness.problem
                assert len(answer.data) == 7
        finally:
            blocker.rollback()
            blocker.close()
    finally:
        await service.aclose()


# ------------------------------------------------------------------ the rate budget at the service


async def test_with_the_daily_budget_used_up_a_sync_fails_at_once_instead_of_pausing(
    service: WhoopService, settings: Settings
) -> None:
    await service.user_id()
    pauses: list[float] = []

    async def record(seconds: float) -> None:
        pauses.append(seconds)

    service.syncer._sleep = record
    used_up = {
        "sent": [],
        "blocked_until": 0,
        "day": datetime.now(UTC).date().isoformat(),
        "day_count": 10_000,
    }
    (settings.whoop_data_dir / "ratelimit.json").write_text(json.dumps(used_up), encoding="utf-8")
    with pytest.raises(RateLimitedError):
        await service.sync(days=7)
    assert pauses == []


# ------------------------------------------------------------------ users, logout


async def _login_code(fake: FakeWhoop, url: str) -> str:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url=FAKE_HOST) as http:
        response = await http.get(url, follow_redirects=False)
    location = response.headers["location"]
    return parse_qs(urlsplit(location).query)["code"][0]


async def test_logging_in_as_another_member_never_shows_the_first_members_rows(
    tmp_path: Path, fake_now: datetime
) -> None:
    alice = create_fake_whoop(now=fake_now, days=10, auto_approve=True)
    settings = logged_in_settings(tmp_path, alice)
    first = build_service(settings, demo=False, fake=alice, clock=lambda: fake_now)
    try:
        await first.sync(days=5)
        alice_id = await first.user_id()
        await first.logout(delete_local_data=False)
    finally:
        await first.aclose()

    bob = create_fake_whoop(now=fake_now, days=10, seed=99, auto_approve=True)
    bob.data.profile.update(user_id=alice_id + 1, email="bob@example.com", first_name="Bob")
    second = build_service(settings, demo=False, fake=bob, clock=lambda: fake_now)
    try:
        code = await _login_code(bob, second.authorize_url("state-for-bob"))
        await second.login_with_code(code)
        assert await second.user_id() == alice_id + 1
        today = second.today()
        alice_cycles = {c["id"] for c in upstream(alice, "cycles")}
        answer = await second.cycles(today - timedelta(days=3), today)
        assert not {c.id for c in answer.data} & alice_cycles
    finally:
        await second.aclose()


async def test_logout_with_delete_local_data_removes_only_that_members_rows(
    service: WhoopService, fake: FakeWhoop, settings: Settings
) -> None:
    await service.sync(days=5)
    user_id = await service.user_id()
    other = user_id + 7
    service.store.upsert(
        other, "cycles", [_cycle_at(datetime(2026, 11, 18, 10, tzinfo=UTC), "+00:00")], service.now()
    )
    await service.logout(delete_local_data=True)
    assert not settings.whoop_token_cache.exists()
    for kind in COLLECTIONS:
        assert service.store.raw_records(user_id, kind, None, None) == []
        assert service.store.sync_state(user_id, kind).intervals == []
    assert service.store.profile(user_id) is None
    assert service.store.local_user_id() is None
    assert len(service.store.raw_records(other, "cycles", None, None)) == 1
    assert service.stored_cycles(date(2026, 11, 1), date(2026, 11, 30)) == []


async def test_a_sync_cut_off_after_the_sleeps_arrived_never_costs_a_recovery(tmp_path: Path) -> None:
    # 09:00 UTC: a week back, the trailing window starts after that night's onset (~03:45 UTC) but
    # before its recovery was made (~12:00 UTC, after waking at -05:00).
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    fake = create_fake_whoop(now=now, days=60)
    service = new_service(tmp_path, fake, lambda: now)
    try:
        await service.latest("recoveries", 3)  # an MCP question: recoveries only, before any sync

        def cut(progress: SyncProgress) -> None:
            if progress.collection == "sleeps" and not fake.faults.pending:
                fake.faults.fail_next(400, count=10_000)

        with pytest.raises(WhoopAPIError):
            await service.sync(days=10, progress=cut)
        fake.faults.clear()
        await service.sync(days=10)
        floor = now - timedelta(days=9)
        want = [r for r in upstream(fake, "recoveries") if datetime.fromisoformat(r["created_at"]) >= floor]
        assert set(ids(want, "recoveries")) <= set(ids(stored(service, "recoveries"), "recoveries"))
    finally:
        await service.aclose()


def move_upstream(fake: FakeWhoop, kind: str, record_id: str, start: datetime, touched: datetime) -> None:
    """Change a record's start upstream, as when the member edits an activity's times in the app."""
    collection = getattr(fake.data, f"{FAKE_KIND[kind]}_collection")
    record = collection.remove(record_id)
    length = datetime.fromisoformat(record["end"]) - datetime.fromisoformat(record["start"])
    record["start"] = start.isoformat().replace("+00:00", "Z")
    record["end"] = (start + length).isoformat().replace("+00:00", "Z")
    record["updated_at"] = touched.isoformat().replace("+00:00", "Z")
    collection.add(record, start, record_id)
    collection.finish()


async def test_a_workout_whose_start_was_edited_to_before_the_trailing_window_is_kept(
    tmp_path: Path, fake_now: datetime
) -> None:
    fake = create_fake_whoop(now=fake_now, days=40)
    edge = fake_now - timedelta(days=7)  # the next sync's trailing window starts here
    workout = next(
        w
        for w in reversed(upstream(fake, "workouts"))
        if edge <= datetime.fromisoformat(w["start"]) < edge + timedelta(days=1)
    )
    service = new_service(tmp_path, fake, lambda: fake_now)
    try:
        await service.sync(days=30)
        move_upstream(fake, "workouts", workout["id"], edge - timedelta(minutes=30), fake_now)
        await service.sync(days=30)
        [row] = [w for w in stored(service, "workouts") if w["id"] == workout["id"]]
        assert datetime.fromisoformat(row["start"]) == edge - timedelta(minutes=30)
    finally:
        await service.aclose()


def test_a_healthy_database_locked_by_another_process_is_never_moved_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "whoop.db"
    Store.open(f"sqlite:///{db}").close()
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(db, timeout=1, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO meta (key, value) VALUES ('held', 'by another process')")
        try:
            opened = Store.open(f"sqlite:///{db}")
        except StoreError as exc:
            assert "\n" not in str(exc)
        else:
            opened.close()
            assert opened.recovered_from is None
        assert not list(tmp_path.glob("*.corrupt-*"))
    finally:
        holder.rollback()
        holder.close()


def test_a_new_database_opened_by_two_processes_at_once_opens_in_both(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'whoop.db'}"
    other: list[subprocess.Popen[str]] = []

    def other_process_opens_now(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("CREATE TABLE") and not other:
            # The interleaving two real processes hit now and then: the other one opens the same new
            # file just as this one, having found it empty, creates its first table.
            other.append(
                subprocess.Popen(
                    [sys.executable, "-c", f"from whoopkit.store import Store; Store.open({url!r}).close()"],
                    cwd=PROJECT_ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    encoding="utf-8",
                )
            )
            # Held back (by a migration lock), it must open once this one is done.
            with contextlib.suppress(subprocess.TimeoutExpired):
                other[0].wait(timeout=2.5)

    event.listen(Engine, "before_cursor_execute", other_process_opens_now)
    try:
        Store.open(url).close()
    finally:
        event.remove(Engine, "before_cursor_execute", other_process_opens_now)
        for proc in other:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
    assert other


async def test_the_latest_workouts_of_a_weekly_trainer_are_the_newest_upstream_even_on_a_new_store(
    tmp_path: Path, fake_now: datetime
) -> None:
    fake = create_fake_whoop(now=fake_now, days=90)
    for workout in upstream(fake, "workouts")[:]:
        if datetime.fromisoformat(workout["start"]).weekday() != 5:  # Saturdays only
            fake.delete_record("workout", workout["id"])
    assert len(upstream(fake, "workouts")) >= 5
    service = new_service(tmp_path, fake, lambda: fake_now)
    try:
        answer = await service.latest("workouts", 5)
        assert [str(w.id) for w in answer.data] == [w["id"] for w in upstream(fake, "workouts")[:5]]
    finally:
        await service.aclose()


async def test_a_moved_workout_is_stored_as_the_exact_json_whoop_sent(
    tmp_path: Path, fake_now: datetime
) -> None:
    fake = create_fake_whoop(now=fake_now, days=40)
    edge = fake_now - timedelta(days=7)
    workout = next(
        w
        for w in reversed(upstream(fake, "workouts"))
        if edge <= datetime.fromisoformat(w["start"]) < edge + timedelta(days=1)
    )
    service = new_service(tmp_path, fake, lambda: fake_now)
    try:
        await service.sync(days=30)
        move_upstream(fake, "workouts", workout["id"], edge - timedelta(minutes=30), fake_now)
        await service.sync(days=30)
        [row] = [w for w in stored(service, "workouts") if w["id"] == workout["id"]]
        assert row == workout
        again = await service.sync(days=30)
        assert (again.new, again.updated, again.deleted) == (0, 0, 0)
    finally:
        await service.aclose()
