"""Score history, imported records and the WHOOP journal; one score version back-filled per stored record.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The key column of each record table in 0001.
_KEYS = {"cycles": "id", "recoveries": "cycle_id", "sleeps": "id", "workouts": "id"}
_BATCH = 1000


def _score_json(score: Any) -> str:
    # The same canonical text the store writes, so the first sync after the upgrade sees no change.
    return json.dumps(score, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False)


def upgrade() -> None:
    """Create the three tables and give every stored record its first score version."""
    versions = op.create_table(
        "score_versions",
        sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("record_key", sa.String(36), primary_key=True),
        sa.Column("updated_ms", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("seen_ms", sa.BigInteger, nullable=False),
        sa.Column("score_state", sa.String(20), nullable=False),
        sa.Column("score", sa.Text, nullable=False),
    )
    op.create_table(
        "imported_records",
        sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("start_ms", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("imported_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "journal_entries",
        sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("cycle_start_ms", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("question", sa.String(300), primary_key=True),
        sa.Column("answered_yes", sa.Boolean, nullable=False),
        sa.Column("notes", sa.Text),
        sa.Column("cycle_end_ms", sa.BigInteger),
        sa.Column("timezone_offset", sa.String(6), nullable=False),
        sa.Column("cycle_id", sa.BigInteger),
        sa.Column("imported_ms", sa.BigInteger, nullable=False),
    )
    conn = op.get_bind()
    for kind, key in _KEYS.items():
        _backfill(conn, versions, kind, key)


def _backfill(conn: sa.Connection, versions: sa.Table, kind: str, key: str) -> None:
    """One version per row of ``kind``, read in key order a batch at a time (memory stays flat)."""
    table = sa.table(
        kind,
        sa.column("user_id", sa.BigInteger),
        sa.column(key),
        sa.column("updated_ms", sa.BigInteger),
        sa.column("synced_ms", sa.BigInteger),
        sa.column("score_state", sa.String),
        sa.column("raw", sa.Text),
    )
    ident = table.c[key]
    after: tuple[Any, Any] | None = None
    while True:
        query = sa.select(
            table.c.user_id, ident, table.c.updated_ms, table.c.synced_ms, table.c.score_state, table.c.raw
        ).order_by(table.c.user_id, ident)
        if after is not None:
            query = query.where(sa.tuple_(table.c.user_id, ident) > sa.tuple_(*after))
        rows = conn.execute(query.limit(_BATCH)).all()
        if not rows:
            return
        batch = []
        for user_id, record_id, updated_ms, synced_ms, score_state, raw in rows:
            try:
                score = json.loads(raw).get("score")
            except (ValueError, AttributeError):
                score = None  # unreadable JSON is skipped by every read too; its version says no score
            batch.append(
                {
                    "user_id": user_id,
                    "kind": kind,
                    "record_key": str(record_id),
                    "updated_ms": updated_ms,
                    "seen_ms": synced_ms,
                    "score_state": score_state,
                    "score": _score_json(score),
                }
            )
        conn.execute(versions.insert(), batch)
        after = (rows[-1][0], rows[-1][1])


def downgrade() -> None:
    """Drop the three tables."""
    for name in ("journal_entries", "imported_records", "score_versions"):
        op.drop_table(name)
