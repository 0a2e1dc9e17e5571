"""The bus between ingestion and the telemetry processor.

Ingestion decodes and validates, then publishes; the processor stores positions in batches and
moves trips. ``inline`` processes in the publishing request (simple, and what tests use);
``memory`` is an in-process queue drained by one worker thread in batches (the embedded
default), which answers a publisher once its positions are committed. Both call the same
:func:`borderflow.telemetry.service.ingest`.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import structlog
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session, sessionmaker

from borderflow.clock import Clock
from borderflow.config import Settings
from borderflow.domain.telemetry_geofence import Fences
from borderflow.errors import Unavailable, msg
from borderflow.network import service as networks
from borderflow.telemetry import service
from borderflow.telemetry.dead_letters import (
    DeadLetterGauge,
    DeadLetterStore,
    payload_of,
    reason_of,
    transient,
)
from borderflow.telemetry.decoders import Fix, Rejection

if TYPE_CHECKING:
    from borderflow.telemetry.nats_bus import StreamLimits

log = structlog.get_logger("borderflow.telemetry")

Item = Fix | Rejection
BATCH = 2000
MAX_QUEUED = 50_000
"""Positions the in-process queue holds at most; past that, publishing answers 503."""
ACK_TIMEOUT_SECONDS = 5.0
"""Longest a publisher waits for its positions to be committed before it is answered 503."""


class Bus(Protocol):
    blocking: bool
    """Whether publishing waits on I/O (then the API calls it from a worker thread)."""

    def publish(self, items: list[Item], received_at: datetime) -> service.IngestReport | None:
        """Hand positions to the processor; returns the processor's report when it ran in the
        call (inline), else None."""
        ...

    async def apublish(self, items: list[Item], received_at: datetime
                       ) -> service.IngestReport | None:
        """:meth:`publish` for the server's event loop, without blocking it."""
        ...

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything published so far is processed."""
        ...

    def close(self) -> None: ...

    async def aclose(self) -> None:
        """:meth:`close` from the server's event loop."""
        ...


class FenceCache:
    """The fences of the network in force, rebuilt when a new network version takes over."""

    def __init__(self, margin_m: float) -> None:
        self.margin_m = margin_m
        self._key: str | None = None
        self._fences: Fences | None = None
        self._lock = threading.Lock()

    def get(self, version_id: str, build: Callable[[], Fences]) -> Fences:
        with self._lock:
            if self._key != version_id or self._fences is None:
                self._fences = build()
                self._key = version_id
            return self._fences


def process(sessions: sessionmaker[Session], clock: Clock, cache: FenceCache,
            items: list[Item], received_at: datetime | Sequence[datetime],
            memo: service.DeviceMemo | None = None) -> service.IngestReport:
    """One batch, one transaction. ``received_at``: one time for all items, or one each."""
    now = clock.now()
    with sessions() as session:
        row, network = networks.network_at(session, now)
        fences = cache.get(str(row.id), lambda: Fences(network, cache.margin_m))
        report = service.ingest(session, network, fences, items, now=now,
                                received_at=received_at, memo=memo)
        session.commit()
    return report


class Processor:
    """A long-running processor: :func:`process` with the devices' fences kept in memory
    between batches (:class:`~borderflow.telemetry.service.DeviceMemo`)."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, cache: FenceCache) -> None:
        self.sessions, self.clock, self.cache = sessions, clock, cache
        self.memo = service.DeviceMemo()

    def __call__(self, items: list[Item], received_at: datetime | Sequence[datetime]
                 ) -> service.IngestReport:
        return process(self.sessions, self.clock, self.cache, items, received_at, self.memo)


class InlineBus:
    blocking = True

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, cache: FenceCache) -> None:
        self.sessions, self.clock, self.cache = sessions, clock, cache

    def publish(self, items: list[Item], received_at: datetime) -> service.IngestReport | None:
        return process(self.sessions, self.clock, self.cache, items, received_at)

    async def apublish(self, items: list[Item], received_at: datetime
                       ) -> service.IngestReport | None:
        return await asyncio.to_thread(self.publish, items, received_at)

    def flush(self, timeout: float = 10.0) -> None:
        return None

    def close(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class QueueBusy(Unavailable):
    """The in-process queue could not write positions in time (or is full); nothing was
    acknowledged: the client sends them again (a position sent twice is stored once)."""

    def __init__(self) -> None:
        super().__init__(msg("positions could not be written in time; send them again (a "
                             "position sent twice is stored once)"))


class QueueFull(QueueBusy):
    """The in-process queue holds as many positions as it may
    (``BORDERFLOW_TELEMETRY_QUEUE_POSITIONS``): refused at once, nothing taken."""

    def __init__(self) -> None:
        Unavailable.__init__(self, msg("the queue of positions to store is full; send them "
                                       "again in a few seconds (a position sent twice is "
                                       "stored once)"))


@dataclass
class _Entry:
    items: list[Item]
    received_at: datetime
    done: Future[None] = field(default_factory=Future)


class MemoryBus:
    """An in-process queue with one worker thread writing what is waiting in one transaction
    (up to ``BATCH`` positions): group commit. A publisher is answered only once its
    positions are committed, so an acknowledged position is in the database and a crash
    (even ``SIGKILL``) loses nothing that was acknowledged; what was queued and not yet
    committed was not acknowledged, and is sent again by its client. The queue holds at most
    ``max_queued`` positions; past that publishing fails with :class:`QueueFull`, and when
    the write does not end within ``ack_timeout`` seconds with :class:`QueueBusy` (both 503
    with ``Retry-After``).

    A transaction that fails is taken apart: each publisher's positions are written alone.
    A publisher whose positions still fail because the database is away is answered 503 (its
    client sends again); one whose positions fail for any other reason (a value the store
    refuses) has them set aside in ``dead_letters`` and is answered: they are kept, listed for
    the operator, and sent through again once the cause is fixed, while an error would have
    the phone send the same message forever. Without ``dead_letters`` it is answered 503."""

    blocking = True  # publishing waits until the positions are written

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, cache: FenceCache, *,
                 max_queued: int = MAX_QUEUED, ack_timeout: float = ACK_TIMEOUT_SECONDS,
                 processor: Callable[[list[Item], list[datetime]], object] | None = None,
                 dead_letters: DeadLetterStore | None = None) -> None:
        self.process = processor or Processor(sessions, clock, cache)
        self.dead_letters = dead_letters
        self.max_queued, self.ack_timeout = max_queued, ack_timeout
        self._queue: queue.Queue[_Entry | None] = queue.Queue()
        self._queued = 0  # positions waiting (guarded by _lock)
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._run, name="telemetry-processor",
                                        daemon=True)
        self._worker.start()

    def _put(self, items: list[Item], received_at: datetime) -> Future[None]:
        entry = _Entry(list(items), received_at)
        with self._lock:
            if self._queued and self._queued + len(items) > self.max_queued:
                raise QueueFull()
            self._queued += len(items)
        self._queue.put(entry)
        return entry.done

    def publish(self, items: list[Item], received_at: datetime) -> service.IngestReport | None:
        """Queue the positions and wait until they are committed."""
        done = self._put(items, received_at)
        try:
            done.result(timeout=self.ack_timeout)
        except FutureTimeout:
            raise QueueBusy() from None
        return None

    async def apublish(self, items: list[Item], received_at: datetime
                       ) -> service.IngestReport | None:
        """:meth:`publish` from the server's event loop: waits without holding a thread."""
        done = self._put(items, received_at)
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(done)),
                                   self.ack_timeout)
        except TimeoutError:
            raise QueueBusy() from None
        return None

    def flush(self, timeout: float = 10.0) -> None:
        waiter = threading.Thread(target=self._queue.join, daemon=True)
        waiter.start()
        waiter.join(timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=10)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)  # the queue is drained first

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._queue.task_done()
                self._drain_and_stop()
                return
            entries = [first]
            size = len(first.items)
            stop = False
            while size < BATCH:
                try:  # what is waiting now goes in the same transaction
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                entries.append(nxt)
                size += len(nxt.items)
            self._write(entries)
            for _ in range(len(entries) + stop):
                self._queue.task_done()
            if stop:
                self._drain_and_stop()
                return

    def _write(self, entries: list[_Entry]) -> None:
        batch = [item for e in entries for item in e.items]
        received = [e.received_at for e in entries for _ in e.items]
        errors: list[BaseException | None] = [None] * len(entries)
        try:
            if batch:
                self.process(batch, received)
        except Exception as exc:  # the worker survives a bad batch; its publishers are told
            log.warning("telemetry batch failed", positions=len(batch), reason=reason_of(exc))
            # the database away: every publisher sends again; else each publisher's
            # positions alone, so that one bad message fails no other
            errors = [exc] * len(entries) if transient(exc) else \
                [self._alone(e) for e in entries]
        with self._lock:
            self._queued -= len(batch)
        for e, error in zip(entries, errors, strict=True):
            if e.done.done():  # cannot happen (publishers never cancel it); never fail here
                continue
            if error is None:
                e.done.set_result(None)
            else:
                e.done.set_exception(QueueBusy())

    def _alone(self, entry: _Entry) -> BaseException | None:
        try:
            self.process(entry.items, [entry.received_at] * len(entry.items))
        except Exception as exc:
            return self._settle(entry, exc)
        return None

    def _settle(self, entry: _Entry, exc: BaseException) -> BaseException | None:
        """Positions that failed alone: set aside unless the database is away (then the
        publisher is answered 503). Returns the error to answer with, if any."""
        if transient(exc) or self.dead_letters is None:
            return exc
        try:
            self.dead_letters.put(source="memory", payload=payload_of(
                entry.items, [entry.received_at]), positions=len(entry.items),
                reason=reason_of(exc), deliveries=2)
        except Exception as failed:  # the dead letter could not be kept: answered 503
            log.warning("dead letter not stored", reason=reason_of(failed))
            return failed
        return None

    def _drain_and_stop(self) -> None:
        """After the stop mark: write what was queued behind it (nothing is left unwritten
        when the server stops)."""
        rest: list[_Entry] = []
        while True:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            self._queue.task_done()
            if nxt is not None:
                rest.append(nxt)
        for start in range(0, len(rest), 64):
            self._write(rest[start:start + 64])


def build_bus(settings: Settings, sessions: sessionmaker[Session], clock: Clock,
              cache: FenceCache) -> Bus:
    """The bus the settings name (``BORDERFLOW_TELEMETRY_BUS``)."""
    if settings.telemetry_bus == "inline":
        return InlineBus(sessions, clock, cache)
    if settings.telemetry_bus == "nats":
        from borderflow.telemetry.nats_bus import NatsBus

        return NatsBus(settings.nats_url, settings.nats_stream, settings.nats_subject,
                       partitions=settings.nats_partitions, limits=stream_limits(settings))
    return MemoryBus(sessions, clock, cache, max_queued=settings.telemetry_queue_positions,
                     dead_letters=DeadLetterStore(sessions, clock))


def stream_limits(settings: Settings) -> StreamLimits:
    from borderflow.telemetry.nats_bus import StreamLimits

    return StreamLimits(retention=settings.nats_retention,
                        max_age_seconds=settings.nats_max_age_hours * 3600,
                        max_bytes=settings.nats_max_bytes, replicas=settings.nats_replicas)


_GAUGE: DeadLetterGauge | None = None


def count_dead_letters(sessions: sessionmaker[Session]) -> None:
    """Have ``/metrics`` show the dead letters waiting in this database."""
    global _GAUGE
    if _GAUGE is None:
        _GAUGE = DeadLetterGauge(sessions)
        REGISTRY.register(_GAUGE)
    _GAUGE.sessions = sessions


@asynccontextmanager
async def lifespan_with_mqtt(app: FastAPI) -> AsyncIterator[None]:
    """With ``BORDERFLOW_MQTT_URL`` set, OwnTracks messages from the broker go to the bus.
    (And the metrics count the telemetry's dead letters.)"""
    count_dead_letters(app.state.ctx.sessions)
    url = app.state.ctx.settings.mqtt_url
    if not url:
        yield
        return
    from borderflow.telemetry import mqtt

    bus: Bus = app.state.telemetry
    clock: Clock = app.state.ctx.clock
    stop = asyncio.Event()
    settings = app.state.ctx.settings


    async def subscribe() -> None:
        try:
            await mqtt.run(url, lambda items: bus.apublish(items, clock.now()), clock.now,
                           stop, topic=settings.mqtt_topic, client_id=settings.mqtt_client_id,
                           options=mqtt.Options.of(settings))
        except mqtt.NotAllowed:  # logged with the broker's reason; the API goes on
            return

    task = asyncio.create_task(subscribe())
    try:
        yield
    finally:
        stop.set()
        await task
