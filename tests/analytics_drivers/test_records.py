"""Behaviour of analytics.records_report (records, green streaks) and analytics.recovery_calendar."""

from __future__ import annotations

import datetime as dt

from whoopkit.analytics import CalendarDay, DaySummary, records_report, recovery_calendar, recovery_zone
from whoopkit.analytics.days import WEEKDAYS
from whoopkit.analytics.summaries import WorkoutSummary

TODAY = dt.date(2026, 11, 20)  # a Friday
ZONE = dt.timezone(dt.timedelta(hours=-5))


def day(n: int) -> dt.date:
    """``n`` days before TODAY."""
    return TODAY - dt.timedelta(days=n)


def row(
    date: dt.date,
    recovery: float | None = 50.0,
    *,
    state: str = "SCORED",
    hrv: float = 60.0,
    rhr: float = 55.0,
    strain: float | None = 10.0,
    open_cycle: bool = False,
    sleep_hours: float | None = 7.0,
    performance: float = 80.0,
    efficiency: float = 90.0,
    workouts: list[WorkoutSummary] | None = None,
) -> DaySummary:
    """A day row; ``recovery`` None (or a state other than SCORED) leaves the recovery unscored."""
    scored = state == "SCORED" and recovery is not None
    ws = workouts or []
    return DaySummary(
        date=date,
        weekday=WEEKDAYS[date.weekday()],
        cycle_state="SCORED",
        cycle_open=open_cycle,
        strain=strain,
        recovery_state=state if recovery is not None or state != "SCORED" else "MISSING",  # type: ignore[arg-type]
        recovery_pct=recovery if scored else None,
        recovery_zone=recovery_zone(recovery) if scored and recovery is not None else None,
        hrv_ms=hrv if scored else None,
        resting_hr_bpm=rhr if scored else None,
        sleep_state="SCORED" if sleep_hours is not None else "MISSING",
        sleep_hours=sleep_hours,
        sleep_performance_pct=performance if sleep_hours is not None else None,
        sleep_efficiency_pct=efficiency if sleep_hours is not None else None,
        workout_count=len(ws),
        workouts=ws,
    )


def run(
    date: dt.date, sport: str, minutes: float, km: float | None, workout_id: str, hour: int = 7
) -> WorkoutSummary:
    """A scored workout starting at ``hour`` on ``date``."""
    start = dt.datetime.combine(date, dt.time(hour), ZONE)
    return WorkoutSummary(
        workout_id=workout_id,
        sport=sport,
        state="SCORED",
        local_date=date,
        start_local=start,
        end_local=start + dt.timedelta(minutes=minutes),
        duration_minutes=minutes,
        distance_km=km,
    )


def test_the_longest_green_streak_ends_at_a_missing_day() -> None:
    rows = [row(day(n), 80.0) for n in range(30, 25, -1)]  # 5 green days
    rows += [row(day(n), 80.0) for n in range(24, 20, -1)]  # day 25 missing, then 4 green
    report = records_report(rows, today=TODAY)
    streak = report.longest_green_streak
    assert (streak.days, streak.start, streak.end) == (5, day(30), day(26))
    assert streak.sentence == "Longest green streak: 5 days (Wed 21 Oct 2026 to Sun 25 Oct 2026)."


def test_a_day_without_a_scored_recovery_ends_a_streak() -> None:
    rows = [row(day(n), 75.0) for n in range(10, 0, -1)]
    rows[4] = row(day(6), None, state="PENDING_SCORE")
    rows[7] = row(day(3), None, state="UNSCORABLE")
    report = records_report(rows, today=TODAY)
    assert (report.longest_green_streak.days, report.longest_green_streak.start) == (4, day(10))


def test_green_is_judged_on_the_whole_percent_shown() -> None:
    rows = [row(day(2), 66.5), row(day(1), 67.0), row(day(0), 66.4)]
    report = records_report(rows, today=TODAY)
    assert report.longest_green_streak.days == 2  # 66.5 shows as 67 %: green; 66.4 shows as 66 %
    assert report.current_green_streak.days == 0
    assert (
        report.current_green_streak.sentence == "No current green streak: today's recovery is 66% (yellow)."
    )


def test_the_current_streak_ends_today_when_today_is_scored() -> None:
    rows = [row(day(5), 30.0)] + [row(day(n), 90.0) for n in range(4, -1, -1)]
    current = records_report(rows, today=TODAY).current_green_streak
    assert (current.days, current.start, current.end) == (5, day(4), TODAY)
    assert current.sentence == "Current green streak: 5 days (Mon 16 Nov 2026 to Fri 20 Nov 2026)."


def test_the_current_streak_ends_yesterday_while_today_is_not_scored_yet() -> None:
    rows = [row(day(n), 90.0) for n in range(3, 0, -1)] + [row(TODAY, None, state="PENDING_SCORE")]
    current = records_report(rows, today=TODAY).current_green_streak
    assert (current.days, current.start, current.end) == (3, day(3), day(1))
    rows = [row(day(n), 90.0) for n in range(3, 1, -1)]  # nothing yesterday or today
    assert records_report(rows, today=TODAY).current_green_streak.days == 0


def test_recovery_hrv_and_rhr_records_carry_their_dates_and_the_first_day_wins_a_tie() -> None:
    rows = [
        row(day(9), 95.0, hrv=80.0, rhr=50.0),
        row(day(8), 20.0, hrv=40.0, rhr=60.0),
        row(day(7), 95.0, hrv=101.4, rhr=47.6),
        row(day(6), 20.0, hrv=101.4, rhr=47.6),
    ]
    report = records_report(rows, today=TODAY)
    assert report.best_recovery is not None and report.worst_recovery is not None
    assert (report.best_recovery.date, report.best_recovery.value, report.best_recovery.unit) == (
        day(9),
        95.0,
        "%",
    )
    assert report.best_recovery.sentence == "Best recovery: 95% on Wed 11 Nov 2026."
    assert report.worst_recovery.date == day(8)
    assert report.highest_hrv is not None and report.lowest_resting_hr is not None
    assert (report.highest_hrv.date, report.highest_hrv.unit) == (day(7), "ms")
    assert report.highest_hrv.sentence == "Highest HRV: 101 ms on Fri 13 Nov 2026."
    assert report.lowest_resting_hr.sentence == "Lowest resting heart rate: 48 bpm on Fri 13 Nov 2026."
    assert report.days_with_recovery == 4


def test_the_strain_record_counts_only_closed_cycles() -> None:
    rows = [row(day(2), strain=15.2), row(day(1), strain=18.9), row(TODAY, strain=20.5, open_cycle=True)]
    record = records_report(rows, today=TODAY).most_strain
    assert record is not None and (record.date, record.value) == (day(1), 18.9)
    assert record.sentence == "Most strain in a day: 18.9 on Thu 19 Nov 2026."


def test_sleep_records_are_dated_by_the_night_before_the_whoop_day() -> None:
    rows = [
        row(day(3), sleep_hours=9.5, performance=88.0, efficiency=91.0),
        row(day(2), sleep_hours=6.0, performance=100.0, efficiency=95.5),
        row(day(1), sleep_hours=None),
    ]
    report = records_report(rows, today=TODAY)
    assert report.longest_sleep is not None and report.best_sleep_performance is not None
    assert report.longest_sleep.sentence == "Longest sleep: 9 h 30 min the night before Tue 17 Nov 2026."
    assert (report.best_sleep_performance.date, report.best_sleep_performance.value) == (day(2), 100.0)
    assert report.best_sleep_efficiency is not None and report.best_sleep_efficiency.value == 95.5


def test_per_sport_records_give_the_longest_farthest_and_fastest_with_a_pace_for_running() -> None:
    rows = [
        row(day(5), workouts=[run(day(5), "running", 50, 10.0, "r1")]),  # 12.0 km/h
        row(day(4), workouts=[run(day(4), "running", 95, 18.0, "r2")]),  # longest, farthest, 11.4 km/h
        row(day(3), workouts=[run(day(3), "running", 2, 0.5, "r3")]),  # 15 km/h but under 1 km
        row(
            day(2),
            workouts=[run(day(2), "cycling", 60, 30.0, "c1"), run(day(2), "yoga", 60, None, "y1", hour=18)],
        ),
    ]
    sports = {s.sport: s for s in records_report(rows, today=TODAY).sports}
    assert [s for s in sports] == ["running", "cycling", "yoga"]  # most workouts first
    running = sports["running"]
    assert running.workouts == 3
    assert (running.longest.workout_id, running.longest.value, running.longest.unit) == ("r2", 95, "min")
    assert running.farthest is not None and running.farthest.date == day(4)
    assert running.farthest.sentence == "Farthest running: 18.00 km on Mon 16 Nov 2026."
    fastest = running.fastest
    assert fastest is not None
    assert (fastest.workout_id, fastest.value, fastest.unit, fastest.pace_min_per_km) == (
        "r1",
        12.0,
        "km/h",
        5.0,
    )
    assert fastest.sentence == "Fastest running: 12.0 km/h (5:00 min/km) over 10.00 km on Sun 15 Nov 2026."
    cycling = sports["cycling"]
    assert cycling.fastest is not None and cycling.fastest.pace_min_per_km is None
    assert "min/km" not in cycling.fastest.sentence
    assert sports["yoga"].farthest is None and sports["yoga"].fastest is None
    assert sports["yoga"].longest.sentence == "Longest yoga: 1 h 00 min on Wed 18 Nov 2026."


def test_no_days_give_an_empty_report_that_says_so() -> None:
    report = records_report([], today=TODAY)
    assert report.best_recovery is None and report.sports == []
    assert report.longest_green_streak.days == report.current_green_streak.days == 0
    assert report.summary == "No stored days yet, so there are no records."


def test_the_calendar_has_one_cell_per_day_with_a_tooltip() -> None:
    rows = [
        row(dt.date(2026, 11, 3), 61.4, hrv=72.3, rhr=51.2, strain=12.4),
        row(dt.date(2026, 11, 5), None, state="PENDING_SCORE", strain=3.1, open_cycle=True),
    ]
    cells = recovery_calendar(rows, start=dt.date(2026, 11, 2), end=dt.date(2026, 11, 5))
    assert [c.date for c in cells] == [dt.date(2026, 11, d) for d in (2, 3, 4, 5)]
    assert cells[1] == CalendarDay(
        date=dt.date(2026, 11, 3),
        weekday="Tue",
        recovery_state="SCORED",
        recovery_pct=61.4,
        zone="yellow",
        hrv_ms=72.3,
        resting_hr_bpm=51.2,
        strain=12.4,
        tooltip="Tue 3 Nov 2026: recovery 61% (yellow), HRV 72 ms, RHR 51 bpm, strain 12.4",
    )
    assert cells[0].tooltip == "Mon 2 Nov 2026: no data" and cells[0].zone is None
    assert cells[3].tooltip == "Thu 5 Nov 2026: recovery not scored yet, strain 3.1 so far"
    assert cells[3].recovery_pct is None and cells[3].strain_open
