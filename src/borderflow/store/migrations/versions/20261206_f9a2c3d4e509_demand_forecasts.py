"""demand forecasts

Each refresh of the demand forecasts (daily in the background, or on demand) is a run with its
model version, training window and creation time; its rows are the trucks forecast per gate,
direction and day with their 80 % and 95 % intervals. Imported daily weather (rain, storm
warnings) is kept beside them as a covariate.

Revision ID: f9a2c3d4e509
Revises: f8e1bcd7a408
Create Date: 2026-12-06 18:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from borderflow.store.base import UTCDateTime

revision: str = "f9a2c3d4e509"
down_revision: str | None = "f8e1bcd7a408"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "forecast_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.String(length=40), nullable=False),
        sa.Column("origin", sa.Date(), nullable=False),
        sa.Column("horizon", sa.Integer(), nullable=False),
        sa.Column("trained_from", sa.Date(), nullable=False),
        sa.Column("trained_to", sa.Date(), nullable=False),
        sa.Column("series", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("trigger", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.CheckConstraint("trigger IN ('daily', 'on_demand')",
                           name=op.f("ck_forecast_runs_trigger")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_runs")),
    )
    with op.batch_alter_table("forecast_runs") as batch:
        batch.create_index("uq_forecast_runs_daily_origin", ["origin"], unique=True,
                           postgresql_where=sa.text("trigger = 'daily'"),
                           sqlite_where=sa.text("trigger = 'daily'"))
    op.create_table(
        "forecasts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("gate", sa.String(length=40), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("horizon", sa.Integer(), nullable=False),
        sa.Column("mean", sa.Float(), nullable=False),
        sa.Column("lo80", sa.Float(), nullable=False),
        sa.Column("hi80", sa.Float(), nullable=False),
        sa.Column("lo95", sa.Float(), nullable=False),
        sa.Column("hi95", sa.Float(), nullable=False),
        sa.Column("declared", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["forecast_runs.id"],
                                name=op.f("fk_forecasts_run_id_forecast_runs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecasts")),
        sa.UniqueConstraint("run_id", "gate", "direction", "day",
                            name="uq_forecasts_run_gate_direction_day"),
    )
    op.create_table(
        "forecast_weather",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("rain_mm", sa.Float(), nullable=True),
        sa.Column("storm", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("imported_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_forecast_weather")),
    )


def downgrade() -> None:
    op.drop_table("forecast_weather")
    op.drop_table("forecasts")
    with op.batch_alter_table("forecast_runs") as batch:
        batch.drop_index("uq_forecast_runs_daily_origin")
    op.drop_table("forecast_runs")
