"""The synthetic dataset: deterministic, physiologically plausible, internally consistent, with edge cases."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from tests.fake_whoop.conftest import NOW
from whoopkit.fake_whoop import FakeDataset, create_fake_whoop, generate_dataset


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.fixture(scope="module")
def data() -> FakeDataset:
    return generate_dataset(seed=7, days=180, now=NOW)


def _scored(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["score_state"] == "SCORED"]


def test_the_same_seed_and_time_give_identical_data(data: FakeDataset) -> None:
    again = generate_dataset(seed=7, days=180, now=NOW)
    assert again.cycles == data.cycles and again.sleeps == data.sleeps
    assert again.recoveries == data.recoveries and again.workouts == data.workouts


def test_another_seed_gives_other_data(data: FakeDataset) -> None:
    other = generate_dataset(seed=8, days=180, now=NOW)
    assert other.cycles[0]["id"] != data.cycles[0]["id"]
    assert {w["id"] for w in other.workouts}.isdisjoint({w["id"] for w in data.workouts})


def test_there_is_one_cycle_per_day_back_to_back_and_only_the_newest_is_open(data: FakeDataset) -> None:
    cycles = data.cycles
    assert 178 <= len(cycles) <= 180
    assert "end" not in cycles[0]
    assert all("end" in c for c in cycles[1:])
    for newer, older in itertools.pairwise(cycles):
        assert older["end"] == newer["start"]
        assert older["id"] < newer["id"]
        length = _t(older["end"]) - _t(older["start"])
        assert timedelta(hours=16) < length < timedelta(hours=32)
    assert _t(cycles[0]["start"]) < NOW
    assert _t(cycles[-1]["start"]) > NOW - timedelta(days=181)


def test_the_open_cycle_is_scored_with_partial_strain(data: FakeDataset) -> None:
    current = data.cycles[0]
    assert current["score_state"] == "SCORED"
    assert current["score"]["strain"] < statistics.mean(
        c["score"]["strain"] for c in _scored(data.cycles[1:])
    )


def test_each_cycle_has_its_main_sleep_and_the_recovery_derived_from_it(data: FakeDataset) -> None:
    for cycle in data.cycles:
        sleep = data.sleep_for_cycle(cycle["id"])
        recovery = data.recovery_for_cycle(cycle["id"])
        assert sleep is not None and recovery is not None
        assert sleep["start"] == cycle["start"] and sleep["cycle_id"] == cycle["id"] and sleep["nap"] is False
        assert recovery["sleep_id"] == sleep["id"]
        assert recovery["score_state"] == sleep["score_state"]
        assert sleep["timezone_offset"] == cycle["timezone_offset"]


def test_score_is_present_exactly_when_scored(data: FakeDataset) -> None:
    for record in [*data.cycles, *data.sleeps, *data.recoveries, *data.workouts]:
        assert ("score" in record) == (record["score_state"] == "SCORED")


def test_recovery_follows_hrv_up_and_resting_heart_rate_down(data: FakeDataset) -> None:
    scores = [r["score"] for r in _scored(data.recoveries)]
    recovery = [s["recovery_score"] for s in scores]
    assert statistics.correlation(recovery, [s["hrv_rmssd_milli"] for s in scores]) > 0.6
    assert statistics.correlation(recovery, [s["resting_heart_rate"] for s in scores]) < -0.3
    assert all(1 <= r <= 99 for r in recovery)
    assert 45 < statistics.mean(recovery) < 75
    assert all(20 < s["hrv_rmssd_milli"] < 150 and 40 <= s["resting_heart_rate"] <= 80 for s in scores)


def test_sleep_performance_feeds_recovery(data: FakeDataset) -> None:
    pairs = []
    for recovery in _scored(data.recoveries):
        sleep = data.sleep(UUID(recovery["sleep_id"]))
        assert sleep is not None
        performance = sleep["score"].get("sleep_performance_percentage")
        if performance is not None:
            pairs.append((performance, recovery["score"]["recovery_score"]))
    assert statistics.correlation([p for p, _ in pairs], [r for _, r in pairs]) > 0.2


def test_day_strain_drives_the_next_nights_sleep_need(data: FakeDataset) -> None:
    strains, needs = [], []
    chronological = data.cycles[::-1]
    for previous, cycle in itertools.pairwise(chronological):
        sleep = data.sleep_for_cycle(cycle["id"])
        if previous["score_state"] == "SCORED" and sleep is not None and sleep["score_state"] == "SCORED":
            strains.append(previous["score"]["strain"])
            needs.append(sleep["score"]["sleep_needed"]["need_from_recent_strain_milli"])
    assert statistics.correlation(strains, needs) > 0.9
    assert max(needs) > 0


def test_sleep_stages_add_up_to_time_in_bed(data: FakeDataset) -> None:
    for sleep in _scored(data.sleeps):
        stages = sleep["score"]["stage_summary"]
        parts = (
            stages["total_awake_time_milli"]
            + stages["total_no_data_time_milli"]
            + stages["total_light_sleep_time_milli"]
            + stages["total_slow_wave_sleep_time_milli"]
            + stages["total_rem_sleep_time_milli"]
        )
        assert parts == stages["total_in_bed_time_milli"]
        in_bed = _t(sleep["end"]) - _t(sleep["start"])
        assert abs(in_bed.total_seconds() * 1000 - stages["total_in_bed_time_milli"]) <= 1
        if not sleep["nap"]:
            assert timedelta(hours=4) < in_bed < timedelta(hours=11)
            assert 0 < sleep["score"].get("sleep_performance_percentage", 50) <= 100


def test_naps_happen_sometimes_inside_their_cycle(data: FakeDataset) -> None:
    naps = [s for s in data.sleeps if s["nap"]]
    assert 3 <= len(naps) <= 40
    for nap in naps:
        cycle = data.cycle(nap["cycle_id"])
        assert cycle is not None
        assert _t(cycle["start"]) < _t(nap["start"]) < _t(nap["end"]) <= _t(cycle.get("end", nap["end"]))
        assert timedelta(minutes=10) < _t(nap["end"]) - _t(nap["start"]) < timedelta(hours=2)


def test_every_workouts_zone_durations_sum_to_its_duration(data: FakeDataset) -> None:
    scored = _scored(data.workouts)
    assert len(scored) > 80
    for workout in scored:
        duration_ms = round((_t(workout["end"]) - _t(workout["start"])).total_seconds() * 1000)
        assert sum(workout["score"]["zone_durations"].values()) == duration_ms
        assert all(v >= 0 for v in workout["score"]["zone_durations"].values())
        score = workout["score"]
        assert 0 < score["strain"] <= 21 and score["average_heart_rate"] < score["max_heart_rate"] <= 192


def test_workouts_span_several_sports_with_distance_only_where_it_makes_sense(data: FakeDataset) -> None:
    sports = Counter(w["sport_name"] for w in data.workouts)
    assert {"running", "cycling", "weightlifting", "functional-fitness", "yoga"} <= set(sports)
    for workout in _scored(data.workouts):
        score = workout["score"]
        if workout["sport_name"] in ("running", "cycling"):
            assert score["distance_meter"] > 1000 and score["altitude_gain_meter"] >= 0
            speed = score["distance_meter"] / (_t(workout["end"]) - _t(workout["start"])).total_seconds()
            assert (2 < speed < 4.5) if workout["sport_name"] == "running" else (5 < speed < 11)
        elif workout["sport_name"] in ("weightlifting", "functional-fitness", "yoga"):
            assert "distance_meter" not in score and "altitude_gain_meter" not in score


def test_there_are_zero_to_two_workouts_a_day_outside_sleep(data: FakeDataset) -> None:
    per_cycle: Counter[int] = Counter()
    for workout in data.workouts:
        start, end = _t(workout["start"]), _t(workout["end"])
        owner = next(c for c in data.cycles if _t(c["start"]) <= start)
        assert end <= _t(owner.get("end", workout["end"]))
        sleep = data.sleep_for_cycle(owner["id"])
        assert sleep is not None and _t(sleep["end"]) < start
        per_cycle[owner["id"]] += 1
    assert max(per_cycle.values()) <= 2
    assert len(per_cycle) < len(data.cycles)  # rest days exist


def test_the_edge_cases_clients_must_handle_are_present(data: FakeDataset) -> None:
    assert any(w["score_state"] == "PENDING_SCORE" for w in data.workouts)
    for records in (data.sleeps, data.recoveries, data.cycles, data.workouts):
        assert any(r["score_state"] == "UNSCORABLE" for r in records)
    scored = [r["score"] for r in _scored(data.recoveries)]
    missing = [s for s in scored if "spo2_percentage" not in s]
    assert 1 <= len(missing) <= 3
    assert all("skin_temp_celsius" not in s for s in missing)
    assert any(c["step_count"] is None for c in data.cycles)
    assert any("sleep_performance_percentage" not in s["score"] for s in _scored(data.sleeps) if not s["nap"])


def test_a_week_of_travel_shows_in_another_timezone(data: FakeDataset) -> None:
    offsets = [c["timezone_offset"] for c in data.cycles[::-1]]
    assert Counter(offsets).most_common(1)[0][0] == "-05:00"
    travel = [i for i, o in enumerate(offsets) if o == "+01:00"]
    assert len(travel) == 7 and travel == list(range(travel[0], travel[0] + 7))
    travel_workouts = [w for w in data.workouts if w["timezone_offset"] == "+01:00"]
    assert all(w["timezone_offset"] in ("-05:00", "+01:00") for w in data.workouts)
    assert travel_workouts


def test_recovery_is_calibrating_only_at_the_start(data: FakeDataset) -> None:
    flags = [r["score"]["user_calibrating"] for r in _scored(data.recoveries[::-1])]
    assert flags[0] is True
    assert not any(flags[10:])


def test_legacy_v1_ids_exist_only_before_september_2025(data: FakeDataset) -> None:
    cutoff = datetime(2025, 9, 1, tzinfo=UTC)
    for record in [*data.sleeps, *data.workouts]:
        assert ("v1_id" in record) == (_t(record["start"]) < cutoff)
    for workout in data.workouts:
        assert ("sport_id" in workout) == ("v1_id" in workout)
    assert any("sport_id" in w for w in data.workouts) and any("sport_id" not in w for w in data.workouts)
    assert any("v1_id" in s for s in data.sleeps if s["nap"])
    for v1_id, v2_id in data.v1_activity_ids().items():
        record = data.sleep(UUID(v2_id)) or data.workout(UUID(v2_id))
        assert record is not None and record["v1_id"] == v1_id
    assert len(data.v1_activity_ids()) == sum("v1_id" in r for r in [*data.sleeps, *data.workouts])


def test_timestamps_are_ordered_and_never_in_the_future(data: FakeDataset) -> None:
    for record in [*data.cycles, *data.sleeps, *data.recoveries, *data.workouts]:
        assert _t(record["created_at"]) <= _t(record["updated_at"]) <= NOW
        if "start" in record:
            assert _t(record["start"]) < _t(record.get("end", NOW.isoformat()))
            assert _t(record.get("end", NOW.isoformat())) <= NOW
            assert record["start"].endswith("Z") and len(record["start"]) == 24


def test_ids_are_unique_and_well_formed(data: FakeDataset) -> None:
    for records in (data.sleeps, data.workouts):
        ids = [r["id"] for r in records]
        assert len(set(ids)) == len(ids)
        assert all(len(i) == 36 and i[14] == "4" for i in ids)
    assert len({c["id"] for c in data.cycles}) == len(data.cycles)
    assert {r["user_id"] for r in [*data.cycles, *data.sleeps, *data.workouts]} == {data.profile["user_id"]}


def test_without_now_the_data_ends_today() -> None:
    data = generate_dataset(days=10)
    newest = _t(data.cycles[0]["start"])
    assert datetime.now(UTC) - timedelta(hours=40) < newest < datetime.now(UTC)
    assert 8 <= len(data.cycles) <= 10


def test_a_short_history_still_works() -> None:
    data = generate_dataset(days=2, now=NOW)
    assert 1 <= len(data.cycles) <= 2
    assert "end" not in data.cycles[0]


def test_data_without_a_fixed_now_is_regenerated_when_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    from whoopkit.fake_whoop import app

    fixed = create_fake_whoop(now=NOW)
    live = create_fake_whoop(days=5)
    first_fixed, first_live = fixed.data, live.data
    assert live.data is first_live
    monkeypatch.setattr(app, "DATA_MAX_AGE", -1.0)
    assert fixed.data is first_fixed
    assert live.data is not first_live
