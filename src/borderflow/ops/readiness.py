"""Whether the database answers and which schema revision it carries, for the readiness
endpoint."""

from __future__ import annotations

from sqlalchemy import Engine, text


def schema_revision(engine: Engine) -> str:
    """The database's migration revision; raises whatever the database raises when it does
    not answer or is not migrated."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return str(rev)
