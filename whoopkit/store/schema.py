"""The history store's tables, in SQLAlchemy Core, for SQLite (local) and PostgreSQL (hosted).

Every row carries ``user_id``, even locally, so one schema serves one user or many. Times are epoch
milliseconds (UTC) in integer columns: they sort and compare the same on every dialect, with no
timezone surprises. Each collection keeps WHOOP's raw JSON beside the typed, indexed columns, so an
export gives back exactly what WHOOP sent and new columns can be back-filled without a re-sync.

Alembic migrations in ``store/migrations`` create these tables; ``HEAD_REVISION`` names the newest
one, and a test keeps the two in step.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

HEAD_REVISION = "0004"

Collection = Literal["cycles", "recoveries", "sleeps", "workouts"]
COLLECTIONS: tuple[Collection, ...] = ("cycles", "recoveries", "sleeps", "workouts")

metadata = MetaData()


def _common() -> list[Column[object]]:
    return [
        Column("user_id", BigInteger, primary_key=True),
        Column("score_state", String(20), nullable=False),
        Column("created_ms", BigInteger, nullable=False),
        Column("updated_ms", BigInteger, nullable=False),
        Column("raw", Text, nullable=False),
        Column("synced_ms", BigInteger, nullable=False),
    ]


cycles = Table(
    "cycles",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    *_common(),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger),
    Column("timezone_offset", String(6), nullable=False),
    Column("strain", Float),
    Column("kilojoule", Float),
    Column("average_heart_rate", Integer),
    Column("max_heart_rate", Integer),
    Index("ix_cycles_user_start", "user_id", "start_ms"),
)

recoveries = Table(
    "recoveries",
    metadata,
    Column("cycle_id", BigInteger, primary_key=True, autoincrement=False),
    *_common(),
    Column("sleep_id", String(36), nullable=False),
    # When the recovery's sleep began: WHOOP filters /v2/recovery on it. Resolved from the sleep (or
    # the cycle) in the store, since the recovery record itself carries no time of day.
    Column("start_ms", BigInteger, nullable=False),
    Column("recovery_score", Float),
    Column("resting_heart_rate", Float),
    Column("hrv_rmssd_milli", Float),
    Column("spo2_percentage", Float),
    Column("skin_temp_celsius", Float),
    Index("ix_recoveries_user_start", "user_id", "start_ms"),
    Index("ix_recoveries_user_sleep", "user_id", "sleep_id"),
)

sleeps = Table(
    "sleeps",
    metadata,
    Column("id", String(36), primary_key=True),
    *_common(),
    Column("cycle_id", BigInteger, nullable=False),
    Column("nap", Boolean, nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("timezone_offset", String(6), nullable=False),
    Column("sleep_performance_percentage", Float),
    Column("asleep_milli", BigInteger),
    Column("respiratory_rate", Float),
    Index("ix_sleeps_user_start", "user_id", "start_ms"),
)

workouts = Table(
    "workouts",
    metadata,
    Column("id", String(36), primary_key=True),
    *_common(),
    Column("sport_name", String(100), nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("timezone_offset", String(6), nullable=False),
    Column("strain", Float),
    Column("average_heart_rate", Integer),
    Column("max_heart_rate", Integer),
    Column("kilojoule", Float),
    Column("distance_meter", Float),
    Index("ix_workouts_user_start", "user_id", "start_ms"),
)

profiles = Table(
    "profiles",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("email", String(320), nullable=False),
    Column("first_name", String(200), nullable=False),
    Column("last_name", String(200), nullable=False),
    Column("raw", Text, nullable=False),
    Column("synced_ms", BigInteger, nullable=False),
)

body_measurements = Table(
    "body_measurements",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("height_meter", Float, nullable=False),
    Column("weight_kilogram", Float, nullable=False),
    Column("max_heart_rate", Integer, nullable=False),
    Column("raw", Text, nullable=False),
    Column("synced_ms", BigInteger, nullable=False),
)

# One row per user and collection: what has been fetched (merged [lo, hi) intervals in epoch ms, as
# JSON) is the checkpoint a backfill resumes from; ``complete`` means history's beginning was reached.
sync_state = Table(
    "sync_state",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("collection", String(20), primary_key=True),
    Column("intervals", Text, nullable=False),
    Column("complete", Boolean, nullable=False),
    Column("last_success_ms", BigInteger),
    Column("last_attempt_ms", BigInteger),
    Column("last_error", Text),
)

# Every version of a record's score that sync has seen (issue 10: "WHOOP changed Tue 3 Nov recovery from
# 54% to 61%"). ``record_key`` is the record's id as text (a cycle id, a recovery's cycle id, a sleep or
# workout UUID), so one table serves the four collections; ``score`` is the ``score`` object's JSON.
score_versions = Table(
    "score_versions",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(20), primary_key=True),
    Column("record_key", String(36), primary_key=True),
    Column("updated_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("seen_ms", BigInteger, nullable=False),
    Column("score_state", String(20), nullable=False),
    Column("score", Text, nullable=False),
)

# Records read from the WHOOP app's export, v2-shaped, kept apart from the API's copies (which win).
imported_records = Table(
    "imported_records",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(20), primary_key=True),
    Column("start_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("raw", Text, nullable=False),
    Column("source", String(200), nullable=False),
    Column("imported_ms", BigInteger, nullable=False),
)

# The WHOOP journal (only in the app's export): one answer per cycle and question.
journal_entries = Table(
    "journal_entries",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("cycle_start_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("question", String(300), primary_key=True),
    Column("answered_yes", Boolean, nullable=False),
    Column("notes", Text),
    Column("cycle_end_ms", BigInteger),
    Column("timezone_offset", String(6), nullable=False),
    Column("cycle_id", BigInteger),
    Column("imported_ms", BigInteger, nullable=False),
)

# Hosted mode's WHOOP tokens, one row per user (see ``whoopkit.hosted_tokens``). ``blob`` is the
# TokenCipher ciphertext, never plaintext; ``expires_ms`` is kept in clear so "does it need a refresh" is
# a cheap read; ``version`` goes up by one on every write, so a refresh race shows in the row.
user_tokens = Table(
    "user_tokens",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("blob", LargeBinary, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

# Hosted mode's accounts: a user is created (or found) by their WHOOP user id on signing in.
users = Table(
    "users",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("last_sign_in_ms", BigInteger, nullable=False),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

TABLES: dict[Collection, Table] = {
    "cycles": cycles,
    "recoveries": recoveries,
    "sleeps": sleeps,
    "workouts": workouts,
}
