"""End to end: effects planted in the fake WHOOP's data are found by the drivers analysis, nulls are not.

The fake plants recovery 12 points lower on the day after a day answered yes to alcohol and removes
every weekday-dependent term, so the analysis must find the first and flag no weekday after the
Benjamini-Hochberg correction: first on day rows built straight from the generated records, then
through the service from a synced store and the imported app export, with WHOOP down.
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from whoopkit.analytics import DaySummary, DriversReport, build_days, drivers_report
from whoopkit.fake_whoop.data import FakeDataset, PlantedEffects, generate_dataset
from whoopkit.fake_whoop.export import write_export
from whoopkit.models import Cycle, Recovery, Sleep, Workout

if TYPE_CHECKING:
    from whoopkit.fake_whoop import FakeWhoop
    from whoopkit.service import WhoopService

ALCOHOL_KEY = "journal:have-any-alcoholic-drinks"
PLANTED = PlantedEffects(alcohol_recovery=-12.0, weekday_effects=False)


def day_rows(dataset: FakeDataset) -> list[DaySummary]:
    """Day rows from the generated records, each validated as the v2 model it claims to be."""
    return build_days(
        [Cycle.model_validate(c) for c in dataset.cycles],
        [Recovery.model_validate(r) for r in dataset.recoveries],
        [Sleep.model_validate(s) for s in dataset.sleeps],
        [Workout.model_validate(w) for w in dataset.workouts],
    )


def journal_by_day(dataset: FakeDataset, rows: list[DaySummary]) -> dict[dt.date, dict[str, bool]]:
    """The fake's journal (cycle id -> answers) on the WHOOP day of each answer's cycle."""
    day_of = {r.cycle_id: r.date for r in rows if r.cycle_id is not None}
    return {
        day_of[cycle_id]: dict(answers) for cycle_id, answers in dataset.journal.items() if cycle_id in day_of
    }


def assert_planted_found(report: DriversReport) -> None:
    """The alcohol effect is found at lag 1 around -12, and no weekday is flagged."""
    (alcohol,) = [f for f in report.factors if f.key == ALCOHOL_KEY and f.lag_days == 1]
    assert alcohol.significant, alcohol
    assert alcohol.ci_low <= -12.0 <= alcohol.ci_high, alcohol
    assert abs(alcohol.effect - -12.0) <= 4.0, alcohol
    weekdays = [f for f in report.factors if f.key.startswith("weekday_")]
    assert len(weekdays) == 7
    assert not [f for f in weekdays if f.significant], [(f.key, f.q_value) for f in weekdays]
    assert "associat" in alcohol.sentence and "cause" not in alcohol.sentence.lower()


def test_the_planted_alcohol_effect_is_found_and_no_weekday_is_flagged(fake_now: datetime) -> None:
    dataset = generate_dataset(days=400, now=fake_now, effects=PLANTED)
    rows = day_rows(dataset)
    journal = journal_by_day(dataset, rows)
    assert len(journal) >= 395
    report = drivers_report(rows, journal, outcome="recovery", today=rows[0].date, window_days=365)
    assert report.n_days >= 350
    assert_planted_found(report)


def test_without_planted_effects_alcohol_shows_no_clear_association(fake_now: datetime) -> None:
    dataset = generate_dataset(days=400, now=fake_now)
    rows = day_rows(dataset)
    report = drivers_report(
        rows, journal_by_day(dataset, rows), outcome="recovery", today=rows[0].date, window_days=365
    )
    (alcohol,) = [f for f in report.factors if f.key == ALCOHOL_KEY]
    assert not alcohol.significant and alcohol.sentence.startswith("No clear association")


@pytest.fixture
def fake(fake_now: datetime) -> FakeWhoop:
    """A fake WHOOP with a 400-day history carrying the planted effects (overrides the suite's fake)."""
    from whoopkit.fake_whoop import create_fake_whoop

    return create_fake_whoop(
        client_id="demo-client",
        client_secret="demo-secret",
        auto_approve=True,
        now=fake_now,
        days=400,
        effects=PLANTED,
        requests_per_minute=10_000,
    )


@pytest.mark.anyio
async def test_through_the_service_the_planted_effect_is_found_from_the_store_with_whoop_down(
    fake: FakeWhoop, service: WhoopService, tmp_path: Path
) -> None:
    # a year is what one minute of the sync's share of the rate budget fetches without a pause
    await service.sync(days=365)
    export = tmp_path / "my_whoop_data.zip"
    write_export(fake.data, export)
    imported = await service.import_export(export)
    assert imported.journal_answers > 0 and service.has_journal()

    fake.set_down(True)
    fake.reset_stats()
    answer = await service.drivers(365, "recovery")
    report = answer.data
    assert fake.stats.requests == 0
    assert report.n_days >= 350 and report.window.end == service.today()
    assert_planted_found(report)

    # the journal reaches the analysis on the right WHOOP days: the same journal and weekday results as
    # the analysis of the generated records themselves
    rows = day_rows(fake.data)
    direct = drivers_report(
        rows, journal_by_day(fake.data, rows), outcome="recovery", today=service.today(), window_days=365
    )

    def dated(r: DriversReport) -> list[tuple[str, int, float, float, int]]:
        return [
            (f.key, f.lag_days, f.effect, f.ci_low, f.n)
            for f in r.factors
            if f.key.startswith(("journal:", "weekday_"))
        ]

    assert dated(report) == dated(direct) and len(dated(report)) >= 12

    records = (await service.records()).data
    calendar = (await service.recovery_calendar(365)).data
    assert fake.stats.requests == 0
    assert records.best_recovery is not None and records.longest_green_streak.days >= 1
    assert len(calendar) == 365 and calendar[-1].date == service.today()
    assert sum(c.zone is not None for c in calendar) >= 350


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("days", "outcome", "message"),
    [
        (27, "recovery", "days must be a whole number from 28 to 3650; got 27."),
        (3651, "hrv", "days must be a whole number from 28 to 3650; got 3651."),
        (True, "hrv", "days must be a whole number from 28 to 3650; got True."),
        (365, "sleep", "outcome must be one of recovery, hrv or rhr; got 'sleep'."),
    ],
)
async def test_the_service_refuses_bad_arguments_in_one_sentence_before_any_request(
    fake: FakeWhoop, service: WhoopService, days: int, outcome: str, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        await service.drivers(days, outcome)
    assert str(caught.value) == message
    with pytest.raises(ValueError, match="from 1 to 3650; got 0"):
        await service.recovery_calendar(0)
    assert fake.stats.requests == 0
