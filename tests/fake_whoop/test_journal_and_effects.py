"""The fake's journal and its planted effects: known truth for the drivers analysis to find."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
from scipy import stats

from tests.fake_whoop.conftest import NOW as CONFTEST_NOW
from whoopkit.fake_whoop import FakeDataset, create_fake_whoop, generate_dataset
from whoopkit.fake_whoop.data import (
    ALCOHOL_QUESTION,
    JOURNAL_QUESTIONS,
    PlantedEffects,
    alcohol_chance,
)
from whoopkit.models import Cycle, Recovery, Sleep, Workout

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
# The same journal and the same weekday blindness, but nothing planted: the control twin.
NO_SHIFTS = PlantedEffects(alcohol_recovery=0.0, alcohol_hrv_pct=0.0, alcohol_rhr_bpm=0.0)

# sha256 of the API records, computed from the generator BEFORE the journal and the planted effects
# were added (see _digest): without effects not one byte of them may change.
SNAPSHOTS = [
    (7, 180, NOW, "6b8d013831f68f647d9f2479312acb24c8651dc13dddc20ae9f04c73702892c4"),
    (7, 180, CONFTEST_NOW, "5b87b07878f5c0ab71a43dda07f9f774fbe08b7ce1eeb66ed733f2db3f2fb25d"),
    (3, 365, NOW, "085bbda2c263114f81334a569f719d052ade9f6c88b30b2492728d608c60ab73"),
    (
        11,
        2,
        datetime(2026, 3, 1, 4, 0, tzinfo=UTC),
        "185a2f080ab2922d7e28ce95c02b9c0fd7d1249002aef7dca9b1ea8ad3d2ae5e",
    ),
]


def _digest(data: FakeDataset) -> str:
    payload = {
        "cycles": data.cycles,
        "sleeps": data.sleeps,
        "recoveries": data.recoveries,
        "workouts": data.workouts,
        "hidden": sorted([[kind, key, score] for (kind, key), score in data.hidden_scores.items()]),
        "v1": sorted(data.v1_activity_ids().items()),
    }
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode("utf-8")).hexdigest()


def _oldest_first(data: FakeDataset) -> list[dict[str, Any]]:
    return list(reversed(data.cycles))


def _recovery(data: FakeDataset, cycle_id: int) -> dict[str, Any]:
    """The recovery score of a cycle, also when WHOOP has not released it (pending / unscorable)."""
    record = data.recovery_for_cycle(cycle_id)
    assert record is not None
    score = record.get("score") or data.hidden_scores[("recovery", str(cycle_id))]
    assert isinstance(score, dict)
    return score


def _outcomes(data: FakeDataset) -> list[tuple[float, float, float]]:
    out = []
    for cycle in _oldest_first(data):
        score = _recovery(data, cycle["id"])
        out.append((score["recovery_score"], score["hrv_rmssd_milli"], score["resting_heart_rate"]))
    return out


def _after_alcohol(data: FakeDataset) -> Iterator[tuple[bool, dict[str, Any]]]:
    """(was yesterday an alcohol day, today's cycle) for every cycle that has a yesterday."""
    cycles = _oldest_first(data)
    for yesterday, today in itertools.pairwise(cycles):
        yield data.journal[yesterday["id"]][ALCOHOL_QUESTION], today


@pytest.fixture(scope="module")
def planted_year() -> FakeDataset:
    return generate_dataset(seed=7, days=365, now=NOW, effects=PlantedEffects())


@pytest.mark.parametrize(("seed", "days", "now", "expected"), SNAPSHOTS)
def test_without_effects_the_api_records_are_byte_identical_to_the_generator_before_the_journal(
    seed: int, days: int, now: datetime, expected: str
) -> None:
    data = generate_dataset(seed=seed, days=days, now=now)
    assert _digest(data) == expected
    assert data.effects is None and data.affected_cycles == set()


def test_every_cycle_has_one_answer_to_every_journal_question_even_without_effects() -> None:
    data = generate_dataset(seed=7, days=180, now=NOW)
    questions = [question for question, _ in JOURNAL_QUESTIONS]
    assert set(data.journal) == {cycle["id"] for cycle in data.cycles}
    assert all(list(answers) == questions for answers in data.journal.values())
    assert len(questions) >= 5 and ALCOHOL_QUESTION in questions
    for question in questions:
        yes = sum(answers[question] for answers in data.journal.values())
        assert 0 < yes < len(data.journal), f"{question} is never or always answered yes"


def test_the_journal_is_deterministic_and_depends_on_the_seed() -> None:
    first = generate_dataset(seed=7, days=120, now=NOW)
    again = generate_dataset(seed=7, days=120, now=NOW)
    other = generate_dataset(seed=8, days=120, now=NOW)
    assert first.journal == again.journal
    assert [first.journal[c["id"]] for c in first.cycles] != [other.journal[c["id"]] for c in other.cycles]


def test_with_weekday_effects_alcohol_is_likelier_on_friday_and_saturday() -> None:
    data = generate_dataset(seed=7, days=365, now=NOW)
    table = [[0, 0], [0, 0]]
    for cycle in data.cycles:
        weekend = _local_day(cycle).weekday() in (4, 5)
        table[0 if weekend else 1][0 if data.journal[cycle["id"]][ALCOHOL_QUESTION] else 1] += 1
    result = stats.fisher_exact(np.array(table), alternative="greater")
    assert result.pvalue < 1e-6
    # The weekly average stays the requested probability.
    assert sum(alcohol_chance(day, 0.2, True) for day in range(7)) / 7 == pytest.approx(0.2)


def test_without_weekday_effects_alcohol_is_as_likely_on_any_day() -> None:
    assert {alcohol_chance(day, 0.3, False) for day in range(7)} == {0.3}
    data = generate_dataset(seed=7, days=365, now=NOW, effects=PlantedEffects())
    counts = [[0] * 7, [0] * 7]
    for cycle in data.cycles:
        counts[0 if data.journal[cycle["id"]][ALCOHOL_QUESTION] else 1][_local_day(cycle).weekday()] += 1
    assert stats.chi2_contingency(counts).pvalue > 0.05


def _local_day(cycle: dict[str, Any]) -> date:
    """The WHOOP day of a cycle: the local date of its start plus a few hours (it starts at night)."""
    start = Cycle.model_validate(cycle).local_start
    return (start + timedelta(hours=6)).date()


def test_the_recovery_after_an_alcohol_day_averages_about_12_points_lower(planted_year: FakeDataset) -> None:
    after: list[float] = []
    others: list[float] = []
    for alcohol, today in _after_alcohol(planted_year):
        (after if alcohol else others).append(_recovery(planted_year, today["id"])["recovery_score"])
    assert len(after) >= 40 and len(others) >= 200
    difference = sum(after) / len(after) - sum(others) / len(others)
    assert -14.5 < difference < -9.5
    interval = stats.ttest_ind(after, others, equal_var=False).confidence_interval(0.95)
    assert interval.low < -12 < interval.high
    assert interval.high < 0


def test_the_planted_shifts_land_exactly_on_the_day_after_alcohol_and_nowhere_else(
    planted_year: FakeDataset,
) -> None:
    twin = generate_dataset(seed=7, days=365, now=NOW, effects=NO_SHIFTS)
    effects = planted_year.effects
    assert effects == PlantedEffects()
    expected = {today["id"] for alcohol, today in _after_alcohol(planted_year) if alcohol}
    assert planted_year.affected_cycles == expected
    assert [c["id"] for c in twin.cycles] == [c["id"] for c in planted_year.cycles]
    shifted = 0
    for cycle in planted_year.cycles:
        got, base = _recovery(planted_year, cycle["id"]), _recovery(twin, cycle["id"])
        if cycle["id"] not in expected:
            assert got == base
            continue
        shifted += 1
        assert got["recovery_score"] == min(99.0, max(1.0, base["recovery_score"] + effects.alcohol_recovery))
        assert got["hrv_rmssd_milli"] == pytest.approx(base["hrv_rmssd_milli"] * 0.9, abs=1e-5)
        assert got["resting_heart_rate"] == base["resting_heart_rate"] + 2
    assert shifted == len(expected) > 40


def test_without_weekday_effects_the_physiology_is_blind_to_the_weekday() -> None:
    # Ending the data one day later moves every day to the next weekday and changes nothing else.
    # If any outcome still depended on the weekday, the two series would differ.
    effects = PlantedEffects()
    data = generate_dataset(seed=7, days=365, now=NOW, effects=effects)
    moved = generate_dataset(seed=7, days=365, now=NOW + timedelta(days=1), effects=effects)
    assert _outcomes(moved) == _outcomes(data)
    alcohol = [data.journal[c["id"]][ALCOHOL_QUESTION] for c in _oldest_first(data)]
    assert [moved.journal[c["id"]][ALCOHOL_QUESTION] for c in _oldest_first(moved)] == alcohol

    with_weekdays = PlantedEffects(weekday_effects=True)
    data = generate_dataset(seed=7, days=365, now=NOW, effects=with_weekdays)
    moved = generate_dataset(seed=7, days=365, now=NOW + timedelta(days=1), effects=with_weekdays)
    assert _outcomes(moved) != _outcomes(data)


def test_without_weekday_effects_the_recovery_per_weekday_does_not_differ() -> None:
    data = generate_dataset(seed=7, days=365, now=NOW, effects=NO_SHIFTS)
    by_weekday: dict[int, list[float]] = defaultdict(list)
    for cycle in data.cycles:
        by_weekday[_local_day(cycle).weekday()].append(_recovery(data, cycle["id"])["recovery_score"])
    assert len(by_weekday) == 7
    assert stats.kruskal(*by_weekday.values()).pvalue > 0.05


@pytest.mark.parametrize("weekday_effects", [False, True])
def test_planted_records_stay_valid_api_records_within_their_ranges(weekday_effects: bool) -> None:
    data = generate_dataset(
        seed=5,
        days=365,
        now=NOW,
        effects=PlantedEffects(alcohol_recovery=-40, alcohol_hrv_pct=-50, weekday_effects=weekday_effects),
    )
    for model, records in ((Cycle, data.cycles), (Sleep, data.sleeps), (Workout, data.workouts)):
        for record in records:
            model.model_validate(record)
    for record in data.recoveries:
        Recovery.model_validate(record)
        score = _recovery(data, record["cycle_id"])
        assert 1 <= score["recovery_score"] <= 99 and score["recovery_score"].is_integer()
        assert 10 < score["hrv_rmssd_milli"] < 250 and math.isfinite(score["hrv_rmssd_milli"])
        assert 35 <= score["resting_heart_rate"] <= 90 and score["resting_heart_rate"].is_integer()


@pytest.mark.parametrize(
    "bad",
    [
        {"alcohol_recovery": -120},
        {"alcohol_hrv_pct": -100},
        {"alcohol_rhr_bpm": 50},
        {"alcohol_probability": 1.5},
    ],
)
def test_planted_effects_refuse_values_outside_their_range(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be between"):
        PlantedEffects(**bad)


@pytest.mark.anyio
async def test_the_fake_serves_the_planted_data_over_its_api() -> None:
    effects = PlantedEffects()
    fake = create_fake_whoop(now=NOW, days=60, effects=effects)
    expected = generate_dataset(seed=7, days=60, now=NOW, effects=effects)
    assert fake.data.effects is effects
    affected = sorted(expected.affected_cycles)[-1]
    token = fake.issue_token()["access_token"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as client:
        answer = await client.get(
            f"/developer/v2/cycle/{affected}/recovery", headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 200
    assert answer.json() == expected.recovery_for_cycle(affected)
    assert fake.data.journal == expected.journal
