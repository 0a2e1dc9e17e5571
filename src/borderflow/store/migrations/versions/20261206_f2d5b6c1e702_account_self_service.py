"""accounts serve themselves: enterprise registration and password reset codes

Revision ID: f2d5b6c1e702
Revises: f1c4a5b0d601
Create Date: 2026-12-06 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "f2d5b6c1e702"
down_revision: str | None = "f1c4a5b0d601"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
