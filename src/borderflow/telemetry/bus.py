"""The bus between ingestion and the telemetry processor.

Ingestion decodes and validates, then publishes; the processor stores positions in batches and
moves trips. ``inline`` processes in the publishing request (simple, and what tests use);
``memory`` is an in-process queue drained by one worker thread in batches (the embedded
default). Both call the same :func:`borderflow.telemetry.service.ingest`.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Protocol

import structlog
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from borderflow.clock import Clock
from borderflow.config import Settings
from borderflow.network import service as networks
from borderflow.telemetry import service
from borderflow.telemetry.decoders import Fix, Rejection
from borderflow.telemetry.geofence import Fences

log = structlog.get_logger("borderflow.telemetry")

Item = Fix | Rejection
BATCH = 2000
GATHER_SECONDS = 0.05
"""The in-process processor waits this long after a first position for more to write with it."""


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


class MemoryBus:
    """An in-process queue with one worker thread writing batches of up to ``BATCH``."""

    blocking = False  # publishing only puts on the queue

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, cache: FenceCache) -> None:
        self.process = Processor(sessions, clock, cache)
        self._queue: queue.Queue[tuple[list[Item], datetime] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="telemetry-processor",
                                        daemon=True)
        self._worker.start()

    def publish(self, items: list[Item], received_at: datetime) -> service.IngestReport | None:
        self._queue.put((items, received_at))
        return None

    async def apublish(self, items: list[Item], received_at: datetime
                       ) -> service.IngestReport | None:
        return self.publish(items, received_at)  # only puts on the queue

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
                return
            batch, received = list(first[0]), [first[1]] * len(first[0])
            taken = 1
            stop = False
            until = time.monotonic() + GATHER_SECONDS
            while len(batch) < BATCH:
                try:  # gather what arrives shortly after: one transaction for many requests
                    nxt = self._queue.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
                taken += 1
                if nxt is None:
                    stop = True
                    break
                batch += nxt[0]
                received += [nxt[1]] * len(nxt[0])
            try:
                if batch:
                    self.process(batch, received)
            except Exception:  # the worker must survive a bad batch; it is logged
                log.exception("telemetry batch failed", positions=len(batch))
            for _ in range(taken):
                self._queue.task_done()
            if stop:
                return


def build_bus(settings: Settings, sessions: sessionmaker[Session], clock: Clock,
              cache: FenceCache) -> Bus:
    """The bus the settings name (``BORDERFLOW_TELEMETRY_BUS``)."""
    if settings.telemetry_bus == "inline":
        return InlineBus(sessions, clock, cache)
    if settings.telemetry_bus == "nats":
        from borderflow.telemetry.nats_bus import NatsBus

        return NatsBus(settings.nats_url, settings.nats_stream, settings.nats_subject,
                       partitions=settings.nats_partitions)
    return MemoryBus(sessions, clock, cache)


@asynccontextmanager
async def lifespan_with_mqtt(app: FastAPI) -> AsyncIterator[None]:
    """With ``BORDERFLOW_MQTT_URL`` set, OwnTracks messages from the broker go to the bus."""
    url = app.state.ctx.settings.mqtt_url
    if not url:
        yield
        return
    from borderflow.telemetry import mqtt

    bus: Bus = app.state.telemetry
    clock: Clock = app.state.ctx.clock
    stop = asyncio.Event()
    settings = app.state.ctx.settings
    task = asyncio.create_task(mqtt.run(url, lambda items: bus.apublish(items, clock.now()),
                                        clock.now, stop, topic=settings.mqtt_topic,
                                        client_id=settings.mqtt_client_id))
    try:
        yield
    finally:
        stop.set()
        await task
