"""Deterministic synthetic WHOOP data: one plausible athlete's cycles, sleeps, recoveries and workouts.

Everything is derived from one ``random.Random(seed)`` consumed in a fixed order, so the same
``seed`` + ``days`` + ``now`` always give the same records (ids included). Records are JSON-ready
dicts exactly as the API serves them (newest first), so the fake never re-serializes models.

The physiology is a small causal model, not noise: day strain raises the next night's sleep need,
sleep performance and HRV (relative to a slowly improving personal baseline) drive recovery, resting
heart rate moves against HRV, illness and jet lag depress HRV and raise RHR / skin temperature.

Every cycle also gets a WHOOP journal (the behaviour of that day: alcohol, caffeine, a late meal, ...),
drawn from its own ``random.Random`` so that the API records stay exactly what they were before the
journal existed. Only with ``PlantedEffects`` does a journal answer change the physiology: alcohol
lowers the NEXT day's recovery and HRV and raises its resting heart rate by the planted amounts.

A fake can host several simulated people (``person`` 0, 1, ...). Person 0 is the historical athlete
(``USER_ID``, the base seed, Alex Rivera) and its records are exactly what they always were. Person k
has user id ``USER_ID + k``, the seed ``person_seed(seed, k)``, their own profile and body, and every
integer id (cycle, v1 sleep and v1 workout ids) shifted by ``k * PERSON_ID_STRIDE``, so no id of one
person can ever name a record of another; their UUIDs come from their own seed's stream.
"""

from __future__ import annotations

import base64
import binascii
import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

Record = dict[str, Any]

USER_ID = 10129
# Integer ids of person k start k strides up: far more than any history spends (a cycle id grows by
# at most 40,000 a day), and k * stride still fits an int64 for any sensible number of people.
PERSON_ID_STRIDE = 10_000_000_000
# The spec: "v1_id / sport_id will not exist past 09/01/2025", so only older records carry them.
V1_CUTOFF = datetime(2025, 9, 1, tzinfo=UTC)
HOME_OFFSET = timedelta(hours=-5)
TRAVEL_OFFSET = timedelta(hours=1)
MAX_HEART_RATE = 192
CALIBRATION_NIGHTS = 4
PENDING_WINDOW = timedelta(minutes=90)
# Salts for the extra random streams: constants, so each stream is a pure function of the seed.
_JOURNAL_SALT = 0x6A6F75726E616C  # "journal"
_ACTIVITY_SALT = 0x776F726B6F7574  # "workout"
_NAP_SALT = 0x6E6170  # "nap"

ALCOHOL_QUESTION = "Have any alcoholic drinks?"
# WHOOP's own wordings (seen in real app exports); probability of "yes" on any day. Only alcohol
# can carry a planted effect; the others are deliberately null factors.
JOURNAL_QUESTIONS: tuple[tuple[str, float], ...] = (
    (ALCOHOL_QUESTION, 0.2),
    ("Have any caffeine?", 0.85),
    ("Ate food close to bedtime?", 0.25),
    ("Viewed a screen device in bed?", 0.55),
    ("Read (non-screened device) while in bed?", 0.2),
    ("Hydrated sufficiently?", 0.7),
)

PROFILE: Record = {
    "user_id": USER_ID,
    "email": "alex.rivera@example.com",
    "first_name": "Alex",
    "last_name": "Rivera",
}
BODY: Record = {"height_meter": 1.78, "weight_kilogram": 76.2, "max_heart_rate": MAX_HEART_RATE}
# Names of the other simulated people (person 1 onwards); combined, they give 144 distinct names.
_FIRST_NAMES = (
    "Sam",
    "Priya",
    "Jordan",
    "Mei",
    "Tomas",
    "Amara",
    "Lukas",
    "Noor",
    "Kenji",
    "Zoe",
    "Mateo",
    "Ines",
)
_LAST_NAMES = (
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Haddad",
    "Novak",
    "Singh",
    "Brennan",
    "Costa",
    "Keller",
    "Abadi",
    "Walsh",
)

# Relative cost of one minute in each heart-rate zone (zone 0 … zone 5) for strain.
_ZONE_LOAD = (0.1, 0.4, 0.9, 1.7, 2.7, 3.9)
_ZONE_NAMES = (
    "zone_zero_milli",
    "zone_one_milli",
    "zone_two_milli",
    "zone_three_milli",
    "zone_four_milli",
    "zone_five_milli",
)
# Typical heart rate in each zone, as a fraction of max heart rate.
_ZONE_HR = (0.45, 0.55, 0.65, 0.75, 0.85, 0.93)


@dataclass(frozen=True)
class PlantedEffects:
    """Known effects planted in the generated physiology, so an analysis can be checked against them.

    ``alcohol_recovery`` points are added to the recovery of the day AFTER a day answered yes to
    "Have any alcoholic drinks?" (after the logistic, then clamped to 1..99), that day's HRV is
    multiplied by ``1 + alcohol_hrv_pct / 100`` and ``alcohol_rhr_bpm`` is added to its resting heart
    rate. The three shifts are applied to the model's outputs, so none of them leaks into the others.
    ``alcohol_probability`` is the share of days with alcohol.

    ``weekday_effects=False`` makes recovery, HRV and resting heart rate independent of the weekday
    by removing every term that depends on it:

    - the later bedtime (+55 min) on Friday and Saturday nights;
    - the longer sleep (+30 min) on those nights;
    - the weekend-night HRV penalty (-0.07 on log HRV, which also moves RHR and recovery);
    - the previous day's strain, whose workouts follow the weekday plan (Saturday long sessions):
      it no longer raises the night's sleep need and deep sleep nor lowers HRV. The plan stays,
      so workouts and strain still vary by weekday, but they do not move the next recovery;
    - alcohol, which is then as likely on any day (with weekday effects it is likelier on Friday
      and Saturday).

    With any ``PlantedEffects`` the workouts and naps draw from their own random streams, so a
    weekday-shaped workout plan cannot even shift the random numbers the physiology uses.

    Raises:
        ValueError: a value outside its range.
    """

    alcohol_recovery: float = -12.0
    alcohol_hrv_pct: float = -10.0
    alcohol_rhr_bpm: float = 2.0
    weekday_effects: bool = False
    alcohol_probability: float = 0.2

    def __post_init__(self) -> None:
        if not -98 <= self.alcohol_recovery <= 98:
            raise ValueError("alcohol_recovery must be between -98 and 98 points")
        if not -90 <= self.alcohol_hrv_pct <= 200:
            raise ValueError("alcohol_hrv_pct must be between -90 and 200 percent")
        if not -20 <= self.alcohol_rhr_bpm <= 20:
            raise ValueError("alcohol_rhr_bpm must be between -20 and 20 bpm")
        if not 0 <= self.alcohol_probability <= 1:
            raise ValueError("alcohol_probability must be between 0 and 1")


def alcohol_chance(weekday: int, probability: float, weekday_effects: bool) -> float:
    """The chance of alcohol on a day: ``probability`` on average, concentrated on Fri/Sat if asked."""
    if not weekday_effects:
        return probability
    weekend = min(0.95, 2.5 * probability)
    # The other five days share what is left, so the weekly mean stays ``probability``.
    return weekend if weekday in (4, 5) else max(0.0, (7 * probability - 2 * weekend) / 5)


def person_seed(seed: int, person: int) -> int:
    """The seed of simulated ``person``: the base seed for person 0, else one derived from both."""
    if person == 0:
        return seed
    # A str seed goes through SHA-512, so the derived seed is the same in every process (unlike hash()).
    return random.Random(f"{seed}:person:{person}").getrandbits(63)


def person_profile(person: int) -> Record:
    """The WHOOP profile of simulated ``person`` (person 0 is Alex Rivera)."""
    if person == 0:
        return dict(PROFILE)
    i = person - 1
    first = _FIRST_NAMES[i % len(_FIRST_NAMES)]
    last = _LAST_NAMES[(i + i // len(_FIRST_NAMES)) % len(_LAST_NAMES)]
    return {
        "user_id": USER_ID + person,
        "email": f"person{person}@example.com",
        "first_name": first,
        "last_name": last,
    }


def person_body(seed: int, person: int) -> Record:
    """The body measurements of simulated ``person`` (deterministic per base seed and person)."""
    if person == 0:
        return dict(BODY)
    rng = random.Random(f"{seed}:body:{person}")
    height = round(rng.uniform(1.58, 1.96), 2)
    weight = round(rng.uniform(20.0, 27.0) * height * height, 1)
    return {"height_meter": height, "weight_kilogram": weight, "max_heart_rate": rng.randrange(176, 204)}


@dataclass(frozen=True)
class Sport:
    """How one WHOOP sport is typically performed by our athlete."""

    name: str
    sport_id: int
    minutes: tuple[int, int]
    zones: tuple[float, ...]
    speed_mps: float | None = None  # None: no GPS distance for this sport
    climb_per_km: tuple[float, float] = (0.0, 0.0)


SPORTS: dict[str, Sport] = {
    s.name: s
    for s in (
        Sport("running", 0, (30, 65), (0.02, 0.06, 0.22, 0.40, 0.25, 0.05), 2.9, (4.0, 14.0)),
        Sport("cycling", 1, (45, 90), (0.03, 0.10, 0.35, 0.35, 0.14, 0.03), 7.4, (5.0, 12.0)),
        Sport("weightlifting", 45, (45, 75), (0.15, 0.40, 0.30, 0.12, 0.03, 0.0)),
        Sport("functional-fitness", 48, (35, 60), (0.05, 0.15, 0.25, 0.30, 0.20, 0.05)),
        Sport("yoga", 44, (45, 75), (0.45, 0.45, 0.10, 0.0, 0.0, 0.0)),
        Sport("walking", 63, (30, 70), (0.35, 0.50, 0.15, 0.0, 0.0, 0.0), 1.4, (1.0, 6.0)),
    )
}
# weekday -> (sport, slot, probability); a long session on Saturdays.
_PLAN: dict[int, tuple[str, str, float]] = {
    0: ("weightlifting", "evening", 0.9),
    1: ("running", "morning", 0.9),
    2: ("yoga", "evening", 0.6),
    3: ("cycling", "evening", 0.85),
    4: ("functional-fitness", "evening", 0.8),
    5: ("running", "morning", 0.9),
    6: ("walking", "morning", 0.5),
}


def iso(dt: datetime) -> str:
    """Format like WHOOP: UTC, millisecond precision, ``Z`` suffix."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def offset_str(offset: timedelta) -> str:
    """Format a UTC offset as WHOOP's ``timezone_offset`` (``-05:00``)."""
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def epoch_ms(dt: datetime) -> int:
    """Milliseconds since the epoch."""
    return int(dt.timestamp() * 1000)


def encode_token(start_ms: int, record_id: str) -> str:
    """An opaque pagination token pointing at the first record of the next page."""
    raw = f"{start_ms}:{record_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_token(token: str) -> tuple[int, str] | None:
    """The (start_ms, record id) inside a token, or None if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        start, _, record_id = raw.partition(":")
        return int(start), record_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


@dataclass
class Collection:
    """One collection endpoint's records, newest first, with their sort keys."""

    records: list[Record] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)  # epoch ms of each record's start, descending
    ids: list[str] = field(default_factory=list)
    _position: dict[str, int] = field(default_factory=dict)
    # Sort keys of removed records: a token pointing at one must still resume at the right place.
    _removed: dict[str, int] = field(default_factory=dict)

    def add(self, record: Record, start: datetime, record_id: object) -> None:
        """Append a record (callers add oldest first and call ``finish``)."""
        self.records.append(record)
        self.starts.append(epoch_ms(start))
        self.ids.append(str(record_id))

    def finish(self) -> None:
        """Reverse into newest-first order and index positions."""
        order = sorted(range(len(self.records)), key=lambda i: (self.starts[i], self.ids[i]), reverse=True)
        self.records = [self.records[i] for i in order]
        self.starts = [self.starts[i] for i in order]
        self.ids = [self.ids[i] for i in order]
        self._position = {rid: i for i, rid in enumerate(self.ids)}

    def remove(self, record_id: object) -> Record | None:
        """Take a record out (the rest keep their order); returns it, or None if it was not here."""
        key = str(record_id)
        pos = self._position.get(key)
        if pos is None:
            return None
        record = self.records.pop(pos)
        self._removed[key] = self.starts.pop(pos)
        self.ids.pop(pos)
        self._position = {rid: i for i, rid in enumerate(self.ids)}
        return record

    def _resume_at(self, token: tuple[int, str]) -> int | None:
        pos = self._position.get(token[1])
        if pos is not None:
            return pos if self.starts[pos] == token[0] else None
        if self._removed.get(token[1]) != token[0]:
            return None
        # The record the token named was deleted: resume at the next one in newest-first order.
        key = (token[0], token[1])
        for i, item in enumerate(zip(self.starts, self.ids, strict=True)):
            if item < key:
                return i
        return len(self.records)

    def page(
        self, *, start_ms: int | None, end_ms: int | None, limit: int, token: tuple[int, str] | None
    ) -> tuple[list[Record], str | None] | None:
        """One page: records with start_ms <= start < end_ms, newest first; None if the token is stale."""
        first = 0
        if token is not None:
            pos = self._resume_at(token)
            if pos is None:
                return None
            first = pos
        out: list[Record] = []
        for i in range(first, len(self.records)):
            start = self.starts[i]
            if end_ms is not None and start >= end_ms:
                continue
            if start_ms is not None and start < start_ms:
                break  # newest first: everything after is older still
            if len(out) == limit:
                return out, encode_token(start, self.ids[i])
            out.append(self.records[i])
        return out, None


class FakeDataset:
    """The generated records plus the look-ups the API needs."""

    def __init__(
        self,
        now: datetime,
        effects: PlantedEffects | None = None,
        profile: Record | None = None,
        body: Record | None = None,
    ) -> None:
        self.now = now
        # The planted truth: what was planted (None: nothing) and the cycles whose recovery carries it.
        self.effects = effects
        self.affected_cycles: set[int] = set()
        # cycle id -> {journal question -> answered yes}, the behaviour of that cycle's day.
        self.journal: dict[int, dict[str, bool]] = {}
        self.profile: Record = dict(PROFILE if profile is None else profile)
        self.body: Record = dict(BODY if body is None else body)
        self.cycle_collection = Collection()
        self.sleep_collection = Collection()
        self.recovery_collection = Collection()
        self.workout_collection = Collection()
        self._cycles: dict[int, Record] = {}
        self._sleeps: dict[str, Record] = {}
        self._workouts: dict[str, Record] = {}
        self._recovery_by_cycle: dict[int, Record] = {}
        self._main_sleep_by_cycle: dict[int, Record] = {}
        self._v1_activity: dict[int, str] = {}
        # (kind, id) -> the score WHOOP would give a record that is not SCORED yet (or any more).
        self.hidden_scores: dict[tuple[str, str], Record] = {}

    @property
    def cycles(self) -> list[Record]:
        """All cycles, newest first (the first one is the open current cycle)."""
        return self.cycle_collection.records

    @property
    def sleeps(self) -> list[Record]:
        """All sleeps including naps, newest first."""
        return self.sleep_collection.records

    @property
    def recoveries(self) -> list[Record]:
        """All recoveries, newest first (ordered by their cycle's start)."""
        return self.recovery_collection.records

    @property
    def workouts(self) -> list[Record]:
        """All workouts, newest first."""
        return self.workout_collection.records

    def cycle(self, cycle_id: int) -> Record | None:
        """The cycle with this id."""
        return self._cycles.get(cycle_id)

    def sleep(self, sleep_id: uuid.UUID) -> Record | None:
        """The sleep (or nap) with this id."""
        return self._sleeps.get(str(sleep_id))

    def workout(self, workout_id: uuid.UUID) -> Record | None:
        """The workout with this id."""
        return self._workouts.get(str(workout_id))

    def recovery_for_cycle(self, cycle_id: int) -> Record | None:
        """The recovery of a cycle."""
        return self._recovery_by_cycle.get(cycle_id)

    def sleep_for_cycle(self, cycle_id: int) -> Record | None:
        """The main sleep that opened a cycle."""
        return self._main_sleep_by_cycle.get(cycle_id)

    def v2_activity_id(self, v1_id: int) -> str | None:
        """The UUID of the sleep or workout that had this v1 id."""
        return self._v1_activity.get(v1_id)

    def v1_activity_ids(self) -> dict[int, str]:
        """Every v1 id -> v2 UUID mapping (for tests)."""
        return dict(self._v1_activity)

    def remove_cycle(self, cycle_id: int) -> Record | None:
        """Delete a cycle from the collection and the by-id look-ups; returns it, or None if unknown."""
        record = self._cycles.pop(cycle_id, None)
        if record is not None:
            self.cycle_collection.remove(cycle_id)
            self._main_sleep_by_cycle.pop(cycle_id, None)
        return record

    def remove_recovery(self, cycle_id: int) -> Record | None:
        """Delete the recovery of a cycle; returns it, or None if the cycle has none."""
        record = self._recovery_by_cycle.pop(cycle_id, None)
        if record is not None:
            self.recovery_collection.remove(cycle_id)
            self.hidden_scores.pop(("recovery", str(cycle_id)), None)
        return record

    def remove_sleep(self, sleep_id: str) -> Record | None:
        """Delete a sleep or nap (and its v1 mapping); returns it, or None if unknown."""
        record = self._sleeps.pop(sleep_id, None)
        if record is not None:
            self.sleep_collection.remove(sleep_id)
            if self._main_sleep_by_cycle.get(record["cycle_id"]) is record:
                del self._main_sleep_by_cycle[record["cycle_id"]]
            self._forget_activity(sleep_id, "sleep")
        return record

    def remove_workout(self, workout_id: str) -> Record | None:
        """Delete a workout (and its v1 mapping); returns it, or None if unknown."""
        record = self._workouts.pop(workout_id, None)
        if record is not None:
            self.workout_collection.remove(workout_id)
            self._forget_activity(workout_id, "workout")
        return record

    def _forget_activity(self, activity_id: str, kind: str) -> None:
        self.hidden_scores.pop((kind, activity_id), None)
        for v1_id in [v1 for v1, v2 in self._v1_activity.items() if v2 == activity_id]:
            del self._v1_activity[v1_id]


@dataclass
class _Night:
    onset: datetime
    bed_minutes: float  # local bedtime in minutes after midnight of the previous day
    offset: timedelta
    day: date  # the local date this night's wake-up belongs to


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


class _Generator:
    def __init__(
        self,
        seed: int,
        days: int,
        now: datetime,
        effects: PlantedEffects | None = None,
        person: int = 0,
        max_heart_rate: int = MAX_HEART_RATE,
    ) -> None:
        base_seed, seed = seed, person_seed(seed, person)
        self.rng = random.Random(seed)
        self.user_id = USER_ID + person
        self.id_offset = person * PERSON_ID_STRIDE
        self.body = person_body(base_seed, person)
        # The workouts' heart rates follow the person's own maximum (192 for person 0, as always).
        self.max_heart_rate = int(self.body["max_heart_rate"]) if person else max_heart_rate
        # Without effects every stream is the one generator, consumed in its historical order, so the
        # records stay byte-identical to what this generator has always produced.
        self.activity_rng = self.rng if effects is None else random.Random(seed ^ _ACTIVITY_SALT)
        self.nap_rng = self.rng if effects is None else random.Random(seed ^ _NAP_SALT)
        self.journal_rng = random.Random(seed ^ _JOURNAL_SALT)
        self.effects = effects
        self.weekday_terms = effects is None or effects.weekday_effects
        self.days = max(2, days)
        self.now = now
        self.data = FakeDataset(now, effects, person_profile(person), self.body)
        self.today = (now + HOME_OFFSET).date()
        d = self.days
        self.travel = {
            self.today - timedelta(days=ago) for ago in range(round(d * 0.38) - 6, round(d * 0.38) + 1)
        }
        self.sick = {self.today - timedelta(days=round(d * 0.6) - i) for i in range(3)}
        self.unscorable_sleep = {self.today - timedelta(days=max(2, round(d * f))) for f in (0.23, 0.7)}
        self.unscorable_cycle = self.today - timedelta(days=max(3, round(d * 0.5)))
        self.unscorable_workout = self.today - timedelta(days=max(2, round(d * 0.12)))
        self.no_spo2 = {self.today - timedelta(days=max(2, round(d * f))) for f in (0.08, 0.43)}

    def uuid(self, rng: random.Random) -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def journal_answers(self, day: date) -> dict[str, bool]:
        rng = self.journal_rng
        effects = self.effects
        answers = {}
        for question, probability in JOURNAL_QUESTIONS:
            if question == ALCOHOL_QUESTION:
                base = effects.alcohol_probability if effects is not None else probability
                probability = alcohol_chance(day.weekday(), base, self.weekday_terms)
            answers[question] = rng.random() < probability
        return answers

    def offset_for(self, day: date) -> timedelta:
        return TRAVEL_OFFSET if day in self.travel else HOME_OFFSET

    def plan_nights(self) -> list[_Night]:
        nights = []
        first = self.today - timedelta(days=self.days - 1)
        for k in range(self.days):
            day = first + timedelta(days=k)
            eve = day - timedelta(days=1)
            weekend_night = eve.weekday() in (4, 5) and self.weekday_terms
            bed = 22 * 60 + 45 + (55 if weekend_night else 0) + self.rng.gauss(0, 22)
            offset = self.offset_for(day)
            local = datetime.combine(eve, time(0), tzinfo=UTC) + timedelta(
                minutes=bed, milliseconds=self.rng.randrange(60_000)
            )
            nights.append(_Night(onset=local - offset, bed_minutes=bed, offset=offset, day=day))
        return nights

    def generate(self) -> FakeDataset:
        rng = self.rng
        nights = self.plan_nights()
        answers = [self.journal_answers(night.day) for night in nights]
        effects = self.effects
        cycle_id = self.id_offset + 1_100_000_000 + rng.randrange(50_000_000)
        self.sleep_v1 = self.id_offset + 2_400_000_000 + rng.randrange(50_000_000)
        workout_v1 = self.id_offset + 3_700_000_000 + rng.randrange(50_000_000)
        n = len(nights)
        hrv_ar = 0.0
        prev_strain = 8.0
        debt_ms = 0.0
        prev_nap_ms = 0
        bedtimes: list[float] = []
        latest_workout: Record | None = None
        for k, night in enumerate(nights):
            day = night.day
            frac = k / max(1, n - 1)
            sick = day in self.sick
            jetlag = day in self.travel and (day - timedelta(days=2)) not in self.travel
            weekend_night = (day - timedelta(days=1)).weekday() in (4, 5) and self.weekday_terms
            # The strain that shapes tonight: the weekday plan's, or a neutral day without weekday terms.
            load_strain = prev_strain if self.weekday_terms else 8.0
            after_alcohol = effects is not None and k > 0 and answers[k - 1][ALCOHOL_QUESTION]

            # --- the night that opens this cycle -------------------------------------------------
            need_base = 26_400_000  # 7 h 20 min
            need_debt = int(_clamp(debt_ms * 0.3, 0, 3_600_000))
            need_strain = int(max(0.0, load_strain - 8.0) * 3.5 * 60_000)
            need_nap = -int(prev_nap_ms * 0.9)
            need = need_base + need_debt + need_strain + need_nap
            efficiency = _clamp(rng.gauss(0.905, 0.025) - (0.05 if jetlag else 0.0), 0.75, 0.97)
            target_asleep = need * rng.uniform(0.8, 1.02)
            if weekend_night:
                target_asleep += 30 * 60_000
            if jetlag:
                target_asleep -= 60 * 60_000
            if sick:
                target_asleep += 40 * 60_000
            if rng.random() < 0.05:
                target_asleep -= 90 * 60_000
            in_bed = int(_clamp(target_asleep / efficiency, 4.5 * 3_600_000, 10 * 3_600_000))
            onset = night.onset
            wake = onset + timedelta(milliseconds=in_bed)
            if wake > self.now:
                break  # still asleep: WHOOP only shows a sleep once it has ended
            tz = offset_str(night.offset)
            no_data = int(rng.uniform(2, 20) * 60_000) if rng.random() < 0.04 else 0
            awake = int((in_bed - no_data) * (1 - efficiency))
            asleep = in_bed - no_data - awake
            sws = int(asleep * (rng.uniform(0.17, 0.22) + 0.002 * max(0.0, load_strain - 10)))
            rem = int(asleep * rng.uniform(0.19, 0.26))
            light = asleep - sws - rem
            performance = _clamp(asleep / need * 100, 0, 100)
            recent = bedtimes[-4:]
            deviation = abs(night.bed_minutes - sum(recent) / len(recent)) if recent else 10.0
            consistency = _clamp(round(97 - deviation * 0.55 + rng.gauss(0, 2)), 30, 99)
            bedtimes.append(night.bed_minutes)
            debt_ms = _clamp(0.6 * debt_ms + (need - asleep), 0, 3 * 3_600_000)

            sleep_id = self.uuid(rng)
            self.sleep_v1 += rng.randrange(3, 40)
            sleep_v1 = self.sleep_v1
            sleep_created = min(self.now, wake + timedelta(minutes=rng.uniform(1, 10)))
            pending_sleep = self.now - wake < PENDING_WINDOW
            sleep_state = (
                "PENDING_SCORE"
                if pending_sleep
                else "UNSCORABLE"
                if day in self.unscorable_sleep
                else "SCORED"
            )
            sleep: Record = {
                "id": sleep_id,
                "cycle_id": cycle_id,
                "user_id": self.user_id,
                "created_at": iso(sleep_created),
                "updated_at": iso(min(self.now, sleep_created + timedelta(minutes=rng.uniform(0.5, 30)))),
                "start": iso(onset),
                "end": iso(wake),
                "timezone_offset": tz,
                "nap": False,
                "score_state": sleep_state,
            }
            if onset < V1_CUTOFF:
                sleep = {"id": sleep_id, "cycle_id": cycle_id, "v1_id": sleep_v1} | sleep
            if sleep_state == "SCORED":
                score: Record = {
                    "stage_summary": {
                        "total_in_bed_time_milli": in_bed,
                        "total_awake_time_milli": awake,
                        "total_no_data_time_milli": no_data,
                        "total_light_sleep_time_milli": light,
                        "total_slow_wave_sleep_time_milli": sws,
                        "total_rem_sleep_time_milli": rem,
                        "sleep_cycle_count": max(1, round(asleep / 5_400_000)),
                        "disturbance_count": int(_clamp(rng.gauss(10, 4), 1, 30)),
                    },
                    "sleep_needed": {
                        "baseline_milli": need_base,
                        "need_from_sleep_debt_milli": need_debt,
                        "need_from_recent_strain_milli": need_strain,
                        "need_from_recent_nap_milli": need_nap,
                    },
                    "respiratory_rate": round(rng.gauss(15.2, 0.3) + (1.5 if sick else 0.0), 8),
                }
                # "May not be reported if WHOOP does not have enough data ... to calculate Sleep Need."
                if k >= 2:
                    score["sleep_performance_percentage"] = float(round(performance))
                    score["sleep_consistency_percentage"] = float(consistency)
                score["sleep_efficiency_percentage"] = round(asleep / in_bed * 100, 8)
                sleep["score"] = score
            self.data.sleep_collection.add(sleep, onset, sleep_id)
            self.data._sleeps[sleep_id] = sleep
            self.data._main_sleep_by_cycle[cycle_id] = sleep
            if onset < V1_CUTOFF:
                self.data._v1_activity[sleep_v1] = sleep_id

            # --- recovery from that sleep ----------------------------------------------------------
            hrv_base = 58.0 * (1 + 0.08 * frac)
            rhr_base = 55.0 - 2.0 * frac
            hrv_ar = 0.45 * hrv_ar + rng.gauss(0, 0.11)
            ln_dev = (
                hrv_ar
                + 0.006 * (performance - 85)
                - 0.012 * max(0.0, load_strain - 12)
                - (0.30 if sick else 0.0)
                - (0.15 if jetlag else 0.0)
                - (0.07 if weekend_night else 0.0)
            )
            hrv = hrv_base * math.exp(ln_dev)
            rhr = round(rhr_base - 9 * ln_dev + rng.gauss(0, 1.0) + (5 if sick else 0) + (2 if jetlag else 0))
            x = 0.75 * ln_dev / 0.12 + 0.25 * (rhr_base - rhr) / 2.5 + 0.035 * (performance - 85)
            x += rng.gauss(0, 0.15)
            recovery_value = 100 / (1 + math.exp(-(x + 0.55)))
            if after_alcohol:
                assert effects is not None  # after_alcohol implies planted effects
                recovery_value += effects.alcohol_recovery
                hrv *= 1 + effects.alcohol_hrv_pct / 100
                rhr = round(rhr + effects.alcohol_rhr_bpm)
                self.data.affected_cycles.add(cycle_id)
            recovery_score = float(round(_clamp(recovery_value, 1, 99)))
            recovery_created = min(self.now, sleep_created + timedelta(minutes=rng.uniform(0.5, 5)))
            recovery: Record = {
                "cycle_id": cycle_id,
                "sleep_id": sleep_id,
                "user_id": self.user_id,
                "created_at": iso(recovery_created),
                "updated_at": iso(min(self.now, recovery_created + timedelta(minutes=rng.uniform(0.2, 20)))),
                "score_state": sleep_state,
            }
            spo2 = round(rng.uniform(95.0, 98.4) - (1.2 if sick else 0.0), 4)
            skin = round(33.4 + rng.gauss(0, 0.25) + (0.9 if sick else 0.0), 2)
            rscore: Record = {
                "user_calibrating": k < CALIBRATION_NIGHTS,
                "recovery_score": recovery_score,
                "resting_heart_rate": float(rhr),
                "hrv_rmssd_milli": round(hrv, 6),
            }
            if day not in self.no_spo2:
                rscore["spo2_percentage"] = spo2
                rscore["skin_temp_celsius"] = skin
            if sleep_state == "SCORED":
                recovery["score"] = rscore
            else:
                self.data.hidden_scores["recovery", str(cycle_id)] = rscore
            self.data.recovery_collection.add(recovery, onset, cycle_id)
            self.data._recovery_by_cycle[cycle_id] = recovery

            # --- the waking day: workouts and naps -----------------------------------------------
            cycle_end = nights[k + 1].onset if k + 1 < n else None
            latest_ok = min(cycle_end - timedelta(hours=1), self.now) if cycle_end else self.now
            local_midnight = datetime.combine(day, time(0), tzinfo=UTC) - night.offset
            unscorable_day = day == self.unscorable_cycle
            sessions = [] if unscorable_day or sick else self.plan_sessions(day, recovery_score)
            neat_load = _clamp(rng.gauss(45, 10), 20, 80)  # everyday movement outside workouts
            steps = neat_load * 140 + rng.gauss(0, 800)
            if cycle_end is None:  # the open cycle only has the part of the day lived so far
                awake_fraction = _clamp((self.now - wake).total_seconds() / 57_600, 0.05, 1.0)
                neat_load *= awake_fraction
                steps *= awake_fraction
            workout_load = 0.0
            kilojoule = 0.0
            max_hr = int(rng.gauss(128, 8))
            day_workouts: list[Record] = []
            for sport_name, slot in sessions:
                sport = SPORTS[sport_name]
                long_session = day.weekday() == 5 and sport_name in ("running", "cycling")
                lo, hi = sport.minutes
                if long_session:
                    lo, hi = (75, 110) if sport_name == "running" else (100, 180)
                minutes = self.activity_rng.uniform(lo, hi)
                if slot == "morning":
                    start = wake + timedelta(minutes=self.activity_rng.uniform(30, 75))
                else:
                    start = local_midnight + timedelta(hours=18, minutes=self.activity_rng.gauss(0, 25))
                end = start + timedelta(minutes=minutes)
                if start <= wake or end > latest_ok:
                    continue
                workout_v1 += self.activity_rng.randrange(5, 80)
                record, load, kj = self.workout(
                    sport, start, end, tz, recovery_score, workout_v1, day == self.unscorable_workout
                )
                if record["score_state"] == "SCORED":
                    max_hr = max(max_hr, record["score"]["max_heart_rate"])
                    if sport.speed_mps is not None:
                        steps += record["score"]["distance_meter"] * (
                            0.95 if sport_name != "walking" else 1.3
                        )
                workout_load += load
                kilojoule += kj
                day_workouts.append(record)
            for record in day_workouts:
                self.data.workout_collection.add(
                    record, datetime.fromisoformat(record["start"]), record["id"]
                )
                self.data._workouts[record["id"]] = record
                if "v1_id" in record:
                    self.data._v1_activity[record["v1_id"]] = record["id"]
                latest_workout = record

            prev_nap_ms = 0
            nap_rng = self.nap_rng
            if not unscorable_day and nap_rng.random() < (0.2 if performance < 70 else 0.07):
                nap_start = local_midnight + timedelta(hours=14, minutes=nap_rng.uniform(0, 90))
                nap_end = nap_start + timedelta(minutes=nap_rng.uniform(20, 75))
                if wake < nap_start and nap_end <= latest_ok:
                    prev_nap_ms = self.nap(nap_start, nap_end, tz, cycle_id)

            # --- the cycle itself ------------------------------------------------------------------
            hours = ((cycle_end or self.now) - onset).total_seconds() / 3600
            strain = 21 * (1 - math.exp(-(neat_load + workout_load) / 120))
            kilojoule += 7300 * hours / 24 + neat_load * 25
            cycle_created = min(self.now, wake + timedelta(minutes=rng.uniform(2, 15)))
            if cycle_end is not None:
                updated = min(self.now, cycle_end + timedelta(minutes=rng.uniform(20, 90)))
            else:
                updated = max(cycle_created, self.now - timedelta(minutes=rng.uniform(1, 10)))
            cycle: Record = {
                "id": cycle_id,
                "user_id": self.user_id,
                "created_at": iso(cycle_created),
                "updated_at": iso(updated),
                "start": iso(onset),
            }
            if cycle_end is not None:
                cycle["end"] = iso(cycle_end)
            cycle["timezone_offset"] = tz
            if unscorable_day:
                cycle["score_state"] = "UNSCORABLE"
                cycle["step_count"] = None
            else:
                cycle["score_state"] = "SCORED"
                cycle["score"] = {
                    "strain": round(strain, 7),
                    "kilojoule": round(kilojoule, 3),
                    "average_heart_rate": int(58 + 0.9 * strain + rng.gauss(0, 2)),
                    "max_heart_rate": max_hr,
                }
                cycle["step_count"] = max(300, int(steps))
            self.data.cycle_collection.add(cycle, onset, cycle_id)
            self.data._cycles[cycle_id] = cycle
            self.data.journal[cycle_id] = answers[k]
            prev_strain = strain if not unscorable_day else 8.0
            cycle_id += rng.randrange(1_000, 40_000)

        cycles = self.data.cycle_collection.records
        if cycles and "end" in cycles[-1]:
            # The night after the last cycle is still in progress: that cycle is the open one.
            last = cycles[-1]
            del last["end"]
            last["updated_at"] = iso(
                max(datetime.fromisoformat(last["created_at"]), self.now - timedelta(minutes=3))
            )
        if latest_workout is not None:
            # WHOOP scores workouts asynchronously; the newest one is still being scored.
            latest_workout["score_state"] = "PENDING_SCORE"
            pending_score = latest_workout.pop("score", None)
            if pending_score is not None:
                self.data.hidden_scores["workout", latest_workout["id"]] = pending_score
        for collection in (
            self.data.cycle_collection,
            self.data.sleep_collection,
            self.data.recovery_collection,
            self.data.workout_collection,
        ):
            collection.finish()
        return self.data

    def plan_sessions(self, day: date, recovery: float) -> list[tuple[str, str]]:
        rng = self.activity_rng
        if day in self.travel:
            return [("running", "morning")] if rng.random() < 0.6 else [("walking", "evening")]
        sport, slot, probability = _PLAN[day.weekday()]
        if day.weekday() == 5 and rng.random() < 0.4:
            sport = "cycling"
        if recovery < 34:
            probability *= 0.5
        sessions = []
        forced = day == self.unscorable_workout
        if forced or rng.random() < probability:
            sessions.append((sport, slot))
        if rng.random() < 0.12:
            sessions.append(("walking", "morning") if slot == "evening" else ("yoga", "evening"))
        return sessions

    def workout(
        self,
        sport: Sport,
        start: datetime,
        end: datetime,
        tz: str,
        recovery: float,
        v1_id: int,
        unscorable: bool,
    ) -> tuple[Record, float, float]:
        rng = self.activity_rng
        workout_id = self.uuid(rng)
        duration_ms = epoch_ms(end) - epoch_ms(start)
        intensity = _clamp(0.85 + 0.3 * recovery / 100 + rng.gauss(0, 0.08), 0.7, 1.25)
        weights = [w * intensity ** (i - 1.5) * rng.uniform(0.8, 1.2) for i, w in enumerate(sport.zones)]
        total = sum(weights)
        zones = [int(duration_ms * w / total) for w in weights]
        zones[max(range(6), key=lambda i: zones[i])] += duration_ms - sum(zones)
        minutes = [z / 60_000 for z in zones]
        load = sum(m * c for m, c in zip(minutes, _ZONE_LOAD, strict=True))
        avg_fraction = sum(z * f for z, f in zip(zones, _ZONE_HR, strict=True)) / duration_ms
        top_hr = self.max_heart_rate
        avg_hr = round(top_hr * avg_fraction + rng.gauss(0, 2))
        top = max(i for i in range(6) if zones[i] > 0.01 * duration_ms)
        max_hr = min(top_hr, round(top_hr * (0.4 + 0.1 * top + rng.uniform(0.03, 0.09))))
        max_hr = max(max_hr, avg_hr + 5)
        kj = duration_ms / 60_000 * (6 + 0.45 * (avg_hr - 70))
        created = min(self.now, end + timedelta(minutes=rng.uniform(1, 20)))
        record: Record = {"id": workout_id}
        if start < V1_CUTOFF:
            record["v1_id"] = v1_id
        record |= {
            "user_id": self.user_id,
            "created_at": iso(created),
            "updated_at": iso(min(self.now, created + timedelta(minutes=rng.uniform(0.5, 30)))),
            "start": iso(start),
            "end": iso(end),
            "timezone_offset": tz,
            "sport_name": sport.name,
            "score_state": "UNSCORABLE" if unscorable else "SCORED",
        }
        score: Record = {
            "strain": round(21 * (1 - math.exp(-load / 90)), 4),
            "average_heart_rate": avg_hr,
            "max_heart_rate": max_hr,
            "kilojoule": round(kj, 6),
            "percent_recorded": 100.0,
        }
        if sport.speed_mps is not None:
            speed = sport.speed_mps * math.sqrt(intensity) * rng.uniform(0.92, 1.08)
            distance = speed * duration_ms / 1000
            score["distance_meter"] = round(distance, 6)
            score["altitude_gain_meter"] = round(distance / 1000 * rng.uniform(*sport.climb_per_km), 6)
            score["altitude_change_meter"] = round(rng.uniform(-5, 5), 6)
        score["zone_durations"] = dict(zip(_ZONE_NAMES, zones, strict=True))
        if not unscorable:
            record["score"] = score
        else:
            self.data.hidden_scores["workout", workout_id] = score
        if start < V1_CUTOFF:
            record["sport_id"] = sport.sport_id
        return record, (load if not unscorable else 0.0), (kj if not unscorable else 0.0)

    def nap(self, start: datetime, end: datetime, tz: str, cycle_id: int) -> int:
        rng = self.nap_rng
        nap_id = self.uuid(rng)
        in_bed = epoch_ms(end) - epoch_ms(start)
        awake = int(in_bed * rng.uniform(0.08, 0.2))
        asleep = in_bed - awake
        rem = int(asleep * rng.uniform(0.0, 0.1))
        sws = int(asleep * rng.uniform(0.05, 0.2))
        created = min(self.now, end + timedelta(minutes=rng.uniform(1, 10)))
        self.sleep_v1 += rng.randrange(3, 40)
        record: Record = {"id": nap_id, "cycle_id": cycle_id}
        if start < V1_CUTOFF:
            record["v1_id"] = self.sleep_v1
            self.data._v1_activity[self.sleep_v1] = nap_id
        record |= {
            "user_id": self.user_id,
            "created_at": iso(created),
            "updated_at": iso(min(self.now, created + timedelta(minutes=rng.uniform(0.5, 10)))),
            "start": iso(start),
            "end": iso(end),
            "timezone_offset": tz,
            "nap": True,
            "score_state": "SCORED",
            "score": {
                "stage_summary": {
                    "total_in_bed_time_milli": in_bed,
                    "total_awake_time_milli": awake,
                    "total_no_data_time_milli": 0,
                    "total_light_sleep_time_milli": asleep - rem - sws,
                    "total_slow_wave_sleep_time_milli": sws,
                    "total_rem_sleep_time_milli": rem,
                    "sleep_cycle_count": 0 if asleep < 5_400_000 else 1,
                    "disturbance_count": rng.randrange(0, 4),
                },
                "sleep_needed": {
                    "baseline_milli": 0,
                    "need_from_sleep_debt_milli": 0,
                    "need_from_recent_strain_milli": 0,
                    "need_from_recent_nap_milli": 0,
                },
                "respiratory_rate": round(rng.gauss(15.0, 0.3), 8),
                "sleep_efficiency_percentage": round(asleep / in_bed * 100, 8),
            },
        }
        self.data.sleep_collection.add(record, start, nap_id)
        self.data._sleeps[nap_id] = record
        return asleep


def synthesize_score(kind: str, record: Record, seed: int, max_heart_rate: int = MAX_HEART_RATE) -> Record:
    """A plausible score for a record that WHOOP never scored (deterministic per record id)."""
    rng = random.Random(f"{seed}:{kind}:{record.get('id', record.get('cycle_id'))}")
    if kind == "recovery":
        return {
            "user_calibrating": False,
            "recovery_score": float(rng.randrange(35, 86)),
            "resting_heart_rate": float(rng.randrange(50, 58)),
            "hrv_rmssd_milli": round(rng.uniform(48, 72), 6),
            "spo2_percentage": round(rng.uniform(95.0, 98.4), 4),
            "skin_temp_celsius": round(rng.gauss(33.4, 0.25), 2),
        }
    start = datetime.fromisoformat(record["start"])
    end = datetime.fromisoformat(record["end"]) if "end" in record else None
    if kind == "workout":
        sport = SPORTS.get(record["sport_name"], SPORTS["functional-fitness"])
        assert end is not None  # workouts always have an end
        generator = _Generator(seed, 2, end, max_heart_rate=max_heart_rate)
        generator.rng = generator.activity_rng = generator.nap_rng = rng
        workout, _, _ = generator.workout(sport, start, end, record["timezone_offset"], 60.0, 0, False)
        score: Record = workout["score"]
        return score
    if kind == "sleep":
        assert end is not None  # sleeps always have an end
        in_bed = epoch_ms(end) - epoch_ms(start)
        awake = int(in_bed * rng.uniform(0.07, 0.12))
        asleep = in_bed - awake
        sws = int(asleep * rng.uniform(0.17, 0.22))
        rem = int(asleep * rng.uniform(0.19, 0.26)) if not record["nap"] else 0
        need = 0 if record["nap"] else 26_400_000
        score = {
            "stage_summary": {
                "total_in_bed_time_milli": in_bed,
                "total_awake_time_milli": awake,
                "total_no_data_time_milli": 0,
                "total_light_sleep_time_milli": asleep - sws - rem,
                "total_slow_wave_sleep_time_milli": sws,
                "total_rem_sleep_time_milli": rem,
                "sleep_cycle_count": round(asleep / 5_400_000),
                "disturbance_count": rng.randrange(1, 15),
            },
            "sleep_needed": {
                "baseline_milli": need,
                "need_from_sleep_debt_milli": 0,
                "need_from_recent_strain_milli": 0,
                "need_from_recent_nap_milli": 0,
            },
            "respiratory_rate": round(rng.gauss(15.2, 0.3), 8),
        }
        if not record["nap"]:
            score["sleep_performance_percentage"] = float(round(_clamp(asleep / need * 100, 0, 100)))
            score["sleep_consistency_percentage"] = float(rng.randrange(70, 95))
        score["sleep_efficiency_percentage"] = round(asleep / in_bed * 100, 8)
        return score
    strain = round(rng.uniform(7, 15), 7)
    hours = ((end or start + timedelta(hours=24)) - start).total_seconds() / 3600
    return {
        "strain": strain,
        "kilojoule": round(7300 * hours / 24 + rng.uniform(1000, 3000), 3),
        "average_heart_rate": int(58 + 0.9 * strain + rng.gauss(0, 2)),
        "max_heart_rate": rng.randrange(140, 178),
    }


def generate_dataset(
    *,
    seed: int = 7,
    days: int = 180,
    now: datetime | None = None,
    effects: PlantedEffects | None = None,
    person: int = 0,
) -> FakeDataset:
    """Generate ``days`` days of data ending at ``now`` (default: the current time).

    ``effects`` plants known effects (see ``PlantedEffects``); without it the API records are exactly
    those this generator has always produced for the same seed, days and now. ``person`` picks the
    simulated person (see the module docstring); person 0 is the historical athlete.

    Raises:
        ValueError: ``person`` is negative.
    """
    if person < 0:
        raise ValueError("person must be >= 0")
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return _Generator(seed, days, now.astimezone(UTC), effects, person).generate()
