"""Output models of the MCP tools: what clients see as ``outputSchema`` and ``structuredContent``.

The records themselves are ``whoopkit.analytics`` summaries, whose field names carry their unit
(``_hours``, ``_minutes``, ``_pct``, ``_bpm``, ``_ms``, ``_kj``, ``_kcal``); these models wrap them
with what every result says: where the data came from, how fresh it is and a sentence a person can read.

``tools/list`` is read into an assistant's context on every conversation, so :func:`lighten_tools` publishes
these schemas small (see its docstring); the server still validates every result against the full models.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any, Final, Literal

from mcp.types import Tool as MCPTool
from pydantic import BaseModel, Field

from whoopkit.analytics import (
    DaySummary,
    PeriodComparison,
    Readiness,
    RecoverySummary,
    SleepSummary,
    StrainSummary,
    TrendReport,
    WeeklyReport,
    WorkoutSummary,
)

DEMO_SOURCE = "demo (simulated)"
REAL_SOURCE = "WHOOP API"

HistoryKind = Literal["days", "cycles", "recoveries", "sleeps", "workouts"]


class ToolOutput(BaseModel):
    """Fields every tool result carries."""

    data_source: str
    summary: str
    as_of: str | None = Field(description="Last sync of the data used, ISO 8601 UTC; null if never")
    stale: bool = Field(description="WHOOP could not be asked, so this is older stored data")


class ProfileOut(ToolOutput):
    """The WHOOP member's basic profile."""

    user_id: int
    first_name: str
    last_name: str
    email: str


class Body(BaseModel):
    """Body measurements as entered in the WHOOP app."""

    height_cm: float
    weight_kg: float
    max_heart_rate_bpm: int
    bmi: float = Field(description="Body-mass index, kg/m²")


class BodyOut(Body, ToolOutput):
    """Body measurements as entered in the WHOOP app."""


class RecoveryOut(ToolOutput):
    """Latest recovery, with the newest scored one when the latest is not scored yet."""

    latest: RecoverySummary
    latest_scored: RecoverySummary | None = Field(
        default=None, description="The most recent SCORED recovery when `latest` is not scored"
    )


class StrainOut(ToolOutput):
    """The current cycle's day strain so far (0-21 scale)."""

    cycle: StrainSummary


class CyclesOut(ToolOutput):
    """Recent cycles (≈ days), newest first."""

    count: int
    cycles: list[StrainSummary]


class SleepOut(ToolOutput):
    """The latest main sleep (naps skipped)."""

    sleep: SleepSummary


class WorkoutsOut(ToolOutput):
    """Recent workouts, newest first."""

    count: int
    workouts: list[WorkoutSummary]


class HealthSummaryOut(ToolOutput):
    """Today at a glance: the last days' records of every collection, from one service read."""

    name: str | None = None
    recovery: RecoverySummary | None = None
    strain: StrainSummary | None = None
    sleep: SleepSummary | None = None
    recent_workouts: list[WorkoutSummary] = []
    body: Body | None = None
    problems: list[str] = Field(default=[], description="Parts that are missing, and why")


class HistoryDay(DaySummary):
    """One joined row per WHOOP day, with WHOOP's re-scores of its records."""

    # Published under the day row's own name, so tools/list spells the row out once (here) and
    # should_i_train_today's `today` points at it: the only difference is this optional field.
    __qualname__ = "DaySummary"

    score_changes: list[str] = Field(default=[], description="WHOOP's re-scores of the day's records")


class HistoryOut(ToolOutput):
    """Records over a date range, newest first; only the list named by `kind` is filled."""

    kind: HistoryKind
    start: dt.date
    end: dt.date
    count: int
    truncated: bool = Field(description="True when more records exist than were returned")
    days: list[HistoryDay] = Field(default=[], description="One joined row per WHOOP day (kind=days)")
    cycles: list[StrainSummary] = []
    recoveries: list[RecoverySummary] = []
    sleeps: list[SleepSummary] = []
    workouts: list[WorkoutSummary] = []


class TrendsOut(ToolOutput):
    """Recovery, HRV, resting HR, sleep and strain over a window: mean, baseline, slope, outliers."""

    truncated: bool
    trends: TrendReport


class CompareOut(ToolOutput):
    """Per-metric means of two periods and whether the later one is better or worse."""

    truncated: bool
    comparison: PeriodComparison


class WeeklyOut(ToolOutput):
    """A week's averages, extremes, sleep, strain and workouts, vs the week before."""

    truncated: bool
    report: WeeklyReport


class ReadinessOut(ToolOutput):
    """Whether to push, maintain or recover today, with a strain target and the reasons."""

    readiness: Readiness
    today: DaySummary


class DriverOut(BaseModel):
    """One factor at one lag, tested against the outcome (``analytics.DriverFactor``, in fewer fields)."""

    label: str
    lag_days: int
    effect: float
    ci_low: float
    ci_high: float
    per: str | None = Field(description="Continuous factor: the effect is per this; null for yes/no factors")
    n: int
    n_yes: int | None
    n_no: int | None
    spearman_rho: float | None
    q_value: float
    significant: bool
    sentence: str


class DriversOut(ToolOutput):
    """Factors tested against recovery, HRV or resting HR over a window, ranked, with their statistics."""

    outcome: Literal["recovery", "hrv", "rhr"]
    unit: str
    start: dt.date
    end: dt.date
    n_days: int = Field(description="Days with a scored outcome (not calibrating)")
    journal: bool = Field(description="Whether imported WHOOP journal questions are among the factors")
    factors: list[DriverOut] = Field(description="Ranked: significant first, then by size")
    not_enough_data: list[str] = Field(description="Factors not tested, each with why")


class RecordOut(BaseModel):
    """A personal record or green streak (``analytics.PersonalRecord`` or ``Streak``, in fewer fields)."""

    label: str
    value: float
    unit: str
    date: dt.date | None = Field(description="The day it was set; a streak's last day; null: no streak")
    sentence: str


class RecordsOut(ToolOutput):
    """Personal records and green streaks over the stored history, each with its date."""

    first_date: dt.date | None
    last_date: dt.date | None
    days_with_recovery: int
    records: list[RecordOut]


class AuthStatusOut(ToolOutput):
    """Whether the server can read WHOOP, and with which token."""

    logged_in: bool
    demo: bool
    token_file: str
    expires_at: str | None = Field(description="When the access token expires, ISO 8601 UTC")
    seconds_left: float | None = Field(description="Seconds until the access token expires")
    expired: bool
    can_refresh: bool = Field(description="Whether a refresh token is stored")
    scopes: list[str]
    has_offline_scope: bool = Field(description="Without `offline` WHOOP gives no refresh token")
    missing_scopes: list[str]
    problem: str | None = Field(description="Why the token cache is unusable, if it is")
    login_url: str
    start_web_app: str = Field(description="The command that starts the web app, where the login page is")


# What a field name does not say, by field name: the only field descriptions published (the analytics
# models are shared with the web app; these say it in as few words as an assistant needs).
FIELD_NOTES: Final[dict[str, str]] = {
    "data_source": f'"{REAL_SOURCE}", or "{DEMO_SOURCE}": not the user\'s data',
    "as_of": "last sync of the data used, ISO 8601 UTC",
    "stale": "WHOOP could not be asked: older stored data",
    "kind": "the one list below that is filled",
    "state": "SCORED, else why score fields are null",
    "day": "WHOOP day: the day woken into",
    "date": "WHOOP day: the day woken into",
    "open": "current cycle, strain still accumulating",
    "cycle_open": "current cycle, strain still accumulating",
    "asleep_hours": "light + slow-wave + REM",
    "sleep_hours": "light + slow-wave + REM",
    "need_hours": "WHOOP's sleep need: baseline + debt + strain + naps",
    "sleep_need_hours": "WHOOP's sleep need: baseline + debt + strain + naps",
    "debt_hours": "sleep owed from recent nights, part of the need",
    "sleep_debt_hours": "sleep owed from recent nights, part of the need",
    "performance_pct": "asleep as % of need",
    "sleep_performance_pct": "asleep as % of need",
    "consistency_pct": "regularity of sleep and wake times",
    "sleep_consistency_pct": "regularity of sleep and wake times",
    "efficiency_pct": "asleep as % of time in bed",
    "sleep_efficiency_pct": "asleep as % of time in bed",
    "calibrating": "WHOOP still learning the member's baselines",
    "zone_minutes": "minutes in heart-rate zones 0-5",
    "latest_scored": "newest SCORED one, when latest is not",
    "hrv_baseline_ms": "mean of the 30 days before this day",
    "resting_hr_baseline_bpm": "mean of the 30 days before this day",
    "hrv_vs_30d_pct": "HRV as % of hrv_baseline_ms",
    "hrv_vs_7d_pct": "HRV as % of its 7-day mean",
    "rhr_vs_30d_bpm": "resting HR minus resting_hr_baseline_bpm",
    "rhr_vs_7d_bpm": "resting HR minus its 7-day mean",
    "acute_strain_7d": "mean day strain, last 7 completed days",
    "chronic_strain_28d": "mean day strain, last 28 completed days",
    "acute_chronic_ratio": "acute_strain_7d / chronic_strain_28d",
    "baseline": "mean of the 30 days before latest_date",
    "change": "mean_b minus mean_a",
    "avg_strain": "mean of the completed days",
    "total_strain": "today's strain so far included",
    # what_affects_my_recovery (issue 10)
    "lag_days": "0: the outcome's own WHOOP day, 1: the day before",
    "effect": "outcome units: mean(yes) - mean(no), or per `per`",
    "q_value": "p, Benjamini-Hochberg adjusted over all tests",
    "significant": "q_value < 0.05",
    "journal": "imported journal questions are among the factors",
}

ENVELOPE_NOTE = "data_source, summary, as_of and stale are in every tool's result"

# JSON Schema keywords whose value is a map of names to subschemas, a list of subschemas, or one subschema.
_SCHEMA_MAPS = ("properties", "$defs", "patternProperties", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "contains", "if", "then", "else")
_DEFS = "#/$defs/"
_NULL: Final[dict[str, Any]] = {"type": "null"}
_NUMBER_OR_NULL: Final[dict[str, Any]] = {"type": ["number", "null"]}
# Published as numbers or null with the rest: the server's validation against the models is the exact one.
_NUMBERS: Final = (
    {"type": ["number", "null"]},
    {"type": ["integer", "null"]},
    {"type": "number"},
    {"type": "integer"},
)
# A subschema repeated in one schema moves to ``$defs`` from this size on (a reference costs about 25).
_SHARED_FROM = 48
Schema = dict[str, Any]


def lighten_tools(tools: list[MCPTool]) -> list[MCPTool]:
    """The tools with schemas a third of the size, for the same arguments and the same results.

    ``tools/list`` goes into an assistant's context in every conversation, so:

    - pydantic's titles, output defaults and model docstrings go, and ``T | None`` is ``"type": [T, "null"]``;
    - output fields are described by :data:`FIELD_NOTES` only, each note once in the list at the top level;
    - a record model (``SleepSummary``, ``PeriodComparison``, …) is spelled out by the first tool of the list
      that returns it; later tools name that tool, since an assistant reads the whole list;
    - an object's number fields are named in ``required`` and typed once by ``additionalProperties``; its
      other fields are typed in ``properties`` (every result carries every field, null when unknown);
    - a field schema an output schema repeats (an enum, a nullable date) is written once in its ``$defs``;
    - the fields every result carries (:class:`ToolOutput`: ``data_source``, ``summary``, ``as_of``,
      ``stale``) are typed by the first tool of the list only, whose schema says every result has them;
    - a nested ``"type": "object"`` beside ``properties`` and ``"type": "array"`` beside ``items`` go.

    The published schemas accept every result the tools give; the server still validates each result
    against the full model.
    """
    described: dict[str, str] = {}
    said: set[str] = set()
    envelope_said = False
    for tool in tools:
        tool.input_schema = compact_schema(tool.input_schema, keep_defaults=True)
        if tool.annotations is not None and tool.annotations.read_only_hint:
            # The title is the tool's own; destructiveHint means nothing for a read-only tool.
            tool.annotations = tool.annotations.model_copy(update={"title": None, "destructive_hint": None})
        if tool.output_schema is not None:
            schema = _noted(compact_schema(tool.output_schema))
            if not envelope_said:
                schema = {**schema, "description": ENVELOPE_NOTE}
            schema = _say_once(_share_records(schema, tool.name, described), said)
            light = _numbers_by_default(_drop_unused_defs(schema))
            if envelope_said:
                light = _without_envelope(light)
            envelope_said = True
            tool.output_schema = {**_implied_types(_share_repeats(light)), "type": "object"}
    return tools


def compact_schema(schema: Schema, *, keep_defaults: bool = False) -> Schema:
    """``schema`` without titles (and defaults, unless kept; a null default never), ``T | None`` as a list.

    It accepts exactly the documents ``schema`` accepts.
    """
    dropped = {"title"} if keep_defaults else {"title", "default"}
    out: Schema = {}
    for key, value in schema.items():
        if key in dropped or (key == "default" and value is None):
            continue
        out[key] = _map_subschemas(key, value, lambda sub: compact_schema(sub, keep_defaults=keep_defaults))
    return _merge_null(out)


def _without_envelope(schema: Schema) -> Schema:
    """``schema`` without the :class:`ToolOutput` fields, which the first tool of the list spells out.

    Kept where ``additionalProperties`` types the fields ``properties`` does not name.
    """
    if "additionalProperties" in schema:
        return schema
    props = {k: v for k, v in schema.get("properties", {}).items() if k not in ToolOutput.model_fields}
    return {**schema, "properties": props}


def _map_subschemas(key: str, value: Any, fn: Callable[[Schema], Any]) -> Any:
    """``value`` of keyword ``key`` with ``fn`` applied to each subschema in it."""
    if key in _SCHEMA_MAPS and isinstance(value, dict):
        return {name: fn(sub) for name, sub in value.items()}
    if key in _SCHEMA_LISTS and isinstance(value, list):
        return [fn(sub) for sub in value]
    if key in _SCHEMA_ONE and isinstance(value, dict):
        return fn(value)
    return value


def _merge_null(node: Schema) -> Schema:
    """``{"anyOf": [{"type": T, …}, {"type": "null"}]}`` as ``{"type": [T, "null"], …}``."""
    options = node.get("anyOf")
    if not (isinstance(options, list) and len(options) == 2 and _NULL in options):
        return node
    other = options[1] if options[0] == _NULL else options[0]
    siblings = {key: value for key, value in node.items() if key != "anyOf"}
    if not isinstance(other.get("type"), str) or "const" in other or set(other) & set(siblings):
        return node
    merged = {**other, "type": [other["type"], "null"]}
    if "enum" in merged:
        merged["enum"] = [*merged["enum"], None]
    return {**merged, **siblings}


def _noted(schema: Schema, field: str | None = None) -> Schema:
    """``schema`` with the descriptions of :data:`FIELD_NOTES` instead of the models' own."""
    out: Schema = {}
    for key, value in schema.items():
        if key == "description":
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _noted(sub, name) for name, sub in value.items()}
        else:
            out[key] = _map_subschemas(key, value, _noted)
    note = FIELD_NOTES.get(field or "")
    return {**out, "description": note} if note else out


def _share_records(schema: Schema, tool: str, described: dict[str, str]) -> Schema:
    """``schema`` with each record model that an earlier tool spelled out replaced by a pointer to it."""
    defs: Schema = dict(schema.get("$defs", {}))
    for name in list(defs):
        owner = described.setdefault(name, tool)
        if owner != tool:
            defs[name] = {"type": "object", "description": f"as in {owner}"}
    return {**schema, "$defs": defs} if defs else schema


def _say_once(schema: Schema, said: set[str]) -> Schema:
    """``schema`` without the field descriptions an earlier tool of the list already gave."""
    out: Schema = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            props: Schema = {}
            for name, sub in value.items():
                note = sub.get("description")
                if isinstance(note, str) and note in said:
                    sub = {k: v for k, v in sub.items() if k != "description"}
                elif isinstance(note, str):
                    said.add(note)
                props[name] = _say_once(sub, said)
            out[key] = props
        else:
            out[key] = _map_subschemas(key, value, lambda sub: _say_once(sub, said))
    return out


def _refs(node: Any) -> set[str]:
    """The ``$defs`` names ``node`` refers to, directly."""
    if isinstance(node, dict):
        found = set().union(*(_refs(value) for key, value in node.items() if key != "$defs"))
        ref = node.get("$ref")
        return found | {ref.removeprefix(_DEFS)} if isinstance(ref, str) and ref.startswith(_DEFS) else found
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node))
    return set()


def _drop_unused_defs(schema: Schema) -> Schema:
    """``schema`` without the ``$defs`` nothing reachable from its root refers to."""
    defs: Schema = schema.get("$defs", {})
    used, todo = set[str](), _refs(schema)
    while todo:
        name = todo.pop()
        if name not in used and name in defs:
            used.add(name)
            todo |= _refs(defs[name])
    kept = {name: sub for name, sub in defs.items() if name in used}
    rest = {key: value for key, value in schema.items() if key != "$defs"}
    return {**rest, "$defs": kept} if kept else rest


def _numbers_by_default(schema: Schema) -> Schema:
    """``schema`` with each object's undescribed number fields named in ``required``, typed once.

    The object's other fields are typed in ``properties``, which ``required`` would only repeat.
    """
    out = {key: _map_subschemas(key, value, _numbers_by_default) for key, value in schema.items()}
    props = out.get("properties")
    if not isinstance(props, dict) or "additionalProperties" in out:
        return out
    out.pop("required", None)
    numbers = [name for name, sub in props.items() if sub in _NUMBERS]
    if len(numbers) < 2:
        return out
    typed = {name: sub for name, sub in props.items() if name not in numbers}
    rest = {key: value for key, value in out.items() if key != "properties"}
    return {
        **({"properties": typed} if typed else {}),
        **rest,
        "required": numbers,
        "additionalProperties": _NUMBER_OR_NULL,
    }


def _share_repeats(schema: Schema) -> Schema:
    """``schema`` with each field schema it repeats (from :data:`_SHARED_FROM` characters) in ``$defs``.

    A shared schema is named after its fields (see :func:`_shared_name`).
    """
    uses: dict[str, list[str]] = {}

    def count(node: Schema) -> None:
        for keyword, value in node.items():
            if keyword == "properties" and isinstance(value, dict):
                for name, sub in value.items():
                    key = _key(sub)
                    if len(key) >= _SHARED_FROM and "$ref" not in key:
                        uses.setdefault(key, []).append(name)
            _map_subschemas(keyword, value, count)

    count(schema)
    defs: Schema = schema.get("$defs", {})
    names: dict[str, str] = {}
    for key, fields in uses.items():
        if len(fields) > 1:
            name = _shared_name(fields, json.loads(key))
            while name in defs or name in names.values():
                name += "_"
            names[key] = name
    if not names:
        return schema

    def replace(node: Schema) -> Schema:
        out: Schema = {}
        for keyword, value in node.items():
            if keyword == "properties" and isinstance(value, dict):
                out[keyword] = {
                    name: {"$ref": _DEFS + names[_key(sub)]} if _key(sub) in names else replace(sub)
                    for name, sub in value.items()
                }
            else:
                out[keyword] = _map_subschemas(keyword, value, replace)
        return out

    out = replace(schema)
    shared = {name: json.loads(key) for key, name in names.items()}
    return {**out, "$defs": {**out.get("$defs", {}), **shared}}


_IMPLIED: Final[dict[str, set[str]]] = {"object": {"properties", "additionalProperties"}, "array": {"items"}}


def _implied_types(node: Schema) -> Schema:
    """``node`` without the ``type`` its keywords imply: ``object`` beside ``properties`` or
    ``additionalProperties``, ``array`` beside ``items``."""
    out = {key: _map_subschemas(key, value, _implied_types) for key, value in node.items()}
    kind = out.get("type")
    implied = _IMPLIED.get(kind, set()) if isinstance(kind, str) else set()
    if implied & set(out):
        del out["type"]
    return out


def _key(node: Schema) -> str:
    return json.dumps(node, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _shared_name(fields: list[str], node: Schema) -> str:
    """A word all of ``fields`` have (``state`` for ``cycle_state`` and ``sleep_state``), else the type."""
    common = set.intersection(*(set(field.split("_")) for field in fields))
    if common:
        return max(common, key=lambda word: (len(word), word))
    kind: Any = node.get("format", node.get("type", "value"))
    return kind if isinstance(kind, str) else "_or_".join(map(str, kind))
