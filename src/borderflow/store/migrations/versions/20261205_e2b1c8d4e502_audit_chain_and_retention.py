"""audit rows chained by hash and personal data retention

Revision ID: e2b1c8d4e502
Revises: e1a0b7c3d401
Create Date: 2026-12-05 18:00:00+00:00

Existing audit rows get their place in the chain in id order, then UPDATE and DELETE on
``audit_log`` are refused by triggers (as on ``trip_events``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import borderflow.store.base
from borderflow.audit import GENESIS, HEAD_ID, row_hash

revision: str = "e2b1c8d4e502"
down_revision: str | None = "e1a0b7c3d401"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_MESSAGE = "audit_log is append-only: audit rows are never updated or deleted"
HEAD_MESSAGE = "audit_chain_head only moves forward"

_audit = sa.table(
    "audit_log",
    sa.column("id", sa.Integer()),
    sa.column("at", borderflow.store.base.UTCDateTime()),
    sa.column("actor_id", sa.Integer()),
    sa.column("actor_name", sa.String()),
    sa.column("action", sa.String()),
    sa.column("target_type", sa.String()),
    sa.column("target_id", sa.String()),
    sa.column("before", borderflow.store.base.JSONType),
    sa.column("after", borderflow.store.base.JSONType),
    sa.column("request_id", sa.String()),
    sa.column("seq", sa.Integer()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    head_table = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    seq, prev = _chain_existing_rows()
    op.bulk_insert(head_table, [{"id": HEAD_ID, "seq": seq, "hash": prev}])
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_log_seq"), ["seq"])
    _triggers()


def _chain_existing_rows() -> tuple[int, str]:
    """Hash the rows already there, in id order; the chain's last seq and hash."""
    conn = op.get_bind()
    seq, prev = 0, GENESIS
    rows = conn.execute(sa.select(_audit).order_by(_audit.c.id)).mappings().all()
    for row in rows:
        seq += 1
        fields = {**row, "seq": seq, "prev_hash": prev}
        digest = row_hash(fields)
        conn.execute(_audit.update().where(_audit.c.id == row["id"])
                     .values(seq=seq, prev_hash=prev, hash=digest))
        prev = digest
    return seq, prev


def _triggers() -> None:
    """Refuse UPDATE and DELETE on audit rows, and moving the chain head back, in the database."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        op.execute(
            f"""
            CREATE FUNCTION audit_chain_head_forward() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'DELETE' OR NEW.seq < OLD.seq OR NEW.id <> OLD.id THEN
                    RAISE EXCEPTION '{HEAD_MESSAGE}';
                END IF;
                RETURN NEW;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_chain_head_forward BEFORE UPDATE OR DELETE ON "
            "audit_chain_head FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{action.lower()} BEFORE {action} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
            )
        op.execute(
            "CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head "
            f"BEGIN SELECT RAISE(ABORT, '{HEAD_MESSAGE}'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_chain_head_no_rewind BEFORE UPDATE ON audit_chain_head "
            "WHEN NEW.seq < OLD.seq OR NEW.id <> OLD.id "
            f"BEGIN SELECT RAISE(ABORT, '{HEAD_MESSAGE}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
        op.execute("DROP TRIGGER IF EXISTS audit_chain_head_forward ON audit_chain_head")
        op.execute("DROP FUNCTION IF EXISTS audit_chain_head_forward()")
    else:
        for name in ("audit_log_no_update", "audit_log_no_delete", "audit_chain_head_no_delete",
                     "audit_chain_head_no_rewind"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_log_seq"), type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
