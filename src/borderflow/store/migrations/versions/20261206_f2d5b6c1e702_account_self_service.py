"""accounts serve themselves: enterprise registration and password reset codes

Enterprises' registrations waiting for an admin, people's phone and language for messages
about their account, one-time password reset codes (Argon2 hashes) and the outbox of SMS
about accounts.

Revision ID: f2d5b6c1e702
Revises: f1c4a5b0d601
Create Date: 2026-12-06 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import borderflow.store.base

revision: str = "f2d5b6c1e702"
down_revision: str | None = "f1c4a5b0d601"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = borderflow.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "enterprise_registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tax_code", sa.String(length=14), nullable=False),
        sa.Column("enterprise_name", sa.String(length=200), nullable=False),
        sa.Column("contact_name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("decided_at", _TIME, nullable=True),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_enterprise_registrations_account_id_accounts"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprise_registrations")),
    )
    for column in ("tax_code", "username", "status"):
        op.create_index(op.f(f"ix_enterprise_registrations_{column}"),
                        "enterprise_registrations", [column])
    op.create_table(
        "account_contacts",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("team_tax_code", sa.String(length=14), nullable=True),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_account_contacts_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_contacts")),
    )
    op.create_index(op.f("ix_account_contacts_team_tax_code"), "account_contacts",
                    ["team_tax_code"])
    op.create_table(
        "password_reset_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.Column("used_at", _TIME, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_password_reset_codes_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_reset_codes")),
    )
    op.create_index(op.f("ix_password_reset_codes_account_id"), "password_reset_codes",
                    ["account_id"])
    op.create_table(
        "account_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("registration_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("sent_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_account_messages_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["registration_id"], ["enterprise_registrations.id"],
            name=op.f("fk_account_messages_registration_id_enterprise_registrations"),
            ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_messages")),
    )
    op.create_index(op.f("ix_account_messages_account_id"), "account_messages",
                    ["account_id"])
    op.create_index("ix_account_messages_status", "account_messages",
                    ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_account_messages_status", table_name="account_messages")
    op.drop_index(op.f("ix_account_messages_account_id"), table_name="account_messages")
    op.drop_table("account_messages")
    op.drop_index(op.f("ix_password_reset_codes_account_id"),
                  table_name="password_reset_codes")
    op.drop_table("password_reset_codes")
    op.drop_index(op.f("ix_account_contacts_team_tax_code"), table_name="account_contacts")
    op.drop_table("account_contacts")
    for column in ("status", "username", "tax_code"):
        op.drop_index(op.f(f"ix_enterprise_registrations_{column}"),
                      table_name="enterprise_registrations")
    op.drop_table("enterprise_registrations")
