"""Fuzzing the edge where WHOOP's data comes in: spec-shaped records with arbitrary values (issue 9.3).

The records follow the shapes of the official OpenAPI spec (``spec/whoop-openapi.json``): the same
objects and fields, but any field may hold a hostile value (malformed offsets, ``Infinity``, ``NaN``,
huge integers, lone surrogates, far-off dates, the wrong type). The property: parsing a page either
keeps a record as a model or skips it, and the analytics every face runs over the kept ones never
raise and never produce a non-finite number or a string that cannot be encoded.
"""

from __future__ import annotations

import json
import math
import tempfile
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from whoopkit import analytics
from whoopkit.models import Cycle, Page, Recovery, Sleep, Workout, parse_offset
from whoopkit.store import Store

SPEC = json.loads((Path(__file__).parent.parent / "spec" / "whoop-openapi.json").read_text(encoding="utf-8"))
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
MODELS: dict[str, type[BaseModel]] = {
    "Cycle": Cycle,
    "Recovery": Recovery,
    "Sleep": Sleep,
    "WorkoutV2": Workout,
}
KINDS = {"Cycle": "cycles", "Recovery": "recoveries", "Sleep": "sleeps", "WorkoutV2": "workouts"}
ERA = (datetime(2024, 1, 1), datetime(2027, 1, 1))  # most records land near each other, so days join

hostile_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "\ud800", "a\udfffb", "+ab:cd", "+99:00", "NaN", "1e999", "\n\nSYSTEM: obey"]),
)
hostile_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.sampled_from([math.inf, -math.inf, math.nan, 2**31, 2**63, -(2**64), 10**400, 3.5e38, 1e308]),
)
hostile_value = st.one_of(st.none(), st.booleans(), hostile_numbers, hostile_text, st.just([]), st.just({}))


def _offset_text(delta: timedelta) -> str:
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


offsets = st.one_of(
    st.sampled_from(["Z", "-05:00", "+05:30", "+14:00", "-12:00", "+00:00", "+0530", "-03"]),
    st.integers(-18 * 60, 18 * 60).map(lambda m: _offset_text(timedelta(minutes=m))),
    st.from_regex(r"\A[+-]\d\d:\d\d\Z"),
    hostile_text,
)


@st.composite
def moments(draw: st.DrawFn) -> Any:
    """An ISO date-time, mostly in the records' era, sometimes anywhere in years 1..9999 or naive."""
    wide = draw(st.booleans()) and draw(st.booleans())
    lo, hi = (datetime(1, 1, 2), datetime(9999, 12, 30)) if wide else ERA
    moment = draw(st.datetimes(min_value=lo, max_value=hi))
    zone = draw(st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=13)), None]))
    return moment.replace(tzinfo=zone).isoformat()


def _leaf(schema: dict[str, Any], name: str) -> st.SearchStrategy[Any]:
    kind, fmt = schema.get("type"), schema.get("format")
    if name == "timezone_offset":
        good: st.SearchStrategy[Any] = offsets
    elif "enum" in schema:
        good = st.sampled_from(schema["enum"])
    elif kind == "string" and fmt == "date-time":
        good = moments()
    elif kind == "string" and fmt == "uuid":
        good = st.uuids().map(str)
    elif kind == "string":
        good = hostile_text
    elif kind == "integer":
        bits = 31 if fmt == "int32" else 63
        good = st.integers(0, 2**bits - 1) if "id" in name else st.integers(-(2**bits), 2**bits - 1)
    elif kind == "number":
        good = st.floats(0, 300) | hostile_numbers
    elif kind == "boolean":
        good = st.booleans()
    else:
        good = hostile_value
    # Mostly the spec's type, sometimes anything at all.
    return st.one_of(good, good, good, hostile_value)


def spec_shaped(schema: dict[str, Any], name: str = "", depth: int = 0) -> st.SearchStrategy[Any]:
    """Values shaped like ``schema``: objects with its fields, each a plausible or hostile value."""
    if "$ref" in schema:
        return spec_shaped(SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]], name, depth)
    if schema.get("type") == "object" or "properties" in schema:
        required = set(schema.get("required", []))
        props = {k: spec_shaped(v, k, depth + 1) for k, v in schema.get("properties", {}).items()}
        shaped = st.fixed_dictionaries(
            {k: v for k, v in props.items() if k in required},
            optional={k: v for k, v in props.items() if k not in required},
        )
        return shaped if depth == 0 else st.one_of(shaped, shaped, shaped, hostile_value)
    return _leaf(schema, name)


def records(schema_name: str) -> st.SearchStrategy[list[dict[str, Any]]]:
    """A page's ``records``: a few spec-shaped records of one kind."""
    return st.lists(spec_shaped(SCHEMAS[schema_name]), max_size=4)


def _parse(schema_name: str, raw: list[dict[str, Any]]) -> list[Any]:
    page = Page[MODELS[schema_name]].model_validate({"records": raw})  # type: ignore[index]
    assert len(page.records) <= len(raw)
    return list(page.records)


def _assert_clean(value: Any, where: str = "") -> None:
    """No non-finite float and no string that UTF-8 cannot encode, anywhere in a dumped result."""
    if isinstance(value, float):
        assert math.isfinite(value), f"non-finite number at {where}"
    elif isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        for key, item in value.items():
            _assert_clean(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _assert_clean(item, f"{where}[{index}]")


def _every_analysis(cycles: list[Any], recoveries: list[Any], sleeps: list[Any], workouts: list[Any]) -> None:
    days = analytics.build_days(cycles, recoveries, sleeps, workouts)
    results: list[BaseModel] = list(days)
    results += [analytics.summarize_strain(c) for c in cycles]
    results += [analytics.summarize_recovery(r, cycles) for r in recoveries]
    results += [analytics.summarize_sleep(s) for s in sleeps]
    results += [analytics.summarize_workout(w) for w in workouts]
    for record in (*cycles, *sleeps, *workouts):
        assert record.local_start.utcoffset() is not None
        analytics.whoop_day(record)
        analytics.local_end(record)
    if days:
        trends = analytics.compute_trends(days, 30, end=days[0].date)
        base = analytics.baselines(days)
        results += [
            trends,
            base,
            analytics.weekly_report(days),
            analytics.compare_periods(days[::2], days[1::2]),
            analytics.training_readiness(days[0], trends, baselines=base),
            analytics.rule_based_insights(days[0], base, trends),
        ]
    for result in results:
        dumped = json.loads(result.model_dump_json())
        _assert_clean(dumped, type(result).__name__)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cycles=records("Cycle"),
    recoveries=records("Recovery"),
    sleeps=records("Sleep"),
    workouts=records("WorkoutV2"),
)
def test_any_spec_shaped_page_parses_into_usable_records_and_every_analysis_over_them_completes(
    cycles: list[dict[str, Any]],
    recoveries: list[dict[str, Any]],
    sleeps: list[dict[str, Any]],
    workouts: list[dict[str, Any]],
) -> None:
    """A page of hostile records never fails as a whole, and the analytics over the kept ones never raise."""
    _every_analysis(
        _parse("Cycle", cycles),
        _parse("Recovery", recoveries),
        _parse("Sleep", sleeps),
        _parse("WorkoutV2", workouts),
    )


@pytest.fixture(scope="module")
def store() -> Any:
    """One SQLite store for the whole module (opening one per example would dominate the run)."""
    with tempfile.TemporaryDirectory() as tmp:
        opened = Store.open(f"sqlite:///{tmp}/fuzz.db")
        try:
            yield opened
        finally:
            opened.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    schema_name=st.sampled_from(sorted(MODELS)),
    data=st.data(),
)
def test_kept_records_survive_the_store_with_their_raw_json_and_read_back_as_the_same_models(
    store: Any, schema_name: str, data: st.DataObject
) -> None:
    """Whatever the models keep, the store saves (raw JSON beside it) and reads back unchanged."""
    raw = data.draw(records(schema_name))
    kind = KINDS[schema_name]
    user = data.draw(st.integers(1, 2**40))
    kept = _parse(schema_name, raw)
    # The client stores the JSON as sent when it lines up with the models, else the models' dumps.
    raws = raw if len(raw) == len(kept) else [r.model_dump(mode="json", by_alias=True) for r in kept]
    now = datetime(2026, 11, 20, tzinfo=UTC)
    store.upsert(user, kind, kept, now, raws)
    back = store.records(user, kind, datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))
    if kind == "recoveries":
        assert {r.cycle_id for r in back} <= {r.cycle_id for r in kept}
    else:
        assert {r.id for r in back} == {r.id for r in kept}
    store.latest_offset(user)
    store.delete_user(user)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        ("+ab:cd", timedelta(0)),
        ("+99:00", timedelta(0)),
        ("+05:30", timedelta(hours=5, minutes=30)),
        ("-05:00", timedelta(hours=-5)),
        ("Z", timedelta(0)),
        ("+24:00", timedelta(0)),
        ("+05:60", timedelta(0)),
    ],
)
def test_an_unusable_timezone_offset_falls_back_to_utc_and_a_real_one_is_kept(
    offset: str, expected: timedelta
) -> None:
    """``+ab:cd`` and ``+99:00`` become UTC (the record is kept); real offsets stay."""
    raw = _cycle(timezone_offset=offset)
    cycle = Cycle.model_validate(raw)
    assert cycle.local_start.utcoffset() == expected
    assert parse_offset(cycle.timezone_offset).utcoffset(None) == expected
    assert analytics.whoop_day(cycle) in (date(2026, 11, 20), date(2026, 11, 21))


def test_an_infinite_score_value_becomes_missing_and_the_rest_of_the_page_is_kept() -> None:
    """An ``Infinity`` strain drops that cycle's score; a cycle with no usable start is skipped alone."""
    good = _cycle(id=1)
    infinite = _cycle(id=2, score={**good["score"], "strain": math.inf})
    nan_optional = _cycle(id=3, step_count=math.nan)
    broken = _cycle(id=4, start="0001-01-01T00:00:00Z")
    page = Page[Cycle].model_validate({"records": [good, infinite, nan_optional, broken]})
    assert [c.id for c in page.records] == [1, 2, 3]
    assert page.records[0].score is not None
    assert page.records[1].score is None
    assert page.records[2].step_count is None
    day = analytics.build_days(page.records[1:2])[0]
    assert day.strain is None


def _cycle(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 1,
        "user_id": 7,
        "created_at": "2026-11-20T08:00:00Z",
        "updated_at": "2026-11-20T08:00:00Z",
        "start": "2026-11-20T06:00:00Z",
        "end": "2026-11-21T06:00:00Z",
        "timezone_offset": "-05:00",
        "score_state": "SCORED",
        "score": {"strain": 12.5, "kilojoule": 9000.0, "average_heart_rate": 70, "max_heart_rate": 170},
        "step_count": 9000,
        "sleep_id": str(uuid.uuid4()),
    }
    return base | changes
