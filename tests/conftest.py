"""Shared fixtures.

The suite runs on SQLite by default. With ``BORDERFLOW_TEST_DATABASE_URL`` set to a PostgreSQL
URL it runs against that server instead, each xdist worker in its own schema. When ``CI=true``
an unreachable PostgreSQL fails the run; elsewhere the PostgreSQL pass is skipped with a reason.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from borderflow import handlers
from borderflow.account import security
from borderflow.app import create_app
from borderflow.bootstrap import demo_accounts
from borderflow.clock import FixedClock
from borderflow.config import DEFAULT_NETWORK_FILE, DEFAULT_TARIFF_FILE, Settings
from borderflow.domain.access import SYSTEM
from borderflow.fees import tariffs
from borderflow.network import service as networks
from borderflow.store import migrate
from borderflow.store.base import Base
from borderflow.store.models import Account
from borderflow.store.session import make_engine, make_session_factory

# Argon2id at its least cost in the suite (and the servers it starts, through the environment):
# at the production cost each hash and verification takes about 0.1 s, a fifth of the page
# tests' time. What the hashes are and when they are checked is the same at any cost;
# tests/security/test_password_cost.py checks the cost itself.
TEST_HASH_COST = security.HashCost(time_cost=1, memory_kib=8, parallelism=1)
for _name, _value in (("TIME_COST", TEST_HASH_COST.time_cost),
                      ("MEMORY_KIB", TEST_HASH_COST.memory_kib),
                      ("PARALLELISM", TEST_HASH_COST.parallelism)):
    os.environ[f"BORDERFLOW_PASSWORD_HASH_{_name}"] = str(_value)
security.use_cost(TEST_HASH_COST)

PG_URL = os.environ.get("BORDERFLOW_TEST_DATABASE_URL")
IN_CI = os.environ.get("CI", "").lower() == "true"
PASSWORD = "correct horse battery staple"
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 08:00 in Lang Son
TODAY = date(2026, 11, 23)

_password_hash = security.hash_password(PASSWORD)
handlers.install()  # trips changed by services directly, without an app

# Property tests are deterministic (same examples every run); HYPOTHESIS_PROFILE=explore
# searches afresh. No deadline: an example's time depends on the machine's load, not on what
# the test checks (a busy machine made a 200 ms deadline fail a correct rule).
hypothesis_settings.register_profile("default", derandomize=True, deadline=None)
hypothesis_settings.register_profile("explore", derandomize=False, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def uses_database(item: pytest.Item) -> bool:
    """Whether a test opens the platform's database: every database of the suite comes from
    the ``database_template`` fixture (through ``database``, ``settings``, ``client``, ``db``,
    ``auth``, ``live`` and the features' own fixtures), or the test is PostgreSQL-only; a test
    marked ``any_database`` opens one but checks nothing that depends on which."""
    return ("database_template" in getattr(item, "fixturenames", ())
            or "postgres" in item.keywords) and "any_database" not in item.keywords


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a PostgreSQL URL the PostgreSQL-only tests (marker ``postgres``) are left out
    of the run (deselected, said in the header), not skipped: they run in the PostgreSQL pass
    of ``make test``. With one, the tests that never open the database (the domain rules, the
    simulation engine, the parsers, the documents) are left out instead: they ran in the
    SQLite pass and nothing in them depends on the database (``BORDERFLOW_TEST_ALL=1`` keeps
    them)."""
    if PG_URL:
        keep_all = os.environ.get("BORDERFLOW_TEST_ALL") == "1"
        gone = [] if keep_all else [item for item in items if not uses_database(item)]
    else:
        gone = [item for item in items if "postgres" in item.keywords]
    if gone:
        config.hook.pytest_deselected(items=gone)
        left = set(map(id, gone))
        items[:] = [item for item in items if id(item) not in left]


def pytest_report_header(config: pytest.Config) -> str:
    if PG_URL:
        return ("database: PostgreSQL (BORDERFLOW_TEST_DATABASE_URL); the tests that never "
                "open the database are deselected (they ran in the SQLite pass; "
                "BORDERFLOW_TEST_ALL=1 keeps them)")
    return ("database: SQLite; the PostgreSQL-only tests are deselected (they run when "
            "BORDERFLOW_TEST_DATABASE_URL is set, as in the PostgreSQL pass of make test)")


@functools.cache
def _reference_files() -> tuple[Any, Any]:
    """The reference network and fee schedule, parsed once per process (parsing the network
    takes about 0.1 s, and the PostgreSQL pass seeds before every test); publishing only
    reads them."""
    return (networks.parse(networks.read_file(DEFAULT_NETWORK_FILE)),
            tariffs.parse(tariffs.read_file(DEFAULT_TARIFF_FILE)))


def _seed(session: Session) -> None:
    """The reference network and one account per role (see bootstrap.demo_accounts)."""
    network, schedule = _reference_files()
    networks.publish(session, network, actor=SYSTEM, now=NOW, note="test seed")
    tariffs.publish(session, schedule, actor=SYSTEM, now=NOW, note="test seed",
                    allow_past=True)
    gate = network.gates[0].code
    yard = network.gates[0].yards[0].code
    for demo in demo_accounts(gate, yard, network.staging_areas[0].code):
        session.add(
            Account(
                kind="user", username=demo.username, display_name=demo.display_name,
                password_hash=_password_hash, roles=[r.value for r in demo.roles],
                enterprise_tax_code=demo.enterprise_tax_code,
                driver_document=demo.driver_document, gate_scope=list(demo.gate_scope),
                yard_scope=list(demo.yard_scope), active=True, created_at=NOW, updated_at=NOW,
            )
        )


def _seed_url(url: str) -> None:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        _seed(session)
        session.commit()
    engine.dispose()


@dataclass
class Database:
    url: str
    backend: str


@dataclass
class PgDatabase(Database):
    engine: Any
    reset: str


def _pg_reset_statement(conn: Any, schema: str) -> str:
    """One statement that brings the seeded schema back to the seed after a test: it empties
    the tables (DELETE, referencing tables first; TRUNCATE only for the append-only logs,
    whose triggers refuse DELETE: a TRUNCATE of every table cost about 0.25 s, most of a
    PostgreSQL test's setup), copies the seed's rows back from a copy taken once, and sets
    every sequence where the seed left it. The seed must already be in ``schema``."""
    present = set(conn.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}).scalars())
    tables = [t.name for t in Base.metadata.sorted_tables if t.name in present]
    seeded = [t for t in tables
              if conn.execute(text(f'SELECT EXISTS (SELECT 1 FROM "{schema}"."{t}")')).scalar()]  # noqa: S608
    conn.execute(text(f'CREATE SCHEMA "{schema}_seed"'))
    for t in seeded:
        conn.execute(text(f'CREATE TABLE "{schema}_seed"."{t}" AS TABLE "{schema}"."{t}"'))
    sequences = conn.execute(text(
        "SELECT sequencename, coalesce(last_value, start_value), last_value IS NOT NULL "
        "FROM pg_sequences WHERE schemaname = :s"), {"s": schema}).all()
    guarded = set(conn.execute(text(  # tables whose rows a trigger keeps (the append-only logs)
        "SELECT DISTINCT event_object_table FROM information_schema.triggers "
        "WHERE trigger_schema = :s AND event_manipulation = 'DELETE'"), {"s": schema}).scalars())
    names = ", ".join(f"'{t}'" for t in reversed(tables) if t not in guarded)  # referencing first
    truncate = ", ".join(f'"{schema}"."{t}"' for t in sorted(guarded))
    copies = "\n".join(
        f'INSERT INTO "{schema}"."{t}" OVERRIDING SYSTEM VALUE '  # noqa: S608
        f'SELECT * FROM "{schema}_seed"."{t}";' for t in seeded)
    setvals = "\n".join(
        f"PERFORM setval('\"{schema}\".\"{name}\"', {value}, {str(called).lower()});"
        for name, value, called in sequences)
    # names from the models and the run's own schema, not from input
    return f"""DO $reset$
DECLARE t text;
BEGIN
  TRUNCATE {truncate};
  FOREACH t IN ARRAY ARRAY[{names}] LOOP
    EXECUTE 'DELETE FROM {schema}.' || quote_ident(t);
  END LOOP;
  {copies}
  {setvals}
END $reset$"""  # noqa: S608


def _pg_schema_url(base: str, schema: str) -> str:
    url = make_url(base)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Any]:
    if PG_URL:
        from borderflow.store.session import normalise_url

        base = normalise_url(PG_URL)
        try:
            admin = create_engine(base, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            message = f"PostgreSQL at {make_url(base).host} is unreachable: {exc}"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
        schema = f"bf_test_{worker_id}_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = _pg_schema_url(base, schema)
        migrate.upgrade(url)
        _seed_url(url)
        with admin.connect() as conn:
            reset = _pg_reset_statement(conn, schema)
        engine = make_engine(url)
        yield PgDatabase(url, "postgresql", engine, reset)
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            conn.execute(text(f'DROP SCHEMA "{schema}_seed" CASCADE'))
        admin.dispose()
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        _seed_url(url)
        yield Database(url, "sqlite")


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A folder every process of this test run sees (the xdist workers' folders share their
    parent), for what one process builds and the others reuse."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if worker_id != "master" else base


@pytest.fixture
def database(database_template: Database, tmp_path: Path) -> Database:
    """A fresh database holding the seed: a copied file (SQLite) or emptied tables (PostgreSQL)."""
    if database_template.backend == "sqlite":
        src = Path(make_url(database_template.url).database or "")
        dst = tmp_path / "borderflow.db"
        shutil.copyfile(src, dst)
        return Database(f"sqlite:///{dst}", "sqlite")
    return reset_to_seed(database_template)


def reset_to_seed(template: Database) -> Database:
    """The PostgreSQL test schema brought back to the seed (see :func:`_pg_reset_statement`)."""
    assert isinstance(template, PgDatabase)
    with template.engine.begin() as conn:
        conn.exec_driver_sql(template.reset)
    return template


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    return Settings(database_url=database.url, var_dir=tmp_path / "var",
                    secret_key="test-secret-key-that-is-long-enough-for-hs256",
                    log_level="WARNING", public_base_url="https://gate.example",
                    dispatch_interval_seconds=0, notify_interval_seconds=0,
                    telemetry_bus="inline", throttling=False,  # on in tests/security
                    board_share_seconds=0)  # shared figures: tests/web/test_board_shared.py


@pytest.fixture
def client(settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    app = create_app(settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.ctx.engine.dispose()


class Peek:
    """Looks behind the API: every query runs in its own short read transaction, so it sees
    what the application has committed so far."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.sessions = make_session_factory(self.engine, write=False)

    def scalar(self, statement: Any) -> Any:
        with self.sessions() as s:
            return s.scalar(statement)

    def scalars(self, statement: Any) -> Any:
        with self.sessions() as s:
            return s.scalars(statement).all()

    def one(self, statement: Any) -> Any:
        with self.sessions() as s:
            return s.scalars(statement).one()


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    """A session of the test's database, for calling services directly."""
    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as s:
        yield s
    engine.dispose()


@pytest.fixture
def db(settings: Settings) -> Iterator[Peek]:
    peek = Peek(settings.database_url)
    yield peek
    peek.engine.dispose()


@pytest.fixture
def auth(db: Peek, settings: Settings, clock: FixedClock) -> Any:
    """``auth("enterprise")`` -> headers with a valid bearer token for that seeded account."""

    def headers(username: str, **extra: str) -> dict[str, str]:
        account = db.one(select(Account).where(Account.username == username))
        token = security.issue_token(account.id, account.username,
                                     key=settings.resolved_secret_key(), now=clock.now(),
                                     minutes=15)
        return {"Authorization": f"Bearer {token}", **extra}

    return headers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(settings: Settings, clock: FixedClock, **changes: Any) -> Iterator[httpx.Client]:
    """The platform on a real port (uvicorn in a thread), with the sandbox gateway mounted
    next to it; ``changes`` adjust the settings."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(settings.model_copy(update={"public_base_url": base, **changes}),
                     clock=clock)
    # connections kept open for a minute: a burst test opens hundreds before it sends, and on
    # a busy machine that takes longer than uvicorn's 5 s, which would close the first ones
    # while the client sends on them
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_keep_alive=60))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(15)
        app.state.ctx.engine.dispose()


@pytest.fixture
def live(settings: Settings, clock: FixedClock) -> Iterator[httpx.Client]:
    """The platform on a real port, with the sandbox gateway mounted next to it."""
    with served(settings, clock) as client:
        yield client
