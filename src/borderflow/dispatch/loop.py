"""The dispatcher running in the background: in ``borderflow worker``, or next to the API
(``BORDERFLOW_BACKGROUND=all``, the embedded default).

Every interval it runs one cycle in its own transaction, and at once after a committed change
it acts on in the same process (a truck arrived at the park or left a yard, a hold was
released, a booking or class changed: see :data:`borderflow.trip.service.DISPATCH_DUE`).

**One dispatcher at a time.** On PostgreSQL the processes that run the background work elect a
leader with a session-level advisory lock (:class:`Leadership`), held on a connection of its
own for as long as the leader lives: only the leader runs cycles, the others try to take the
lock every interval. When the leader's process dies, even by ``kill -9``, PostgreSQL ends its
session and frees the lock, so another process takes over at its next try: within one
interval. A leader that stops cleanly gives the lock up at once. Each cycle still takes a
transaction-level advisory lock as well (:func:`borderflow.dispatch.service.run_cycle`), so
two cycles never overlap even in the moment a leader whose connection was cut has not
noticed yet, or when an operator runs a cycle by hand. SQLite has one process: it leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import psycopg
import structlog
from fastapi import FastAPI
from prometheus_client import Gauge
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from borderflow.api import metrics
from borderflow.api.background import periodic
from borderflow.api.context import AppContext
from borderflow.dispatch import service
from borderflow.errors import AppError
from borderflow.network import service as networks
from borderflow.store.session import make_engine
from borderflow.trip.service import DISPATCH_DUE

log = structlog.get_logger("borderflow.dispatch")

CHANNEL = "borderflow_dispatch"
"""The NOTIFY channel of committed changes the dispatcher acts on (the payload: the schema)."""
LEADER_KEY = 0x4C656164  # "Lead": the dispatcher leader's session lock, per schema
LEADER = Gauge("borderflow_dispatcher_leader",
               "1 while this process is the dispatcher leader, else 0 (one series per pid)",
               multiprocess_mode="liveall")
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
             "keepalives_count": 3}
"""TCP keepalives on the leader's connection: a leader cut off from the database notices."""


class Leadership:
    """Whether this process is the dispatcher leader: on PostgreSQL, holding the session-level
    advisory lock ``(LEADER_KEY, hashtext(current_schema()))`` on a connection of its own
    (outside the pool, in autocommit so it never sits in a transaction); elsewhere always."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.elects = make_url(url).get_backend_name() == "postgresql"
        self.elected = not self.elects
        self._engine: Engine | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()  # a run's thread and the stop never share the connection

    def hold(self) -> bool:
        """Still the leader, or just became it; ``False``: another process leads."""
        with self._lock:
            return self._hold()

    def _hold(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))  # the session, and so the lock, lives
                return True
            except DBAPIError:
                log.warning("dispatcher leadership lost", pid=os.getpid())
                self._drop()
        if self.elects:
            self._try()
        LEADER.set(1 if self.elected else 0)
        return self.elected

    def _try(self) -> None:
        if self._engine is None:
            self._engine = make_engine(self.url, poolclass=NullPool, connect_args=KEEPALIVE)
        try:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except DBAPIError as exc:
            log.warning("dispatcher leadership: database unreachable", error=str(exc)[:200])
            return
        try:
            got = conn.execute(text(
                "SELECT pg_try_advisory_lock(:k, hashtext(current_schema()))"),
                {"k": LEADER_KEY}).scalar()
        except DBAPIError as exc:
            conn.close()
            log.warning("dispatcher leadership: lock not tried", error=str(exc)[:200])
            return
        if not got:
            conn.close()
            log.debug("dispatcher standby", pid=os.getpid())
            return
        self._conn, self.elected = conn, True
        log.info("dispatcher leader", pid=os.getpid())

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self.elected = False
        LEADER.set(0)
        if conn is not None:
            with contextlib.suppress(DBAPIError):
                conn.close()

    def release(self) -> None:
        """Give the leadership up (a clean stop): another process takes it at its next try."""
        with self._lock:
            self._release()

    def _release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(DBAPIError):
                self._conn.execute(text(
                    "SELECT pg_advisory_unlock(:k, hashtext(current_schema()))"),
                    {"k": LEADER_KEY})
            log.info("dispatcher leadership given up", pid=os.getpid())
        self._drop()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


class Listener(threading.Thread):
    """On PostgreSQL, wakes the dispatcher when another process commits a change it acts on:
    such a transaction sends ``NOTIFY`` on :data:`CHANNEL` with its schema
    (:func:`announce_dispatch_due`), delivered at commit and never on rollback; this thread
    listens (``LISTEN``) on a connection of its own and calls ``nudge`` for its own schema's."""

    def __init__(self, url: str, nudge: Callable[[], None]) -> None:
        super().__init__(name="dispatch-listener", daemon=True)
        parsed = make_url(url)
        self.conninfo = parsed.set(drivername="postgresql").render_as_string(
            hide_password=False)
        self.nudge = nudge
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    row = conn.execute("SELECT current_schema()").fetchone()
                    schema = row[0] if row else None
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self.stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            if note.payload == schema:
                                self.nudge()
            except psycopg.Error as exc:  # reconnects; the interval's cycles go on meanwhile
                log.warning("dispatch listener: database unreachable", error=str(exc)[:200])
                self.stop.wait(5)


def announce_dispatch_due(sessions: sessionmaker[Session]) -> Callable[[], None]:
    """Make a PostgreSQL transaction of ``sessions`` that changed what the dispatcher acts on
    notify every process's :class:`Listener` at its commit; the function undoing it."""

    def before_commit(session: Session) -> None:
        if session.info.get(DISPATCH_DUE) and session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_notify(:c, current_schema())"), {"c": CHANNEL})

    event.listen(sessions, "before_commit", before_commit)
    return lambda: event.remove(sessions, "before_commit", before_commit)


@asynccontextmanager
async def lifespan_with_dispatch_nudges(app: FastAPI) -> AsyncIterator[None]:
    """For an API process that leaves dispatching to the workers: its committed changes wake
    the dispatcher leader in whichever process it runs."""
    undo = announce_dispatch_due(app.state.ctx.sessions)
    try:
        yield
    finally:
        undo()


def run_once(ctx: AppContext) -> service.CycleReport | None:
    now = ctx.clock.now()
    started = time.perf_counter()
    with ctx.sessions() as session:
        try:
            _, network = networks.network_at(session, now)
            report = service.run_cycle(session, network, now)
            session.commit()
        except AppError as exc:
            session.rollback()
            log.warning("dispatch cycle skipped", reason=exc.message)
            return None
    metrics.dispatch_cycle_ran(started, report)
    log.debug("dispatch cycle ran", pid=os.getpid(), skipped=report.skipped,
              waiting=report.waiting)
    if report.called or report.no_shows:
        log.info("dispatch cycle", called=len(report.called), no_shows=len(report.no_shows),
                 waiting=report.waiting)
    return report


def run_if_leader(ctx: AppContext, leadership: Leadership) -> service.CycleReport | None:
    """One cycle when this process leads; nothing otherwise."""
    return run_once(ctx) if leadership.hold() else None


@asynccontextmanager
async def lifespan_with_dispatcher(app: FastAPI) -> AsyncIterator[None]:
    ctx: AppContext = app.state.ctx
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()
    leadership = Leadership(ctx.settings.database_url)

    def after_commit(session: Session) -> None:
        if session.info.pop(DISPATCH_DUE, False):
            with contextlib.suppress(RuntimeError):  # the server is shutting down
                loop.call_soon_threadsafe(wake.set)

    def after_rollback(session: Session) -> None:
        session.info.pop(DISPATCH_DUE, None)

    def nudge() -> None:
        with contextlib.suppress(RuntimeError):  # the process is shutting down
            loop.call_soon_threadsafe(wake.set)

    event.listen(ctx.sessions, "after_commit", after_commit)
    event.listen(ctx.sessions, "after_rollback", after_rollback)
    undo = announce_dispatch_due(ctx.sessions)
    listener = None
    if leadership.elects and ctx.settings.dispatch_interval_seconds > 0:
        listener = Listener(ctx.settings.database_url, nudge)
        listener.start()
    try:
        async with periodic(ctx.settings.dispatch_interval_seconds,
                            lambda: run_if_leader(ctx, leadership), "dispatch", wake):
            yield
    finally:
        event.remove(ctx.sessions, "after_commit", after_commit)
        event.remove(ctx.sessions, "after_rollback", after_rollback)
        undo()
        if listener is not None:
            listener.stop.set()
            await asyncio.to_thread(listener.join, 5)
        await asyncio.to_thread(leadership.release)
