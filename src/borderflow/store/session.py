"""Engines and sessions. SQLite runs in WAL mode with foreign keys on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, lock_timeout_seconds: float | None = None,
                **kwargs: Any) -> Engine:
    """An engine for ``url``. ``lock_timeout_seconds``: how long a statement waits for a
    lock held by another transaction before failing (SQLite's busy timeout, 30 s unless
    given; PostgreSQL's ``lock_timeout``, none unless given); the API gives a few seconds and
    answers 503 past them. ``kwargs`` go to :func:`sqlalchemy.create_engine` (pool sizes;
    ignored for an in-memory SQLite)."""
    url = normalise_url(url)
    parsed = make_url(url)
    lock_ms = max(1, round((lock_timeout_seconds or 30.0) * 1000))
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if not database or database == ":memory:":
            kwargs = {k: v for k, v in kwargs.items() if not k.startswith(("pool", "max_"))}
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": lock_ms / 1000},
            **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy own transactions (BEGIN is emitted below, not by the driver).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={lock_ms}")
            if database and database != ":memory:":
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers take the write lock up front (BEGIN IMMEDIATE) so two writers never
            # deadlock upgrading a read lock; readers use a plain BEGIN and never block writers.
            if conn.get_execution_options().get(WRITE_OPTION):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    if lock_timeout_seconds is not None:

        @event.listens_for(engine, "connect")
        def _lock_timeout(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET lock_timeout = {lock_ms}")
            dbapi_conn.commit()

    return engine


WRITE_OPTION = "borderflow_write"


def make_session_factory(engine: Engine, *, write: bool = True) -> sessionmaker[Session]:
    """Sessions for writes (default) or for reads only (no write lock taken on SQLite)."""
    bind = engine.execution_options(**{WRITE_OPTION: True}) if write else engine
    return sessionmaker(bind=bind, expire_on_commit=False, autoflush=True)
