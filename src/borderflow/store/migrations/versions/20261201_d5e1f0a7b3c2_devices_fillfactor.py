"""devices leave room on each page for updates

Every batch of positions updates its devices' rows (last fix, fences, counters). With half of
each page kept free, PostgreSQL updates a row in place on its page (a HOT update: none of the
updated columns is indexed) instead of writing a new row version into every index: measured,
all but a few of the updates became HOT and the update took half the time. Applies to pages
written from now on; nothing to do on SQLite.

Revision ID: d5e1f0a7b3c2
Revises: c41d2e7f9a10
Create Date: 2026-12-01 11:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "d5e1f0a7b3c2"
down_revision: str | None = "c41d2e7f9a10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE devices SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE devices RESET (fillfactor)")
