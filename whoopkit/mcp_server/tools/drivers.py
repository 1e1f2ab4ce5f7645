"""What a long history can answer: what is associated with recovery, HRV or resting HR, and the records.

Both read the service (``service.drivers``, ``service.records``), which syncs what the window misses and
computes from the stored history, the WHOOP app export's imported records and the journal included.
The results here are the analytics reports in fewer fields: the model gets the statistics and the
sentences, not the web page's chart points.

No ``from __future__ import annotations`` here: the SDK evaluates the tool signatures at registration.
"""

import math
from collections.abc import Mapping
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Annotated, Literal

from mcp.types import CallToolResult
from pydantic import Field

from whoopkit.mcp_server.common import Ctx, ToolFn, content, envelope, note, on_today
from whoopkit.mcp_server.schemas import DriverOut, DriversOut, RecordOut, RecordsOut
from whoopkit.mcp_server.state import service_of
from whoopkit.text import MAX_NAME_CHARS, one_line

if TYPE_CHECKING:
    from whoopkit import analytics

JOURNAL_PREFIX = "journal:"
# A journal question is a short sentence, longer than a sport name; an imported one may be anything.
MAX_QUESTION_CHARS = 80
NO_JOURNAL = (
    " No WHOOP journal answers were tested, only the wearable's own factors: the journal (alcohol, "
    "caffeine, late meals, …) is in the WHOOP app's data export, which `whoopkit import PATH` reads."
)
NO_JOURNAL_IN_WINDOW = (
    " The imported WHOOP journal has no answers in this window, so only the wearable's own factors were "
    "tested; a newer export (`whoopkit import PATH`) adds the recent answers."
)

DriverDays = Annotated[int, Field(description="Days back from today, today included", ge=28, le=3650)]
Outcome = Annotated[
    Literal["recovery", "hrv", "rhr"],
    Field(description="recovery (%), hrv (ms) or rhr (resting HR, bpm)"),
]


def _q_value(q: float, digits: int = 2) -> float:
    """``q`` to ``digits`` significant digits, rounded down so a significant q never becomes 0.05."""
    if q <= 0.0 or not math.isfinite(q):
        return q
    # Decimal of the shortest repr, so 0.05 stays 0.05 instead of flooring a binary 0.04999... to 0.049
    exact = Decimal(repr(q))
    step = Decimal(1).scaleb(exact.adjusted() - (digits - 1))
    return float(exact.quantize(step, rounding=ROUND_FLOOR))


def _outside(text: str, names: Mapping[str, str]) -> str:
    """``text`` as one clean line, each raw outside name in it (a key of ``names``) shown as its value."""
    # The analytics sentences quote journal questions and sport names as they came in; the tool shows
    # them only normalised and capped (issue 9.7: outside text is data, never instructions).
    for raw in sorted(names, key=len, reverse=True):
        text = text.replace(raw, names[raw])
    return one_line(text, limit=None)


def _driver(factor: "analytics.DriverFactor", names: Mapping[str, str]) -> DriverOut:
    return DriverOut(
        label=_outside(factor.label, names),
        lag_days=factor.lag_days,
        effect=factor.effect,
        ci_low=factor.ci_low,
        ci_high=factor.ci_high,
        per=factor.per,
        n=factor.n,
        n_yes=factor.n_yes,
        n_no=factor.n_no,
        spearman_rho=factor.spearman_rho,
        q_value=_q_value(factor.q_value),
        significant=factor.significant,
        sentence=_outside(factor.sentence, names),
    )


async def what_affects_my_recovery(
    ctx: Ctx, days: DriverDays = 365, outcome: Outcome = "recovery"
) -> Annotated[CallToolResult, DriversOut]:
    """What is associated with your recovery, HRV or resting HR over the last `days` days: sleep, bedtime,
    strain, late workouts, naps, travel, weekday and WHOOP journal answers. Quote `summary` and n; say
    "associated with", never "causes". The journal comes from `whoopkit import` of the WHOOP app's data
    export; without it only the wearable's factors are tested (tell the user).
    """
    service = await service_of(ctx)
    answer = await on_today(service, lambda _today: service.drivers(days, outcome))
    report = answer.data
    keys = [f.key for f in report.factors] + [f.key for f in report.not_enough_data]
    journal = any(key.startswith(JOURNAL_PREFIX) for key in keys)
    labels = [(f.key, f.label) for f in report.factors] + [(f.key, f.label) for f in report.not_enough_data]
    names = {
        label: one_line(label, MAX_QUESTION_CHARS) for key, label in labels if key.startswith(JOURNAL_PREFIX)
    }
    summary = _outside(report.summary, names)
    if not journal:
        summary += NO_JOURNAL_IN_WINDOW if service.has_journal() else NO_JOURNAL
    return content(
        DriversOut(
            **envelope(service, answer.freshness),
            summary=summary + note(service, answer.freshness),
            outcome=report.outcome,
            unit=report.unit,
            start=report.window.start,
            end=report.window.end,
            n_days=report.n_days,
            journal=journal,
            factors=[_driver(f, names) for f in report.factors],
            not_enough_data=[
                _outside(f"{f.label} ({f.lag_text}): {f.reason}", names) for f in report.not_enough_data
            ],
        )
    )


def _record(record: "analytics.PersonalRecord", names: Mapping[str, str]) -> RecordOut:
    return RecordOut(
        label=_outside(record.label, names),
        value=record.value,
        unit=record.unit,
        date=record.date,
        sentence=_outside(record.sentence, names),
    )


def _streak(label: str, streak: "analytics.Streak") -> RecordOut:
    return RecordOut(label=label, value=streak.days, unit="days", date=streak.end, sentence=streak.sentence)


def _sport_names(report: "analytics.RecordsReport") -> dict[str, str]:
    """Each sport's name as the records' labels quote it (WHOOP's free text), capped like everywhere."""
    names = (sport.sport.replace("_", " ") for sport in report.sports)
    return {name: one_line(name, MAX_NAME_CHARS) for name in names}


def _records(report: "analytics.RecordsReport", names: Mapping[str, str]) -> list[RecordOut]:
    """Every record of ``report`` in one list: the day's records, the streaks, then per sport."""
    days = (
        report.best_recovery,
        report.worst_recovery,
        report.highest_hrv,
        report.lowest_resting_hr,
        report.most_strain,
        report.longest_sleep,
        report.best_sleep_performance,
        report.best_sleep_efficiency,
    )
    out = [_record(r, names) for r in days if r is not None]
    out.append(_streak("Longest green streak", report.longest_green_streak))
    out.append(_streak("Current green streak", report.current_green_streak))
    for sport in report.sports:
        out.extend(_record(r, names) for r in (sport.longest, sport.farthest, sport.fastest) if r is not None)
    return out


async def get_records(ctx: Ctx) -> Annotated[CallToolResult, RecordsOut]:
    """Personal records, each with its date: best and worst recovery, highest HRV, lowest resting HR, most
    strain, sleep, the longest and current green streaks, and per sport the longest, farthest, fastest.
    """
    service = await service_of(ctx)
    answer = await on_today(service, lambda _today: service.records())
    report = answer.data
    names = _sport_names(report)
    return content(
        RecordsOut(
            **envelope(service, answer.freshness),
            summary=_outside(report.summary, names) + note(service, answer.freshness),
            first_date=report.first_date,
            last_date=report.last_date,
            days_with_recovery=report.days_with_recovery,
            records=_records(report, names),
        )
    )


TOOLS: list[tuple[ToolFn, str]] = [
    (what_affects_my_recovery, "What affects my recovery"),
    (get_records, "Records and streaks"),
]
