"""yearly statistics

The summary tables gain a third grain, the year (period = 1 January), filled here from the
monthly rows already kept; from now on every trip event adds to it as to the day and month.
Per-enterprise figures are also kept for all gates and goods groups together (gate and
goods_group ``*``), filled here from the rows by gate and goods group.

Revision ID: c41d2e7f9a10
Revises: a3f35288a369
Create Date: 2026-12-01 07:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "c41d2e7f9a10"
down_revision: str | None = "a3f35288a369"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VALUES = {
    "stat_counts": "vehicles, declarations, weight_kg, value_usd_cents, fee_vnd, seconds",
    "stat_enterprise_counts": "vehicles, declarations, weight_kg, value_usd_cents, fee_vnd, "
    "seconds",
    "stat_durations": "n, seconds",
    "stat_reasons": "n",
}
KEYS = {
    "stat_counts": "kind, gate, direction, goods_group",
    "stat_enterprise_counts": "kind, gate, direction, goods_group, enterprise",
    "stat_durations": "gate, direction, goods_group, measure, bucket",
    "stat_reasons": "kind, gate, direction, step, reason_code",
}


def upgrade() -> None:
    values = VALUES["stat_enterprise_counts"]
    sums = ", ".join(f"SUM({v.strip()})" for v in values.split(","))
    into = (
        "INSERT INTO stat_enterprise_counts (grain, period, kind, gate, direction, goods_group, "
        f"enterprise, {values}) "
    )
    # figures for all gates and goods groups; active days by gate and over everything
    for select in (
        f"SELECT grain, period, kind, '*', direction, '*', enterprise, {sums} "  # noqa: S608 - fixed names
        "FROM stat_enterprise_counts WHERE kind <> 'active' "
        "GROUP BY grain, period, kind, direction, enterprise",
        f"SELECT grain, period, kind, gate, '*', '*', enterprise, {sums} "  # noqa: S608 - fixed names
        "FROM stat_enterprise_counts WHERE kind = 'active' AND gate <> '*' "
        "GROUP BY grain, period, kind, gate, enterprise",
        f"SELECT grain, period, kind, '*', '*', '*', enterprise, {sums} "  # noqa: S608 - fixed names
        "FROM stat_enterprise_counts WHERE kind = 'active' AND gate <> '*' AND direction <> '*' "
        "GROUP BY grain, period, kind, enterprise",
    ):
        op.execute(into + select)
    year = (
        "CAST(date_trunc('year', period) AS date)"
        if op.get_bind().dialect.name == "postgresql"
        else "strftime('%Y-01-01', period)"
    )
    for table, values in VALUES.items():
        keys = KEYS[table]
        sums = ", ".join(f"SUM({v.strip()})" for v in values.split(","))
        op.execute(
            f"INSERT INTO {table} (grain, period, {keys}, {values}) "  # noqa: S608 - fixed names
            f"SELECT 'y', {year} AS y, {keys}, {sums} FROM {table} WHERE grain = 'm' "
            f"GROUP BY y, {keys}"
        )


def downgrade() -> None:
    op.execute("DELETE FROM stat_enterprise_counts WHERE gate = '*'")
    for table in VALUES:
        op.execute(f"DELETE FROM {table} WHERE grain = 'y'")  # noqa: S608 - fixed names
