"""What WHOOP does to records after delivering them: re-scoring, late scoring and deletion.

Every change keeps the record valid against the v2 spec and moves ``updated_at`` forward, because
that is the only signal a real client gets that a record it already holds has changed.
"""

from __future__ import annotations

import copy
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from whoopkit.fake_whoop.data import FakeDataset, Record, iso, synthesize_score

Kind = Literal["cycle", "sleep", "workout", "recovery"]
KINDS: tuple[str, ...] = get_args(Kind)
SCORE_STATES = ("SCORED", "PENDING_SCORE", "UNSCORABLE")
_INT32 = 2**31
_STAGES = (
    "total_awake_time_milli",
    "total_no_data_time_milli",
    "total_light_sleep_time_milli",
    "total_slow_wave_sleep_time_milli",
    "total_rem_sleep_time_milli",
)


class UnknownRecordError(LookupError):
    """The fake holds no record of that kind with that id."""


@dataclass(frozen=True)
class _Field:
    path: tuple[str, ...]  # inside ``score``; ("..", name) means a top-level field of the record
    type: Literal["int", "float", "bool"]
    low: float | None = None
    high: float | None = None
    optional: bool = False  # may be removed (set to None)


def _ints(group: str, names: tuple[str, ...], low: float = 0) -> dict[str, _Field]:
    return {name: _Field((group, name), "int", low, _INT32 - 1) for name in names}


_FIELDS: dict[str, dict[str, _Field]] = {
    "cycle": {
        "strain": _Field(("strain",), "float", 0, 21),
        "kilojoule": _Field(("kilojoule",), "float", 0),
        "average_heart_rate": _Field(("average_heart_rate",), "int", 0, 255),
        "max_heart_rate": _Field(("max_heart_rate",), "int", 0, 255),
        "step_count": _Field(("..", "step_count"), "int", 0, _INT32 - 1, optional=True),
    },
    "recovery": {
        "user_calibrating": _Field(("user_calibrating",), "bool"),
        "recovery_score": _Field(("recovery_score",), "float", 0, 100),
        "resting_heart_rate": _Field(("resting_heart_rate",), "float", 0, 255),
        "hrv_rmssd_milli": _Field(("hrv_rmssd_milli",), "float", 0),
        "spo2_percentage": _Field(("spo2_percentage",), "float", 0, 100, optional=True),
        "skin_temp_celsius": _Field(("skin_temp_celsius",), "float", 0, 50, optional=True),
    },
    "sleep": {
        **_ints(
            "stage_summary", ("total_in_bed_time_milli", *_STAGES, "sleep_cycle_count", "disturbance_count")
        ),
        **_ints(
            "sleep_needed", ("baseline_milli", "need_from_sleep_debt_milli", "need_from_recent_strain_milli")
        ),
        **_ints("sleep_needed", ("need_from_recent_nap_milli",), low=-_INT32),
        "respiratory_rate": _Field(("respiratory_rate",), "float", 0, 60, optional=True),
        **{
            name: _Field((name,), "float", 0, 100, optional=True)
            for name in (
                "sleep_performance_percentage",
                "sleep_consistency_percentage",
                "sleep_efficiency_percentage",
            )
        },
    },
    "workout": {
        "strain": _Field(("strain",), "float", 0, 21),
        "average_heart_rate": _Field(("average_heart_rate",), "int", 0, 255),
        "max_heart_rate": _Field(("max_heart_rate",), "int", 0, 255),
        "kilojoule": _Field(("kilojoule",), "float", 0),
        "percent_recorded": _Field(("percent_recorded",), "float", 0, 100),
        "distance_meter": _Field(("distance_meter",), "float", 0, optional=True),
        "altitude_gain_meter": _Field(("altitude_gain_meter",), "float", 0, optional=True),
        "altitude_change_meter": _Field(("altitude_change_meter",), "float", optional=True),
        **_ints(
            "zone_durations",
            tuple(f"zone_{n}_milli" for n in ("zero", "one", "two", "three", "four", "five")),
        ),
    },
}


def score_fields(kind: str) -> tuple[str, ...]:
    """The names ``rescore`` accepts for this kind (besides ``score_state``).

    Raises:
        ValueError: ``kind`` is not cycle, sleep, workout or recovery.
    """
    return tuple(_FIELDS[check_kind(kind)])


def check_kind(kind: object) -> Kind:
    """``kind`` itself, once known to be one of the four record kinds.

    Raises:
        ValueError: it is not cycle, sleep, workout or recovery.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind  # type: ignore[return-value]  # membership in KINDS was just checked


def record_key(kind: Kind, record_id: object) -> int | str:
    """The canonical id: an int for cycles and recoveries (cycle_id), a lowercase UUID string otherwise.

    Raises:
        ValueError: the id has the wrong type or shape for this kind.
    """
    if kind in ("cycle", "recovery"):
        if isinstance(record_id, int) and not isinstance(record_id, bool):
            return record_id
        if isinstance(record_id, str) and record_id.isdigit():
            return int(record_id)
        raise ValueError(f"a {kind} id is an integer cycle id, got {record_id!r}")
    if isinstance(record_id, uuid.UUID):
        return str(record_id)
    if isinstance(record_id, str):
        try:
            return str(uuid.UUID(record_id))
        except ValueError:
            pass
    raise ValueError(f"a {kind} id is a UUID, got {record_id!r}")


def find(data: FakeDataset, kind: Kind, key: int | str) -> Record:
    """The record of this kind with this canonical id.

    Raises:
        UnknownRecordError: there is none.
    """
    record: Record | None
    if kind == "cycle":
        record = data.cycle(int(key))
    elif kind == "recovery":
        record = data.recovery_for_cycle(int(key))
    elif kind == "sleep":
        record = data.sleep(uuid.UUID(str(key)))
    else:
        record = data.workout(uuid.UUID(str(key)))
    if record is None:
        raise UnknownRecordError(f"no {kind} with id {key}")
    return record


def _parse(kind: Kind, changes: dict[str, Any]) -> dict[str, Any]:
    fields = _FIELDS[kind]
    unknown = sorted(set(changes) - set(fields))
    if unknown:
        raise ValueError(
            f"unknown {kind} field(s): {', '.join(unknown)}; known: score_state, {', '.join(fields)}"
        )
    parsed: dict[str, Any] = {}
    for name, value in changes.items():
        spec = fields[name]
        if value is None:
            if not spec.optional:
                raise ValueError(f"{name} cannot be removed (it is required by the spec)")
            parsed[name] = None
            continue
        if spec.type == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, got {value!r}")
            parsed[name] = value
            continue
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if not is_number or (spec.type == "int" and not isinstance(value, int)):
            wanted = "an integer" if spec.type == "int" else "a number"
            raise ValueError(f"{name} must be {wanted}, got {value!r}")
        if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
            raise ValueError(f"{name} must be between {spec.low} and {spec.high}, got {value!r}")
        parsed[name] = float(value) if spec.type == "float" else value
    return parsed


def _apply(kind: Kind, record: Record, score: Record, parsed: dict[str, Any]) -> None:
    for name, value in parsed.items():
        *parents, leaf = _FIELDS[kind][name].path
        target = record if parents == [".."] else score
        for parent in parents if parents != [".."] else []:
            target = target[parent]
        if value is None and leaf != "step_count":
            target.pop(leaf, None)
        else:
            target[leaf] = value
    if kind == "sleep" and set(parsed) & set(_STAGES):
        # A re-scored night's stages still add up, as WHOOP's do.
        stages = score["stage_summary"]
        if "total_in_bed_time_milli" not in parsed:
            stages["total_in_bed_time_milli"] = sum(stages[name] for name in _STAGES)
        in_bed = stages["total_in_bed_time_milli"]
        asleep = in_bed - stages["total_awake_time_milli"] - stages["total_no_data_time_milli"]
        if "sleep_efficiency_percentage" not in parsed and "sleep_efficiency_percentage" in score and in_bed:
            score["sleep_efficiency_percentage"] = round(max(0.0, min(100.0, asleep / in_bed * 100)), 8)


def _touch(record: Record, now: datetime) -> None:
    previous = datetime.fromisoformat(record["updated_at"])
    # Never the same instant twice, so a client keeping the newest updated_at sees every change.
    record["updated_at"] = iso(max(now, previous + timedelta(milliseconds=1)))


def rescore(
    data: FakeDataset, kind: Kind, key: int | str, changes: dict[str, Any], now: datetime, seed: int
) -> Record:
    """Apply score changes and/or a new score_state to one record; returns the record.

    Raises:
        ValueError: an unknown field, a bad value, or score fields on a record that will not be SCORED.
        UnknownRecordError: there is no such record.
    """
    record = find(data, kind, key)
    changes = dict(changes)
    state = changes.pop("score_state", None)
    if state is not None and state not in SCORE_STATES:
        raise ValueError(f"score_state must be one of {', '.join(SCORE_STATES)}, got {state!r}")
    parsed = _parse(kind, changes)
    if state is None:
        state = "SCORED" if parsed or record["score_state"] == "PENDING_SCORE" else record["score_state"]
    hidden = (kind, str(key))
    if state == "SCORED":
        score = record.get("score") or data.hidden_scores.pop(hidden, None)
        if score is not None:
            score = copy.deepcopy(score)
        else:  # a workout's heart rates stay within this person's own maximum
            score = synthesize_score(kind, record, seed, int(data.body["max_heart_rate"]))
        if kind == "cycle" and record.get("step_count") is None:
            steps = data.hidden_scores.pop(("step_count", str(key)), None)
            rng = random.Random(f"{seed}:steps:{key}")
            record["step_count"] = steps["step_count"] if steps else rng.randrange(4_000, 14_000)
        _apply(kind, record, score, parsed)
        record["score"] = score
    else:
        if parsed:
            raise ValueError(f"score fields can only be set on a SCORED record, not {state}")
        if "score" in record:
            data.hidden_scores[hidden] = record.pop("score")
        if kind == "cycle" and record.get("step_count") is not None:
            data.hidden_scores["step_count", str(key)] = {"step_count": record["step_count"]}
            record["step_count"] = None
    record["score_state"] = state
    _touch(record, now)
    return record


def score_pending(data: FakeDataset, now: datetime, seed: int) -> int:
    """Score every PENDING_SCORE record, as WHOOP does a while after delivery; returns how many."""
    count = 0
    for kind, records in (
        ("cycle", data.cycles),
        ("sleep", data.sleeps),
        ("recovery", data.recoveries),
        ("workout", data.workouts),
    ):
        for record in list(records):
            if record["score_state"] == "PENDING_SCORE":
                key = record["cycle_id"] if kind == "recovery" else record["id"]
                rescore(data, check_kind(kind), key, {"score_state": "SCORED"}, now, seed)
                count += 1
    return count


def delete(data: FakeDataset, kind: Kind, key: int | str) -> dict[str, list[int | str]]:
    """Delete a record and what WHOOP deletes with it; returns the ids removed, by kind.

    Deleting a sleep also deletes the recovery computed from it; deleting a cycle also deletes its
    recovery (the cycle's sleeps and workouts stay, as activities of their own).

    Raises:
        UnknownRecordError: there is no such record.
    """
    find(data, kind, key)
    removed: dict[str, list[int | str]] = {kind: [key]}
    if kind == "cycle":
        data.remove_cycle(int(key))
        if data.remove_recovery(int(key)) is not None:
            removed["recovery"] = [int(key)]
    elif kind == "recovery":
        data.remove_recovery(int(key))
    elif kind == "workout":
        data.remove_workout(str(key))
    else:
        sleep = data.remove_sleep(str(key))
        assert sleep is not None  # find() above proved it exists
        recovery = data.recovery_for_cycle(sleep["cycle_id"])
        if recovery is not None and recovery["sleep_id"] == sleep["id"]:
            data.remove_recovery(sleep["cycle_id"])
            removed["recovery"] = [sleep["cycle_id"]]
    return removed


def counts(data: FakeDataset) -> dict[str, dict[str, int]]:
    """Records per kind and score_state (for /_fake/stats)."""
    out: dict[str, dict[str, int]] = {}
    for kind, records in (
        ("cycle", data.cycles),
        ("sleep", data.sleeps),
        ("recovery", data.recoveries),
        ("workout", data.workouts),
    ):
        by_state = {"total": len(records)} | dict.fromkeys(SCORE_STATES, 0)
        for record in records:
            by_state[record["score_state"]] += 1
        out[kind] = by_state
    return out


def corrupt(data: FakeDataset, kind: Kind, key: int | str, changes: dict[str, Any], now: datetime) -> Record:
    """Set fields of one record to any value at all, outside the spec if asked; returns the record.

    Real WHOOP has sent malformed offsets and non-finite numbers, so tests need records that break
    the schema. Keys are dotted paths (``timezone_offset``, ``score.recovery_score``,
    ``score.stage_summary.total_rem_sleep_time_milli``); a value of ``None`` removes the field.

    Raises:
        ValueError: a path is empty, starts at ``id``, or runs through something that is not an object.
        UnknownRecordError: there is no such record.
    """
    record = find(data, kind, key)
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        if not leaf or "" in parents or (not parents and leaf in ("id", "cycle_id")):
            raise ValueError(f"cannot corrupt the field {path!r}")
        target: Any = record
        for parent in parents:
            target = target.get(parent) if isinstance(target, dict) else None
            if not isinstance(target, dict):
                raise ValueError(f"{path!r} runs through {parent!r}, which is not an object")
        if value is None:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    _touch(record, now)
    return record
