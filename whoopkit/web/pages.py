"""Pure functions turning service answers into what the templates show (no I/O, easy to test).

Records and day rows arrive newest first; charts run oldest first. Unscored records stay visible as
"pending" / "unscorable" and are gaps in charts, never zeros. Each range view also returns
``export``: the same table as plain values, with units in the column names, for its CSV download.
A value WHOOP re-scored carries its change sentence ("WHOOP changed Tue 3 Nov recovery from 54% to
61%") as a note under it, in the row of the record it concerns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from whoopkit.analytics import DaySummary, ScoreChange, build_days, kj_to_kcal, whoop_day, window_stats
from whoopkit.models import (
    Cycle,
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
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
# The smallest y span a chart of the metric draws, so day-to-day noise looks as small as it is.
RHR_MIN_SPAN_BPM = 10.0
HRV_MIN_SPAN_MS = 20.0
SLEEP_MIN_SPAN_HOURS = 3.0

Cell = str | dict[str, Any]
Value = str | int | float | None
Changes = Mapping[date, Sequence[ScoreChange]]
# What a re-score note is about: (kind, record key) -> metric -> sentences.
Rescored = dict[tuple[str, str], dict[str, list[str]]]


def _times(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def _state_cell(state: ScoreState | str) -> dict[str, str]:
    label = fmt.state_label(state)
    return {"text": label, "css": label}


def _rescored(changes: Changes | None) -> Rescored:
    out: Rescored = {}
    for day in (changes or {}).values():
        for change in day:
            out.setdefault((change.kind, change.record_key), {}).setdefault(change.metric, []).append(
                change.sentence
            )
    return out


def _noted(cell: Cell, rescored: Rescored, kind: str, key: object, metric: str) -> Cell:
    """``cell`` with the sentences of WHOOP's re-scores of this value as notes under it."""
    notes = rescored.get((kind, str(key)), {}).get(metric)
    if not notes:
        return cell
    if isinstance(cell, dict):
        return {**cell, "notes": notes}
    return {"text": cell, "css": "", "notes": notes}


def _rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _asleep_milli(sleep: Sleep) -> int | None:
    return None if sleep.score is None else sleep.score.stage_summary.asleep_milli


def _minutes(milli: float | None) -> float | None:
    return None if milli is None else round(milli / MINUTE_MS, 1)


def _daily_series(
    pairs: Sequence[tuple[date, float | None]], days: int, today: date
) -> list[tuple[date, float | None]]:
    """One value per calendar day over the last ``days`` days (oldest first); missing days are None."""
    values: dict[date, float | None] = {}
    for d, v in pairs:
        values.setdefault(d, v)  # newest record of a day wins
    return [(d, values.get(d)) for d in (today - timedelta(days=k) for k in range(days - 1, -1, -1))]


def _export(name: str, days: int, today: date, columns: list[str], rows: list[list[Value]]) -> dict[str, Any]:
    return {
        "filename": f"whoopkit-{name}-{days}d-{today.isoformat()}.csv",
        "columns": columns,
        "rows": rows,
    }


# --------------------------------------------------------------------------- freshness


def freshness(
    as_of: datetime | None, *, stale: bool, problem: str | None, zone: tzinfo | None
) -> dict[str, Any]:
    """The "updated HH:MM" line and, when stale, the banner text; times in the user's ``zone``."""
    local = None
    if as_of is not None:
        local = as_of.astimezone(zone) if zone is not None else as_of.astimezone()
    clock = fmt.clock(local) if local is not None else None
    banner = None
    if stale:
        stored = f"stored at {clock}" if clock else "stored earlier"
        banner = f"WHOOP is not answering; showing data {stored}."
    return {
        "updated": clock,
        "updated_iso": local.isoformat(timespec="minutes") if local is not None else None,
        "stale": stale,
        "banner": banner,
        "problem": problem if stale else None,
    }


# --------------------------------------------------------------------------- dashboard


def _newest(rows: Sequence[DaySummary], state: str) -> DaySummary | None:
    return next((r for r in rows if getattr(r, state) != "MISSING"), None)


def dashboard(
    *,
    profile: UserBasicProfile | None,
    body: UserBodyMeasurement | None,
    days: Sequence[DaySummary],
    today: date,
) -> dict[str, Any]:
    """The dashboard from day rows: latest recovery, strain, last night's sleep, body, 7-day sparklines."""
    days = sorted(days, key=lambda r: r.date, reverse=True)
    rec_row = _newest(days, "recovery_state")
    recovery: dict[str, Any] = {"value": None, "zone": "none", "zone_text": "", "state": "", "hrv": None}
    recovery.update(day=fmt.day(rec_row.date) if rec_row else "", rhr=None, spo2=None, skin_temp=None)
    if rec_row is not None:
        if rec_row.recovery_pct is not None:
            zone = fmt.zone(rec_row.recovery_pct)
            recovery.update(
                value=rec_row.recovery_pct,
                zone=zone,
                zone_text=ZONE_TEXT[zone],
                hrv=rec_row.hrv_ms,
                rhr=rec_row.resting_hr_bpm,
                spo2=rec_row.spo2_pct,
                skin_temp=rec_row.skin_temp_c,
            )
        else:
            recovery["state"] = fmt.state_label(rec_row.recovery_state)
    cycle_row = _newest(days, "cycle_state")
    strain: dict[str, Any] = {"value": None, "kilojoule": None, "avg_hr": None, "state": ""}
    strain["open"] = cycle_row is not None and cycle_row.cycle_open
    strain["day"] = fmt.day(cycle_row.date) if cycle_row is not None else ""
    if cycle_row is not None:
        if cycle_row.strain is not None:
            strain.update(value=cycle_row.strain, kilojoule=cycle_row.energy_kj, avg_hr=cycle_row.avg_hr_bpm)
        else:
            strain["state"] = fmt.state_label(cycle_row.cycle_state)
    sleep_row = _newest(days, "sleep_state")
    sleep: dict[str, Any] = {"asleep": None, "in_bed": None, "performance": None, "state": "", "stages": []}
    if sleep_row is not None:
        if sleep_row.sleep_hours is not None:
            stages = [
                (name, round((minutes or 0.0) * MINUTE_MS), css)
                for name, minutes, css in (
                    ("Awake", sleep_row.awake_minutes, "awake"),
                    ("Light", sleep_row.light_minutes, "light"),
                    ("Deep (SWS)", sleep_row.sws_minutes, "deep"),
                    ("REM", sleep_row.rem_minutes, "rem"),
                )
            ]
            sleep.update(
                asleep=_times(sleep_row.sleep_hours, HOUR_MS),
                in_bed=_times(sleep_row.in_bed_hours, HOUR_MS),
                performance=sleep_row.sleep_performance_pct,
                stages=[{"name": n, "milli": v, "css": c} for n, v, c in stages],
                stagebar=charts.stage_bar(stages, label="Last night's sleep stage mix"),
                window=f"{fmt.clock(sleep_row.sleep_start_local)}–{fmt.clock(sleep_row.sleep_end_local)}",
            )
        else:
            sleep["state"] = fmt.state_label(sleep_row.sleep_state)
    return {
        "first_name": profile.first_name if profile else "",
        "recovery": recovery,
        "strain": strain,
        "sleep": sleep,
        "body": body,
        # The sparklines cover the window ending today, like every table (an empty slot while today
        # has no data yet), never a window shifted back a day.
        "trends": _trends(days, today),
    }


def _trends(days: Sequence[DaySummary], today: date) -> list[dict[str, Any]]:
    def series(field: str) -> list[float | None]:
        pairs = [(r.date, getattr(r, field)) for r in days]
        return [v for _, v in _daily_series(pairs, 7, today)]

    rec = series("recovery_pct")
    hrv = series("hrv_ms")
    rhr = series("resting_hr_bpm")
    strain = series("strain")
    slept = series("sleep_hours")

    def last(values: list[float | None]) -> float | None:
        return next((v for v in reversed(values) if v is not None), None)

    # (label, values, css, shown value, y_min, y_max, min_span): the same honest ranges as the charts.
    rows: list[tuple[str, list[float | None], str, str, float | None, float | None, float]] = [
        ("Recovery", rec, "recovery", fmt.percent(last(rec)), 0.0, 100.0, 0.0),
        ("HRV", hrv, "hrv", fmt.number(last(hrv), 0, "ms"), None, None, HRV_MIN_SPAN_MS),
        ("Resting HR", rhr, "rhr", fmt.number(last(rhr), 0, "bpm"), None, None, RHR_MIN_SPAN_BPM),
        ("Strain", strain, "strain", fmt.number(last(strain), 1), 0.0, 21.0, 0.0),
        (
            "Sleep",
            slept,
            "sleep",
            fmt.duration_ms(_times(last(slept), HOUR_MS)),
            None,
            None,
            SLEEP_MIN_SPAN_HOURS,
        ),
    ]
    out = []
    for label, values, css, value, y_min, y_max, min_span in rows:
        if any(v is not None for v in values):
            svg = charts.sparkline(
                values, label=f"{label}, last 7 days", css=css, y_min=y_min, y_max=y_max, min_span=min_span
            )
            out.append({"label": label, "svg": svg, "value": value})
    return out


# --------------------------------------------------------------------------- range views


def cycles_view(
    cycles: Sequence[Cycle], *, days: int, today: date, changes: Changes | None = None
) -> dict[str, Any]:
    """Strain per day: a bar chart and a table (re-scores noted under the strain)."""
    rescored = _rescored(changes)
    cycles = sorted(cycles, key=lambda c: c.start, reverse=True)
    pairs = [(whoop_day(c), c.score.strain if c.score else None) for c in cycles]
    points = [charts.Point(fmt.short_day(d), v) for d, v in _daily_series(pairs, days, today)]
    rows = []
    export: list[list[Value]] = []
    for c in cycles:
        s = c.score
        length_ms = None if c.end is None else (c.end - c.start).total_seconds() * 1000
        rows.append(
            {
                "cells": [
                    fmt.day(whoop_day(c)),
                    _noted(
                        fmt.number(s.strain, 1) if s else _state_cell(c.score_state),
                        rescored,
                        "cycles",
                        c.id,
                        "strain",
                    ),
                    fmt.kcal(s.kilojoule) if s else fmt.DASH,
                    fmt.number(s.average_heart_rate, 0, "bpm") if s else fmt.DASH,
                    fmt.number(s.max_heart_rate, 0, "bpm") if s else fmt.DASH,
                    "in progress" if length_ms is None else fmt.duration_ms(length_ms),
                ]
            }
        )
        export.append(
            [
                whoop_day(c).isoformat(),
                str(c.score_state),
                _rounded(s.strain) if s else None,
                kj_to_kcal(s.kilojoule) if s else None,
                s.average_heart_rate if s else None,
                s.max_heart_rate if s else None,
                _minutes(length_ms),
                c.end is None,
            ]
        )
    scored = [c.score.strain for c in cycles if c.score]
    # The same average as every tool's: completed days only (analytics.window_stats).
    avg = window_stats(build_days(cycles), today, days).avg_strain
    summary = [("Average strain, completed days", fmt.number(avg, 1))] if avg is not None else []
    if scored:
        summary.append(("Highest", fmt.number(max(scored), 1)))
    return {
        "heading": "Strain",
        "columns": ["Day", "Strain", "Energy", "Avg HR", "Max HR", "Length"],
        "rows": rows,
        "export": _export(
            "strain",
            days,
            today,
            [
                "day",
                "score_state",
                "strain_0_21",
                "energy_kcal",
                "avg_hr_bpm",
                "max_hr_bpm",
                "length_minutes",
                "in_progress",
            ],
            export,
        ),
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


def workouts_view(
    workouts: Sequence[Workout], *, days: int, today: date, changes: Changes | None = None
) -> dict[str, Any]:
    """Workouts: strain per workout and a table with duration, heart rate, energy, distance."""
    rescored = _rescored(changes)
    workouts = sorted(workouts, key=lambda w: w.start, reverse=True)
    # A true time axis: one slot per day of the range, each bar at its workout's day and time of day,
    # so a busy week looks busy and an empty one empty.
    first = today - timedelta(days=days - 1)
    points = []
    for w in reversed(workouts):
        local = w.local_start
        slot = (local.date() - first).days + (local.hour * 60 + local.minute) / 1440
        if not 0 <= slot < days:
            continue
        points.append(
            charts.Point(
                fmt.short_day(local.date()),
                w.score.strain if w.score else None,
                title=f"{w.sport_name}, {fmt.day(local.date())} {fmt.clock(local)}: "
                + (f"strain {w.score.strain:.1f}" if w.score else fmt.state_label(w.score_state)),
                x=slot,
            )
        )
    day_ticks = charts.slot_ticks([fmt.short_day(first + timedelta(days=k)) for k in range(days)])
    rows = []
    export: list[list[Value]] = []
    for w in workouts:
        s = w.score
        sport = w.sport_name.replace("-", " ").replace("_", " ").title()
        duration_ms = (w.end - w.start).total_seconds() * 1000
        rows.append(
            {
                "cells": [
                    f"{fmt.day(w.local_start.date())} {fmt.clock(w.local_start)}",
                    sport,
                    fmt.duration_ms(duration_ms),
                    _noted(
                        fmt.number(s.strain, 1) if s else _state_cell(w.score_state),
                        rescored,
                        "workouts",
                        w.id,
                        "strain",
                    ),
                    fmt.number(s.average_heart_rate, 0, "bpm") if s else fmt.DASH,
                    fmt.number(s.max_heart_rate, 0, "bpm") if s else fmt.DASH,
                    fmt.kcal(s.kilojoule) if s else fmt.DASH,
                    fmt.km(s.distance_meter) if s and s.distance_meter is not None else fmt.DASH,
                ]
            }
        )
        export.append(
            [
                w.local_start.isoformat(timespec="minutes"),
                sport,
                _minutes(duration_ms),
                str(w.score_state),
                _rounded(s.strain) if s else None,
                s.average_heart_rate if s else None,
                s.max_heart_rate if s else None,
                kj_to_kcal(s.kilojoule) if s else None,
                _rounded(s.distance_meter / 1000, 2) if s and s.distance_meter is not None else None,
            ]
        )
    total_ms = sum((w.end - w.start).total_seconds() * 1000 for w in workouts)
    summary = (
        [("Workouts", str(len(workouts))), ("Total time", fmt.duration_ms(total_ms))] if workouts else []
    )
    return {
        "heading": "Workouts",
        "columns": ["When", "Sport", "Duration", "Strain", "Avg HR", "Max HR", "Energy", "Distance"],
        "rows": rows,
        "export": _export(
            "workouts",
            days,
            today,
            [
                "start_local",
                "sport",
                "duration_minutes",
                "score_state",
                "strain_0_21",
                "avg_hr_bpm",
                "max_hr_bpm",
                "energy_kcal",
                "distance_km",
            ],
            export,
        ),
        "summary": summary,
        "charts": [
            {
                "title": "Strain per workout",
                "svg": charts.bar_chart(
                    points,
                    label="Strain per workout",
                    y_max=21,
                    ticks=[0, 7, 14, 21],
                    slots=days,
                    x_ticks=day_ticks,
                    bar_width=0.4,  # a morning and an evening workout of one day stay two bars
                    css="strain",
                ),
            }
        ],
        "empty_message": f"No workouts in the last {days} days.",
    }


def sleep_view(
    sleeps: Sequence[Sleep], *, days: int, today: date, changes: Changes | None = None
) -> dict[str, Any]:
    """Sleep: stages per night, performance, and a table (naps included, marked)."""
    rescored = _rescored(changes)
    sleeps = sorted(sleeps, key=lambda s: s.start, reverse=True)
    nights = [s for s in sleeps if not s.nap]
    by_day: dict[date, Sleep] = {}
    for s in nights:
        by_day.setdefault(whoop_day(s), s)
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
            (ms / HOUR_MS, css)
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
    export: list[list[Value]] = []
    for s in sleeps:
        sc = s.score
        local_end = s.end.astimezone(s.local_start.tzinfo)
        rows.append(
            {
                "css": "nap" if s.nap else "",
                "cells": [
                    fmt.day(whoop_day(s)),
                    f"{fmt.clock(s.local_start)}–{fmt.clock(local_end)}",
                    fmt.duration_ms(_asleep_milli(s)) if sc else _state_cell(s.score_state),
                    fmt.duration_ms(sc.stage_summary.total_in_bed_time_milli) if sc else fmt.DASH,
                    _noted(
                        fmt.percent(sc.sleep_performance_percentage) if sc else fmt.DASH,
                        rescored,
                        "sleeps",
                        s.id,
                        "sleep performance",
                    ),
                    fmt.percent(sc.sleep_efficiency_percentage) if sc else fmt.DASH,
                    fmt.duration_ms(sc.stage_summary.total_slow_wave_sleep_time_milli) if sc else fmt.DASH,
                    fmt.duration_ms(sc.stage_summary.total_rem_sleep_time_milli) if sc else fmt.DASH,
                    fmt.number(sc.respiratory_rate, 1, "rpm") if sc else fmt.DASH,
                ],
            }
        )
        export.append(
            [
                whoop_day(s).isoformat(),
                s.nap,
                s.local_start.isoformat(timespec="minutes"),
                local_end.isoformat(timespec="minutes"),
                str(s.score_state),
                _minutes(_asleep_milli(s)),
                _minutes(sc.stage_summary.total_in_bed_time_milli) if sc else None,
                _rounded(sc.sleep_performance_percentage) if sc else None,
                _rounded(sc.sleep_efficiency_percentage) if sc else None,
                _minutes(sc.stage_summary.total_slow_wave_sleep_time_milli) if sc else None,
                _minutes(sc.stage_summary.total_rem_sleep_time_milli) if sc else None,
                _rounded(sc.respiratory_rate) if sc else None,
            ]
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
        "export": _export(
            "sleep",
            days,
            today,
            [
                "night",
                "nap",
                "start_local",
                "end_local",
                "score_state",
                "asleep_minutes",
                "in_bed_minutes",
                "performance_pct",
                "efficiency_pct",
                "deep_minutes",
                "rem_minutes",
                "respiratory_rate_per_min",
            ],
            export,
        ),
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
    day_rows: Sequence[DaySummary], *, days: int, today: date, changes: Changes | None = None
) -> dict[str, Any]:
    """Recovery coloured by zone, HRV and resting heart rate from day rows: charts and a table."""
    rescored = _rescored(changes)
    with_recovery = sorted(
        (r for r in day_rows if r.recovery_state != "MISSING"), key=lambda r: r.date, reverse=True
    )

    def series(field: str) -> list[tuple[date, float | None]]:
        return _daily_series([(r.date, getattr(r, field)) for r in with_recovery], days, today)

    rec_points = [charts.Point(fmt.short_day(d), v, css=fmt.zone(v)) for d, v in series("recovery_pct")]
    rows = []
    export: list[list[Value]] = []
    for r in with_recovery:
        scored = r.recovery_pct is not None
        zone = fmt.zone(r.recovery_pct) if scored else ""
        key = r.cycle_id  # a recovery's key is its cycle's id
        cells: list[Cell] = [
            fmt.day(r.date),
            _noted(
                {"text": fmt.percent(r.recovery_pct), "css": zone}
                if scored
                else _state_cell(r.recovery_state),
                rescored,
                "recoveries",
                key,
                "recovery",
            ),
            _noted(fmt.number(r.hrv_ms, 0, "ms"), rescored, "recoveries", key, "hrv"),
            _noted(fmt.number(r.resting_hr_bpm, 0, "bpm"), rescored, "recoveries", key, "rhr"),
            fmt.percent(r.spo2_pct, 1),
            fmt.number(r.skin_temp_c, 1, "°C"),
        ]
        rows.append({"cells": cells})
        export.append(
            [
                r.date.isoformat(),
                r.recovery_state,
                r.recovery_pct,
                r.recovery_zone,
                r.hrv_ms,
                r.resting_hr_bpm,
                r.spo2_pct,
                r.skin_temp_c,
            ]
        )
    stats = window_stats(day_rows, today, days)  # the same counts and average as every tool's
    summary = []
    if stats.recoveries_scored:
        summary.append(("Average recovery", fmt.percent(stats.avg_recovery_pct)))
        for zone_name, count in (
            ("green", stats.green_days),
            ("yellow", stats.yellow_days),
            ("red", stats.red_days),
        ):
            summary.append((f"{zone_name.title()} days", str(count)))
    return {
        "heading": "Recovery",
        "columns": ["Day", "Recovery", "HRV", "Resting HR", "SpO₂", "Skin temp"],
        "rows": rows,
        "export": _export(
            "recovery",
            days,
            today,
            [
                "day",
                "score_state",
                "recovery_pct",
                "recovery_zone",
                "hrv_ms",
                "resting_hr_bpm",
                "spo2_pct",
                "skin_temp_c",
            ],
            export,
        ),
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
                    [charts.Point(fmt.short_day(d), v) for d, v in series("hrv_ms")],
                    label="HRV per day",
                    unit="",
                    min_span=HRV_MIN_SPAN_MS,
                    css="hrv",
                ),
            },
            {
                "title": "Resting heart rate (bpm)",
                "svg": charts.line_chart(
                    [charts.Point(fmt.short_day(d), v) for d, v in series("resting_hr_bpm")],
                    label="Resting heart rate per day",
                    min_span=RHR_MIN_SPAN_BPM,
                    css="rhr",
                ),
            },
        ],
        "empty_message": f"No recoveries in the last {days} days.",
    }
