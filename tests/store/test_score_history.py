"""Score history: every version of a score that sync saw, the "WHOOP changed …" sentences made from
them, and the store's tables for the app export (imported records and the journal)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from whoopkit import analytics
from whoopkit.analytics.units import day_text
from whoopkit.errors import StoreError
from whoopkit.fake_whoop import FakeWhoop
from whoopkit.models import Cycle, Sleep, Workout
from whoopkit.service import WhoopService
from whoopkit.store import Collection, JournalRow, ScoreVersion, Store, to_ms

pytestmark = pytest.mark.anyio


def upstream(fake: FakeWhoop, kind: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = getattr(fake.data, kind)
    return records


async def versions_of(service: WhoopService, kind: str, key: str) -> list[ScoreVersion]:
    user_id = await service.user_id()
    now = service.now()
    every = service.store.score_versions(user_id, now - timedelta(days=90), now + timedelta(days=1))
    return [v for v in every if v.kind == kind and v.record_key == key]


async def all_versions(service: WhoopService) -> list[ScoreVersion]:
    now = service.now()
    return service.store.score_versions(
        await service.user_id(), now - timedelta(days=400), now + timedelta(days=1)
    )


def cycle_day(fake: FakeWhoop, cycle_id: int) -> Any:
    [raw] = [c for c in upstream(fake, "cycles") if c["id"] == cycle_id]
    return analytics.whoop_day(Cycle.model_validate(raw))


def other_value(value: float) -> float:
    return value - 20.0 if value >= 50 else value + 20.0


def version(state: str, updated_ms: int, score: dict[str, Any] | None, *, key: str = "1") -> ScoreVersion:
    # 2026-11-03 08:00 UTC is 03:00 at -05:00: the cycle of Tue 3 Nov.
    start = to_ms(datetime.fromisoformat("2026-11-03T08:00:00+00:00"))
    return ScoreVersion("recoveries", key, start, "-05:00", updated_ms, updated_ms, state, score)


async def test_a_re_scored_recovery_keeps_both_versions_and_reads_as_a_change_on_its_day(
    service: WhoopService, fake: FakeWhoop
) -> None:
    await service.sync(days=30)
    recovery = next(r for r in upstream(fake, "recoveries")[2:] if r["score_state"] == "SCORED")
    key, before = recovery["cycle_id"], recovery["score"]["recovery_score"]
    after = other_value(before)
    fake.rescore("recovery", key, recovery_score=after)
    await service.sync(days=30)

    first, second = await versions_of(service, "recoveries", str(key))
    assert (first.score_state, second.score_state) == ("SCORED", "SCORED")
    assert first.score is not None and first.score["recovery_score"] == before
    assert second.score is not None and second.score["recovery_score"] == after
    assert second.updated_ms > first.updated_ms

    day = cycle_day(fake, key)
    changes = service.score_changes(day - timedelta(days=3), day + timedelta(days=3))
    [change] = changes[day]
    assert list(changes) == [day]
    assert change.sentence == (f"WHOOP changed {day_text(day)} recovery from {before:.0f}% to {after:.0f}%")
    assert (change.kind, change.metric, change.before, change.after) == (
        "recoveries",
        "recovery",
        before,
        after,
    )


async def test_an_unchanged_re_sync_adds_no_versions_and_each_record_has_exactly_one(
    service: WhoopService, fake: FakeWhoop
) -> None:
    await service.sync(days=30)
    first = await all_versions(service)
    await service.sync(days=30)
    assert await all_versions(service) == first
    stored = sum(service.store_status().collections[kind].rows for kind in ("cycles", "sleeps", "workouts"))
    stored += service.store_status().collections["recoveries"].rows
    assert len(first) == stored
    assert len({(v.kind, v.record_key) for v in first}) == stored


async def test_a_pending_recovery_scored_later_adds_a_version_but_no_change_sentence(
    service: WhoopService, fake: FakeWhoop
) -> None:
    recovery = upstream(fake, "recoveries")[1]
    key = recovery["cycle_id"]
    fake.rescore("recovery", key, score_state="PENDING_SCORE")
    await service.sync(days=30)
    fake.score_pending()
    await service.sync(days=30)

    states = [v.score_state for v in await versions_of(service, "recoveries", str(key))]
    assert states == ["PENDING_SCORE", "SCORED"]
    day = cycle_day(fake, key)
    assert service.score_changes(day - timedelta(days=3), day + timedelta(days=3)) == {}


async def test_a_re_scored_main_sleep_and_cycle_say_sleep_performance_and_day_strain(
    service: WhoopService, fake: FakeWhoop
) -> None:
    await service.sync(days=30)
    sleep = next(s for s in upstream(fake, "sleeps")[2:] if not s["nap"] and s["score_state"] == "SCORED")
    cycle = next(c for c in upstream(fake, "cycles")[2:] if c["score_state"] == "SCORED")
    perf = sleep["score"]["sleep_performance_percentage"]
    strain = cycle["score"]["strain"]
    fake.rescore("sleep", sleep["id"], sleep_performance_percentage=other_value(perf))
    fake.rescore("cycle", cycle["id"], strain=strain + 1.25 if strain < 19 else strain - 1.25)
    await service.sync(days=30)

    today = service.today()
    changes = [c for day in service.score_changes(today - timedelta(days=20), today).values() for c in day]
    by_kind = {c.kind: c for c in changes}
    assert set(by_kind) == {"sleeps", "cycles"}
    assert by_kind["sleeps"].metric == "sleep performance"
    assert by_kind["sleeps"].sentence.endswith(
        f"sleep performance from {perf:.0f}% to {other_value(perf):.0f}%"
    )
    assert by_kind["cycles"].date == cycle_day(fake, cycle["id"])
    assert " day strain from " in by_kind["cycles"].sentence


async def test_a_re_scored_nap_is_dated_by_the_day_it_was_taken(
    service: WhoopService, fake: FakeWhoop
) -> None:
    await service.sync(days=30)
    nap = next(s for s in upstream(fake, "sleeps") if s["nap"] and s["score_state"] == "SCORED")
    # The fake's newest nap is older than the window a re-sync re-lists, so the re-score goes in as
    # sync would store it.
    later = datetime.fromisoformat(nap["updated_at"]) + timedelta(hours=1)
    rescored = {**nap, "updated_at": later.isoformat(), "score": {**nap["score"], "respiratory_rate": 15.5}}
    rescored["score"]["sleep_performance_percentage"] = 77.0
    service.store.upsert(
        await service.user_id(), "sleeps", [Sleep.model_validate(rescored)], later, [rescored]
    )

    taken = analytics.local_date(Sleep.model_validate(nap))
    assert analytics.whoop_day(Sleep.model_validate({**nap, "nap": False})) != taken  # the dates differ
    today = service.today()
    changes = service.score_changes(today - timedelta(days=29), today)
    [(day, [change])] = changes.items()
    assert (day, change.date, change.record_key, change.after) == (taken, taken, nap["id"], 77.0)


def test_a_re_score_seen_through_a_pending_step_is_compared_with_the_score_before_it() -> None:
    versions = [
        version(
            "SCORED", 1_000, {"recovery_score": 54.0, "hrv_rmssd_milli": 40.2, "resting_heart_rate": 55.0}
        ),
        version("PENDING_SCORE", 2_000, None),
        version(
            "SCORED", 3_000, {"recovery_score": 61.0, "hrv_rmssd_milli": 40.4, "resting_heart_rate": 53.0}
        ),
    ]
    changes = analytics.score_changes(reversed(versions))
    assert [c.sentence for c in changes] == [
        "WHOOP changed Tue 3 Nov recovery from 54% to 61%",
        "WHOOP changed Tue 3 Nov resting heart rate from 55 bpm to 53 bpm",
    ]


def test_a_change_too_small_to_show_is_not_a_change_and_unscorable_is_one() -> None:
    versions = [
        version(
            "SCORED", 1_000, {"recovery_score": 54.2, "hrv_rmssd_milli": 40.0, "resting_heart_rate": 55.0}
        ),
        version(
            "SCORED", 2_000, {"recovery_score": 53.8, "hrv_rmssd_milli": 40.3, "resting_heart_rate": 55.4}
        ),
        version("UNSCORABLE", 3_000, None),
        version(
            "SCORED", 4_000, {"recovery_score": 70.0, "hrv_rmssd_milli": 50.0, "resting_heart_rate": 50.0}
        ),
    ]
    changes = analytics.score_changes(versions)
    assert [(c.sentence, c.after) for c in changes] == [
        ("WHOOP changed Tue 3 Nov recovery from 54% to unscorable", None)
    ]


def test_a_nap_is_dated_by_its_start_and_a_main_sleep_by_the_day_woken_into() -> None:
    # 2026-11-02 19:00 at -05:00: a main sleep begun then is Tuesday's; a nap then is Monday's.
    start = to_ms(datetime.fromisoformat("2026-11-03T00:00:00+00:00"))
    pair = [
        ScoreVersion("sleeps", k, start, "-05:00", t, t, "SCORED", {"sleep_performance_percentage": p})
        for k in ("main", "nap")
        for t, p in ((1, 80.0), (2, 90.0))
    ]
    dates = {c.record_key: c.date.isoformat() for c in analytics.score_changes(pair, naps={"nap"})}
    assert dates == {"main": "2026-11-03", "nap": "2026-11-02"}


def test_a_workout_after_midnight_before_bedtime_is_told_on_the_day_row_of_its_cycle(
    fake: FakeWhoop,
) -> None:
    at = {"timezone_offset": "-05:00", "score_state": "SCORED"}
    cycle = next(c for c in upstream(fake, "cycles") if c["score_state"] == "SCORED")
    workout = next(w for w in upstream(fake, "workouts") if w["score_state"] == "SCORED")
    # Monday's cycle runs from Sunday 23:00 to a 00:40 bedtime on Tuesday (all at -05:00).
    monday = {**cycle, **at, "id": 1, "start": "2026-11-02T04:00:00Z", "end": "2026-11-03T05:40:00Z"}
    tuesday = {**cycle, **at, "id": 2, "start": "2026-11-03T05:40:00Z", "end": "2026-11-04T04:00:00Z"}
    late = {**workout, **at, "id": "0c9a6f5e-6a7b-4c1e-9d1f-3e2a1b0c9d81"}
    late.update(start="2026-11-03T05:05:00Z", end="2026-11-03T05:35:00Z")  # Tue 00:05, before bed
    lone = {**workout, **at, "id": "0c9a6f5e-6a7b-4c1e-9d1f-3e2a1b0c9d82"}
    lone.update(start="2026-11-06T05:05:00Z", end="2026-11-06T05:35:00Z")  # Fri 00:05, no cycle stored
    cycles = [Cycle.model_validate(c) for c in (monday, tuesday)]
    workouts = [Workout.model_validate(w) for w in (late, lone)]
    rows = analytics.build_days(cycles, workouts=workouts)
    shown = {w.workout_id: d.date.isoformat() for d in rows for w in d.workouts}
    assert shown == {late["id"]: "2026-11-02", lone["id"]: "2026-11-06"}

    versions = [
        ScoreVersion(
            "workouts", w["id"], to_ms(datetime.fromisoformat(w["start"])), "-05:00", t, t, "SCORED", s
        )
        for w in (late, lone)
        for t, s in ((1, {"strain": 5.0}), (2, {"strain": 6.5}))
    ]
    changes = analytics.score_changes(versions, days=analytics.days.record_days(cycles, workouts=workouts))
    assert {c.record_key: c.date.isoformat() for c in changes} == shown
    told = {c.record_key: c.sentence for c in changes}
    assert told[late["id"]] == "WHOOP changed Mon 2 Nov workout strain from 5.0 to 6.5"


# ------------------------------------------------------------------ the app export's tables


def export_records(start: datetime, days: int) -> dict[Collection, list[tuple[int, dict[str, Any]]]]:
    out: list[tuple[int, dict[str, Any]]] = []
    for k in range(days):
        begin = start + timedelta(days=k)
        raw = {
            "id": 5_000 + k,
            "user_id": 10129,
            "created_at": begin.isoformat(),
            "updated_at": begin.isoformat(),
            "start": begin.isoformat(),
            "end": (begin + timedelta(hours=23)).isoformat(),
            "timezone_offset": "-05:00",
            "score_state": "SCORED",
            "score": {
                "strain": 8.0 + k,
                "kilojoule": 8000.0,
                "average_heart_rate": 60,
                "max_heart_rate": 150,
            },
        }
        out.append((to_ms(begin), raw))
    return {"cycles": out}


def journal_rows(start: datetime, days: int) -> list[JournalRow]:
    return [
        JournalRow(to_ms(start + timedelta(days=k)), question, k % 2 == 0, None, None, "-05:00")
        for k in range(days)
        for question in ("Have any alcoholic drinks?", "Have any caffeine?")
    ]


@pytest.fixture
def store(tmp_path: Any) -> Any:
    opened = Store.open(f"sqlite:///{tmp_path / 'whoop.db'}")
    yield opened
    opened.close()


START = datetime.fromisoformat("2026-01-01T04:00:00+00:00")


def test_importing_the_same_export_twice_leaves_everything_unchanged(store: Store) -> None:
    first = store.save_import(1, export_records(START, 10), journal_rows(START, 10), "export.zip", START)
    version = store.data_version()
    again = store.save_import(1, export_records(START, 10), journal_rows(START, 10), "export.zip", START)
    assert (first.new["cycles"], first.new["journal"]) == (10, 20)
    assert again.unchanged == {"cycles": 10, "recoveries": 0, "sleeps": 0, "workouts": 0, "journal": 20}
    assert not any(again.new.values()) and not any(again.updated.values())
    assert store.data_version() == version
    cycles = store.imported_records(1, "cycles", START, START + timedelta(days=30))
    assert [c.id for c in cycles] == [5_000 + k for k in range(9, -1, -1)]
    assert len(store.journal(1, START, START + timedelta(days=30))) == 20


def test_a_changed_answer_or_record_is_updated_in_place(store: Store) -> None:
    store.save_import(1, export_records(START, 3), journal_rows(START, 3), "a.zip", START)
    records = export_records(START, 3)
    records["cycles"][0][1]["score"]["strain"] = 20.5
    journal = journal_rows(START, 3)
    journal[0] = JournalRow(
        journal[0].cycle_start_ms, journal[0].question, False, "a note", None, "-05:00", 42
    )
    counts = store.save_import(1, records, journal, "b.zip", START + timedelta(days=1))
    assert (counts.updated["cycles"], counts.updated["journal"]) == (1, 1)
    [answer] = [j for j in store.journal(1, START, START + timedelta(days=1)) if j == journal[0]]
    assert answer.cycle_id == 42 and answer.notes == "a note"
    newest_last = store.imported_records(1, "cycles", START, START + timedelta(days=1))
    assert newest_last[0].score is not None and newest_last[0].score.strain == 20.5


def test_an_import_that_fails_part_way_writes_nothing(store: Store) -> None:
    version = store.data_version()
    # The records go in first; the journal's unanswerable row (no question) fails the transaction.
    journal = [*journal_rows(START, 5), JournalRow(to_ms(START), None, True, None, None, "-05:00")]  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        store.save_import(2, export_records(START, 5), journal, "bad.zip", START)
    assert store.imported_records(2, "cycles", START, START + timedelta(days=30)) == []
    assert store.journal(2, START, START + timedelta(days=30)) == []
    assert store.data_version() == version


def test_deleting_a_user_removes_their_imports_journal_and_score_history(store: Store) -> None:
    store.save_import(1, export_records(START, 3), journal_rows(START, 3), "a.zip", START)
    store.save_import(2, export_records(START, 3), journal_rows(START, 3), "a.zip", START)
    cycle = Cycle.model_validate(export_records(START, 1)["cycles"][0][1])
    store.upsert(1, "cycles", [cycle], START)
    store.upsert(2, "cycles", [cycle], START)
    store.delete_user(1)
    span = (START - timedelta(days=1), START + timedelta(days=30))
    assert store.imported_records(1, "cycles", *span) == []
    assert store.journal(1, *span) == []
    assert store.score_versions(1, *span) == []
    assert len(store.journal(2, *span)) == 6
    assert len(store.score_versions(2, *span)) == 1
