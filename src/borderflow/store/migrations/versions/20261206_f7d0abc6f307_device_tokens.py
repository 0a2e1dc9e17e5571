"""device tokens

Binding gives a device an unguessable token, which the phone sends as its id; only the token's
SHA-256 is kept (unique, so a position finds its device by it). A revoked device keeps its hash,
so that its positions are recognised and set aside, never moving a trip.

Revision ID: f7d0abc6f307
Revises: f6c9fab5e206
Create Date: 2026-12-06 10:10:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from borderflow.store.base import UTCDateTime

revision: str = "f7d0abc6f307"
down_revision: str | None = "f6c9fab5e206"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("token_sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True))
        batch.create_unique_constraint("uq_devices_token_sha256", ["token_sha256"])


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_constraint("uq_devices_token_sha256", type_="unique")
        batch.drop_column("revoked_at")
        batch.drop_column("token_sha256")
