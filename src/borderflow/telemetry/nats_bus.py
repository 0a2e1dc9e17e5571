"""NATS JetStream as the telemetry bus: several ingest workers publish, several processors
consume, on several machines.

Publishing waits for JetStream's acknowledgement, so a position the API acknowledged is on the
stream (file storage) before the phone hears back. A processor takes messages from a durable
pull consumer, writes them in one transaction, commits, and only then acknowledges them: a
processor killed in between leaves them unacknowledged, they are delivered again, and the
positions' primary key (device, fix time) stores each one exactly once.

The stream has ``BORDERFLOW_NATS_PARTITIONS`` partitions, subjects ``<subject>.<n>``; a device's
positions always go to the same one (:func:`borderflow.telemetry.wire.partition_of`). Each
partition has its own durable consumer (``processor-<n>``), and a processor consumes the
partitions it is given (all by default), each in its own loop and transaction. With one
processor per partition, every device is followed by one processor only: no processor waits on
another's device rows, and the fences each device is in stay in that processor's memory. Two
processors given the same partition share its consumer: still correct (device rows are locked),
only slower. Messages on the bare subject (published before partitions existed) are drained by
whichever processor has partition 0.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import nats
import structlog
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from borderflow.errors import Unavailable
from borderflow.telemetry import service, wire
from borderflow.telemetry.decoders import Fix, Rejection

log = structlog.get_logger("borderflow.telemetry")
T = TypeVar("T")
DURABLE = "processor"
"""The consumer of the bare subject; partition ``n`` has ``processor-<n>``."""


def partition_subject(subject: str, partition: int) -> str:
    return f"{subject}.{partition}"


async def ensure_stream(js: JetStreamContext, stream: str, subject: str) -> None:
    """The stream, taking the bare subject and every partition's (``<subject>.*``); a stream
    made before partitions existed is widened."""
    wanted = [subject, f"{subject}.*"]
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        await js.add_stream(StreamConfig(name=stream, subjects=wanted))
        return
    if sorted(info.config.subjects or []) != sorted(wanted):
        info.config.subjects = wanted
        await js.update_stream(info.config)


class BusUnavailable(Unavailable):
    def __init__(self) -> None:
        super().__init__("positions could not be handed on for processing (the telemetry bus "
                         "is unreachable): send them again (a position sent twice is stored "
                         "once)")


class NatsBus:
    """The publishing side, for API and ingest workers. Synchronous callers (an MQTT ingest
    worker's thread) publish through a connection on an event loop of its own, in a thread;
    the server's event loop publishes on a connection made on that loop, without crossing
    threads."""

    blocking = True  # waits for JetStream's acknowledgement

    def __init__(self, url: str, stream: str, subject: str, timeout: float = 5.0,
                 partitions: int = 1) -> None:
        self.url, self.stream, self.subject, self.timeout = url, stream, subject, timeout
        self.partitions = partitions
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._connections: dict[asyncio.AbstractEventLoop, tuple[Any, JetStreamContext]] = {}
        self._connecting: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def _run(self, coro: Awaitable[T]) -> T:
        with self._thread_lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever,
                                                name="nats-bus", daemon=True)
                self._thread.start()
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(  # type: ignore[arg-type]
            self.timeout + 5)  # the coroutine has its own timeout

    async def _js(self) -> JetStreamContext:
        """This event loop's connection (made on first use)."""
        loop = asyncio.get_running_loop()
        got = self._connections.get(loop)
        if got is not None and not got[0].is_closed:
            return got[1]
        lock = self._connecting.setdefault(loop, asyncio.Lock())
        async with lock:
            got = self._connections.get(loop)
            if got is None or got[0].is_closed:  # never made, or gave up reconnecting
                # a request waiting on the bus fails fast (503, send again), and a connection
                # that breaks and cannot be made again at once is closed, and made anew at the
                # next publish
                nc = await nats.connect(self.url, connect_timeout=2, max_reconnect_attempts=1,
                                        reconnect_time_wait=0.2, error_cb=_connection_error)
                js = nc.jetstream()
                await ensure_stream(js, self.stream, self.subject)
                got = self._connections[loop] = (nc, js)
        return got[1]

    def _messages(self, items: list[Fix | Rejection], received_at: datetime
                  ) -> list[tuple[str, bytes]]:
        """One message per partition the items fall in."""
        return [(partition_subject(self.subject, p), wire.encode(group, received_at))
                for p, group in sorted(wire.split(items, self.partitions).items())]

    async def _publish(self, messages: list[tuple[str, bytes]]) -> None:
        """Publish and wait for JetStream's acknowledgements; :class:`BusUnavailable` if
        they do not come (some partitions' messages may be on the stream: sending the same
        positions again stores each once)."""
        try:
            js = await self._js()
            await asyncio.wait_for(asyncio.gather(*(
                js.publish(subject, data, stream=self.stream) for subject, data in messages)),
                self.timeout)
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            log.warning("positions not handed to NATS JetStream", reason=repr(exc)[:200])
            raise BusUnavailable() from exc

    def publish(self, items: list[Fix | Rejection], received_at: datetime
                ) -> service.IngestReport | None:
        self._run(self._publish(self._messages(items, received_at)))
        return None

    async def apublish(self, items: list[Fix | Rejection], received_at: datetime
                       ) -> service.IngestReport | None:
        """From the caller's event loop (the server's): wait for JetStream's
        acknowledgements."""
        await self._publish(self._messages(items, received_at))
        return None

    def flush(self, timeout: float = 10.0) -> None:
        return None  # published means durable; processors run elsewhere

    async def aclose(self) -> None:
        """Close the calling event loop's connection, then the rest."""
        got = self._connections.pop(asyncio.get_running_loop(), None)
        if got is not None:
            await _drain(got[0])
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        loop = self._loop
        if loop is not None:
            got = self._connections.pop(loop, None)
            if got is not None:
                try:
                    self._run(_drain(got[0]))
                except Exception:  # closing must not fail the shutdown; it is logged
                    log.exception("closing the NATS connection failed")
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._loop = None


async def _connection_error(exc: Exception) -> None:
    log.warning("NATS connection error", reason=repr(exc)[:200])


async def _drain(nc: Any) -> None:
    try:
        await nc.drain()
    except Exception:  # closing must not fail the shutdown; it is logged
        log.exception("closing the NATS connection failed")


async def run_processor(url: str, stream: str, subject: str,
                        handle: Callable[[list[Fix | Rejection], list[datetime]], Any],
                        stop: asyncio.Event, batch: int = 100,
                        partitions: Sequence[int] = (0,)) -> None:
    """Consume the given partitions of the stream until ``stop`` is set, each in its own loop:
    fetch what is there (up to ``batch`` messages), ``handle`` it in a worker thread (which
    commits; each item comes with the time its message was received), then acknowledge.
    Whoever has partition 0 also drains the bare subject."""
    nc = await nats.connect(url, connect_timeout=2)
    js = nc.jetstream()
    await ensure_stream(js, stream, subject)
    subscriptions = [await js.pull_subscribe(partition_subject(subject, p),
                                             durable=f"{DURABLE}-{p}", stream=stream)
                     for p in sorted(set(partitions))]
    if 0 in partitions:
        subscriptions.append(await js.pull_subscribe(subject, durable=DURABLE, stream=stream))
    log.info("telemetry processor consuming", stream=stream, partitions=sorted(partitions))
    try:
        await asyncio.gather(*(_consume(sub, handle, stop, batch) for sub in subscriptions))
    finally:
        await nc.close()


async def _consume(sub: Any, handle: Callable[[list[Fix | Rejection], list[datetime]], Any],
                   stop: asyncio.Event, batch: int) -> None:
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
