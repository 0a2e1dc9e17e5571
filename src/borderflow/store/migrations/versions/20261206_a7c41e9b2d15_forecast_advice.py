"""forecast advice

Each forecast run keeps, for its next seven days per gate and direction, the gate's
call-forward places that day and, for a day forecast over them, the backlog simulated without a
remedy and the remedies checked in the scenario lab (extended hours, a shift to other gates).

Revision ID: a7c41e9b2d15
Revises: f9a2c3d4e509
Create Date: 2026-12-06 18:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a7c41e9b2d15"
down_revision: str | None = "f9a2c3d4e509"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "forecast_advice",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("gate", sa.String(length=40), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("mean", sa.Float(), nullable=False),
        sa.Column("hi80", sa.Float(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("backlog_mean", sa.Float(), nullable=True),
        sa.Column("backlog_half_width", sa.Float(), nullable=True),
        sa.Column("remedies",
                  sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                  nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["forecast_runs.id"],
                                name=op.f("fk_forecast_advice_run_id_forecast_runs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_advice")),
        sa.UniqueConstraint("run_id", "day", "gate", "direction",
                            name="uq_forecast_advice_run_day_gate_direction"),
    )


def downgrade() -> None:
    op.drop_table("forecast_advice")
