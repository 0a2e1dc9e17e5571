"""NATS JetStream as the telemetry bus: several ingest workers publish, several processors
consume, on several machines.

Publishing waits for JetStream's acknowledgement, so a position the API acknowledged is on the
stream (file storage) before the phone hears back. A processor takes messages from a durable
pull consumer, writes them in one transaction, commits, and only then acknowledges them: a
processor killed in between leaves them unacknowledged, they are delivered again, and the
positions' primary key (device, fix time) stores each one exactly once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import nats
import structlog
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from borderflow.telemetry import service, wire
from borderflow.telemetry.decoders import Fix, Rejection

log = structlog.get_logger("borderflow.telemetry")
T = TypeVar("T")
DURABLE = "processor"


async def ensure_stream(js: JetStreamContext, stream: str, subject: str) -> None:
    try:
        await js.stream_info(stream)
    except NotFoundError:
        await js.add_stream(StreamConfig(name=stream, subjects=[subject]))


class NatsBus:
    """The publishing side, for API and ingest workers (synchronous callers: it runs its own
    event loop in a thread)."""

    blocking = True  # waits for JetStream's acknowledgement

    def __init__(self, url: str, stream: str, subject: str, timeout: float = 5.0) -> None:
        self.url, self.stream, self.subject, self.timeout = url, stream, subject, timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nats-bus",
                                        daemon=True)
        self._thread.start()
        self._js: JetStreamContext | None = None
        self._nc: Any = None

    def _run(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(  # type: ignore[arg-type]
            self.timeout)

    async def _connect(self) -> JetStreamContext:
        if self._js is None:
            self._nc = await nats.connect(self.url, connect_timeout=2, max_reconnect_attempts=3)
            self._js = self._nc.jetstream()
            await ensure_stream(self._js, self.stream, self.subject)
        return self._js

    async def _publish(self, data: bytes) -> None:
        js = await self._connect()
        await js.publish(self.subject, data, stream=self.stream)

    def publish(self, items: list[Fix | Rejection], received_at: datetime
                ) -> service.IngestReport | None:
        self._run(self._publish(wire.encode(items, received_at)))
        return None

    async def apublish(self, items: list[Fix | Rejection], received_at: datetime
                       ) -> service.IngestReport | None:
        """From another event loop (the server's): wait for JetStream's acknowledgement
        without holding a worker thread."""
        data = wire.encode(items, received_at)
        future = asyncio.run_coroutine_threadsafe(self._publish(data), self._loop)
        await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        return None

    def flush(self, timeout: float = 10.0) -> None:
        return None  # published means durable; processors run elsewhere

    def close(self) -> None:
        if self._nc is not None:
            try:
                self._run(self._nc.drain())
            except Exception:  # closing must not fail the shutdown; it is logged
                log.exception("closing the NATS connection failed")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


async def run_processor(url: str, stream: str, subject: str,
                        handle: Callable[[list[Fix | Rejection], list[datetime]], Any],
                        stop: asyncio.Event, batch: int = 100) -> None:
    """Consume the stream until ``stop`` is set: fetch what is there (up to ``batch``
    messages), ``handle`` it (which commits; each item comes with the time its message was
    received), then acknowledge."""
    nc = await nats.connect(url, connect_timeout=2)
    js = nc.jetstream()
    await ensure_stream(js, stream, subject)
    sub = await js.pull_subscribe(subject, durable=DURABLE, stream=stream)
    log.info("telemetry processor consuming", stream=stream)
    try:
        while not stop.is_set():
            try:
                msgs = await sub.fetch(batch, timeout=1)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            items: list[Fix | Rejection] = []
            received: list[datetime] = []
            for m in msgs:
                got, at = wire.decode(m.data)
                items += got
                received += [at] * len(got)
            if items:
                await asyncio.to_thread(handle, items, received)
            for m in msgs:
                await m.ack()
    finally:
        await nc.close()
