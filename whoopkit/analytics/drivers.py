"""What is associated with recovery, HRV and resting heart rate: candidate factors tested, ranked, in words.

``drivers_report`` compares one outcome (``recovery`` = ``recovery_pct``, ``hrv`` = ``hrv_ms``, ``rhr`` =
``resting_hr_bpm``) on the WHOOP days of a window that have a scored recovery (calibrating days left out)
against candidate factors, each at the lags where it can plausibly matter:

- lag 0 is the factor on the outcome's own WHOOP day. For sleep factors that is the main sleep that
  ended the morning the recovery was scored (last night).
- lag 1 is the factor on the previous WHOOP day: the night before last for sleep factors, yesterday for
  strain, naps, late workouts and journal answers.

Factors and their lags:

- sleep duration (``sleep_hours``, per hour): lags 0 and 1 (a short night can carry over as sleep debt);
- sleep performance (per 10 percentage points): lags 0 and 1;
- sleep consistency (per 10 percentage points): lag 0 only, since WHOOP already computes it over the
  last four nights;
- bedtime (the main sleep's local start as hours after noon, so 23:30 and 00:30 are one hour apart and
  an early 17:30 bedtime is 5.5, before them; the clock wraps only at midday, when no main sleep starts):
  lag 0;
- bedtime deviation (|bedtime - usual bedtime|, usual = the median of the previous 28 nights, at least 7
  of them with a bedtime): lags 0 and 1;
- day strain (per strain point): lag 1 only, because the same day's strain is built up after the
  morning's recovery is scored;
- late workout (a workout ending within 3 h of the next main sleep's start): lag 1 only, for the same
  reason (the workout of yesterday evening before last night's sleep);
- naps (any nap that WHOOP day): lag 1 only (the same day's naps follow the morning's recovery);
- time-zone change (the main sleep's UTC offset differs from the previous night's): lags 0 and 1. A shift
  of one hour or less on a Saturday or Sunday night (a sleep starting from Saturday noon to Monday noon)
  of March, April, September, October or November is
  taken as a daylight-saving clock change, not travel (Europe, North America, Australia and New Zealand
  change their clocks on such a weekend); a bigger shift, or one on any other night, counts;
- weekday: lag 0 only, as seven binary factors (that weekday against every other day). One test per
  weekday gives an effect in the outcome's own units that can be quoted ("on Mondays ... 3 points
  lower"), which a single omnibus test across the week cannot; the Benjamini-Hochberg correction over
  every test of the report pays for the seven tests;
- each journal question (answered yes against answered no; days without an answer are left out): lag 1
  only, since an answer belongs to the day of the behaviour and shows in the next morning's recovery.

Statistics (SciPy, imported on the first call so that importing analytics stays cheap): binary factors
give the difference in means (yes - no) with the 95 % CI and p of Welch's t-test and Cohen's d;
continuous factors give the Theil-Sen slope per natural unit (the median of the pairwise slopes) with
its 95 % CI and Kendall's tau, whose p is the test's p; Spearman's rho is reported alongside. The
Theil-Sen interval is built from Kendall's statistic, so the effect, its interval, its sign and the test
agree (a least-squares slope beside a rank test can point the other way when a few outlying days pull
it). All p values of one report are adjusted together with Benjamini-Hochberg; ``significant`` means
q < 0.05. A factor that is not significant but whose own interval excludes zero is worded as unclear once
the report's tests are allowed for, never flatly as no association.

Thresholds: a binary factor needs at least 8 days in each group and a continuous one at least 20 pairs,
and the same must hold without the most recent 7 days (the 7 days ending at the newest outcome day), so
the last week is never the only evidence. Factors below them are listed in ``not_enough_data``. A report
needs at least 28 outcome days.

``days`` may reach back before the window: earlier rows are used only as history (the previous day of
a lag, the 28 nights of the usual bedtime), never as outcome days.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from whoopkit.analytics.days import WEEKDAYS, DaySummary
from whoopkit.analytics.records import date_text

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

Outcome = Literal["recovery", "hrv", "rhr"]
FactorKind = Literal["binary", "continuous"]
OUTCOMES: tuple[Outcome, ...] = ("recovery", "hrv", "rhr")

MIN_OUTCOME_DAYS = 28
MIN_GROUP_DAYS = 8
MIN_PAIRS = 20
RECENT_DAYS = 7
USUAL_BEDTIME_NIGHTS = 28
MIN_USUAL_BEDTIME_NIGHTS = 7
LATE_WORKOUT_HOURS = 3.0
FDR_Q = 0.05
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_NOT_PROOF = "This is an association, not proof of an effect."

METHOD = (
    "Binary factors: the difference in mean {outcome} (yes minus no) with its 95% confidence interval and "
    "p value from Welch's t-test (scipy.stats.ttest_ind, equal_var=False), plus Cohen's d. Continuous "
    "factors: the Theil-Sen slope per natural unit (scipy.stats.theilslopes) with its 95% confidence "
    "interval, and Kendall's tau (scipy.stats.kendalltau), whose p value is the test's; the interval is "
    "built from Kendall's statistic, so slope, interval and test agree in direction. Spearman's rho "
    "(scipy.stats.spearmanr) is given alongside. The p values of all {tests} tests in this report are "
    "adjusted together "
    "with Benjamini-Hochberg (scipy.stats.false_discovery_control); significant means q < 0.05. A binary "
    "factor needs at least 8 days in each group and a continuous one at least 20 days, also without the "
    "most recent 7 days. Effects are ranked significant first, then by size relative to the outcome's "
    "standard deviation (for continuous factors: the change across two standard deviations of the factor)."
)


@dataclass(frozen=True)
class _OutcomeSpec:
    field: str
    label: str
    unit: str
    unit_words: str


_OUTCOME_SPECS: dict[Outcome, _OutcomeSpec] = {
    "recovery": _OutcomeSpec("recovery_pct", "recovery", "%", "points"),
    "hrv": _OutcomeSpec("hrv_ms", "HRV", "ms", "ms"),
    "rhr": _OutcomeSpec("resting_hr_bpm", "resting heart rate", "bpm", "bpm"),
}


class DateWindow(BaseModel):
    """The WHOOP days a report covers, both ends included."""

    start: dt.date
    end: dt.date
    days: int


class DriverFactor(BaseModel):
    """One tested factor at one lag: its effect on the outcome in the outcome's units, with CI and q."""

    key: str = Field(description="stable id, e.g. sleep_hours, weekday_mon, journal:have-any-caffeine")
    label: str
    kind: FactorKind
    lag_days: int = Field(description="0: the outcome's own WHOOP day; 1: the WHOOP day before")
    lag_text: str = Field(description="the lag in words: last night, yesterday, ...")
    effect: float = Field(description="binary: mean(yes) - mean(no); continuous: Theil-Sen slope per `per`")
    ci_low: float
    ci_high: float
    unit: str = Field(description="the outcome's unit: % (recovery points), ms or bpm")
    per: str | None = Field(None, description="continuous: the factor's natural unit of the slope")
    effect_sd: float = Field(description="effect in outcome standard deviations (continuous: over 2 SD)")
    p_value: float
    q_value: float = Field(description="Benjamini-Hochberg adjusted p across the report's tests")
    significant: bool = Field(description="q < 0.05")
    n: int = Field(description="days with both the factor and the outcome")
    n_yes: int | None = None
    n_no: int | None = None
    mean_yes: float | None = None
    mean_no: float | None = None
    cohens_d: float | None = None
    spearman_rho: float | None = None
    kendall_tau: float | None = Field(None, description="continuous: Kendall's tau-b, the tested statistic")
    sentence: str


class NotEnoughData(BaseModel):
    """A factor (at one lag) left untested, with how much data it had and why that is too little."""

    key: str
    label: str
    kind: FactorKind
    lag_days: int
    lag_text: str
    n: int
    n_yes: int | None = None
    n_no: int | None = None
    reason: str


class ScatterPoint(BaseModel):
    """One day of the top factor: its value (x, the factor's natural unit) and the outcome (y)."""

    date: dt.date
    x: float
    y: float


class DriversReport(BaseModel):
    """Factors associated with one outcome over a window, ranked, with the statistics and plain words."""

    outcome: Outcome
    outcome_label: str
    unit: str
    window: DateWindow
    n_days: int = Field(description="outcome days: scored recovery, not calibrating")
    outcome_mean: float | None = None
    outcome_sd: float | None = None
    factors: list[DriverFactor] = Field(default_factory=list, description="ranked, significant first")
    not_enough_data: list[NotEnoughData] = Field(default_factory=list)
    tests_run: int = 0
    method: str
    summary: str
    top_factor_key: str | None = Field(None, description="the first-ranked tested factor, for a scatter plot")
    top_lag_days: int | None = None
    top_x_label: str | None = None
    top_points: list[ScatterPoint] = Field(
        default_factory=list, description="that factor against the outcome"
    )


@dataclass(frozen=True)
class _Factor:
    key: str
    label: str
    kind: FactorKind
    lags: tuple[int, ...]
    values: FloatArray  # per timeline day, NaN when unknown; binary 1.0/0.0
    x_label: str
    scale: float = 1.0  # natural unit of the slope, in the values' unit (10 = per 10 points)
    per: str | None = None
    # binary: (days with it, days without it); continuous: ("Each <unit> ...", the lag in words)
    phrases: Mapping[int, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Tested:
    factor: _Factor
    lag: int
    p: float
    result: DriverFactor


def load_statistics() -> None:
    """Import NumPy and SciPy's stats now (1-2 s on a cold start), so the first report need not wait."""
    import numpy  # noqa: F401
    import scipy.stats  # noqa: F401


def drivers_report(
    days: Sequence[DaySummary],
    journal: Mapping[dt.date, Mapping[str, bool]],
    *,
    outcome: Outcome,
    today: dt.date,
    window_days: int,
) -> DriversReport:
    """Test every candidate factor against ``outcome`` over the ``window_days`` days ending ``today``.

    Raises:
        ValueError: ``outcome`` is not recovery, hrv or rhr, or ``window_days`` < 1.
    """
    if outcome not in _OUTCOME_SPECS:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    if window_days < 1:
        raise ValueError("a window has at least one day")
    import numpy as np

    spec = _OUTCOME_SPECS[outcome]
    start = today - dt.timedelta(days=window_days - 1)
    window = DateWindow(start=start, end=today, days=window_days)
    method = METHOD.format(outcome=spec.label, tests="{tests}")
    by_date = {row.date: row for row in days if row.date <= today}
    outcome_days = sorted(
        d
        for d, row in by_date.items()
        if d >= start
        and row.recovery_state == "SCORED"
        and row.calibrating is not True
        and getattr(row, spec.field) is not None
    )
    n_days = len(outcome_days)
    if n_days < MIN_OUTCOME_DAYS:
        return DriversReport(
            outcome=outcome,
            outcome_label=spec.label,
            unit=spec.unit,
            window=window,
            n_days=n_days,
            method=method.format(tests=0),
            summary=(
                f"Only {n_days} day{'s' if n_days != 1 else ''} from {date_text(start)} to "
                f"{date_text(today)} {'have' if n_days != 1 else 'has'} a scored {spec.label}; at least "
                f"{MIN_OUTCOME_DAYS} are needed to look for what is associated with it."
            ),
        )

    first = min(by_date)
    size = (today - first).days + 1
    timeline: list[DaySummary | None] = [by_date.get(first + dt.timedelta(days=i)) for i in range(size)]
    idx = np.array([(d - first).days for d in outcome_days], dtype=np.int64)
    y = np.array([float(getattr(by_date[d], spec.field)) for d in outcome_days], dtype=np.float64)
    recent = idx > idx[-1] - RECENT_DAYS
    y_sd = float(np.std(y, ddof=1))
    factors = _factors(timeline, journal, first)

    tested: list[_Tested] = []
    binary: list[_Groups] = []
    skipped: list[NotEnoughData] = []
    for factor in factors:
        for lag in factor.lags:
            src = idx - lag
            x = np.full(len(idx), np.nan)
            ok = src >= 0
            x[ok] = factor.values[src[ok]]
            done: _Tested | _Groups | NotEnoughData
            if factor.kind == "binary":
                done = _binary_groups(factor, lag, x, y, recent, spec)
            else:
                done = _test_continuous(factor, lag, x, y, recent, y_sd, spec)
            if isinstance(done, NotEnoughData):
                skipped.append(done)
            elif isinstance(done, _Groups):
                binary.append(done)
            else:
                tested.append(done)
    tested += _welch(binary, y_sd, spec)

    ranked = _adjust_and_rank(tested, spec)
    top_key = top_label = None
    top_lag: int | None = None
    points: list[ScatterPoint] = []
    if tested:
        best = next(t for t in tested if t.result is ranked[0])
        top_key, top_label, top_lag = best.factor.key, best.factor.x_label, best.lag
        src = idx - best.lag
        for i, s in enumerate(src):
            if s >= 0 and not math.isnan(best.factor.values[s]):
                points.append(
                    ScatterPoint(date=outcome_days[i], x=float(best.factor.values[s]), y=float(y[i]))
                )
    return DriversReport(
        outcome=outcome,
        outcome_label=spec.label,
        unit=spec.unit,
        window=window,
        n_days=n_days,
        outcome_mean=round(float(np.mean(y)), 1),
        outcome_sd=round(y_sd, 1),
        factors=ranked,
        not_enough_data=skipped,
        tests_run=len(tested),
        method=method.format(tests=len(tested)),
        summary=_summary(window, n_days, ranked, skipped, spec),
        top_factor_key=top_key,
        top_lag_days=top_lag,
        top_x_label=top_label,
        top_points=points,
    )


# ---------------------------------------------------------------------------------------------- factors


def _factors(
    timeline: Sequence[DaySummary | None], journal: Mapping[dt.date, Mapping[str, bool]], first: dt.date
) -> list[_Factor]:
    import numpy as np

    n = len(timeline)

    def series(get: Callable[[DaySummary], float | None]) -> FloatArray:
        out = np.full(n, np.nan)
        for i, row in enumerate(timeline):
            if row is not None:
                value = get(row)
                if value is not None:
                    out[i] = value
        return out

    bedtime = series(_bedtime)
    # windows[i] holds the USUAL_BEDTIME_NIGHTS bedtimes before day i
    padded = np.concatenate([np.full(USUAL_BEDTIME_NIGHTS, np.nan), bedtime[:-1]])
    windows = np.lib.stride_tricks.sliding_window_view(padded, USUAL_BEDTIME_NIGHTS)
    usable = (np.sum(~np.isnan(windows), axis=1) >= MIN_USUAL_BEDTIME_NIGHTS) & ~np.isnan(bedtime)
    deviation = np.full(n, np.nan)
    if usable.any():
        deviation[usable] = np.abs(bedtime[usable] - np.nanmedian(windows[usable], axis=1))

    late = np.full(n, np.nan)
    tz_change = np.full(n, np.nan)
    for i, row in enumerate(timeline):
        if row is None:
            continue
        nxt = timeline[i + 1] if i + 1 < n else None
        if nxt is not None and nxt.sleep_start_local is not None:
            cutoff = nxt.sleep_start_local - dt.timedelta(hours=LATE_WORKOUT_HOURS)
            late[i] = float(any(w.end_local >= cutoff for w in row.workouts))
        prev = timeline[i - 1] if i > 0 else None
        if row.sleep_start_local is not None and prev is not None and prev.sleep_start_local is not None:
            tz_change[i] = float(_travelled(prev.sleep_start_local, row.sleep_start_local))

    night = {0: "last night", 1: "the night before last"}
    out = [
        _Factor(
            "sleep_hours",
            "Sleep duration",
            "continuous",
            (0, 1),
            series(lambda r: r.sleep_hours),
            "Sleep (hours)",
            per="hour of sleep",
            phrases={lag: (f"Each extra hour of sleep {t}", t) for lag, t in night.items()},
        ),
        _Factor(
            "sleep_performance",
            "Sleep performance",
            "continuous",
            (0, 1),
            series(lambda r: r.sleep_performance_pct),
            "Sleep performance (%)",
            scale=10.0,
            per="10 points of sleep performance",
            phrases={lag: (f"Each 10 points more sleep performance {t}", t) for lag, t in night.items()},
        ),
        _Factor(
            "sleep_consistency",
            "Sleep consistency",
            "continuous",
            (0,),
            series(lambda r: r.sleep_consistency_pct),
            "Sleep consistency (%)",
            scale=10.0,
            per="10 points of sleep consistency",
            phrases={0: ("Each 10 points more sleep consistency last night", "last night")},
        ),
        _Factor(
            "bedtime",
            "Bedtime",
            "continuous",
            (0,),
            bedtime,
            "Bedtime (hours after noon)",
            per="hour later bedtime",
            phrases={0: ("Each hour later bedtime last night", "last night")},
        ),
        _Factor(
            "bedtime_deviation",
            "Bedtime deviation",
            "continuous",
            (0, 1),
            deviation,
            "Hours from usual bedtime",
            per="hour from your usual bedtime",
            phrases={
                lag: (f"Each hour further from your usual bedtime (median of 28 nights) {t}", t)
                for lag, t in night.items()
            },
        ),
        _Factor(
            "strain",
            "Day strain",
            "continuous",
            (1,),
            series(lambda r: None if r.cycle_open else r.strain),
            "Day strain",
            per="point of day strain",
            phrases={1: ("Each extra point of day strain yesterday", "yesterday")},
        ),
        _Factor(
            "late_workout",
            "Late workout",
            "binary",
            (1,),
            late,
            "Late workout (1 = yes)",
            phrases={
                1: (
                    "On days after a workout that ended within 3 h of bedtime",
                    "after days without one",
                )
            },
        ),
        _Factor(
            "naps",
            "Naps",
            "binary",
            (1,),
            series(lambda r: float(r.nap_count > 0)),
            "Nap the day before (1 = yes)",
            phrases={1: ("On days after a day with a nap", "after days without one")},
        ),
        _Factor(
            "timezone_change",
            "Time-zone change",
            "binary",
            (0, 1),
            tz_change,
            "Time-zone change (1 = yes)",
            phrases={
                0: ("On the first day after a time-zone change", "on other days"),
                1: ("On the second day after a time-zone change", "on other days"),
            },
        ),
    ]
    dows = np.array([(first + dt.timedelta(days=i)).weekday() for i in range(n)])
    for k, (name, full) in enumerate(zip(WEEKDAYS, _WEEKDAY_NAMES, strict=True)):
        out.append(
            _Factor(
                f"weekday_{name.lower()}",
                full,
                "binary",
                (0,),
                (dows == k).astype(np.float64),
                f"{full} (1 = yes)",
                phrases={0: (f"On {full}s", "on other days")},
            )
        )
    questions = sorted({q for answers in journal.values() for q in answers})
    keys: set[str] = set()
    for q in questions:
        key = "journal:" + (re.sub(r"[^a-z0-9]+", "-", q.lower()).strip("-") or "question")
        while key in keys:
            key += "-"
        keys.add(key)
        values = np.full(n, np.nan)
        for d, answers in journal.items():
            i = (d - first).days
            if 0 <= i < n and q in answers:
                values[i] = float(answers[q])
        out.append(
            _Factor(
                key,
                q,
                "binary",
                (1,),
                values,
                f"Answered yes the day before (1 = yes): {q}",
                phrases={
                    1: (f'On days after you answered yes to "{q}"', "after days you answered no"),
                },
            )
        )
    return out


def _bedtime(row: DaySummary) -> float | None:
    start = row.sleep_start_local
    if start is None:
        return None
    return ((start.hour + start.minute / 60 + start.second / 3600) - 12.0) % 24.0


_DST_MONTHS = frozenset({3, 4, 9, 10, 11})
_DST_MAX_SHIFT = dt.timedelta(hours=1)


def _travelled(before: dt.datetime, after: dt.datetime) -> bool:
    """Whether the UTC offset moved between two nights' sleeps by more than a daylight-saving change."""
    old, new = before.utcoffset(), after.utcoffset()
    if old is None or new is None or old == new:
        return False
    # The weekend night: a sleep starting from Saturday noon to Monday noon (a late one is after midnight)
    night = after - dt.timedelta(hours=12)
    clock_change = night.weekday() in (5, 6) and night.month in _DST_MONTHS
    return not (clock_change and abs(new - old) <= _DST_MAX_SHIFT)


# ------------------------------------------------------------------------------------------- the tests


def _lag_text(factor: _Factor, lag: int) -> str:
    phrases = factor.phrases.get(lag)
    if factor.kind == "continuous" and phrases is not None:
        return phrases[1]
    if factor.key.startswith("weekday_"):
        return "same day"
    if factor.key == "timezone_change":
        return "last night" if lag == 0 else "the night before last"
    return "yesterday" if lag == 1 else "same day"


def _skip(
    factor: _Factor, lag: int, n: int, reason: str, n_yes: int | None = None, n_no: int | None = None
) -> NotEnoughData:
    return NotEnoughData(
        key=factor.key,
        label=factor.label,
        kind=factor.kind,
        lag_days=lag,
        lag_text=_lag_text(factor, lag),
        n=n,
        n_yes=n_yes,
        n_no=n_no,
        reason=reason,
    )


@dataclass(frozen=True)
class _Groups:
    factor: _Factor
    lag: int
    yes: FloatArray
    no: FloatArray


def _binary_groups(
    factor: _Factor, lag: int, x: FloatArray, y: FloatArray, recent: npt.NDArray[np.bool_], spec: _OutcomeSpec
) -> _Groups | NotEnoughData:
    import numpy as np

    yes_mask, no_mask = x == 1.0, x == 0.0
    yes, no = y[yes_mask], y[no_mask]
    n_yes, n_no = len(yes), len(no)
    old_yes, old_no = int(np.sum(yes_mask & ~recent)), int(np.sum(no_mask & ~recent))
    n = n_yes + n_no
    if n_yes < MIN_GROUP_DAYS or n_no < MIN_GROUP_DAYS:
        return _skip(
            factor,
            lag,
            n,
            f"{n_yes} days with it and {n_no} without; at least {MIN_GROUP_DAYS} of each are needed.",
            n_yes,
            n_no,
        )
    if old_yes < MIN_GROUP_DAYS or old_no < MIN_GROUP_DAYS:
        return _skip(
            factor,
            lag,
            n,
            f"without the most recent {RECENT_DAYS} days only {old_yes} days with it and {old_no} "
            f"without remain; at least {MIN_GROUP_DAYS} of each are needed so the last week is not the "
            "only evidence.",
            n_yes,
            n_no,
        )
    if float(np.var(yes, ddof=1)) / n_yes + float(np.var(no, ddof=1)) / n_no <= 0.0:
        return _skip(factor, lag, n, f"the {spec.label} did not vary on these days.", n_yes, n_no)
    return _Groups(factor, lag, yes, no)


def _welch(groups: Sequence[_Groups], y_sd: float, spec: _OutcomeSpec) -> list[_Tested]:
    """Welch's t-test of every binary factor in one SciPy call (rows padded with NaN, omitted)."""
    if not groups:
        return []
    import numpy as np
    from scipy import stats

    width = max(max(len(g.yes), len(g.no)) for g in groups)
    yes_rows = np.full((len(groups), width), np.nan)
    no_rows = np.full((len(groups), width), np.nan)
    for i, g in enumerate(groups):
        yes_rows[i, : len(g.yes)] = g.yes
        no_rows[i, : len(g.no)] = g.no
    res = stats.ttest_ind(yes_rows, no_rows, axis=1, equal_var=False, nan_policy="omit")
    ci = res.confidence_interval(0.95)
    out: list[_Tested] = []
    for i, g in enumerate(groups):
        n_yes, n_no = len(g.yes), len(g.no)
        mean_yes, mean_no = float(np.mean(g.yes)), float(np.mean(g.no))
        diff = mean_yes - mean_no
        pooled = math.sqrt(
            ((n_yes - 1) * float(np.var(g.yes, ddof=1)) + (n_no - 1) * float(np.var(g.no, ddof=1)))
            / (n_yes + n_no - 2)
        )
        result = DriverFactor(
            key=g.factor.key,
            label=g.factor.label,
            kind="binary",
            lag_days=g.lag,
            lag_text=_lag_text(g.factor, g.lag),
            effect=round(diff, 1),
            ci_low=round(float(ci.low[i]), 1),
            ci_high=round(float(ci.high[i]), 1),
            unit=spec.unit,
            effect_sd=round(diff / y_sd, 2) if y_sd > 0 else 0.0,
            p_value=_p(float(res.pvalue[i])),
            q_value=1.0,
            significant=False,
            n=n_yes + n_no,
            n_yes=n_yes,
            n_no=n_no,
            mean_yes=round(mean_yes, 1),
            mean_no=round(mean_no, 1),
            cohens_d=round(diff / pooled, 2) if pooled > 0 else None,
            sentence="",
        )
        out.append(_Tested(g.factor, g.lag, result.p_value, result))
    return out


def _test_continuous(
    factor: _Factor,
    lag: int,
    x: FloatArray,
    y: FloatArray,
    recent: npt.NDArray[np.bool_],
    y_sd: float,
    spec: _OutcomeSpec,
) -> _Tested | NotEnoughData:
    import numpy as np
    from scipy import stats

    ok = ~np.isnan(x)
    n = int(np.sum(ok))
    old = int(np.sum(ok & ~recent))
    if n < MIN_PAIRS:
        return _skip(factor, lag, n, f"{n} days with a value; at least {MIN_PAIRS} are needed.")
    if old < MIN_PAIRS:
        return _skip(
            factor,
            lag,
            n,
            f"without the most recent {RECENT_DAYS} days only {old} days with a value remain; at least "
            f"{MIN_PAIRS} are needed so the last week is not the only evidence.",
        )
    xs, ys = x[ok] / factor.scale, y[ok]
    if float(np.ptp(xs)) == 0.0:
        return _skip(factor, lag, n, "its value never changed on these days.")
    if float(np.ptp(ys)) == 0.0:
        return _skip(factor, lag, n, f"the {spec.label} did not vary on these days.")
    fit = stats.theilslopes(ys, xs, alpha=0.95)
    slope, low, high = float(fit.slope), float(fit.low_slope), float(fit.high_slope)
    tau = stats.kendalltau(xs, ys)
    rho = stats.spearmanr(xs, ys)
    x_sd = float(np.std(xs, ddof=1))
    result = DriverFactor(
        key=factor.key,
        label=factor.label,
        kind="continuous",
        lag_days=lag,
        lag_text=_lag_text(factor, lag),
        effect=round(slope, 1),
        ci_low=round(low, 1),
        ci_high=round(high, 1),
        unit=spec.unit,
        per=factor.per,
        effect_sd=round(slope * 2 * x_sd / y_sd, 2) if y_sd > 0 else 0.0,
        p_value=_p(float(tau.pvalue)),
        q_value=1.0,
        significant=False,
        n=n,
        spearman_rho=round(float(rho.statistic), 2),
        kendall_tau=round(float(tau.statistic), 2),
        sentence="",
    )
    return _Tested(factor, lag, result.p_value, result)


def _p(p: float) -> float:
    return 1.0 if math.isnan(p) else p


def _adjust_and_rank(tested: Sequence[_Tested], spec: _OutcomeSpec) -> list[DriverFactor]:
    if not tested:
        return []
    from scipy import stats

    qs = stats.false_discovery_control([t.p for t in tested], method="bh")
    for t, q in zip(tested, qs, strict=True):
        r = t.result
        r.q_value = float(q)
        r.significant = bool(q < FDR_Q)
        r.sentence = _sentence(t.factor, r, spec, len(tested))
    ranked = [t.result for t in tested]
    ranked.sort(key=lambda r: (not r.significant, -abs(r.effect_sd), r.q_value, r.key, r.lag_days))
    return ranked


# ------------------------------------------------------------------------------------------- the words


def _direction(effect: float, ci_low: float, ci_high: float, unit_words: str) -> tuple[str | None, str]:
    """``("12.3 points lower", "95% CI 8.1 to 16.5")``: magnitudes for a lower effect, as people say it.

    The first part is None when the effect rounds to zero.
    """
    if abs(effect) < 0.05:
        return None, f"95% CI {ci_low:.1f} to {ci_high:.1f}"
    if ci_low < 0 < ci_high:
        # An interval that crosses zero reads as magnitudes of the wrong sign ("8.6 lower, 95% CI -0.7
        # to 17.9"): say both ends in words.
        interval = f"95% CI from {-ci_low:.1f} lower to {ci_high:.1f} higher"
        if effect < 0:
            return f"{-effect:.1f} {unit_words} lower", interval
        return f"{effect:.1f} {unit_words} higher", interval
    if effect < 0:
        return f"{-effect:.1f} {unit_words} lower", f"95% CI {-ci_high:.1f} to {-ci_low:.1f}"
    return f"{effect:.1f} {unit_words} higher", f"95% CI {ci_low:.1f} to {ci_high:.1f}"


def q_text(q: float) -> str:
    """A q value for display: "< 0.001" below 0.001, else 3 decimals rounded down, never up to 0.05."""
    if q < 0.001:
        return "< 0.001"
    # Decimal of the shortest repr, so 0.05 stays 0.050 instead of flooring a binary 0.04999... to 0.049
    return str(Decimal(repr(q)).quantize(Decimal("0.001"), rounding=ROUND_FLOOR))


def _excludes_zero(r: DriverFactor) -> bool:
    return r.ci_low > 0 or r.ci_high < 0


def _unclear(tests: int) -> str:
    return f"Not clear once the {tests} tests of this report are allowed for"


def _sentence(factor: _Factor, r: DriverFactor, spec: _OutcomeSpec, tests: int) -> str:
    how, ci = _direction(r.effect, r.ci_low, r.ci_high, spec.unit_words)
    q = f"q = {q_text(r.q_value)}"
    # A raw interval clear of zero that Benjamini-Hochberg does not confirm is "not clear", not "none".
    alone = ", which on its own excludes zero" if _excludes_zero(r) else ""
    if r.kind == "binary":
        yes_text, no_text = factor.phrases[r.lag_days]
        compared = f"{how} than {no_text}" if how else f"about the same as {no_text}"
        if r.significant:
            detail = f"({ci}; n = {r.n_yes} vs {r.n_no})"
            return f"{yes_text}, your {spec.label} averaged {compared} {detail}. {_NOT_PROOF}"
        detail = f"({ci}{alone}; n = {r.n_yes} vs {r.n_no}; {q})"
        head = _unclear(tests) if alone else "No clear association"
        return f"{head}: {_lower_first(yes_text)}, your {spec.label} averaged {compared} {detail}."
    each, _ = factor.phrases[r.lag_days]
    stats_text = f"Kendall tau = {r.kendall_tau:.2f}; n = {r.n} days"
    if r.significant:
        change = f"{how} {spec.label}" if how else f"almost no change in {spec.label}"
        return f"{each} was associated with {change} ({ci}; {stats_text}). {_NOT_PROOF}"
    slope = how or f"almost no change (0.0 {spec.unit_words})"
    detail = f"({ci}{alone}; {stats_text}; {q})"
    if alone:
        return f"{_unclear(tests)}: {_lower_first(each)} went with {slope} {spec.label} {detail}."
    return (
        f"No clear association between {r.label.lower()} {r.lag_text} and your {spec.label}: "
        f"{slope} per {r.per} {detail}."
    )


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _summary(
    window: DateWindow,
    n_days: int,
    ranked: Sequence[DriverFactor],
    skipped: Sequence[NotEnoughData],
    spec: _OutcomeSpec,
) -> str:
    head = (
        f"From {date_text(window.start)} to {date_text(window.end)}, {n_days} days had a scored "
        f"{spec.label}; {len(ranked)} factor-and-lag combinations were tested."
    )
    found = [r for r in ranked if r.significant]
    if found:
        listed = "; ".join(
            f"{_quoted(r)} ({r.lag_text}): {r.effect:+.1f} {spec.unit_words}"
            + (f" per {r.per}" if r.per else "")
            + (f" (n = {r.n_yes} vs {r.n_no})" if r.kind == "binary" else f" (n = {r.n})")
            for r in found[:3]
        )
        more = f", and {len(found) - 3} more" if len(found) > 3 else ""
        body = (
            f" After correcting for the number of tests (Benjamini-Hochberg), {len(found)} "
            f"{'was' if len(found) == 1 else 'were'} clearly associated with your {spec.label}: "
            f"{listed}{more}."
            f" The other {len(ranked) - len(found)} showed no clear association."
        )
    elif ranked:
        body = (
            f" None showed a clear association with your {spec.label} after correcting for the number of "
            "tests (Benjamini-Hochberg)."
        )
    else:
        body = ""
    if skipped:
        body += f" {len(skipped)} had too little data to test."
    return head + body + " These are associations in your own data, not proof of effects."


def _quoted(r: DriverFactor) -> str:
    return f'"{r.label}"' if r.key.startswith("journal:") else r.label
