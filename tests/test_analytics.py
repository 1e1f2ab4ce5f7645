"""Behaviour of whoopkit.analytics: units, zones, dates, day rows, trends, reports, readiness, insights."""

from __future__ import annotations

import datetime as dt
import importlib.util
import itertools
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import pytest

from whoopkit import analytics as an
from whoopkit.analytics import DaySummary
from whoopkit.analytics.days import WEEKDAYS
from whoopkit.models import (
    Cycle,
    CycleScore,
    Recovery,
    RecoveryScore,
    ScoreState,
    Sleep,
    SleepNeeded,
    SleepScore,
    SleepStageSummary,
    Workout,
    WorkoutScore,
    ZoneDurations,
    parse_offset,
)

HOUR_MS = 3_600_000
MIN_MS = 60_000
_ids = itertools.count(50_000)


# ------------------------------------------------------------------------------------------------
# Record builders (realistic values; local wall-clock times in the record's own offset)
# ------------------------------------------------------------------------------------------------


def at(day: dt.date, hhmm: str, offset: str = "-05:00") -> dt.datetime:
    """A local wall-clock time as an aware datetime in ``offset``."""
    h, m = (int(x) for x in hhmm.split(":"))
    return dt.datetime(day.year, day.month, day.day, h, m, tzinfo=parse_offset(offset))


def utc(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.UTC)


def make_cycle(
    start: dt.datetime,
    end: dt.datetime | None,
    *,
    offset: str = "-05:00",
    strain: float = 12.3,
    kj: float = 9205.0,
    state: ScoreState = ScoreState.SCORED,
) -> Cycle:
    score = CycleScore(strain=strain, kilojoule=kj, average_heart_rate=66, max_heart_rate=171)
    return Cycle(
        id=next(_ids),
        user_id=10129,
        created_at=utc(start),
        updated_at=utc(start),
        start=utc(start),
        end=utc(end) if end else None,
        timezone_offset=offset,
        score_state=state,
        score=score if state is ScoreState.SCORED else None,
        step_count=8200,
    )


def make_sleep(
    cycle: Cycle,
    start: dt.datetime,
    *,
    offset: str = "-05:00",
    asleep_hours: float = 7.5,
    nap: bool = False,
    state: ScoreState = ScoreState.SCORED,
    debt_hours: float = 0.2,
    resp: float = 15.2,
    performance: float = 91.0,
) -> Sleep:
    asleep = int(asleep_hours * HOUR_MS)
    light, sws = int(asleep * 0.55), int(asleep * 0.2)
    rem = asleep - light - sws
    awake = 35 * MIN_MS
    in_bed = asleep + awake
    score = SleepScore(
        stage_summary=SleepStageSummary(
            total_in_bed_time_milli=in_bed,
            total_awake_time_milli=awake,
            total_no_data_time_milli=0,
            total_light_sleep_time_milli=light,
            total_slow_wave_sleep_time_milli=sws,
            total_rem_sleep_time_milli=rem,
            sleep_cycle_count=4,
            disturbance_count=11,
        ),
        sleep_needed=SleepNeeded(
            baseline_milli=int(7.6 * HOUR_MS),
            need_from_sleep_debt_milli=int(debt_hours * HOUR_MS),
            need_from_recent_strain_milli=int(0.2 * HOUR_MS),
            need_from_recent_nap_milli=0,
        ),
        respiratory_rate=resp,
        sleep_performance_percentage=performance,
        sleep_consistency_percentage=84.0,
        sleep_efficiency_percentage=92.5,
    )
    return Sleep(
        id=uuid.uuid4(),
        cycle_id=cycle.id,
        user_id=10129,
        created_at=utc(start),
        updated_at=utc(start),
        start=utc(start),
        end=utc(start + dt.timedelta(milliseconds=in_bed)),
        timezone_offset=offset,
        nap=nap,
        score_state=state,
        score=score if state is ScoreState.SCORED else None,
    )


def make_recovery(
    cycle: Cycle,
    sleep: Sleep,
    *,
    score: float = 72.0,
    hrv: float = 61.5,
    rhr: float = 52.0,
    spo2: float | None = 96.4,
    skin: float | None = 33.6,
    calibrating: bool = False,
    state: ScoreState = ScoreState.SCORED,
) -> Recovery:
    rs = RecoveryScore(
        user_calibrating=calibrating,
        recovery_score=score,
        resting_heart_rate=rhr,
        hrv_rmssd_milli=hrv,
        spo2_percentage=spo2,
        skin_temp_celsius=skin,
    )
    return Recovery(
        cycle_id=cycle.id,
        sleep_id=sleep.id,
        user_id=10129,
        created_at=sleep.end,
        updated_at=sleep.end,
        score_state=state,
        score=rs if state is ScoreState.SCORED else None,
    )


def make_workout(
    start: dt.datetime,
    minutes: float,
    *,
    offset: str = "-05:00",
    sport: str = "running",
    strain: float = 11.4,
    kj: float = 2092.0,
    distance_m: float | None = 8012.0,
    state: ScoreState = ScoreState.SCORED,
) -> Workout:
    score = WorkoutScore(
        strain=strain,
        average_heart_rate=148,
        max_heart_rate=181,
        kilojoule=kj,
        percent_recorded=98.7,
        distance_meter=distance_m,
        altitude_gain_meter=42.0,
        altitude_change_meter=-1.0,
        zone_durations=ZoneDurations(
            zone_zero_milli=60_000,
            zone_one_milli=5 * MIN_MS,
            zone_two_milli=12 * MIN_MS,
            zone_three_milli=20 * MIN_MS,
            zone_four_milli=6 * MIN_MS,
            zone_five_milli=90_000,
        ),
    )
    return Workout(
        id=uuid.uuid4(),
        user_id=10129,
        created_at=utc(start),
        updated_at=utc(start),
        start=utc(start),
        end=utc(start + dt.timedelta(minutes=minutes)),
        timezone_offset=offset,
        sport_name=sport,
        sport_id=0,
        score_state=state,
        score=score if state is ScoreState.SCORED else None,
    )


@dataclass
class Records:
    """A user's records, built one WHOOP day at a time."""

    cycles: list[Cycle] = field(default_factory=list)
    recoveries: list[Recovery] = field(default_factory=list)
    sleeps: list[Sleep] = field(default_factory=list)
    workouts: list[Workout] = field(default_factory=list)

    def add_day(
        self,
        day: dt.date,
        *,
        offset: str = "-05:00",
        bedtime: str = "23:15",
        open_cycle: bool = False,
        strain: float = 12.3,
        cycle_state: ScoreState = ScoreState.SCORED,
        sleep_state: ScoreState = ScoreState.SCORED,
        recovery_state: ScoreState = ScoreState.SCORED,
        asleep_hours: float = 7.5,
        **recovery: Any,
    ) -> Cycle:
        """Add the cycle of WHOOP day ``day`` (falling asleep the evening before), its sleep and recovery."""
        prev = day - dt.timedelta(days=1)
        onset = at(prev if bedtime >= "12:00" else day, bedtime, offset)
        end = None if open_cycle else onset + dt.timedelta(hours=24)
        cycle = make_cycle(onset, end, offset=offset, strain=strain, state=cycle_state)
        sleep = make_sleep(cycle, onset, offset=offset, asleep_hours=asleep_hours, state=sleep_state)
        self.cycles.append(cycle)
        self.sleeps.append(sleep)
        self.recoveries.append(make_recovery(cycle, sleep, state=recovery_state, **recovery))
        return cycle

    def days(self) -> list[DaySummary]:
        return an.build_days(self.cycles, self.recoveries, self.sleeps, self.workouts)


D0 = dt.date(2025, 3, 10)  # a Monday


def row(day: dt.date, **values: Any) -> DaySummary:
    """A day row with only the given values (for trend/report tests that need no raw records)."""
    return DaySummary(date=day, weekday=WEEKDAYS[day.weekday()], cycle_state="SCORED", **values)


def series_days(metric_field: str, values: list[float], end: dt.date = D0) -> list[DaySummary]:
    """One row per day ending ``end``, oldest value first."""
    start = end - dt.timedelta(days=len(values) - 1)
    return [row(start + dt.timedelta(days=i), **{metric_field: v}) for i, v in enumerate(values)]


def healthy_days(n: int = 35, end: dt.date = D0) -> list[DaySummary]:
    """A steady, healthy stretch with small day-to-day wiggles."""
    out = []
    for i in range(n):
        back = n - 1 - i
        day = end - dt.timedelta(days=back)
        w = (0.0, 1.0, -1.0)[back % 3]  # any 30 or 7 days before a new day average out exactly
        out.append(
            row(
                day,
                recovery_pct=72 + 3 * w,
                recovery_zone="green",
                recovery_state="SCORED",
                hrv_ms=62 + 2 * w,
                resting_hr_bpm=52 + 0.5 * w,
                sleep_state="SCORED",
                sleep_hours=7.6 + 0.2 * w,
                sleep_need_hours=7.9,
                sleep_debt_hours=0.2,
                sleep_performance_pct=92 + w,
                spo2_pct=96.5,
                skin_temp_c=33.6 + 0.1 * w,
                respiratory_rate_per_min=15.2 + 0.1 * w,
                strain=12.0 + w,
            )
        )
    return out


# ------------------------------------------------------------------------------------------------
# Units, zones, levels
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "zone"),
    [
        (0, "red"),
        (33, "red"),
        (33.4, "red"),
        (33.5, "yellow"),
        (34, "yellow"),
        (66, "yellow"),
        (66.4, "yellow"),
        (67, "green"),
        (100, "green"),
    ],
)
def test_recovery_zones_follow_whoop_boundaries_on_the_percent_shown(score: float, zone: str) -> None:
    assert an.recovery_zone(score) == zone


def test_a_nan_recovery_score_is_rejected() -> None:
    with pytest.raises(ValueError, match="NaN"):
        an.recovery_zone(math.nan)


def test_strain_levels_follow_whoop_bands() -> None:
    assert [an.strain_level(s) for s in (0, 9.9, 10, 13.9, 14, 17.9, 18, 21)] == [
        "light",
        "light",
        "moderate",
        "moderate",
        "high",
        "high",
        "all out",
        "all out",
    ]


def test_units_convert_with_the_documented_rounding() -> None:
    assert an.ms_to_hours(27_000_000) == 7.5
    assert an.ms_to_hours(30_272_735) == 8.41
    assert an.ms_to_minutes(90_000) == 1.5
    assert an.ms_to_minutes(1_403_507) == 23.4
    assert an.kj_to_kcal(4184) == 1000
    assert an.kj_to_kcal(8288.297) == 1981
    assert an.meters_to_km(1772.77035916) == 1.77
    assert an.meters_to_km(42_195) == 42.2


# ------------------------------------------------------------------------------------------------
# Local dates and day rows
# ------------------------------------------------------------------------------------------------


def test_a_sleep_starting_2330_at_minus_five_belongs_to_that_local_date_not_the_utc_date() -> None:
    cycle = make_cycle(at(D0, "23:30"), None)
    sleep = make_sleep(cycle, at(D0, "23:30"))
    assert sleep.start.date() == D0 + dt.timedelta(days=1)  # 04:30 UTC the next day
    assert an.local_date(sleep) == D0


def test_records_at_the_same_instant_take_the_local_dates_of_their_own_offsets() -> None:
    instant = dt.datetime(2025, 3, 10, 20, 0, tzinfo=dt.UTC)
    tokyo = make_workout(instant.astimezone(parse_offset("+09:00")), 30, offset="+09:00")
    la = make_workout(instant.astimezone(parse_offset("-08:00")), 30, offset="-08:00")
    assert an.local_date(tokyo) == dt.date(2025, 3, 11)
    assert an.local_date(la) == dt.date(2025, 3, 10)


def test_a_cycle_starting_at_bedtime_is_the_row_of_the_day_woken_into_with_its_sleep_and_recovery() -> None:
    recs = Records()
    cycle = recs.add_day(D0 + dt.timedelta(days=1), bedtime="23:30", score=81.0)
    recs.workouts.append(make_workout(at(D0 + dt.timedelta(days=1), "18:00"), 45))
    [day] = recs.days()
    assert an.local_date(cycle) == D0
    assert day.date == D0 + dt.timedelta(days=1)
    assert day.weekday == "Tue"
    assert day.recovery_pct == 81.0 and day.recovery_zone == "green"
    assert day.sleep_start_local == at(D0, "23:30")
    assert day.workout_count == 1
    assert an.recovery_date(recs.recoveries[0], recs.cycles) == day.date


def test_falling_asleep_after_midnight_keeps_the_same_day() -> None:
    recs = Records()
    recs.add_day(D0, bedtime="00:40")
    recs.add_day(D0 + dt.timedelta(days=1), bedtime="23:10")  # earlier the next evening
    assert [d.date for d in recs.days()] == [D0 + dt.timedelta(days=1), D0]


def test_two_cycles_starting_in_one_noon_to_noon_window_keep_separate_rows() -> None:
    first = make_cycle(at(D0, "13:00"), at(D0 + dt.timedelta(days=1), "10:00"))
    second = make_cycle(at(D0 + dt.timedelta(days=1), "10:00"), None)
    days = an.build_days([second, first])
    assert [(d.date, d.cycle_id) for d in days] == [
        (D0 + dt.timedelta(days=2), second.id),
        (D0 + dt.timedelta(days=1), first.id),
    ]


def test_build_days_joins_all_records_in_plain_units_newest_first() -> None:
    recs = Records()
    for i in range(3):
        recs.add_day(D0 + dt.timedelta(days=i), hrv=60.0 + i, asleep_hours=7.0 + i / 4)
    last = recs.cycles[-1]
    recs.sleeps.append(make_sleep(last, at(D0 + dt.timedelta(days=2), "14:00"), asleep_hours=0.5, nap=True))
    recs.workouts += [
        make_workout(at(D0 + dt.timedelta(days=2), "07:00"), 50, sport="running", strain=12.0),
        make_workout(
            at(D0 + dt.timedelta(days=2), "18:30"), 60, sport="weightlifting", strain=8.5, distance_m=None
        ),
    ]
    days = recs.days()
    assert [d.date for d in days] == [D0 + dt.timedelta(days=2 - i) for i in range(3)]
    top = days[0]
    assert top.sleep_hours == 7.5  # light + SWS + REM, awake time excluded
    assert top.in_bed_hours == round(7.5 + 35 / 60, 2)
    assert top.awake_minutes == 35.0
    assert top.light_minutes is not None and top.sws_minutes is not None and top.rem_minutes is not None
    assert round(top.light_minutes + top.sws_minutes + top.rem_minutes, 1) == 450.0
    assert top.sleep_need_hours == 8.0  # 7.6 baseline + 0.2 debt + 0.2 strain
    assert top.sleep_debt_hours == 0.2
    assert (
        top.hrv_ms == 62.0 and top.resting_hr_bpm == 52.0 and top.spo2_pct == 96.4 and top.skin_temp_c == 33.6
    )
    assert top.strain == 12.3 and top.energy_kj == 9205.0 and top.energy_kcal == 2200
    assert top.avg_hr_bpm == 66 and top.max_hr_bpm == 171
    assert top.nap_count == 1 and top.nap_hours == 0.5
    assert top.workout_count == 2 and top.workout_minutes == 110.0
    assert top.workout_sports == ["running", "weightlifting"]
    assert top.workout_strain_max == 12.0
    assert days[1].nap_count == 0 and days[1].nap_hours == 0.0 and days[1].workout_count == 0


@pytest.mark.parametrize("state", [ScoreState.PENDING_SCORE, ScoreState.UNSCORABLE])
def test_unscored_records_give_none_values_and_a_state_never_zero(state: ScoreState) -> None:
    recs = Records()
    recs.add_day(D0, cycle_state=state, sleep_state=state, recovery_state=state)
    recs.workouts.append(make_workout(at(D0, "07:00"), 40, state=state))
    [day] = recs.days()
    assert day.cycle_state == day.sleep_state == day.recovery_state == state.value
    for name in (
        "strain",
        "energy_kcal",
        "recovery_pct",
        "recovery_zone",
        "hrv_ms",
        "sleep_hours",
        "spo2_pct",
    ):
        assert getattr(day, name) is None, name
    assert day.workout_count == 1 and day.workout_strain_max is None and day.workout_kcal is None
    w = day.workouts[0]
    assert w.state == state.value and w.strain is None and w.duration_minutes == 40.0
    assert an.compute_trends([day], 7).recovery.n == 0


def test_a_day_without_records_of_a_kind_says_missing() -> None:
    recs = Records()
    recs.cycles.append(make_cycle(at(D0, "23:00") - dt.timedelta(days=1), at(D0, "23:00")))
    [day] = recs.days()
    assert day.recovery_state == "MISSING" and day.sleep_state == "MISSING" and day.recovery_pct is None


def test_the_open_cycle_is_marked_and_left_out_of_strain_trends() -> None:
    recs = Records()
    recs.add_day(D0 - dt.timedelta(days=1), strain=14.0)
    recs.add_day(D0, open_cycle=True, strain=3.1)
    days = recs.days()
    assert days[0].cycle_open and days[0].strain == 3.1
    assert not days[1].cycle_open
    assert [p.value for p in an.metric_series(days, "strain")] == [14.0]


def test_a_workout_after_midnight_before_bed_counts_for_the_cycle_it_falls_in() -> None:
    recs = Records()
    first = recs.add_day(D0, bedtime="23:00")
    second = recs.add_day(D0 + dt.timedelta(days=1), bedtime="01:30")  # starts at 01:30 on day+1
    recs.cycles[0] = first.model_copy(update={"end": second.start})  # a cycle ends at the next onset
    late = make_workout(at(D0 + dt.timedelta(days=1), "00:20"), 40, sport="cycling")
    recs.workouts.append(late)
    by_date = {d.date: d for d in recs.days()}
    assert an.local_date(late) == D0 + dt.timedelta(days=1)
    assert by_date[D0].workout_sports == ["cycling"]
    assert by_date[D0 + dt.timedelta(days=1)].workout_count == 0


def test_records_whose_cycle_is_missing_still_get_a_row_by_their_own_date() -> None:
    recs = Records()
    cycle = recs.add_day(D0)
    days = an.build_days(
        [], recs.recoveries, recs.sleeps, [make_workout(at(D0, "09:00"), 30, offset="+01:00")]
    )
    assert cycle.id not in [d.cycle_id for d in days]
    assert [d.date for d in days] == [D0]
    assert days[0].recovery_pct == 72.0 and days[0].workout_count == 1


def test_a_rescored_duplicate_replaces_the_older_record() -> None:
    recs = Records()
    cycle = recs.add_day(D0, score=40.0)
    newer = recs.recoveries[0].model_copy(
        update={
            "updated_at": recs.recoveries[0].updated_at + dt.timedelta(hours=1),
            "score": recs.recoveries[0].score.model_copy(update={"recovery_score": 70.0}),  # type: ignore[union-attr]
        }
    )
    days = an.build_days([cycle], [newer, recs.recoveries[0]], recs.sleeps)
    assert days[0].recovery_pct == 70.0


# ------------------------------------------------------------------------------------------------
# Single-record summaries
# ------------------------------------------------------------------------------------------------


def test_workout_summary_has_zone_minutes_distance_and_energy() -> None:
    w = an.summarize_workout(make_workout(at(D0, "07:00", "+02:00"), 44.5, offset="+02:00"))
    assert w.zone_minutes == [1.0, 5.0, 12.0, 20.0, 6.0, 1.5]
    assert w.distance_km == 8.01 and w.energy_kcal == 500 and w.energy_kj == 2092.0
    assert w.duration_minutes == 44.5 and w.percent_recorded_pct == 98.7
    assert w.avg_hr_bpm == 148 and w.max_hr_bpm == 181 and w.strain_level == "moderate"
    assert w.start_local.utcoffset() == dt.timedelta(hours=2) and w.local_date == D0
    assert an.summarize_workout(make_workout(at(D0, "07:00"), 30, distance_m=None)).distance_km is None


def test_sleep_summary_reports_stage_shares_need_and_performance() -> None:
    cycle = make_cycle(at(D0, "23:00"), None)
    s = an.summarize_sleep(make_sleep(cycle, at(D0, "23:00"), asleep_hours=6.0, debt_hours=1.0))
    assert s.asleep_hours == 6.0 and s.need_hours == 8.8 and s.debt_hours == 1.0
    assert s.asleep_vs_need_pct == 68.2
    assert s.light_pct == 55.0 and s.sws_pct == 20.0 and s.rem_pct == 25.0
    assert s.performance_pct == 91.0 and s.respiratory_rate_per_min == 15.2
    assert s.local_date == D0 and s.day == D0 + dt.timedelta(days=1)


def test_recovery_and_strain_summaries_convert_single_records() -> None:
    recs = Records()
    cycle = recs.add_day(D0, score=33.0, hrv=38.26, skin=34.123)
    r = an.summarize_recovery(recs.recoveries[0], recs.cycles)
    assert (r.zone, r.recovery_pct, r.hrv_ms, r.skin_temp_c, r.day) == ("red", 33.0, 38.3, 34.12, D0)
    assert an.summarize_recovery(recs.recoveries[0]).day is None
    s = an.summarize_strain(cycle)
    assert (s.strain, s.strain_level, s.energy_kcal, s.open, s.day) == (12.3, "moderate", 2200, False, D0)


# ------------------------------------------------------------------------------------------------
# Trends
# ------------------------------------------------------------------------------------------------


def test_slope_of_a_known_linear_series_is_exact_per_week() -> None:
    days = series_days("hrv_ms", [50 + 0.5 * i for i in range(14)])
    t = an.compute_trends(days, 14).hrv
    assert t.n == 14 and t.slope_per_week == 3.5 and t.change_over_window == 6.5
    assert t.mean == 53.2 and t.min == 50.0 and t.max == 56.5 and t.latest == 56.5 and t.latest_date == D0
    assert t.direction == "improving"
    assert t.outliers == []
    assert "improving (+3.5 ms/week)" in t.summary


def test_rising_resting_heart_rate_is_declining_and_rising_strain_is_neutral() -> None:
    rhr = an.compute_trends(series_days("resting_hr_bpm", [50 + 0.3 * i for i in range(21)]), 21).resting_hr
    assert rhr.slope_per_week == 2.1 and rhr.direction == "declining"
    falling = an.compute_trends(series_days("resting_hr_bpm", [58 - 0.3 * i for i in range(21)]), 21)
    assert falling.resting_hr.direction == "improving"
    strain = an.compute_trends(series_days("strain", [8 + 0.4 * i for i in range(14)]), 14).strain
    assert strain.direction == "rising"
    sleep = an.compute_trends(series_days("sleep_hours", [8 - 0.1 * i for i in range(14)]), 14).sleep_hours
    assert sleep.direction == "declining"


def test_noise_without_a_trend_is_stable() -> None:
    values = [60, 64, 58, 63, 59, 62, 61, 60, 64, 58, 63, 59, 62, 61]
    t = an.compute_trends(series_days("hrv_ms", values), 14).hrv
    assert t.direction == "stable" and t.slope_per_week is not None and abs(t.slope_per_week) < 1


def test_a_tiny_but_consistent_drift_is_stable() -> None:
    t = an.compute_trends(series_days("recovery_pct", [70 + 0.01 * i for i in range(30)]), 30).recovery
    assert t.direction == "stable"


def test_outliers_are_days_two_standard_deviations_from_the_mean() -> None:
    values = [62, 61, 63, 62, 60, 61, 62, 63, 61, 35, 62, 61, 63, 62]
    t = an.compute_trends(series_days("hrv_ms", values), 14).hrv
    assert [(o.date, o.value) for o in t.outliers] == [(D0 - dt.timedelta(days=4), 35.0)]
    assert t.outliers[0].z < -2
    assert "Unusual:" in t.summary and "35.0 ms" in t.summary


def test_the_outlier_threshold_is_two_standard_deviations() -> None:
    values = [60, 62, 58, 61, 59, 63, 57, 60, 61, 59, 62, 58, 60, 61, 66, 55]  # z(66)=2.28, z(55)=-1.99
    t = an.compute_trends(series_days("hrv_ms", values), 16).hrv
    assert [(o.value, o.z) for o in t.outliers] == [(66.0, 2.28)]


def test_an_empty_series_has_no_statistics_and_says_so() -> None:
    report = an.compute_trends([], 30)
    t = report.hrv
    assert t.n == 0 and t.mean is None and t.slope_per_week is None and t.direction == "insufficient data"
    assert t.summary.startswith("No hrv data")
    assert report.start_date is None and report.days_in_window == 0 and report.highlights == []


def test_a_single_point_has_no_slope_and_insufficient_data() -> None:
    t = an.compute_trends(series_days("hrv_ms", [55.0]), 7).hrv
    assert t.n == 1 and t.latest == 55.0 and t.slope_per_week is None and t.std is None
    assert t.direction == "insufficient data" and "not enough" in t.summary
    two = an.compute_trends(series_days("hrv_ms", [55.0, 57.0]), 7).hrv
    assert two.slope_per_week == 14.0 and two.direction == "insufficient data"


def test_trends_use_only_the_window_and_take_the_baseline_from_the_30_days_before_the_latest() -> None:
    days = series_days("hrv_ms", [10.0] * 5 + [40.0] * 24 + [60.0] * 7)
    t = an.compute_trends(days, 7).hrv
    assert t.n == 7 and t.mean == 60.0 and t.window_days == 7
    # the 30 days before the latest: the 40s (the 10s are older) and 6 of the window's 60s
    assert t.baseline == round((24 * 40 + 6 * 60) / 30, 1) == 44.0 and t.baseline_source == "history"
    assert t.latest_vs_baseline_pct == 136.4
    assert t.outliers == [] and t.direction == "stable"  # a sustained level is neither outlier nor trend
    alone = an.compute_trends(days[-7:], 7).hrv
    assert alone.baseline == 60.0 and alone.baseline_source == "window" and alone.outliers == []


def test_compute_trends_covers_every_metric_and_honours_an_end_date() -> None:
    days = healthy_days(40)
    report = an.compute_trends(days, 30, end=D0 - dt.timedelta(days=5))
    assert report.end_date == D0 - dt.timedelta(days=5) and report.days_in_window == 30
    assert {t.metric for t in report.metrics()} == set(an.METRICS)
    assert all(t.n == 30 for t in report.metrics() if t.metric != "workouts")
    assert report.workouts.n == 30 and report.workouts.mean == 0.0
    with pytest.raises(ValueError):
        an.compute_trends(days, 0)


# ------------------------------------------------------------------------------------------------
# Period comparison and weekly report
# ------------------------------------------------------------------------------------------------


def test_compare_periods_reports_means_changes_and_polarity() -> None:
    a = [
        row(D0 - dt.timedelta(days=i + 7), hrv_ms=v, resting_hr_bpm=50.0, strain=10.0)
        for i, v in enumerate((55, 65))
    ]
    b = [
        row(D0 - dt.timedelta(days=i), hrv_ms=v, resting_hr_bpm=53.0, strain=8.0)
        for i, v in enumerate((64, 68))
    ]
    cmp = an.compare_periods(a, b, "last month", "this week")
    m = {c.metric: c for c in cmp.metrics}
    assert (m["hrv_ms"].mean_a, m["hrv_ms"].mean_b, m["hrv_ms"].change, m["hrv_ms"].change_pct) == (
        60,
        66,
        6,
        10,
    )
    assert m["hrv_ms"].verdict == "better"
    assert m["resting_hr_bpm"].change == 3.0 and m["resting_hr_bpm"].verdict == "worse"
    assert m["strain"].change == -2.0 and m["strain"].change_pct == -20.0 and m["strain"].verdict == "lower"
    assert m["recovery_pct"].verdict == "n/a" and m["recovery_pct"].mean_a is None
    assert m["workouts"].verdict == "unchanged"
    assert "this week vs 60.0 ms in last month (+6.0 ms, +10.0%; better)" in m["hrv_ms"].summary
    assert cmp.days_a == 2 and cmp.end_b == D0 and len(cmp.highlights) == 3


def test_weekly_report_summarises_the_last_seven_days() -> None:
    recs = Records()
    bedtimes = ["23:30", "00:30", "23:30", "00:30", "23:30", "00:30", "23:30", "23:00"]
    for i, (score, bed) in enumerate(zip([50, 80, 30, 70, 68, 90, 45, 20], bedtimes, strict=True)):
        day = D0 - dt.timedelta(days=7 - i)
        recs.add_day(day, bedtime=bed, score=float(score), strain=10.0 + i, asleep_hours=6.5 + i / 4)
        if i % 2:
            recs.workouts.append(make_workout(at(day, "18:00"), 60, sport="running", strain=9.0))
    recs.workouts.append(make_workout(at(D0, "07:00"), 45, sport="yoga", strain=4.0, distance_m=None))
    rep = an.weekly_report(recs.days())
    assert (rep.week_start, rep.week_end, rep.days_with_data) == (D0 - dt.timedelta(days=6), D0, 7)
    assert rep.best_recovery == an.DayValue(date=D0 - dt.timedelta(days=2), value=90.0)
    assert rep.worst_recovery == an.DayValue(date=D0, value=20.0)
    assert (rep.green_days, rep.yellow_days, rep.red_days) == (4, 1, 2)
    assert rep.avg_recovery_pct == round((80 + 30 + 70 + 68 + 90 + 45 + 20) / 7, 1)
    assert rep.total_strain == sum(10.0 + i for i in range(1, 8)) and rep.avg_strain == 14.0
    assert rep.max_strain == an.DayValue(date=D0, value=17.0)
    assert rep.total_sleep_hours == sum(6.5 + i / 4 for i in range(1, 8)) and rep.nights_under_7h == 1
    assert rep.bedtime_spread_minutes is not None and 25 <= rep.bedtime_spread_minutes <= 35  # not ~12 hours
    assert rep.workouts_total == 5
    assert [(s.sport, s.count, s.minutes) for s in rep.workouts_by_sport] == [
        ("running", 4, 240.0),
        ("yoga", 1, 45.0),
    ]
    assert rep.vs_previous_week is not None and rep.vs_previous_week.days_a == 1
    assert any("4 running, 1 yoga" in h for h in rep.highlights)
    assert any("Best recovery" in h and "90%" in h for h in rep.highlights)


def test_weekly_report_of_an_empty_week_says_there_is_no_data() -> None:
    rep = an.weekly_report([], D0)
    assert (
        rep.days_with_data == 0 and rep.avg_recovery_pct is None and rep.highlights[0].startswith("No WHOOP")
    )


# ------------------------------------------------------------------------------------------------
# Baselines and readiness
# ------------------------------------------------------------------------------------------------


def test_baselines_average_the_days_ending_as_of_without_the_open_cycle_and_compute_the_load_ratio() -> None:
    days = series_days("strain", [8.0] * 21 + [16.0] * 7)
    today = row(D0 + dt.timedelta(days=1), strain=2.0, cycle_open=True)
    b = an.baselines([*days, today])
    assert b.as_of == today.date and b.days_7d == 7 and b.days_30d == 29
    assert b.strain_7d == 16.0  # today's 2.0 is still accumulating
    # 28 days ending today: today's open cycle left out, 20 of the 8s and the seven 16s
    assert b.strain_28d == round((20 * 8 + 7 * 16) / 27, 1) and b.acute_chronic_ratio == 1.59
    assert b.hrv_ms_7d is None and b.hrv_baseline_ms is None
    assert an.baselines([]).as_of is None


def test_the_hrv_baseline_is_the_mean_of_the_30_days_before_the_day() -> None:
    b = an.baselines(series_days("hrv_ms", [90.0] * 3 + [50.0] * 30 + [80.0]))
    assert b.hrv_baseline_ms == 50.0  # the 90s are older, the day's own 80 is left out
    assert b.hrv_ms_7d == round((6 * 50 + 80) / 7, 1)  # the last 7 days include the day


def test_the_load_ratio_needs_enough_history() -> None:
    assert an.baselines(series_days("strain", [10.0] * 8)).acute_chronic_ratio is None


@pytest.mark.parametrize(
    ("score", "level", "low", "high"),
    [(85.0, "push", 14, 18), (50.0, "maintain", 10, 14), (20.0, "recover", 0, 10)],
)
def test_readiness_targets_strain_by_recovery_zone(score: float, level: str, low: float, high: float) -> None:
    days = healthy_days(35)
    today = row(
        D0 + dt.timedelta(days=1),
        recovery_pct=score,
        recovery_zone=an.recovery_zone(score),
        recovery_state="SCORED",
        hrv_ms=62.0,
        resting_hr_bpm=52.0,
        sleep_hours=7.8,
        sleep_need_hours=8.0,
    )
    r = an.training_readiness(today, an.compute_trends([*days, today], 31))
    assert (r.level, r.target_strain_min, r.target_strain_max) == (level, low, high)
    assert r.rationale[0].startswith(f"Recovery {score:.0f}%")
    assert r.hrv_vs_30d_pct == 100.0 and r.rhr_vs_30d_bpm == 0.0 and r.sleep_vs_need_pct == 97.5
    assert r.hrv_vs_7d_pct == 100.0


def test_a_fast_ramp_in_load_moves_a_green_day_down_a_band() -> None:
    days = series_days("strain", [8.0] * 21 + [15.0] * 7)
    today = row(D0 + dt.timedelta(days=1), recovery_pct=80.0, recovery_zone="green", recovery_state="SCORED")
    r = an.training_readiness(today, baselines=an.baselines([*days, today]))
    assert r.acute_chronic_ratio is not None and r.acute_chronic_ratio > 1.5
    assert r.level == "maintain" and any("ramping" in line for line in r.rationale)


def test_readiness_without_a_recovery_score_uses_a_moderate_default() -> None:
    today = row(D0, recovery_state="PENDING_SCORE", cycle_open=True, strain=15.0)
    r = an.training_readiness(today)
    assert r.level == "maintain" and r.recovery_zone is None
    assert "not scored (pending score)" in r.rationale[0]
    assert r.strain_so_far == 15.0 and any("already at strain 15.0" in line for line in r.rationale)


# ------------------------------------------------------------------------------------------------
# Rule-based insights
# ------------------------------------------------------------------------------------------------


def _insights(**today_values: Any) -> an.Insights:
    days = healthy_days(35)
    base = days[-1].model_dump()
    base.update(date=D0 + dt.timedelta(days=1), weekday="Tue", **today_values)
    today = DaySummary(**base)
    all_days = [*days, today]
    return an.rule_based_insights(today, an.baselines(all_days), an.compute_trends(all_days, 30))


def _concerns(ins: an.Insights) -> list[str]:
    return [f.message for f in ins.flags if f.level != "info"]


def test_a_healthy_day_raises_no_warnings_and_notes_the_positives() -> None:
    ins = _insights()
    assert _concerns(ins) == []
    assert "Nothing worrying" in ins.summary and "recovery 72% (green)" in ins.summary
    assert any("green zone" in f.message for f in ins.flags)
    assert any("Training load is steady" in f.message for f in ins.flags)
    assert ins.recommendations[0].startswith("Good day to push")


def test_a_healthy_week_stays_quiet_every_day() -> None:
    days = healthy_days(35)
    for i in range(28, 35):
        ins = an.rule_based_insights(
            days[i], an.baselines(days[: i + 1]), an.compute_trends(days[: i + 1], 30)
        )
        assert _concerns(ins) == [], days[i].date


def test_red_recovery_is_an_alert_with_the_number() -> None:
    ins = _insights(recovery_pct=22.0, recovery_zone="red")
    assert ins.flags[0].level == "alert" and "Recovery is 22%" in ins.flags[0].message
    assert ins.recommendations[0].startswith("Prioritise recovery")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"hrv_ms": 45.0}, "HRV 45.0 ms is 72.6% of your baseline 62.0 ms"),
        ({"resting_hr_bpm": 59.0}, "Resting heart rate 59 bpm is 7.0 bpm above your baseline 52.0 bpm"),
        ({"sleep_hours": 5.4}, "Only 5 h 24 min of sleep last night (under 6 h 30 min)"),
        ({"sleep_debt_hours": 1.3}, "Sleep debt of 1 h 18 min"),
        ({"spo2_pct": 92.5}, "Blood oxygen 92.5% overnight is below 94%"),
        ({"skin_temp_c": 34.9}, "Skin temperature 34.9 °C is +1.3 °C from your baseline 33.6 °C"),
        (
            {"respiratory_rate_per_min": 16.6},
            "Respiratory rate 16.6/min is +1.4 above your baseline 15.2/min",
        ),
    ],
)
def test_each_warning_rule_triggers_with_specific_numbers(values: dict[str, float], expected: str) -> None:
    concerns = _concerns(_insights(**values))
    assert len(concerns) == 1 and expected in concerns[0], concerns


def test_very_low_spo2_is_an_alert() -> None:
    assert _insights(spo2_pct=88.0).flags[0].level == "alert"


def test_a_high_acute_chronic_ratio_is_flagged() -> None:
    days = series_days("strain", [8.0] * 21 + [15.0] * 7)
    today = row(D0 + dt.timedelta(days=1), recovery_pct=75.0, recovery_zone="green", recovery_state="SCORED")
    ins = an.rule_based_insights(today, an.baselines([*days, today]))
    [concern] = _concerns(ins)
    assert "1.53 times your 4-week average of 9.8" in concern and "ratio" not in concern
    assert any("hold or lower strain" in r for r in ins.recommendations)


def test_several_illness_signs_recommend_a_rest_day_first() -> None:
    ins = _insights(
        hrv_ms=40.0, resting_hr_bpm=60.0, skin_temp_c=35.0, recovery_pct=25.0, recovery_zone="red"
    )
    assert ins.recommendations[0].startswith("Several signs")
    assert len(_concerns(ins)) == 4


def test_declining_trends_are_noted() -> None:
    days = series_days("hrv_ms", [70 - 0.8 * i for i in range(30)])
    ins = an.rule_based_insights(days[-1], an.baselines(days), an.compute_trends(days, 30))
    assert any(f.message.startswith("HRV has been declining over 30 days (-5.6 ms/week)") for f in ins.flags)


def test_insights_are_deterministic_and_handle_no_data() -> None:
    assert _insights(hrv_ms=45.0) == _insights(hrv_ms=45.0)
    empty = an.rule_based_insights(None)
    assert empty.flags and "No WHOOP data" in empty.summary
    bare = an.rule_based_insights(row(D0))
    assert "no scored recovery or sleep yet" in bare.summary


def test_the_insights_json_schema_validates_rule_output_and_rejects_bad_levels() -> None:
    schema = an.INSIGHTS_JSON_SCHEMA
    assert schema == an.Insights.model_json_schema()
    assert set(schema["required"]) == {"summary", "recommendations", "flags"}
    jsonschema.validate(_insights(sleep_hours=5.0).model_dump(mode="json"), schema)
    bad = {"summary": "x", "recommendations": [], "flags": [{"level": "panic", "message": "m"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_result_models_serialize_to_json() -> None:
    recs = Records()
    recs.add_day(D0)
    days = recs.days()
    for model in (days[0], an.compute_trends(days, 7), an.weekly_report(days), an.baselines(days)):
        assert model.model_dump_json()


# ------------------------------------------------------------------------------------------------
# The fake WHOOP's generated dataset
# ------------------------------------------------------------------------------------------------

_HAS_FAKE = importlib.util.find_spec("whoopkit.fake_whoop") is not None


@pytest.mark.skipif(not _HAS_FAKE, reason="whoopkit.fake_whoop not written yet")
def test_the_fake_dataset_gives_sane_days_and_trends() -> None:
    from whoopkit.fake_whoop.data import generate_dataset

    now = dt.datetime(2025, 11, 20, 15, 0, tzinfo=dt.UTC)
    data = generate_dataset(seed=7, days=90, now=now)
    days = an.build_days(
        [Cycle.model_validate(r) for r in data.cycles],
        [Recovery.model_validate(r) for r in data.recoveries],
        [Sleep.model_validate(r) for r in data.sleeps],
        [Workout.model_validate(r) for r in data.workouts],
    )
    assert 85 <= len(days) <= 92
    assert len({d.date for d in days}) == len(days)
    assert days[0].cycle_open and not any(d.cycle_open for d in days[1:])
    scored = [d for d in days if d.recovery_pct is not None]
    assert len(scored) >= 80
    for d in scored:
        assert 0 <= d.recovery_pct <= 100  # type: ignore[operator]
        assert 10 <= d.hrv_ms <= 250 and 35 <= d.resting_hr_bpm <= 90  # type: ignore[operator]
    for d in days:
        if d.sleep_hours is not None:
            assert 2 <= d.sleep_hours <= 12
        if d.strain is not None:
            assert 0 <= d.strain <= 21
    report = an.compute_trends(days, 30)
    assert report.recovery.n >= 25 and report.hrv.mean is not None and 20 <= report.hrv.mean <= 200
    assert report.sleep_hours.mean is not None and 5 <= report.sleep_hours.mean <= 9.5
    assert report.workouts.mean is not None and 0.2 <= report.workouts.mean <= 2
    weekly = an.weekly_report(days)
    assert weekly.days_with_data == 7 and weekly.workouts_total >= 1
    ready = an.training_readiness(days[0], report)
    assert ready.level in ("push", "maintain", "recover")
    an.rule_based_insights(days[0], an.baselines(days), report)
