"""Behaviour of analytics.drivers_report on synthetic day rows with planted effects and planted noise."""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass, field

import pytest
from scipy import stats

from whoopkit.analytics import DaySummary, DriverFactor, DriversReport, drivers_report
from whoopkit.analytics.days import WEEKDAYS
from whoopkit.analytics.summaries import WorkoutSummary

TODAY = dt.date(2026, 11, 20)
ZONE = dt.timezone(dt.timedelta(hours=-5))
ALCOHOL = "Have any alcoholic drinks?"
READING = "Read (non-screened device) while in bed?"
LATE_MEAL = "Eat a late meal?"


@dataclass
class Plan:
    """What the synthetic person does each day and what is planted into the next morning's recovery."""

    days: int = 365
    seed: int = 1
    noise: float = 10.0
    alcohol_effect: float = 0.0
    sleep_slope: float = 0.0
    bedtime_slope: float = 0.0
    late_workout_effect: float = 0.0
    noise_questions: int = 0
    calibrating_days: int = 0
    extra: dict[str, float] = field(default_factory=dict)


def sleep_start(day: dt.date, bedtime: float, zone: dt.tzinfo = ZONE) -> dt.datetime:
    """The start of WHOOP day ``day``'s main sleep: ``bedtime`` hours after midnight before that day."""
    return dt.datetime.combine(day - dt.timedelta(days=1), dt.time(), zone) + dt.timedelta(hours=bedtime)


def workout(day: dt.date, end: dt.datetime, minutes: float = 45.0) -> WorkoutSummary:
    """A scored run ending at ``end``."""
    return WorkoutSummary(
        workout_id=f"w-{day.isoformat()}-{end.hour}",
        sport="running",
        state="SCORED",
        local_date=end.date(),
        start_local=end - dt.timedelta(minutes=minutes),
        end_local=end,
        duration_minutes=minutes,
        distance_km=8.0,
    )


def row(
    day: dt.date,
    *,
    recovery: float | None,
    sleep_hours: float | None = 7.5,
    bedtime: float | None = 23.0,
    strain: float | None = 11.0,
    workouts: list[WorkoutSummary] | None = None,
    calibrating: bool = False,
    zone: dt.tzinfo = ZONE,
) -> DaySummary:
    """A day row with a scored recovery (unless ``recovery`` is None) and last night's main sleep."""
    ws = workouts or []
    return DaySummary(
        date=day,
        weekday=WEEKDAYS[day.weekday()],
        cycle_state="SCORED",
        strain=strain,
        recovery_state="SCORED" if recovery is not None else "PENDING_SCORE",
        recovery_pct=recovery,
        hrv_ms=None if recovery is None else 40 + recovery / 2,
        resting_hr_bpm=None if recovery is None else 65 - recovery / 10,
        calibrating=calibrating if recovery is not None else None,
        sleep_state="SCORED" if sleep_hours is not None else "MISSING",
        sleep_start_local=None if bedtime is None else sleep_start(day, bedtime, zone),
        sleep_hours=sleep_hours,
        sleep_performance_pct=None if sleep_hours is None else min(100.0, sleep_hours / 8 * 100),
        sleep_consistency_pct=None if sleep_hours is None else 80.0,
        workout_count=len(ws),
        workouts=ws,
    )


def synthetic(plan: Plan) -> tuple[list[DaySummary], dict[dt.date, dict[str, bool]]]:
    """Day rows (newest first) and a journal with the plan's effects planted and everything else noise."""
    rng = random.Random(plan.seed)
    first = TODAY - dt.timedelta(days=plan.days - 1)
    dates = [first + dt.timedelta(days=i) for i in range(plan.days)]
    sleep = [rng.gauss(7.3, 0.8) for _ in dates]
    bedtime = [rng.gauss(23.5, 0.8) for _ in dates]
    alcohol = [rng.random() < 0.2 for _ in dates]
    late = [rng.random() < 0.2 for _ in dates]
    journal: dict[dt.date, dict[str, bool]] = {}
    rows: list[DaySummary] = []
    for i, day in enumerate(dates):
        answers = {ALCOHOL: alcohol[i]}
        for q in range(plan.noise_questions):
            answers[f"Noise question {q}?"] = rng.random() < 0.4
        journal[day] = answers
        recovery = 55.0 + rng.gauss(0, plan.noise)
        recovery += plan.sleep_slope * (sleep[i] - 7.3) + plan.bedtime_slope * (bedtime[i] - 23.5)
        if i > 0 and alcohol[i - 1]:
            recovery += plan.alcohol_effect
        if i > 0 and late[i - 1]:
            recovery += plan.late_workout_effect
        ws: list[WorkoutSummary] = []
        if i + 1 < len(dates):
            bed_next = sleep_start(dates[i + 1], bedtime[i + 1])
            if late[i]:
                ws.append(workout(day, bed_next - dt.timedelta(hours=2)))
            elif rng.random() < 0.4:
                ws.append(workout(day, dt.datetime.combine(day, dt.time(7, 45), ZONE)))
        rows.append(
            row(
                day,
                recovery=round(min(99.0, max(1.0, recovery)), 1),
                sleep_hours=round(sleep[i], 2),
                bedtime=bedtime[i],
                strain=round(rng.uniform(5, 18), 1),
                workouts=ws,
                calibrating=i < plan.calibrating_days,
            )
        )
    return rows[::-1], journal


def find(report: DriversReport, key: str, lag: int) -> DriverFactor:
    """The tested factor ``key`` at ``lag``."""
    matches = [f for f in report.factors if f.key == key and f.lag_days == lag]
    assert len(matches) == 1, [(f.key, f.lag_days) for f in report.factors]
    return matches[0]


def all_text(report: DriversReport) -> list[str]:
    """Every sentence a face might quote."""
    return [report.summary, report.method, *(f.sentence for f in report.factors)] + [
        f.reason for f in report.not_enough_data
    ]


def test_a_planted_journal_effect_at_lag_one_is_found_with_the_truth_inside_its_interval() -> None:
    rows, journal = synthetic(Plan(alcohol_effect=-12.0))
    report = drivers_report(rows, journal, outcome="recovery", today=TODAY, window_days=365)
    alcohol = find(report, "journal:have-any-alcoholic-drinks", 1)
    assert alcohol.significant and alcohol.q_value < 0.05
    assert alcohol.ci_low <= -12.0 <= alcohol.ci_high
    assert abs(alcohol.effect + 12.0) <= 4.0
    assert alcohol.n_yes is not None and alcohol.n_no is not None
    assert alcohol.n_yes + alcohol.n_no == alcohol.n == 364  # the first day has no yesterday
    assert alcohol.cohens_d is not None and alcohol.cohens_d < -0.8
    assert alcohol.sentence.startswith(f'On days after you answered yes to "{ALCOHOL}", your recovery')
    assert f"n = {alcohol.n_yes} vs {alcohol.n_no}" in alcohol.sentence
    assert "points lower" in alcohol.sentence
    assert report.factors[0].significant


def test_the_binary_interval_and_p_are_welchs_from_scipy() -> None:
    rows, journal = synthetic(Plan(alcohol_effect=-12.0))
    report = drivers_report(rows, journal, outcome="recovery", today=TODAY, window_days=365)
    alcohol = find(report, "journal:have-any-alcoholic-drinks", 1)
    by_date = {r.date: r for r in rows}
    yes = [
        by_date[d + dt.timedelta(days=1)].recovery_pct for d, a in journal.items() if a[ALCOHOL] and d < TODAY
    ]
    no = [
        by_date[d + dt.timedelta(days=1)].recovery_pct
        for d, a in journal.items()
        if not a[ALCOHOL] and d < TODAY
    ]
    expected = stats.ttest_ind(yes, no, equal_var=False)
    ci = expected.confidence_interval()
    assert alcohol.p_value == pytest.approx(float(expected.pvalue))
    assert (alcohol.ci_low, alcohol.ci_high) == (round(float(ci.low), 1), round(float(ci.high), 1))


def test_a_planted_sleep_slope_is_found_per_hour_with_the_truth_inside_its_interval() -> None:
    rows, journal = synthetic(Plan(sleep_slope=6.0))
    report = drivers_report(rows, journal, outcome="recovery", today=TODAY, window_days=365)
    sleep = find(report, "sleep_hours", 0)
    assert sleep.significant and sleep.kind == "continuous" and sleep.per == "hour of sleep"
    assert sleep.ci_low <= 6.0 <= sleep.ci_high
    assert sleep.spearman_rho is not None and sleep.spearman_rho > 0.2
    assert sleep.sentence.startswith("Each extra hour of sleep last night was associated with")


def test_bedtime_is_continuous_across_midnight() -> None:
    # bedtimes straddle midnight (mean 23:30, sd 48 min): on a 0-24 clock the slope would vanish
    rows, journal = synthetic(Plan(bedtime_slope=-5.0))
    report = drivers_report(rows, journal, outcome="recovery", today=TODAY, window_days=365)
    bedtime = find(report, "bedtime", 0)
    assert bedtime.significant
    assert bedtime.ci_low <= -5.0 <= bedtime.ci_high
    assert bedtime.sentence.startswith("Each hour later bedtime last night was associated with")
    assert (report.top_factor_key, report.top_lag_days) == ("bedtime", 0)
    assert report.top_x_label == "Bedtime (hours after noon)"
    assert len(report.top_points) == bedtime.n
    assert all(9.0 < p.x < 15.0 for p in report.top_points)  # 21:00..03:00 as hours after noon


def test_a_late_workout_yesterday_is_found_at_lag_one() -> None:
    rows, journal = synthetic(Plan(late_workout_effect=-9.0))
    report = drivers_report(rows, journal, outcome="recovery", today=TODAY, window_days=365)
    late = find(report, "late_workout", 1)
    assert late.significant and late.ci_low <= -9.0 <= late.ci_high
    assert not [f for f in report.factors if f.key == "late_workout" and f.lag_days == 0]


def test_pure_noise_factors_are_not_significant_after_benjamini_hochberg() -> None:
    rows, journal = synthetic(Plan(alcohol_effect=-12.0, sleep_slope=6.0, noise_questions=10))
    report = drivers_report(rows, journal, outcome="recovery", today=TODAY, window_days=365)
    noise = [f for f in report.factors if f.label.startswith("Noise question")]
    assert len(noise) == 10
    assert not [f for f in noise if f.significant], [(f.label, f.p_value, f.q_value) for f in noise]
    # a noise question whose raw interval misses zero by chance is "not clear", never "associated"
    assert all(f.sentence.startswith(("No clear association", "Not clear once")) for f in noise)
    weekdays = [f for f in report.factors if f.key.startswith("weekday_")]
    assert len(weekdays) == 7 and not [f for f in weekdays if f.significant]


def test_q_values_are_benjamini_hochberg_over_every_test_of_the_report() -> None:
    rows, journal = synthetic(Plan(alcohol_effect=-12.0, noise_questions=3))
    report = drivers_report(rows, journal, outcome="recovery", today=TODAY, window_days=365)
    assert report.tests_run == len(report.factors) >= 20
    expected = stats.false_discovery_control([f.p_value for f in report.factors], method="bh")
    assert [f.q_value for f in report.factors] == pytest.approx(list(expected))
    assert all(f.significant == (f.q_value < 0.05) for f in report.factors)
    assert f"all {report.tests_run} tests" in report.method
    for name in ("Welch", "theilslopes", "kendalltau", "Benjamini-Hochberg", "false_discovery_control"):
        assert name in report.method


def test_factors_are_ranked_significant_first_then_by_size_relative_to_the_outcome_sd() -> None:
    rows, journal = synthetic(Plan(alcohol_effect=-12.0, sleep_slope=6.0, noise_questions=3))
    report = drivers_report(rows, journal, outcome="recovery", today=TODAY, window_days=365)
    flags = [f.significant for f in report.factors]
    assert flags == sorted(flags, reverse=True) and flags[0]
    for group in (True, False):
        sizes = [abs(f.effect_sd) for f in report.factors if f.significant is group]
        assert sizes == sorted(sizes, reverse=True)


def test_only_meaningful_lags_are_tested() -> None:
    rows, journal = synthetic(Plan())
    report = drivers_report(rows, journal, outcome="recovery", today=TODAY, window_days=365)
    lags: dict[str, set[int]] = {}
    for f in [*report.factors, *report.not_enough_data]:
        lags.setdefault(f.key, set()).add(f.lag_days)
    assert lags["strain"] == {1}
    assert lags["naps"] == {1}
    assert lags["late_workout"] == {1}
    assert lags["journal:have-any-alcoholic-drinks"] == {1}
    assert lags["sleep_hours"] == {0, 1}
    assert lags["timezone_change"] == {0, 1}
    assert all(lags[f"weekday_{d.lower()}"] == {0} for d in WEEKDAYS)


def test_a_binary_factor_needs_eight_days_in_each_group() -> None:
    rows, journal = synthetic(Plan())
    old = sorted(journal)[:-30]
    for i, day in enumerate(old):
        journal[day][LATE_MEAL] = i < 7  # 7 yes, the rest no
    report = drivers_report(rows, journal, outcome="recovery", today=TODAY, window_days=365)
    (skipped,) = [f for f in report.not_enough_data if f.label == LATE_MEAL]
    assert (skipped.n_yes, skipped.lag_days) == (7, 1)
    assert "at least 8 of each" in skipped.reason
    assert not [f for f in report.factors if f.label == LATE_MEAL]
    journal[old[7]][LATE_MEAL] = True
    report = drivers_report(rows, journal, outcome="recovery", today=TODAY, window_days=365)
    assert [f.n_yes for f in report.factors if f.label == LATE_MEAL] == [8]


def test_the_most_recent_seven_days_are_never_the_only_evidence_for_a_binary_factor() -> None:
    rows, journal = synthetic(Plan())
    dates = sorted(journal)
    for day in dates:
        journal[day][LATE_MEAL] = False
    for day in [*dates[100:106], *dates[-8:-1]]:  # 6 older yes days; the rest in the last week
        journal[day][LATE_MEAL] = True
    report = drivers_report(rows, journal, outcome="recovery", today=TODAY, window_days=365)
    (skipped,) = [f for f in report.not_enough_data if f.label == LATE_MEAL]
    assert skipped.n_yes == 13
    assert "without the most recent 7 days only 6 days with it" in skipped.reason
    journal[dates[200]][LATE_MEAL] = journal[dates[201]][LATE_MEAL] = True
    report = drivers_report(rows, journal, outcome="recovery", today=TODAY, window_days=365)
    assert [f.n_yes for f in report.factors if f.label == LATE_MEAL] == [15]


def test_a_continuous_factor_needs_twenty_days_and_not_only_the_last_week() -> None:
    rows, journal = synthetic(Plan(days=120))
    newest_first = list(rows)
    keep = {r.date for r in newest_first[:7]} | {r.date for r in newest_first[40:58]}  # 7 recent + 18 older
    thinned = [r if r.date in keep else r.model_copy(update={"sleep_hours": None}) for r in rows]
    report = drivers_report(thinned, journal, outcome="recovery", today=TODAY, window_days=120)
    (skipped,) = [f for f in report.not_enough_data if f.key == "sleep_hours" and f.lag_days == 0]
    assert skipped.n == 25
    assert "without the most recent 7 days only 18 days" in skipped.reason
    keep |= {newest_first[70].date, newest_first[71].date}
    thinned = [r if r.date in keep else r.model_copy(update={"sleep_hours": None}) for r in rows]
    report = drivers_report(thinned, journal, outcome="recovery", today=TODAY, window_days=120)
    assert find(report, "sleep_hours", 0).n == 27
    few = [r if r.date in set(list(keep)[:19]) else r.model_copy(update={"sleep_hours": None}) for r in rows]
    report = drivers_report(few, journal, outcome="recovery", today=TODAY, window_days=120)
    (skipped,) = [f for f in report.not_enough_data if f.key == "sleep_hours" and f.lag_days == 0]
    assert skipped.n == 19 and "at least 20 are needed" in skipped.reason


def test_a_report_needs_twenty_eight_outcome_days() -> None:
    rows, journal = synthetic(Plan(days=27, alcohol_effect=-30.0))
    report = drivers_report(rows, journal, outcome="hrv", today=TODAY, window_days=90)
    assert report.n_days == 27 and report.factors == [] and report.tests_run == 0
    assert "at least 28 are needed" in report.summary and "Only 27 days" in report.summary
    rows, journal = synthetic(Plan(days=28))
    assert drivers_report(rows, journal, outcome="hrv", today=TODAY, window_days=90).n_days == 28


def test_calibrating_days_and_days_before_the_window_are_not_outcome_days() -> None:
    rows, journal = synthetic(Plan(days=200, calibrating_days=10))
    report = drivers_report(rows, journal, outcome="recovery", today=TODAY, window_days=195)
    assert report.n_days == 190  # 200 days, 5 before the window, 5 more calibrating inside it
    assert (report.window.start, report.window.end, report.window.days) == (
        TODAY - dt.timedelta(days=194),
        TODAY,
        195,
    )
    report = drivers_report(rows, journal, outcome="recovery", today=TODAY, window_days=100)
    assert report.n_days == 100
    assert find(report, "journal:have-any-alcoholic-drinks", 1).n == 100  # day -100's yesterday is history


def test_hrv_and_rhr_effects_are_in_their_own_units() -> None:
    rows, journal = synthetic(Plan(alcohol_effect=-12.0))
    hrv = drivers_report(rows, journal, outcome="hrv", today=TODAY, window_days=365)
    rhr = drivers_report(rows, journal, outcome="rhr", today=TODAY, window_days=365)
    assert (hrv.unit, rhr.unit) == ("ms", "bpm")
    a_hrv = find(hrv, "journal:have-any-alcoholic-drinks", 1)
    a_rhr = find(rhr, "journal:have-any-alcoholic-drinks", 1)
    assert a_hrv.ci_low <= -6.0 <= a_hrv.ci_high  # hrv = 40 + recovery / 2 in these rows
    assert a_rhr.ci_low <= 1.2 <= a_rhr.ci_high  # rhr = 65 - recovery / 10
    assert "ms lower" in a_hrv.sentence and "your HRV" in a_hrv.sentence
    assert "bpm higher" in a_rhr.sentence and "your resting heart rate" in a_rhr.sentence


def test_a_time_zone_change_is_the_main_sleep_offset_differing_from_the_night_before() -> None:
    rows, journal = synthetic(Plan())
    oldest_first = rows[::-1]
    travel = dt.timezone(dt.timedelta(hours=-2))  # three hours from home: travel on any night
    moved = []
    for i, r in enumerate(oldest_first):
        abroad = (i // 10) % 2 == 1  # ten days away, ten days home: a change every tenth night
        start = r.sleep_start_local
        assert start is not None
        moved.append(
            r.model_copy(update={"sleep_start_local": start.replace(tzinfo=travel)}) if abroad else r
        )
    report = drivers_report(moved[::-1], journal, outcome="recovery", today=TODAY, window_days=365)
    tz = find(report, "timezone_change", 0)
    assert tz.n_yes == 36 and tz.n_no == 364 - 36


def test_a_daylight_saving_clock_change_is_not_counted_as_travel_but_a_one_hour_trip_is() -> None:
    rows, journal = synthetic(Plan())
    summer = dt.timezone(dt.timedelta(hours=-4))
    spring = dt.datetime(2026, 3, 8, 2, 0, tzinfo=ZONE)  # US clocks go forward early on Sun 8 March ...
    autumn = dt.datetime(2026, 11, 1, 2, 0, tzinfo=ZONE)  # ... and back early on Sun 1 November
    trip = (dt.date(2026, 7, 15), dt.date(2026, 7, 25))  # a Wednesday-to-Saturday trip one zone east
    moved = []
    for r in rows:
        start = r.sleep_start_local
        assert start is not None
        if spring <= start.replace(tzinfo=ZONE) < autumn:
            start = start.replace(tzinfo=summer)
        if trip[0] <= start.date() < trip[1]:
            start = start.replace(tzinfo=dt.timezone(dt.timedelta(hours=-3)))
        moved.append(r.model_copy(update={"sleep_start_local": start}))
    report = drivers_report(moved, journal, outcome="recovery", today=TODAY, window_days=365)
    [tz] = [
        f
        for f in [*report.factors, *report.not_enough_data]
        if f.key == "timezone_change" and f.lag_days == 0
    ]
    assert (tz.n_yes, tz.n_no) == (2, 362)  # the trip's two nights, not the clocks' two weekends


def test_an_early_evening_bedtime_comes_before_the_late_ones_not_after_them() -> None:
    rows, journal = synthetic(Plan(bedtime_slope=-5.0))
    early = []
    for i, r in enumerate(rows):
        if i % 15 == 3:  # a 17:30 bedtime twice a month, with the recovery the planted slope gives it
            r = r.model_copy(
                update={"sleep_start_local": sleep_start(r.date, 17.5), "recovery_pct": 85.0, "hrv_ms": 82.5}
            )
        early.append(r)
    report = drivers_report(early, journal, outcome="recovery", today=TODAY, window_days=365)
    bedtime = find(report, "bedtime", 0)
    assert bedtime.significant and bedtime.ci_low <= -5.0 <= bedtime.ci_high
    assert min(p.x for p in report.top_points) == 5.5  # 17:30 is 5.5 hours after noon, before 21:00


def test_the_wording_says_associated_and_never_cause() -> None:
    rows, journal = synthetic(Plan(alcohol_effect=-12.0, sleep_slope=6.0, noise_questions=3))
    for outcome in ("recovery", "hrv", "rhr"):
        report = drivers_report(rows, journal, outcome=outcome, today=TODAY, window_days=365)
        for text in all_text(report):
            assert not re.search(r"caus|because|due to|leads to|results in", text, re.IGNORECASE), text
        for f in report.factors:
            if f.significant:
                assert "associat" in f.sentence and "not proof of an effect" in f.sentence
            elif f.ci_low > 0 or f.ci_high < 0:
                assert f.sentence.startswith(f"Not clear once the {report.tests_run} tests"), f.sentence
            else:
                assert f.sentence.startswith("No clear association"), f.sentence
        assert "associations in your own data, not proof of effects" in report.summary


def test_the_summary_names_the_clear_findings_with_their_n() -> None:
    rows, journal = synthetic(Plan(alcohol_effect=-12.0))
    report = drivers_report(rows, journal, outcome="recovery", today=TODAY, window_days=365)
    alcohol = find(report, "journal:have-any-alcoholic-drinks", 1)
    assert (
        f'"{ALCOHOL}" (yesterday): {alcohol.effect:+.1f} points (n = {alcohol.n_yes} vs {alcohol.n_no})'
        in (report.summary)
    )
    assert "Benjamini-Hochberg" in report.summary


def test_an_unknown_outcome_is_refused() -> None:
    with pytest.raises(ValueError, match="outcome must be one of recovery, hrv, rhr"):
        drivers_report([], {}, outcome="sleep", today=TODAY, window_days=365)  # type: ignore[arg-type]
