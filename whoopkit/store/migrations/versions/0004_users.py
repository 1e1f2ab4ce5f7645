"""Hosted mode's accounts, one row per WHOOP user who signed in.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``users``."""
    op.create_table(
        "users",
        sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("last_sign_in_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    """Drop ``users``."""
    op.drop_table("users")
