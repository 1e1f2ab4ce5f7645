"""The first schema: one table per collection, profile, body measurements, sync state and meta.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _record_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("user_id", sa.BigInteger, primary_key=True),
        sa.Column("score_state", sa.String(20), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("synced_ms", sa.BigInteger, nullable=False),
    ]


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "cycles",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        *_record_columns(),
        sa.Column("start_ms", sa.BigInteger, nullable=False),
        sa.Column("end_ms", sa.BigInteger),
        sa.Column("timezone_offset", sa.String(6), nullable=False),
        sa.Column("strain", sa.Float),
        sa.Column("kilojoule", sa.Float),
        sa.Column("average_heart_rate", sa.Integer),
        sa.Column("max_heart_rate", sa.Integer),
    )
    op.create_index("ix_cycles_user_start", "cycles", ["user_id", "start_ms"])
    op.create_table(
        "recoveries",
        sa.Column("cycle_id", sa.BigInteger, primary_key=True, autoincrement=False),
        *_record_columns(),
        sa.Column("sleep_id", sa.String(36), nullable=False),
        sa.Column("start_ms", sa.BigInteger, nullable=False),
        sa.Column("recovery_score", sa.Float),
        sa.Column("resting_heart_rate", sa.Float),
        sa.Column("hrv_rmssd_milli", sa.Float),
        sa.Column("spo2_percentage", sa.Float),
        sa.Column("skin_temp_celsius", sa.Float),
    )
    op.create_index("ix_recoveries_user_start", "recoveries", ["user_id", "start_ms"])
    op.create_index("ix_recoveries_user_sleep", "recoveries", ["user_id", "sleep_id"])
    op.create_table(
        "sleeps",
        sa.Column("id", sa.String(36), primary_key=True),
        *_record_columns(),
        sa.Column("cycle_id", sa.BigInteger, nullable=False),
        sa.Column("nap", sa.Boolean, nullable=False),
        sa.Column("start_ms", sa.BigInteger, nullable=False),
        sa.Column("end_ms", sa.BigInteger, nullable=False),
        sa.Column("timezone_offset", sa.String(6), nullable=False),
        sa.Column("sleep_performance_percentage", sa.Float),
        sa.Column("asleep_milli", sa.BigInteger),
        sa.Column("respiratory_rate", sa.Float),
    )
    op.create_index("ix_sleeps_user_start", "sleeps", ["user_id", "start_ms"])
    op.create_table(
        "workouts",
        sa.Column("id", sa.String(36), primary_key=True),
        *_record_columns(),
        sa.Column("sport_name", sa.String(100), nullable=False),
        sa.Column("start_ms", sa.BigInteger, nullable=False),
        sa.Column("end_ms", sa.BigInteger, nullable=False),
        sa.Column("timezone_offset", sa.String(6), nullable=False),
        sa.Column("strain", sa.Float),
        sa.Column("average_heart_rate", sa.Integer),
        sa.Column("max_heart_rate", sa.Integer),
        sa.Column("kilojoule", sa.Float),
        sa.Column("distance_meter", sa.Float),
    )
    op.create_index("ix_workouts_user_start", "workouts", ["user_id", "start_ms"])
    op.create_table(
        "profiles",
        sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("first_name", sa.String(200), nullable=False),
        sa.Column("last_name", sa.String(200), nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("synced_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "body_measurements",
        sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("height_meter", sa.Float, nullable=False),
        sa.Column("weight_kilogram", sa.Float, nullable=False),
        sa.Column("max_heart_rate", sa.Integer, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("synced_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "sync_state",
        sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("collection", sa.String(20), primary_key=True),
        sa.Column("intervals", sa.Text, nullable=False),
        sa.Column("complete", sa.Boolean, nullable=False),
        sa.Column("last_success_ms", sa.BigInteger),
        sa.Column("last_attempt_ms", sa.BigInteger),
        sa.Column("last_error", sa.Text),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    """Drop every table."""
    for name in (
        "meta",
        "sync_state",
        "body_measurements",
        "profiles",
        "workouts",
        "sleeps",
        "recoveries",
        "cycles",
    ):
        op.drop_table(name)
