"""trips: when the earliest unmet deadline falls due, indexed

The deadline alerts read only the trips whose earliest deadline not yet met has passed
(``trips.next_due_at < now``, through its index), instead of every trip not rejected or
cancelled, which grew with history: a crossed export kept its return deadline in its state
for good. The column is kept by the trip projection (``domain/trip.py::next_due``); existing
trips get theirs from their state here.

Revision ID: f4a7d8e3c904
Revises: f3e6c7d2f803
Create Date: 2026-12-06 09:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from borderflow.domain.trip import next_due
from borderflow.store.base import JSONType, UTCDateTime

revision: str = "f4a7d8e3c904"
down_revision: str | None = "f3e6c7d2f803"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("trips", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_due_at", UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_trips_next_due_at"), ["next_due_at"], unique=False)
    trips = sa.table("trips", sa.column("id", sa.String), sa.column("status", sa.String),
                     sa.column("state", JSONType), sa.column("next_due_at", UTCDateTime()))
    bind = op.get_bind()
    last = ""
    while True:  # only trips with deadlines in their state can be due; a batch at a time
        rows = bind.execute(sa.select(trips.c.id, trips.c.state)
                            .where(trips.c.id > last,
                                   trips.c.status.notin_(("rejected", "cancelled")))
                            .order_by(trips.c.id).limit(BATCH)).all()
        for trip_id, state in rows:
            due = next_due(state)
            if due is not None:
                bind.execute(trips.update().where(trips.c.id == trip_id)
                             .values(next_due_at=due))
        if len(rows) < BATCH:
            break
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("trips", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trips_next_due_at"))
        batch_op.drop_column("next_due_at")
