"""scenario lab jobs

The scenario lab's pages queue their runs (comparisons of scenario files and "what would it
take" searches) here; a pool of the background work claims each under a lease, writes its
progress as it goes and stores its results or the reason it failed. Finished jobs are purged
with the other expired records.

Revision ID: f8e1bcd7a408
Revises: f7d0abc6f307
Create Date: 2026-12-06 12:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from borderflow.store.base import UTCDateTime

revision: str = "f8e1bcd7a408"
down_revision: str | None = "f7d0abc6f307"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "sim_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("params", JSON, nullable=False),
        sa.Column("runs_done", sa.Integer(), nullable=False),
        sa.Column("runs_total", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("runner", sa.String(length=100), nullable=True),
        sa.Column("result", JSON, nullable=True),
        sa.Column("error", JSON, nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('compare', 'levers')", name=op.f("ck_sim_jobs_kind")),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')",
                           name=op.f("ck_sim_jobs_status")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_sim_jobs_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sim_jobs")),
    )
    with op.batch_alter_table("sim_jobs") as batch:
        batch.create_index(batch.f("ix_sim_jobs_account_id"), ["account_id"], unique=False)
        batch.create_index("ix_sim_jobs_claim", ["status", "created_at"], unique=False)
        batch.create_index("ix_sim_jobs_finished_at", ["finished_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sim_jobs") as batch:
        batch.drop_index("ix_sim_jobs_finished_at")
        batch.drop_index("ix_sim_jobs_claim")
        batch.drop_index(batch.f("ix_sim_jobs_account_id"))
    op.drop_table("sim_jobs")
