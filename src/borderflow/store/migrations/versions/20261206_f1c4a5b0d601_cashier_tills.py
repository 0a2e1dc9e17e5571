"""the cashier's till: closings with their counted cash

Revision ID: f1c4a5b0d601
Revises: e2b1c8d4e502
Create Date: 2026-12-06 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import borderflow.store.base

revision: str = "f1c4a5b0d601"
down_revision: str | None = "e2b1c8d4e502"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "till_closings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cashier", sa.String(length=80), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("expected_cash", sa.BigInteger(), nullable=False),
        sa.Column("counted_cash", sa.BigInteger(), nullable=False),
        sa.Column("difference", sa.BigInteger(), nullable=False),
        sa.Column("takings", borderflow.store.base.JSONType, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("closed_at", borderflow.store.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("counted_cash >= 0",
                           name=op.f("ck_till_closings_counted_cash_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_till_closings")),
        sa.UniqueConstraint("cashier", "day", name="uq_till_closings_cashier_day"),
    )


def downgrade() -> None:
    op.drop_table("till_closings")
