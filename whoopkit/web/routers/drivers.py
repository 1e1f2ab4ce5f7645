"""Insights → "What affects your recovery": ranked factors, the top factor's scatter, records, a year.

The page reads three service answers (``drivers``, ``records``, ``recovery_calendar``), all computed
from the store; the statistics are the analytics package's, and this module only lays them out.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from whoopkit import analytics
from whoopkit.analytics.drivers import q_text
from whoopkit.service import Answer, Freshness, WhoopService
from whoopkit.web import charts
from whoopkit.web import formatting as fmt
from whoopkit.web.deps import ServiceDep
from whoopkit.web.errors import BadRequestError, render
from whoopkit.web.routers.common import freshness_of

router = APIRouter()

PATH = "/what-affects-my-recovery"
TITLE = "What affects your recovery"
ALL_DAYS = 3650
DAY_CHOICES: tuple[tuple[int, str], ...] = (
    (90, "90 days"),
    (180, "180 days"),
    (365, "365 days"),
    (ALL_DAYS, "All"),
)
MIN_DAYS = 28
DEFAULT_DAYS = 365
CALENDAR_DAYS = 365
Outcome = Literal["recovery", "hrv", "rhr"]
OUTCOME_CHOICES: tuple[tuple[Outcome, str], ...] = (
    ("recovery", "Recovery"),
    ("hrv", "HRV"),
    ("rhr", "Resting HR"),
)
OUTCOME_WORDS = {"recovery": "recovery points", "hrv": "ms of HRV", "rhr": "bpm of resting heart rate"}
# Which direction of the outcome is the better one, to colour a clear association good or bad.
HIGHER_IS_BETTER = {"recovery": True, "hrv": True, "rhr": False}
IMPORT_COMMAND = "whoopkit import <export.zip>"
_DAYS_RE = re.compile(r"[0-9]{1,4}")


def _one(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(set(values)) > 1:
        raise BadRequestError(f"?{name}= was given {len(values)} times with different values; give it once.")
    return values[0] if values else None


def parse_days(raw: str | None) -> int:
    """``?days=``: 90, 180, 365, ``all`` (= 3650) or any whole number of days from 28 to 3650.

    Raises:
        BadRequestError: anything else.
    """
    if raw is None or raw == "":
        return DEFAULT_DAYS
    if raw.lower() == "all":
        return ALL_DAYS
    if not _DAYS_RE.fullmatch(raw) or not MIN_DAYS <= int(raw) <= ALL_DAYS:
        raise BadRequestError(
            f"The range must be 90, 180, 365 or all, or a whole number of days from {MIN_DAYS} to "
            f"{ALL_DAYS} (fewer days are too few to say what is associated with your recovery); "
            f"got {raw[:20]!r}."
        )
    return int(raw)


def parse_outcome(raw: str | None) -> Outcome:
    """``?outcome=``: recovery (the default), hrv or rhr.

    Raises:
        BadRequestError: anything else.
    """
    value = (raw or "recovery").lower()
    for choice, _ in OUTCOME_CHOICES:
        if value == choice:
            return choice
    raise BadRequestError(f"The outcome must be recovery, hrv or rhr; got {(raw or '')[:20]!r}.")


def get_driver_days(request: Request) -> int:
    """The page's ``?days=`` (see :func:`parse_days`).

    Raises:
        BadRequestError: not one of the ranges, or given twice with different values.
    """
    return parse_days(_one(request, "days"))


def get_outcome(request: Request) -> Outcome:
    """The page's ``?outcome=`` (see :func:`parse_outcome`).

    Raises:
        BadRequestError: not recovery, hrv or rhr, or given twice with different values.
    """
    return parse_outcome(_one(request, "outcome"))


DriverDaysDep = Annotated[int, Depends(get_driver_days)]
OutcomeDep = Annotated[Outcome, Depends(get_outcome)]


# --------------------------------------------------------------------------- layout (pure)


def _signed(value: float, digits: int = 1) -> str:
    text = f"{abs(value):.{digits}f}"
    if float(text) == 0:
        return text
    return ("+" if value > 0 else "\u2212") + text


def _n_text(factor: analytics.DriverFactor | analytics.NotEnoughData) -> str:
    if factor.n_yes is not None and factor.n_no is not None:
        return f"n = {factor.n_yes} vs {factor.n_no}"
    return f"n = {factor.n}"


def _q_text(q: float) -> str:
    # Rounded down, so a significant q (< 0.05) never reads 0.05 beside its "significant" mark.
    return q_text(q)


def _effect_text(factor: analytics.DriverFactor) -> str:
    # The unit is in the column's heading; what the number is a difference of is said here.
    text = _signed(factor.effect)
    return f"{text} per {factor.per}" if factor.per else f"{text} yes vs no"


def _tone(factor: analytics.DriverFactor, outcome: Outcome) -> str:
    if not factor.significant or factor.effect == 0:
        return ""
    better = (factor.effect > 0) == HIGHER_IS_BETTER[outcome]
    return "good" if better else "bad"


def _factor_name(label: str, lag_text: str) -> str:
    return f"{label} ({lag_text})"


def forest(report: analytics.DriversReport, outcome: Outcome) -> dict[str, Any]:
    """The ranked factors as forest-plot rows and table rows (the same order, the same numbers)."""
    unit_words = OUTCOME_WORDS[outcome]
    rows: list[charts.ForestRow] = []
    table: list[dict[str, Any]] = []
    for f in report.factors:
        name = _factor_name(f.label, f.lag_text)
        effect = _effect_text(f)
        ci = f"{_signed(f.ci_low)} to {_signed(f.ci_high)}"
        tone = _tone(f, outcome)
        rows.append(
            charts.ForestRow(
                label=name,
                estimate=f.effect,
                low=f.ci_low,
                high=f.ci_high,
                n_text=_n_text(f),
                significant=f.significant,
                css=tone,
                title=f"{name}: {effect} ({unit_words}), 95% interval {ci}, {_n_text(f)}, "
                f"q {_q_text(f.q_value)}. {f.sentence}",
            )
        )
        table.append(
            {
                "name": name,
                "effect": effect,
                "ci": ci,
                "n": _n_text(f),
                "q": _q_text(f.q_value),
                "significant": f.significant,
                "css": f"sig {tone}".strip() if f.significant else "",
                "sentence": f.sentence,
            }
        )
    svg = charts.forest_plot(
        rows,
        label=f"Factors associated with your {report.outcome_label}, with 95% intervals",
        axis_title=f"Difference in {unit_words}",
    )
    return {"svg": svg, "rows": table, "unit_words": unit_words}


def scatter(report: analytics.DriversReport, outcome: Outcome) -> dict[str, Any] | None:
    """The top factor's days: its value against the outcome (``top_points``); None without them."""
    if not report.top_points or not report.factors:
        return None
    top = report.factors[0]
    binary = top.kind == "binary"
    unit = report.unit
    points = []
    for p in report.top_points:
        x_text = ("yes" if p.x >= 0.5 else "no") if binary else f"{p.x:.1f}"
        css = fmt.zone(p.y) if outcome == "recovery" else ""
        points.append(
            charts.XY(
                p.x,
                p.y,
                title=f"{fmt.day(p.date)} {p.date.year}: {x_text} → {p.y:.0f}{unit}",
                css=css,
            )
        )
    x_label = report.top_x_label or top.label
    svg = charts.scatter_plot(
        points,
        label=f"{report.outcome_label.capitalize()} against {x_label}",
        y_unit="%" if outcome == "recovery" else "",
        x_ticks=[(0.0, "No"), (1.0, "Yes")] if binary else None,
        y_min=0.0 if outcome == "recovery" else None,
        y_max=100.0 if outcome == "recovery" else None,
        y_ticks=[0, 33, 66, 100] if outcome == "recovery" else None,
        jitter=0.5 if binary else 0.0,
        css=outcome,
    )
    y_axis = {"recovery": "Recovery (%)", "hrv": "HRV (ms)", "rhr": "Resting heart rate (bpm)"}[outcome]
    return {
        "title": _factor_name(top.label, top.lag_text),
        "svg": svg,
        "x_label": x_label,
        "y_label": y_axis,
        "n": len(points),
        "sentence": top.sentence,
    }


@dataclass(frozen=True)
class RecordLine:
    """One line of the records card: what, the value as shown, and its date."""

    label: str
    value: str
    when: str


def _record_value(record: analytics.PersonalRecord) -> str:
    if record.unit == "%":
        return fmt.percent(record.value)
    if record.unit in ("ms", "bpm"):
        return fmt.number(record.value, 0, record.unit)
    if record.unit == "h":
        return fmt.duration_ms(record.value * 3_600_000)
    if record.unit == "min":
        return fmt.duration_ms(record.value * 60_000)
    if record.unit == "km":
        return f"{record.value:.2f} km"
    if record.unit == "km/h":
        if record.pace_min_per_km is not None:
            minutes, seconds = divmod(round(record.pace_min_per_km * 60), 60)
            return f"{minutes}:{seconds:02d} min/km"
        return f"{record.value:.1f} km/h"
    return fmt.number(record.value, 1)


def _date_text(day: date | None) -> str:
    # With the year: records reach back years, unlike the range views' days.
    return fmt.DASH if day is None else f"{fmt.day(day)} {day.year}"


def records_view(report: analytics.RecordsReport) -> dict[str, Any]:
    """Records and streaks as lines with their dates; per sport its longest, farthest and fastest."""
    days = [
        report.best_recovery,
        report.worst_recovery,
        report.highest_hrv,
        report.lowest_resting_hr,
        report.most_strain,
        report.longest_sleep,
        report.best_sleep_performance,
        report.best_sleep_efficiency,
    ]
    lines = [RecordLine(r.label, _record_value(r), _date_text(r.date)) for r in days if r is not None]
    streaks = []
    for label, streak in (
        ("Longest green streak", report.longest_green_streak),
        ("Current green streak", report.current_green_streak),
    ):
        if streak.days and streak.start is not None and streak.end is not None:
            span = (
                _date_text(streak.end)
                if streak.start == streak.end
                else f"{_date_text(streak.start)} – {_date_text(streak.end)}"
            )
            unit = "day" if streak.days == 1 else "days"
            streaks.append(RecordLine(label, f"{streak.days} {unit}", span))
        else:
            streaks.append(RecordLine(label, "none", streak.sentence))
    sports = []
    for sport in report.sports:
        items = [r for r in (sport.longest, sport.farthest, sport.fastest) if r is not None]
        sports.append(
            {
                "name": sport.sport.replace("-", " ").replace("_", " ").title(),
                "workouts": sport.workouts,
                # "Longest functional-fitness": WHOOP's sport key, written as words here.
                "lines": [
                    RecordLine(r.label.replace("-", " "), _record_value(r), _date_text(r.date)) for r in items
                ],
            }
        )
    return {"summary": report.summary, "lines": lines, "streaks": streaks, "sports": sports}


def calendar(cells: list[analytics.CalendarDay]) -> dict[str, Any]:
    """The year heatmap of recovery: one cell per day, coloured by zone, grey without a score."""
    day_cells = [charts.DayCell(c.date, c.zone or "none", c.tooltip) for c in cells]
    counts = {zone: sum(1 for c in cells if c.zone == zone) for zone in ("green", "yellow", "red")}
    return {
        "svg": charts.calendar_heatmap(day_cells, label="Recovery per day over the last year, by zone"),
        "legend": [
            (f"Green {counts['green']}", "green"),
            (f"Yellow {counts['yellow']}", "yellow"),
            (f"Red {counts['red']}", "red"),
            ("No score", "none"),
        ],
        "days": len(cells),
    }


def drivers_page(
    report: analytics.DriversReport,
    records: analytics.RecordsReport,
    cells: list[analytics.CalendarDay],
    *,
    days: int,
    outcome: Outcome,
    journal: bool,
) -> dict[str, Any]:
    """Everything the template shows, from the three reports (no I/O); ``journal``: one is imported."""
    scope = "all your history" if days == ALL_DAYS else f"the last {days} days"
    return {
        "outcome": outcome,
        "outcome_label": dict(OUTCOME_CHOICES)[outcome],
        "days": days,
        "scope": scope,
        "summary": report.summary,
        "n_days": report.n_days,
        "method": report.method,
        "forest": forest(report, outcome),
        "not_enough": [
            {"name": _factor_name(f.label, f.lag_text), "n": _n_text(f), "reason": f.reason}
            for f in report.not_enough_data
        ],
        "scatter": scatter(report, outcome),
        "records": records_view(records),
        "calendar": calendar(cells),
        "journal": journal,
        "import_command": IMPORT_COMMAND,
        "day_links": [
            {"href": f"{PATH}?days={n}&outcome={outcome}", "text": text, "active": n == days}
            for n, text in DAY_CHOICES
        ],
        "outcome_links": [
            {"href": f"{PATH}?days={days}&outcome={key}", "text": text, "active": key == outcome}
            for key, text in OUTCOME_CHOICES
        ],
    }


def combined(*answers: Answer[Any]) -> Answer[None]:
    """One freshness for the page: the oldest ``as_of``, stale when any answer is."""
    stamps = [a.freshness.as_of for a in answers]
    as_of = None if any(s is None for s in stamps) else min(s for s in stamps if s is not None)
    stale = [a.freshness for a in answers if a.freshness.stale]
    problem = next((f.problem for f in stale if f.problem), None)
    return Answer(None, Freshness(as_of=as_of, stale=bool(stale), problem=problem))


Reads = tuple[
    Answer[analytics.DriversReport], Answer[analytics.RecordsReport], Answer[list[analytics.CalendarDay]]
]


async def _read(service: WhoopService, days: int, outcome: Outcome) -> Reads:
    async def once() -> Reads:
        drivers = await service.drivers(days, outcome)
        # drivers() brought the window up to date: these two are then answered from the store.
        records = await service.records()
        cells = await service.recovery_calendar(CALENDAR_DAYS)
        return drivers, records, cells

    return await _on_today(service, once)


async def _on_today(service: WhoopService, read: Callable[[], Awaitable[Reads]]) -> Reads:
    # Before the first sync "today" is the machine's date; the sync stores the user's cycles, whose
    # zone may put today on another date. Then the page is read again (from the store).
    today = service.today()
    result = await read()
    return result if service.today() == today else await read()


@router.get(PATH)
async def what_affects_my_recovery(
    request: Request, days: DriverDaysDep, outcome: OutcomeDep, service: ServiceDep
) -> Response:
    """Ranked factors (forest plot and table), the top factor's scatter, records, the year's calendar."""
    service.require_login()  # a cheap local check, so a logged-out page fails fast with the banner
    await service.user_id()  # "today" is in the user's zone, known once the user is
    drivers, records, cells = await _read(service, days, outcome)
    context = drivers_page(
        drivers.data, records.data, cells.data, days=days, outcome=outcome, journal=service.has_journal()
    )
    return render(
        request,
        "drivers.html",
        title=TITLE,
        heading=TITLE,
        freshness=freshness_of(service, combined(drivers, records, cells)),
        **context,
    )
