"""Alembic environment: the URL comes from the caller (``borderflow db upgrade``) or settings."""

from __future__ import annotations

from alembic import context

from borderflow.config import get_settings
from borderflow.store import models  # noqa: F401  (registers the tables)
from borderflow.store.base import Base, include_object
from borderflow.store.session import make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=True, compare_type=True,
                          include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata,
                          render_as_batch=True, compare_type=True,
                          include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
