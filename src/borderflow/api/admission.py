"""Admission of requests to the database: what keeps a burst from stalling the API.

A request that needs the database waits for it in the event loop, never in a worker thread,
so a thread that holds a transaction always finds the thread it needs to finish it:

- **slots**: at most ``DB_CONCURRENCY`` requests of a process read the database at once (the
  caller's lookup too);
- **writers** take a writer's place instead: one at a time on SQLite (it has one write
  lock, taken here in the event loop instead of by threads waiting on ``BEGIN
  IMMEDIATE``), at most half of ``DB_CONCURRENCY`` on PostgreSQL; reads and writes never
  wait for each other's places (the connection pool has room for both, the background jobs
  and one short extra session each);
- an ``Idempotency-Key`` being processed is **claimed**: a concurrent request with the same
  key (from the same account) is answered 409 at once instead of queueing.

A request that cannot get in within ``DB_WAIT_SECONDS`` (all waits of one request together)
is answered 503 with ``Retry-After`` (a writer at once when the writers ahead of it would
take longer than that, from how long writes hold their place lately); so are a full
connection pool and a lock the database did not grant in time
(:func:`install_database_errors`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import Counter
from sqlalchemy import exc as sa_exc

from borderflow.config import Settings
from borderflow.errors import AppError, Conflict, Unavailable, msg

log = structlog.get_logger("borderflow.admission")

T = TypeVar("T")

REFUSED = Counter("borderflow_db_busy_total",
                  "Requests answered 503 because the database was busy",
                  ["reason"])

RETRY_AFTER_SECONDS = 2
WRITE_SECONDS_GUESS = 0.05
"""How long a write holds its place, until writes have been timed (a declaration takes
20 to 50 ms on the test machine)."""
BACKGROUND_CONNECTIONS = 10
"""Connections kept in the pool beyond the requests' own: the background jobs (dispatcher,
notifier, telemetry processor, reports) and pages that open a second short session."""


class DatabaseBusy(Unavailable):
    """The database cannot take this request now (every slot busy, the write lock held too
    long, the pool empty, a lock not granted in time); send it again shortly."""

    code = "database_busy"
    retry_after_seconds = RETRY_AFTER_SECONDS


def busy() -> DatabaseBusy:
    return DatabaseBusy(msg("the server is busy; send the request again in a few seconds"))


def in_progress() -> Conflict:
    return Conflict(msg("a request with this Idempotency-Key is still being processed; retry"),
                    field="Idempotency-Key", code="idempotency_in_progress")


class _Place:
    """``capacity`` places to wait for, in order of arrival. It remembers how long a place
    is usually held (a moving average); with ``shed``, a request that would not get one
    before its deadline is refused at once instead of after waiting in vain (for writers:
    a write holds its place for a steady time; a slot's time depends on the reads)."""

    def __init__(self, capacity: int, reason: str, *, shed: bool,
                 held_seconds: float = 0.0) -> None:
        self.capacity, self.reason, self.shed = capacity, reason, shed
        self._free = asyncio.Semaphore(capacity)
        self.waiting = 0
        self.held_seconds = held_seconds  # a first guess until places have been held

    async def take(self, deadline: float) -> float:
        """Wait for a place until ``deadline`` (loop time); when it was taken."""
        loop = asyncio.get_running_loop()
        remaining = deadline - loop.time()
        if self.shed and self._free.locked():
            expected = (self.waiting + 1) / self.capacity * self.held_seconds
            if expected > remaining:
                REFUSED.labels(self.reason).inc()
                raise busy()
        self.waiting += 1
        try:
            async with asyncio.timeout(max(0.0, remaining)):
                await self._free.acquire()
        except TimeoutError:
            REFUSED.labels(self.reason).inc()
            raise busy() from None
        finally:
            self.waiting -= 1
        return loop.time()

    def give_back(self, taken: float) -> None:
        held = asyncio.get_running_loop().time() - taken
        self.held_seconds = 0.8 * self.held_seconds + 0.2 * held if self.held_seconds else held
        self._free.release()


@dataclass
class _Gates:
    """The waiting places of one event loop (asyncio primitives belong to one loop)."""

    slots: _Place
    writers: _Place
    finishers: anyio.CapacityLimiter


@dataclass(frozen=True)
class PoolLimits:
    """Connection pool sizes for :func:`borderflow.store.session.make_engine`."""

    pool_size: int
    max_overflow: int
    pool_timeout: float

    @property
    def connections(self) -> int:
        return self.pool_size + self.max_overflow


class Admission:
    """The limits of one application (see the module's description)."""

    def __init__(self, *, slots: int, writers: int, wait_seconds: float,
                 threads: int | None = None) -> None:
        if not 1 <= writers <= slots:
            raise ValueError("writers must be between 1 and the number of slots")
        self.slots, self.writers, self.wait_seconds, self.threads = (
            slots, writers, wait_seconds, threads)
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gates] = (
            weakref.WeakKeyDictionary())
        self._claims: set[tuple[int, str]] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> Admission:
        slots = settings.db_concurrency
        sqlite = settings.database_url.startswith("sqlite")
        return cls(slots=slots, writers=1 if sqlite else max(1, slots // 2),
                   wait_seconds=settings.db_wait_seconds, threads=settings.worker_threads)

    @staticmethod
    def pool_limits(settings: Settings) -> PoolLimits:
        """A pool with a connection for every slot, the background jobs and one extra
        short session per slot; a checkout that waits longer than DB_WAIT_SECONDS fails
        (answered 503)."""
        return PoolLimits(pool_size=settings.db_concurrency,
                          max_overflow=settings.db_concurrency + BACKGROUND_CONNECTIONS,
                          pool_timeout=settings.db_wait_seconds)

    def _here(self) -> _Gates:
        loop = asyncio.get_running_loop()
        gates = self._gates.get(loop)
        if gates is None:
            gates = _Gates(_Place(self.slots, "slot", shed=False),
                           _Place(self.writers, "writer", shed=True,
                                  held_seconds=WRITE_SECONDS_GUESS),
                           anyio.CapacityLimiter(self.slots))
            self._gates[loop] = gates
            if self.threads is not None:  # the loop's worker threads (sync handlers)
                anyio.to_thread.current_default_thread_limiter().total_tokens = self.threads
        return gates

    def _deadline(self, request: Request) -> float:
        """When this request stops waiting: DB_WAIT_SECONDS after its first wait."""
        found = request.state.__dict__.get("db_deadline")
        if isinstance(found, float):
            return found
        deadline = asyncio.get_running_loop().time() + self.wait_seconds
        request.state.db_deadline = deadline
        return deadline

    @asynccontextmanager
    async def enter(self, request: Request, *, write: bool) -> AsyncIterator[None]:
        """Hold a writer's place (to write) or a slot (to read) for the body of the block.
        A writer does not queue again behind the reads for a slot: on SQLite that would
        keep the one writer's place, and every other write, waiting on them."""
        gates = self._here()
        place = gates.writers if write else gates.slots
        taken = await place.take(self._deadline(request))
        try:
            yield
        finally:
            place.give_back(taken)

    async def finish(self, work: Callable[[], T]) -> T:
        """Run ``work`` (a commit, a close) in a thread of its own reserve: a request that
        holds a slot never waits behind the other requests' handlers to end its
        transaction; a cancelled request still ends it."""
        gates = self._here()
        with anyio.CancelScope(shield=True):
            result = await anyio.to_thread.run_sync(work, limiter=gates.finishers)
        return result

    @contextmanager
    def claim(self, account_id: int, key: str) -> Iterator[None]:
        """Mark an ``Idempotency-Key`` of an account as being processed by this request;
        a concurrent request with the same key is answered 409 (in progress)."""
        token = (account_id, key)
        if token in self._claims:
            raise in_progress()
        self._claims.add(token)
        try:
            yield
        finally:
            self._claims.discard(token)


#: the database errors that may mean "busy" (see :func:`is_busy_error`); routes outside the
#: framework's error handlers catch these without importing the database library
DATABASE_ERRORS: tuple[type[Exception], ...] = (sa_exc.TimeoutError, sa_exc.OperationalError)


def is_busy_error(exc: BaseException) -> bool:
    """Whether a database error means "busy, send again": the pool had no connection in
    time, SQLite's lock stayed taken past its busy timeout, PostgreSQL refused a lock in
    time, cancelled a statement or rolled back a deadlock or serialisation failure, or the
    server cannot be reached."""
    if isinstance(exc, sa_exc.TimeoutError):
        return True
    if not isinstance(exc, sa_exc.OperationalError):
        return False
    orig = exc.orig
    if type(orig).__module__.startswith("sqlite3"):
        text = str(orig).lower()
        return "locked" in text or "busy" in text
    return type(orig).__module__.startswith("psycopg")  # psycopg's OperationalError family


def install_database_errors(app: FastAPI) -> None:
    """Answer database "busy" errors as :class:`DatabaseBusy` (503, ``Retry-After``), in
    the application's error shape (the handler of :class:`AppError`)."""

    async def database_error(request: Request, exc: Exception) -> Response:
        if not is_busy_error(exc):  # a fault, answered as any unexpected error
            unexpected: Any = app.exception_handlers[Exception]
            fault: Response = await unexpected(request, exc)
            return fault
        REFUSED.labels("database").inc()
        log.warning("database busy", path=request.url.path, error=type(exc).__name__,
                    detail=str(getattr(exc, "orig", exc))[:200])
        handler: Any = app.exception_handlers[AppError]
        answer: Response = await handler(request, busy())
        return answer

    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, database_error)
