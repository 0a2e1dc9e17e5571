"""indexes the purges read by

The background work deletes expired idempotency keys (by age), browser sessions and password
reset codes (after they expired) in bounded batches; each batch finds its rows through these
indexes instead of reading the whole table.

Revision ID: f6c9fab5e206
Revises: f5b8e9a4d105
Create Date: 2026-12-06 09:10:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "f6c9fab5e206"
down_revision: str | None = "f5b8e9a4d105"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("idempotency_keys", "created_at"),
    ("web_sessions", "expires_at"),
    ("password_reset_codes", "expires_at"),
)


def upgrade() -> None:
    for table, column in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def downgrade() -> None:
    for table, column in reversed(INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
