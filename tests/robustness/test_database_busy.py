"""A database that cannot take a request in time answers 503 with ``Retry-After`` in the
error shape, never 500 and never after a long wait: a write lock held by another process,
an empty pool, a refused lock. Reads go on while the write lock is held elsewhere."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, exc, text
from sqlalchemy.engine import Connection

from borderflow.api.admission import is_busy_error
from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.store.session import normalise_url
from tests import factories
from tests.conftest import Database

WAIT = 0.5


@pytest.fixture
def impatient(settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"db_wait_seconds": WAIT}), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.ctx.engine.dispose()


@pytest.fixture
def lock_held(database: Database) -> Iterator[Connection]:
    """Another process's transaction holding what a new declaration needs: SQLite's write
    lock, or PostgreSQL's lock on the declarations table."""
    engine = create_engine(normalise_url(database.url))
    conn = engine.connect()
    if database.backend == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.execute(text("LOCK TABLE declarations IN EXCLUSIVE MODE"))
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()
        engine.dispose()


def test_a_lock_held_elsewhere_answers_503_at_once_and_reads_go_on(
    impatient: TestClient, auth: Any, lock_held: Connection
) -> None:
    start = time.monotonic()
    r = impatient.post("/api/v1/declarations", json=factories.declaration(),
                       headers=auth("enterprise", **{"Idempotency-Key": "while-locked"}))
    waited = time.monotonic() - start
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) >= 1
    assert r.json()["error"]["code"] == "database_busy"
    assert set(r.json()["error"]) == {"code", "message", "fields"}
    assert waited < 5
    assert impatient.get("/api/v1/occupancy").status_code == 200
    assert impatient.get("/api/v1/declarations",
                         headers=auth("enterprise")).status_code == 200


def test_a_refused_write_changed_nothing_and_goes_through_when_sent_again(
    impatient: TestClient, auth: Any, database: Database
) -> None:
    headers = auth("enterprise", **{"Idempotency-Key": "sent-again"})
    engine = create_engine(normalise_url(database.url))
    with engine.connect() as conn:
        if database.backend == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.execute(text("LOCK TABLE declarations IN EXCLUSIVE MODE"))
        refused = impatient.post("/api/v1/declarations", json=factories.declaration(),
                                 headers=headers)
        conn.rollback()
    engine.dispose()
    assert refused.status_code == 503
    again = impatient.post("/api/v1/declarations", json=factories.declaration(),
                           headers=headers)
    assert again.status_code == 201, again.text
    assert "Idempotent-Replayed" not in again.headers
    listed = impatient.get("/api/v1/declarations", headers=auth("enterprise")).json()
    items = listed["items"] if isinstance(listed, dict) else listed
    assert len(items) == 1


@pytest.mark.parametrize(("error", "busy"), [
    (exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"), True),
    (exc.OperationalError("BEGIN IMMEDIATE", {}, Exception("x")), False),
    (exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")), False),
])
def test_which_database_errors_mean_busy(error: Exception, busy: bool) -> None:
    assert is_busy_error(error) is busy


def test_sqlite_locked_and_postgresql_lock_refusals_mean_busy() -> None:
    import sqlite3

    import psycopg

    locked = exc.OperationalError("BEGIN IMMEDIATE", {},
                                  sqlite3.OperationalError("database is locked"))
    missing = exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x"))
    refused = exc.OperationalError("LOCK", {}, psycopg.errors.LockNotAvailable("timeout"))
    assert is_busy_error(locked)
    assert not is_busy_error(missing)
    assert is_busy_error(refused)
