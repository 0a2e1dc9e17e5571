"""telemetry dead letters

Messages of positions the telemetry processor could not store after their retries are set
aside here with the reason (and the message as it travelled on the bus), so that the rest of
the stream goes on; the operator lists them and sends them through again.

Revision ID: f5b8e9a4d105
Revises: f4a7d8e3c904
Create Date: 2026-12-06 08:38:12+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import borderflow.store.base

revision: str = "f5b8e9a4d105"
down_revision: str | None = "f4a7d8e3c904"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "telemetry_dead_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", borderflow.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("positions", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("retried_at", borderflow.store.base.UTCDateTime(timezone=True),
                  nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telemetry_dead_letters")),
    )
    with op.batch_alter_table("telemetry_dead_letters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_telemetry_dead_letters_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("telemetry_dead_letters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telemetry_dead_letters_at"))
    op.drop_table("telemetry_dead_letters")
