"""the cashier's till: closings with their counted cash

Revision ID: f1c4a5b0d601
Revises: e2b1c8d4e502
Create Date: 2026-12-06 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "f1c4a5b0d601"
down_revision: str | None = "e2b1c8d4e502"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
