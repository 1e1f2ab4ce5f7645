"""Pure functions turning WHOOP models into what the templates show (no I/O, easy to test).

Records arrive newest first; charts run oldest first. Unscored records stay visible as "pending" /
"unscorable" and are gaps in charts, never zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from whoopkit.analytics import whoop_day
from whoopkit.models import (
    Cycle,
    Recovery,
    ScoreState,
    Sleep,
    UserBasicProfile,
    UserBodyMeasurement,
    Workout,
)
from whoopkit.web import charts
from whoopkit.web import formatting as fmt

RECOVERY_BANDS = ((0.0, 33.5, "red"), (33.5, 66.5, "yellow"), (66.5, 100.0, "green"))
ZONE_TEXT = {
    "green": "Green: primed to take on strain",
    "yellow": "Yellow: maintaining",
    "red": "Red: prioritise rest",
    "none": "",
}


def _times(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def _state_cell(state: ScoreState) -> dict[str, str]:
    label = fmt.state_label(state)
    return {"text": label, "css": label}


def _asleep_milli(sleep: Sleep) -> int | None:
    return None if sleep.score is None else sleep.score.stage_summary.asleep_milli


def _stages(sleep: Sleep) -> list[tuple[str, int, str]]:
    if sleep.score is None:
        return []
    s = sleep.score.stage_summary
    return [
        ("Awake", s.total_awake_time_milli, "awake"),
        ("Light", s.total_light_sleep_time_milli, "light"),
        ("Deep (SWS)", s.total_slow_wave_sleep_time_milli, "deep"),
        ("REM", s.total_rem_sleep_time_milli, "rem"),
    ]


def main_sleeps(sleeps: Sequence[Sleep]) -> list[Sleep]:
    """Sleeps without naps, newest first."""
    return sorted((s for s in sleeps if not s.nap), key=lambda s: s.start, reverse=True)


def recoveries_by_day(recoveries: Sequence[Recovery], cycles: Sequence[Cycle]) -> list[tuple[date, Recovery]]:
    """Recoveries paired with their cycle's day, newest first (a recovery without its cycle is skipped)."""
    by_id = {c.id: c for c in cycles}
    pairs = [(whoop_day(by_id[r.cycle_id]), r) for r in recoveries if r.cycle_id in by_id]
    pairs.sort(key=lambda p: (p[0], p[1].created_at), reverse=True)
    return pairs


def series_end(today: date, seen: Sequence[date]) -> date:
    """The last day a chart shows: the newest WHOOP day when it is today or yesterday, else today.

    While the user sleeps, WHOOP's current cycle is still yesterday's, so ending at the calendar
    date would always leave an empty last slot; a real gap (no strap for days) stays visible.
    """
    newest = max(seen, default=None)
    if newest is None or newest < today - timedelta(days=1):
        return today
    return newest


def _daily_series(
    pairs: Sequence[tuple[date, float | None]], days: int, today: date
) -> list[tuple[date, float | None]]:
    """One value per calendar day over the last ``days`` days (oldest first); missing days are None."""
    values: dict[date, float | None] = {}
    for d, v in pairs:
        values.setdefault(d, v)  # newest record of a day wins
    return [(d, values.get(d)) for d in (today - timedelta(days=k) for k in range(days - 1, -1, -1))]


# --------------------------------------------------------------------------- dashboard


def dashboard(
    *,
    profile: UserBasicProfile | None,
    body: UserBodyMeasurement | None,
    cycles: Sequence[Cycle],
    recoveries: Sequence[Recovery],
    sleeps: Sequence[Sleep],
    today: date,
) -> dict[str, Any]:
    """The dashboard's numbers: today's recovery, strain, last night's sleep, body, 7-day sparklines."""
    cycles = sorted(cycles, key=lambda c: c.start, reverse=True)
    rec_pairs = recoveries_by_day(recoveries, cycles)
    current = cycles[0] if cycles else None
    latest_rec = rec_pairs[0][1] if rec_pairs else None
    recovery: dict[str, Any] = {"value": None, "zone": "none", "zone_text": "", "state": "", "hrv": None}
    recovery["day"] = fmt.day(rec_pairs[0][0]) if rec_pairs else ""
    recovery.update(rhr=None, spo2=None, skin_temp=None)
    if latest_rec is not None:
        if latest_rec.score is not None:
            sc = latest_rec.score
            zone = fmt.zone(sc.recovery_score)
            recovery.update(
                value=sc.recovery_score,
                zone=zone,
                zone_text=ZONE_TEXT[zone],
                hrv=sc.hrv_rmssd_milli,
                rhr=sc.resting_heart_rate,
                spo2=sc.spo2_percentage,
                skin_temp=sc.skin_temp_celsius,
            )
        else:
            recovery["state"] = fmt.state_label(latest_rec.score_state)
    strain: dict[str, Any] = {"value": None, "kilojoule": None, "avg_hr": None, "state": ""}
    strain["open"] = current is not None and current.end is None
    strain["day"] = fmt.day(whoop_day(current)) if current is not None else ""
    if current is not None:
        if current.score is not None:
            strain.update(
                value=current.score.strain,
                kilojoule=current.score.kilojoule,
                avg_hr=current.score.average_heart_rate,
            )
        else:
            strain["state"] = fmt.state_label(current.score_state)
    nights = main_sleeps(sleeps)
    last = nights[0] if nights else None
    sleep: dict[str, Any] = {"asleep": None, "in_bed": None, "performance": None, "state": "", "stages": []}
    if last is not None:
        if last.score is not None:
            stages = _stages(last)
            sleep.update(
                asleep=_asleep_milli(last),
                in_bed=last.score.stage_summary.total_in_bed_time_milli,
                performance=last.score.sleep_performance_percentage,
                stages=[{"name": n, "milli": v, "css": c} for n, v, c in stages],
                stagebar=charts.stage_bar(stages),
                window=f"{fmt.clock(last.local_start)}–{fmt.clock(last.end.astimezone(last.local_start.tzinfo))}",
            )
        else:
            sleep["state"] = fmt.state_label(last.score_state)

    today = series_end(today, [whoop_day(c) for c in cycles])
    trends = _trends(cycles, rec_pairs, nights, today)
    return {
        "first_name": profile.first_name if profile else "",
        "recovery": recovery,
        "strain": strain,
        "sleep": sleep,
        "body": body,
        "trends": trends,
    }


def _trends(
    cycles: Sequence[Cycle],
    rec_pairs: Sequence[tuple[date, Recovery]],
    nights: Sequence[Sleep],
    today: date,
) -> list[dict[str, Any]]:
    def series(pairs: Sequence[tuple[date, float | None]]) -> list[float | None]:
        return [v for _, v in _daily_series(pairs, 7, today)]

    rec = series([(d, r.score.recovery_score if r.score else None) for d, r in rec_pairs])
    hrv = series([(d, r.score.hrv_rmssd_milli if r.score else None) for d, r in rec_pairs])
    rhr = series([(d, r.score.resting_heart_rate if r.score else None) for d, r in rec_pairs])
    strain = series([(whoop_day(c), c.score.strain if c.score else None) for c in cycles])
    slept = series([(whoop_day(s), fmt.hours(_asleep_milli(s))) for s in nights])

    def last(values: list[float | None]) -> float | None:
        return next((v for v in reversed(values) if v is not None), None)

    rows = [
        ("Recovery", rec, "recovery", fmt.percent(last(rec))),
        ("HRV", hrv, "hrv", fmt.number(last(hrv), 0, "ms")),
        ("Resting HR", rhr, "rhr", fmt.number(last(rhr), 0, "bpm")),
        ("Strain", strain, "strain", fmt.number(last(strain), 1)),
        ("Sleep", slept, "sleep", fmt.duration_ms(_times(last(slept), 3_600_000))),
    ]
    out = []
    for label, values, css, value in rows:
        if any(v is not None for v in values):
            out.append(
                {
                    "label": label,
                    "svg": charts.sparkline(values, label=f"{label}, last 7 days", css=css),
                    "value": value,
                }
            )
    return out


# --------------------------------------------------------------------------- range views


def cycles_view(cycles: Sequence[Cycle], *, days: int, today: date) -> dict[str, Any]:
    """Strain per day: a bar chart and a table."""
    cycles = sorted(cycles, key=lambda c: c.start, reverse=True)
    pairs = [(whoop_day(c), c.score.strain if c.score else None) for c in cycles]
    today = series_end(today, [d for d, _ in pairs])
    points = [charts.Point(fmt.short_day(d), v) for d, v in _daily_series(pairs, days, today)]
    rows = []
    for c in cycles:
        s = c.score
        rows.append(
            {
                "cells": [
                    fmt.day(whoop_day(c)),
                    fmt.number(s.strain, 1) if s else _state_cell(c.score_state),
                    fmt.kcal(s.kilojoule) if s else fmt.DASH,
                    fmt.number(s.average_heart_rate, 0, "bpm") if s else fmt.DASH,
                    fmt.number(s.max_heart_rate, 0, "bpm") if s else fmt.DASH,
                    "in progress"
                    if c.end is None
                    else fmt.duration_ms((c.end - c.start).total_seconds() * 1000),
                ]
            }
        )
    scored = [c.score.strain for c in cycles if c.score]
    summary = [("Average strain", fmt.number(sum(scored) / len(scored), 1))] if scored else []
    if scored:
        summary.append(("Highest", fmt.number(max(scored), 1)))
    return {
        "heading": "Strain",
        "columns": ["Day", "Strain", "Energy", "Avg HR", "Max HR", "Length"],
        "rows": rows,
        "summary": summary,
        "charts": [
            {
                "title": "Day strain (0–21)",
                "svg": charts.bar_chart(
                    points, label="Day strain per day", y_max=21, ticks=[0, 7, 14, 21], css="strain"
                ),
            }
        ],
        "empty_message": f"No cycles in the last {days} days.",
    }


def workouts_view(workouts: Sequence[Workout], *, days: int, today: date) -> dict[str, Any]:
    """Workouts: strain per workout and a table with duration, heart rate, energy, distance."""
    workouts = sorted(workouts, key=lambda w: w.start, reverse=True)
    points = [
        charts.Point(
            fmt.short_day(w.local_start.date()),
            w.score.strain if w.score else None,
            title=f"{w.sport_name}, {fmt.day(w.local_start.date())}: "
            + (f"strain {w.score.strain:.1f}" if w.score else fmt.state_label(w.score_state)),
        )
        for w in reversed(workouts)
    ]
    rows = []
    for w in workouts:
        s = w.score
        rows.append(
            {
                "cells": [
                    f"{fmt.day(w.local_start.date())} {fmt.clock(w.local_start)}",
                    w.sport_name.replace("-", " ").replace("_", " ").title(),
                    fmt.duration_ms((w.end - w.start).total_seconds() * 1000),
                    fmt.number(s.strain, 1) if s else _state_cell(w.score_state),
                    fmt.number(s.average_heart_rate, 0, "bpm") if s else fmt.DASH,
                    fmt.number(s.max_heart_rate, 0, "bpm") if s else fmt.DASH,
                    fmt.kcal(s.kilojoule) if s else fmt.DASH,
                    fmt.km(s.distance_meter) if s and s.distance_meter is not None else fmt.DASH,
                ]
            }
        )
    total_ms = sum((w.end - w.start).total_seconds() * 1000 for w in workouts)
    summary = (
        [("Workouts", str(len(workouts))), ("Total time", fmt.duration_ms(total_ms))] if workouts else []
    )
    return {
        "heading": "Workouts",
        "columns": ["When", "Sport", "Duration", "Strain", "Avg HR", "Max HR", "Energy", "Distance"],
        "rows": rows,
        "summary": summary,
        "charts": [
            {
                "title": "Strain per workout",
                "svg": charts.bar_chart(
                    points, label="Strain per workout", y_max=21, ticks=[0, 7, 14, 21], css="strain"
                ),
            }
        ],
        "empty_message": f"No workouts in the last {days} days.",
    }


def sleep_view(sleeps: Sequence[Sleep], *, days: int, today: date) -> dict[str, Any]:
    """Sleep: stages per night, performance, and a table (naps included, marked)."""
    sleeps = sorted(sleeps, key=lambda s: s.start, reverse=True)
    nights = [s for s in sleeps if not s.nap]
    by_day: dict[date, Sleep] = {}
    for s in nights:
        by_day.setdefault(whoop_day(s), s)
    today = series_end(today, list(by_day))
    span = [today - timedelta(days=k) for k in range(days - 1, -1, -1)]
    stacks: list[charts.Stack | None] = []  # an empty Stack keeps the day's axis label
    perf: list[charts.Point] = []
    for d in span:
        night = by_day.get(d)
        if night is None or night.score is None:
            stacks.append(charts.Stack(fmt.short_day(d), ()))
            perf.append(charts.Point(fmt.short_day(d), None))
            continue
        score = night.score
        st = score.stage_summary
        segments = tuple(
            (ms / 3_600_000, css)
            for ms, css in (
                (st.total_slow_wave_sleep_time_milli, "deep"),
                (st.total_rem_sleep_time_milli, "rem"),
                (st.total_light_sleep_time_milli, "light"),
                (st.total_awake_time_milli, "awake"),
            )
        )
        stacks.append(
            charts.Stack(
                fmt.short_day(d),
                segments,
                title=f"{fmt.day(d)}: {fmt.duration_ms(_asleep_milli(night))} asleep",
            )
        )
        perf.append(charts.Point(fmt.short_day(d), score.sleep_performance_percentage))
    rows = []
    for s in sleeps:
        sc = s.score
        rows.append(
            {
                "css": "nap" if s.nap else "",
                "cells": [
                    fmt.day(whoop_day(s)),
                    f"{fmt.clock(s.local_start)}–{fmt.clock(s.end.astimezone(s.local_start.tzinfo))}",
                    fmt.duration_ms(_asleep_milli(s)) if sc else _state_cell(s.score_state),
                    fmt.duration_ms(sc.stage_summary.total_in_bed_time_milli) if sc else fmt.DASH,
                    fmt.percent(sc.sleep_performance_percentage) if sc else fmt.DASH,
                    fmt.percent(sc.sleep_efficiency_percentage) if sc else fmt.DASH,
                    fmt.duration_ms(sc.stage_summary.total_slow_wave_sleep_time_milli) if sc else fmt.DASH,
                    fmt.duration_ms(sc.stage_summary.total_rem_sleep_time_milli) if sc else fmt.DASH,
                    fmt.number(sc.respiratory_rate, 1, "rpm") if sc else fmt.DASH,
                ],
            }
        )
    asleep = [m for m in (_asleep_milli(s) for s in nights) if m is not None]
    summary = [("Average asleep", fmt.duration_ms(sum(asleep) / len(asleep)))] if asleep else []
    performances = [s.score.sleep_performance_percentage for s in nights if s.score]
    known = [p for p in performances if p is not None]
    if known:
        summary.append(("Average performance", fmt.percent(sum(known) / len(known))))
    return {
        "heading": "Sleep",
        "columns": [
            "Night",
            "In bed",
            "Asleep",
            "Time in bed",
            "Performance",
            "Efficiency",
            "Deep",
            "REM",
            "Resp.",
        ],
        "rows": rows,
        "summary": summary,
        "charts": [
            {
                "title": "Hours per night by stage",
                "svg": charts.stacked_bar_chart(
                    stacks, label="Sleep stages per night", unit="h", css="sleep"
                ),
                "legend": [("Deep", "deep"), ("REM", "rem"), ("Light", "light"), ("Awake", "awake")],
            },
            {
                "title": "Sleep performance",
                "svg": charts.line_chart(
                    perf,
                    label="Sleep performance per night",
                    unit="%",
                    y_min=0,
                    y_max=100,
                    ticks=[0, 25, 50, 75, 100],
                    css="performance",
                ),
            },
        ],
        "empty_message": f"No sleep recorded in the last {days} days.",
    }


def recovery_view(
    recoveries: Sequence[Recovery], cycles: Sequence[Cycle], *, days: int, today: date
) -> dict[str, Any]:
    """Recovery coloured by zone, HRV and resting heart rate: charts and a table."""
    pairs = recoveries_by_day(recoveries, cycles)
    today = series_end(today, [d for d, _ in pairs])
    series = _daily_series([(d, r.score.recovery_score if r.score else None) for d, r in pairs], days, today)
    rec_points = [charts.Point(fmt.short_day(d), v, css=fmt.zone(v)) for d, v in series]
    hrv = _daily_series([(d, r.score.hrv_rmssd_milli if r.score else None) for d, r in pairs], days, today)
    rhr = _daily_series([(d, r.score.resting_heart_rate if r.score else None) for d, r in pairs], days, today)
    rows = []
    for d, r in pairs:
        sc = r.score
        zone = fmt.zone(sc.recovery_score) if sc else ""
        rows.append(
            {
                "cells": [
                    fmt.day(d),
                    {"text": fmt.percent(sc.recovery_score), "css": zone}
                    if sc
                    else _state_cell(r.score_state),
                    fmt.number(sc.hrv_rmssd_milli, 0, "ms") if sc else fmt.DASH,
                    fmt.number(sc.resting_heart_rate, 0, "bpm") if sc else fmt.DASH,
                    fmt.percent(sc.spo2_percentage, 1) if sc else fmt.DASH,
                    fmt.number(sc.skin_temp_celsius, 1, "°C") if sc else fmt.DASH,
                ]
            }
        )
    scored = [r.score.recovery_score for _, r in pairs if r.score]
    summary = []
    if scored:
        summary.append(("Average recovery", fmt.percent(sum(scored) / len(scored))))
        for zone_name in ("green", "yellow", "red"):
            summary.append(
                (f"{zone_name.title()} days", str(sum(1 for v in scored if fmt.zone(v) == zone_name)))
            )
    return {
        "heading": "Recovery",
        "columns": ["Day", "Recovery", "HRV", "Resting HR", "SpO₂", "Skin temp"],
        "rows": rows,
        "summary": summary,
        "charts": [
            {
                "title": "Recovery",
                "svg": charts.line_chart(
                    rec_points,
                    label="Recovery per day",
                    unit="%",
                    y_min=0,
                    y_max=100,
                    ticks=[0, 33, 66, 100],
                    bands=RECOVERY_BANDS,
                    css="recovery",
                ),
                "legend": [("67–100%", "green"), ("34–66%", "yellow"), ("0–33%", "red")],
            },
            {
                "title": "Heart rate variability (ms)",
                "svg": charts.line_chart(
                    [charts.Point(fmt.short_day(d), v) for d, v in hrv],
                    label="HRV per day",
                    unit="",
                    css="hrv",
                ),
            },
            {
                "title": "Resting heart rate (bpm)",
                "svg": charts.line_chart(
                    [charts.Point(fmt.short_day(d), v) for d, v in rhr],
                    label="Resting heart rate per day",
                    css="rhr",
                ),
            },
        ],
        "empty_message": f"No recoveries in the last {days} days.",
    }


def today_for(now: datetime) -> date:
    """Today's date in the server's zone (the app runs on the user's own machine)."""
    return now.astimezone().date()
