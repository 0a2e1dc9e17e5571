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
another's device rows, and the fences each device is in stay in that processor's memory. On
PostgreSQL that is enforced by a lease (:mod:`borderflow.telemetry.lease`): a second processor
given the same partition stands by until the first is gone. Without a lease, two share the
consumer: still correct (device rows are locked), only slower. Messages on the bare subject
(published before partitions existed) are drained by whichever processor has partition 0.

A batch that fails never stops a processor: see :class:`RetryPolicy` and
:mod:`borderflow.telemetry.dead_letters`. The stream's retention and limits:
:class:`StreamLimits`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import nats
import structlog
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from borderflow.errors import Unavailable
from borderflow.telemetry import service, wire
from borderflow.telemetry.dead_letters import DeadLetterStore, payload_of, reason_of, transient
from borderflow.telemetry.decoders import Fix, Rejection
from borderflow.telemetry.lease import CHECK_SECONDS as LEASE_CHECK_SECONDS
from borderflow.telemetry.lease import PartitionLease

log = structlog.get_logger("borderflow.telemetry")
T = TypeVar("T")
DURABLE = "processor"
"""The consumer of the bare subject; partition ``n`` has ``processor-<n>``."""


def partition_subject(subject: str, partition: int) -> str:
    return f"{subject}.{partition}"


@dataclass(frozen=True)
class StreamLimits:
    """How much the stream keeps (``BORDERFLOW_NATS_RETENTION``, ``_MAX_AGE_HOURS``,
    ``_MAX_BYTES``, ``_REPLICAS``). With work-queue retention a message is deleted once a
    processor acknowledges it, and a full stream refuses new messages (publishers answer 503
    and clients send again) rather than drop unprocessed ones; with limits retention the
    stream keeps acknowledged messages too, up to the age and size given, dropping the
    oldest."""

    retention: str = "workqueue"
    max_age_seconds: float = 7 * 24 * 3600.0
    max_bytes: int = -1
    replicas: int = 1

    def config(self, stream: str, subjects: list[str]) -> StreamConfig:
        workqueue = self.retention == "workqueue"
        return StreamConfig(
            name=stream, subjects=subjects, storage=StorageType.FILE,
            retention=RetentionPolicy.WORK_QUEUE if workqueue else RetentionPolicy.LIMITS,
            discard=DiscardPolicy.NEW if workqueue else DiscardPolicy.OLD,
            max_age=self.max_age_seconds, max_bytes=self.max_bytes,
            num_replicas=self.replicas)


def _same(a: float | None, b: float | None) -> bool:
    return abs((a or 0) - (b or 0)) < 1e-3


async def ensure_stream(js: JetStreamContext, stream: str, subject: str,
                        limits: StreamLimits | None = None) -> None:
    """The stream, taking the bare subject and every partition's (``<subject>.*``), with the
    limits given; a stream made before partitions existed is widened, one made with other
    limits is brought to these. NATS cannot change a stream's retention policy or its
    replicas on a single server: a stream made with others keeps them (logged)."""
    limits = limits or StreamLimits()
    wanted = [subject, f"{subject}.*"]
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        await js.add_stream(limits.config(stream, wanted))
        return
    config = info.config
    want = limits.config(stream, wanted)
    if config.retention != want.retention:
        log.warning("the positions stream keeps its retention policy (NATS cannot change "
                    "it); drain and delete the stream to have the one configured",
                    stream=stream, retention=str(config.retention),
                    configured=limits.retention)
        want.retention, want.discard = config.retention, config.discard
    if (sorted(config.subjects or []) == sorted(wanted) and _same(config.max_age, want.max_age)
            and (config.max_bytes or -1) == want.max_bytes and config.discard == want.discard):
        return
    config.subjects = wanted
    config.max_age, config.max_bytes, config.discard = want.max_age, want.max_bytes, \
        want.discard
    await js.update_stream(config)


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
                 partitions: int = 1, limits: StreamLimits | None = None) -> None:
        self.url, self.stream, self.subject, self.timeout = url, stream, subject, timeout
        self.partitions, self.limits = partitions, limits
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._connections: dict[asyncio.AbstractEventLoop, tuple[Any, JetStreamContext]] = {}
        self._connecting: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        self._gathering: dict[asyncio.AbstractEventLoop, _Gathering] = {}

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
                await ensure_stream(js, self.stream, self.subject, self.limits)
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
        acknowledgements of the message(s) holding the items. Requests that arrive while a
        partition's publish is on its way are gathered into its next message
        (:class:`_Gathering`): under load, one OsmAnd request is no longer one message."""
        gathering = self._gathering.get(asyncio.get_running_loop())
        if gathering is None:
            gathering = self._gathering[asyncio.get_running_loop()] = _Gathering(self)
        await gathering.publish(wire.split(items, self.partitions), received_at)
        return None

    def flush(self, timeout: float = 10.0) -> None:
        return None  # published means durable; processors run elsewhere

    async def aclose(self) -> None:
        """Close the calling event loop's connection (once what is being published on it is
        acknowledged or has failed), then the rest."""
        gathering = self._gathering.pop(asyncio.get_running_loop(), None)
        if gathering is not None:
            await asyncio.gather(*gathering.tasks, return_exceptions=True)
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


GATHER_POSITIONS = 1000
"""At most this many positions are gathered into one message (a batch request's partition
alone can hold 1,000: it is published as it is)."""
GATHER_BYTES = 512 * 1024
"""A gathered message larger than this is published as one message per request instead, as
without gathering: requests that each fit NATS's largest message (``max_payload``, 1 MiB by
default) never fail because they came together."""


@dataclass
class _Message:
    """A message being gathered for one partition: the requests' items with their reception
    times, and the future every request in it waits on."""

    groups: list[tuple[list[Fix | Rejection], datetime]]
    positions: int
    done: asyncio.Future[None]


class _Gathering:
    """Publishing on one event loop, gathered per partition (group commit): a request's items
    join the partition's open message; a partition has one publisher task, which publishes
    every open message, waits for JetStream's acknowledgements, and goes on while new ones
    opened meanwhile. An idle partition publishes a request at the next turn of the event
    loop, as before; a busy one, everything that arrived during one round trip to JetStream
    in one message, which spares the API one publish and the processor one message (fetch,
    decode, acknowledgement) per request. Every request waits until the message holding its
    items is acknowledged, and fails (:class:`BusUnavailable`) with it; sending again stores
    each position once."""

    def __init__(self, bus: NatsBus) -> None:
        self.bus = bus
        self.open: dict[int, list[_Message]] = {}
        self.running: set[int] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    async def publish(self, parts: dict[int, list[Fix | Rejection]], received_at: datetime
                      ) -> None:
        waits = [self._join(p, group, received_at) for p, group in sorted(parts.items())]
        for done in waits:  # shielded: a request whose client went away leaves the others
            await asyncio.shield(done)

    def _join(self, partition: int, items: list[Fix | Rejection], received_at: datetime
              ) -> asyncio.Future[None]:
        queued = self.open.setdefault(partition, [])
        last = queued[-1] if queued else None
        if last is None or last.positions + len(items) > GATHER_POSITIONS:
            last = _Message([], 0, asyncio.get_running_loop().create_future())
            queued.append(last)
        last.groups.append((items, received_at))
        last.positions += len(items)
        if partition not in self.running:
            self.running.add(partition)
            task = asyncio.get_running_loop().create_task(self._run(partition))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return last.done

    async def _run(self, partition: int) -> None:
        subject = partition_subject(self.bus.subject, partition)
        messages: list[_Message] = []
        try:
            while self.open.get(partition):
                messages = self.open.pop(partition)
                outcomes = await asyncio.gather(*(
                    self._send(subject, m) for m in messages), return_exceptions=True)
                for m, outcome in zip(messages, outcomes, strict=True):
                    _settle(m, outcome if isinstance(outcome, BaseException) else None)
        finally:
            self.running.discard(partition)
            # only when this task was cancelled (the server stopping): no request waits forever
            for m in messages + self.open.pop(partition, []):
                _settle(m, BusUnavailable())

    async def _send(self, subject: str, m: _Message) -> None:
        data = wire.encode_groups(m.groups)
        if len(data) > GATHER_BYTES and len(m.groups) > 1:
            await self.bus._publish([(subject, wire.encode(items, at))
                                     for items, at in m.groups])
            return
        await self.bus._publish([(subject, data)])


def _settle(m: _Message, failure: BaseException | None) -> None:
    """Answer the requests waiting on a message (once)."""
    if m.done.done():
        return
    if failure is None:
        m.done.set_result(None)
    else:
        m.done.set_exception(failure)
        m.done.exception()  # retrieved: no warning when no request waits any more


async def _connection_error(exc: Exception) -> None:
    log.warning("NATS connection error", reason=repr(exc)[:200])


async def _drain(nc: Any) -> None:
    try:
        await nc.drain()
    except Exception:  # closing must not fail the shutdown; it is logged
        log.exception("closing the NATS connection failed")


@dataclass(frozen=True)
class RetryPolicy:
    """What a processor does with a message it could not store. A failure of the database or
    the network (:func:`~borderflow.telemetry.dead_letters.transient`) is waited out: the
    message is delivered again after a back-off, however many times it takes. Any other
    failure is retried until the message has been delivered ``max_deliver`` times
    (``BORDERFLOW_NATS_MAX_DELIVER``), then the message is set aside as a dead letter and
    acknowledged, and the partition goes on."""

    max_deliver: int = 5
    backoff_seconds: tuple[float, ...] = (1.0, 5.0, 15.0, 30.0, 60.0)

    def delay(self, deliveries: int) -> float:
        return self.backoff_seconds[min(max(deliveries, 1), len(self.backoff_seconds)) - 1]


PROGRESS_SECONDS = 10.0
"""While a batch is being written, its messages are reported in progress this often, so that
JetStream (ack wait: 30 s) never hands a slow batch to another processor meanwhile."""
MORE_SECONDS = 0.005
"""How long a processor that took a full fetch and still has room in its transaction waits
for more messages before it writes what it has."""

Handle = Callable[[list[Fix | Rejection], list[datetime]], Any]
Taken = tuple[Any, list[Fix | Rejection], list[datetime]]
"""A message taken from the stream, its items, and when ingestion received each."""


@dataclass(frozen=True)
class Batching:
    """How much a processor writes in one transaction: what is waiting on its partition, up
    to ``positions`` positions (``BORDERFLOW_NATS_BATCH_POSITIONS``; rejections count as
    positions) and ``messages`` messages (``BORDERFLOW_NATS_BATCH``, a safety: one OsmAnd
    request is a message of one position, one batch request a message of up to 1,000 per
    partition). A message is never split: one holding more than ``positions`` is a
    transaction of its own. A message taken from the stream that would go past the bound
    waits for the next transaction (kept in progress meanwhile)."""

    positions: int = 4000
    messages: int = 1000
    first: int = 8
    """Messages asked for before the processor has seen how many positions a message
    holds."""

    def __post_init__(self) -> None:
        if self.positions < 1 or self.messages < 1 or self.first < 1:
            raise ValueError("batch bounds are at least 1")

    def want(self, messages: int, positions: int, per_message: float | None) -> int:
        """Messages to ask the stream for, given what the transaction holds and the
        positions a message held lately."""
        room = self.messages - messages
        if per_message is None:
            return max(1, min(room, self.first))
        return max(1, min(room, math.ceil((self.positions - positions) / per_message)))


async def run_processor(url: str, stream: str, subject: str, handle: Handle,
                        stop: asyncio.Event, batch: int = 1000,
                        partitions: Sequence[int] = (0,),
                        dead_letters: DeadLetterStore | None = None,
                        retry: RetryPolicy | None = None,
                        limits: StreamLimits | None = None,
                        lease: PartitionLease | None = None,
                        positions: int = 4000) -> None:
    """Consume the given partitions of the stream until ``stop`` is set, each in its own loop:
    take what is there (up to ``positions`` positions in up to ``batch`` messages:
    :class:`Batching`), ``handle`` it in a worker thread (which commits; each item comes with
    the time its message was received), then acknowledge. Whoever has partition 0 also
    drains the bare subject. A batch that fails is taken apart: written in halves until the
    message that fails is alone, and that one is delivered again later or, after its
    retries, set aside in ``dead_letters`` (:class:`RetryPolicy`); one bad message never
    stops the processor or its partition. With a ``lease`` a partition is consumed only while
    this processor holds it (:mod:`borderflow.telemetry.lease`)."""
    nc = await nats.connect(url, connect_timeout=2, error_cb=_connection_error)
    js = nc.jetstream()
    await ensure_stream(js, stream, subject, limits)
    subscriptions = [(p, await js.pull_subscribe(partition_subject(subject, p),
                                                 durable=f"{DURABLE}-{p}", stream=stream))
                     for p in sorted(set(partitions))]
    if 0 in partitions:
        subscriptions.append((0, await js.pull_subscribe(subject, durable=DURABLE,
                                                         stream=stream)))
    log.info("telemetry processor consuming", stream=stream, partitions=sorted(partitions))
    consumer = _Consumer(handle, dead_letters, retry or RetryPolicy(), lease)
    bounds = Batching(positions=positions, messages=batch)
    try:
        await asyncio.gather(*(consumer.run(sub, stop, bounds, p) for p, sub in subscriptions))
    finally:
        if lease is not None:
            lease.release()
        await nc.close()


@contextlib.asynccontextmanager
async def _in_progress(msgs: Sequence[Any]) -> AsyncIterator[None]:
    """Tell JetStream, every :data:`PROGRESS_SECONDS`, that the messages are being worked on
    (their acknowledgement deadline starts again)."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(PROGRESS_SECONDS)
            for m in msgs:
                with contextlib.suppress(Exception):  # a lost beat: at worst a redelivery
                    await m.in_progress()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class _Consumer:
    def __init__(self, handle: Handle, dead_letters: DeadLetterStore | None,
                 retry: RetryPolicy, lease: PartitionLease | None = None) -> None:
        self.handle, self.dead_letters, self.retry = handle, dead_letters, retry
        self.lease = lease
        self.per_message: float | None = None
        """Positions a message held lately (a moving average), to ask for as many messages
        as fill a transaction."""

    async def _leased(self, partition: int, stop: asyncio.Event, checked: float) -> float:
        """Hold the partition's lease before fetching (checked every few seconds); returns
        when it was last checked."""
        if self.lease is None:
            return checked
        loop = asyncio.get_running_loop()
        if loop.time() - checked < LEASE_CHECK_SECONDS:
            return checked
        if not await self.lease.held(partition):
            await self.lease.acquire(partition, stop)
        return loop.time()

    async def run(self, sub: Any, stop: asyncio.Event, bounds: Batching, partition: int = 0
                  ) -> None:
        checked = float("-inf")
        waiting: list[Taken] = []  # taken from the stream, for the next transaction
        try:
            while not stop.is_set():
                checked = await self._leased(partition, stop, checked)
                if stop.is_set():
                    return
                try:
                    taken, waiting = await self.take(sub, bounds, waiting)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                except Exception as exc:  # the connection is away: the client reconnects
                    log.warning("positions not fetched from NATS JetStream; trying again",
                                reason=repr(exc)[:200])
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 1)
                    continue
                if not taken:
                    continue
                try:
                    async with _in_progress([m for m, _got, _at in taken + waiting]):
                        await self.batch(taken)
                except Exception:  # unacknowledged messages come again; the processor goes on
                    log.exception("telemetry batch not handled; its messages come again")
        finally:
            for m, _got, _at in waiting:  # not written: delivered again to whoever goes on
                with contextlib.suppress(Exception):
                    await m.nak()

    async def take(self, sub: Any, bounds: Batching, waiting: list[Taken]
                   ) -> tuple[list[Taken], list[Taken]]:
        """What goes in the next transaction (the messages left from the last one first, then
        what the stream has waiting), within ``bounds``; and what was taken from the stream
        beyond them, for the transaction after. Waits up to a second for a first message;
        messages that are not positions messages are set aside at once."""
        taken: list[Taken] = []
        positions = 0
        pending = list(waiting)
        asked = 0
        got = 0
        while True:
            while pending and len(taken) < bounds.messages and (
                    not taken or positions + len(pending[0][1]) <= bounds.positions):
                one = pending.pop(0)
                taken.append(one)
                positions += len(one[1])
            full = positions >= bounds.positions or len(taken) >= bounds.messages
            if pending or full or (asked and got < asked):  # the transaction is full, or
                return taken, pending  # the stream had no more waiting
            asked = bounds.want(len(taken), positions, self.per_message)
            try:
                msgs = await sub.fetch(asked, timeout=MORE_SECONDS if taken else 1)
            except (TimeoutError, nats.errors.TimeoutError):
                if taken:
                    return taken, pending
                raise
            got = len(msgs)
            for m in msgs:
                try:
                    items, at = wire.decode(m.data)
                except Exception as exc:  # never decodable: set aside at once
                    await self.give_up(m, 0, f"not a positions message: {reason_of(exc)}")
                    continue
                pending.append((m, items, at))
                held = max(len(items), 1)
                self.per_message = held if self.per_message is None else \
                    0.8 * self.per_message + 0.2 * held

    async def batch(self, taken: list[Taken]) -> None:
        """Write the messages in one transaction; if that fails, take them apart."""
        try:
            await self.write(taken)
        except Exception as exc:
            await self.settle(taken, exc)

    async def settle(self, taken: list[Taken], exc: BaseException) -> None:
        """Messages whose transaction failed: all delivered again later when the database or
        network is away; else written in halves until the message that fails is alone, which
        is then delivered again or set aside (:meth:`failed`), and the others are stored."""
        if transient(exc) or len(taken) == 1:
            for m, got, at in taken:
                await self.failed(m, got, at, exc)
            return
        log.warning("telemetry batch failed; writing its messages in halves",
                    messages=len(taken), reason=reason_of(exc))
        half = len(taken) // 2
        for part in (taken[:half], taken[half:]):
            try:
                await self.write(part)
            except Exception as again:
                await self.settle(part, again)

    async def write(self, taken: list[Taken]) -> None:
        """Handle the messages' items in one transaction, then acknowledge them."""
        items: list[Fix | Rejection] = []
        received: list[datetime] = []
        for _m, got, at in taken:
            items += got
            received += at
        if items:
            await asyncio.to_thread(self.handle, items, received)
        for m, _got, _at in taken:
            await m.ack()

    async def failed(self, m: Any, items: list[Fix | Rejection], received: list[datetime],
                     exc: BaseException) -> None:
        """A message that could not be written alone: delivered again after a back-off, or,
        after its retries (a failure that is not the database or network being away), its
        positions written apart and only those that fail set aside (:meth:`salvage`)."""
        deliveries = _deliveries(m)
        if not transient(exc) and deliveries >= self.retry.max_deliver:
            if len(items) > 1 and self.dead_letters is not None:
                await self.salvage(m, items, received, exc, deliveries)
            else:
                await self.give_up(m, len(items), reason_of(exc), deliveries)
            return
        delay = self.retry.delay(deliveries)
        log.warning("telemetry message not stored; it comes again", subject=m.subject,
                    deliveries=deliveries, retry_in_seconds=delay, reason=reason_of(exc),
                    transient=transient(exc))
        await m.nak(delay=delay)

    async def salvage(self, m: Any, items: list[Fix | Rejection], received: list[datetime],
                      exc: BaseException, deliveries: int) -> None:
        """A message of several positions (a batch request's, or phones' requests gathered
        into one) that keeps failing: its positions are written in halves until each one
        that fails is alone; the others are stored, the failing ones set aside as one dead
        letter (each with its reception time), and the message acknowledged. If the database
        goes away meanwhile, the message comes again whole (what was stored is stored once)."""
        bad: list[tuple[Fix | Rejection, datetime]] = []
        reasons: list[str] = []

        async def write(part: list[tuple[Fix | Rejection, datetime]]) -> None:
            try:
                await asyncio.to_thread(self.handle, [i for i, _ in part], [a for _, a in part])
            except Exception as again:
                if transient(again):
                    raise
                if len(part) == 1:
                    bad.extend(part)
                    reasons.append(reason_of(again))
                    return
                await write(part[:len(part) // 2])
                await write(part[len(part) // 2:])

        try:
            await write(list(zip(items, received, strict=True)))
        except Exception as away:
            log.warning("telemetry message not taken apart; it comes again", subject=m.subject,
                        reason=reason_of(away))
            await m.nak(delay=self.retry.delay(deliveries))
            return
        if not bad:  # every position stored apart (the failure came from their company)
            await m.ack()
            return
        log.warning("telemetry message taken apart; its failing positions are set aside",
                    subject=m.subject, positions=len(items), set_aside=len(bad))
        await self.give_up(m, len(bad), reasons[0] or reason_of(exc), deliveries,
                           payload=payload_of([i for i, _ in bad], [a for _, a in bad]))

    async def give_up(self, m: Any, positions: int, reason: str,
                      deliveries: int | None = None, payload: bytes | None = None) -> None:
        """Set the message aside as a dead letter (``payload``: what of it is kept, the
        whole message by default) and acknowledge it; if the dead letter cannot be stored,
        the message comes again."""
        deliveries = _deliveries(m) if deliveries is None else deliveries
        if self.dead_letters is None:  # nowhere to keep it: it is never dropped
            log.error("telemetry message keeps failing and no dead-letter store is set; it "
                      "comes again", subject=m.subject, reason=reason)
            await m.nak(delay=self.retry.backoff_seconds[-1])
            return
        try:
            await asyncio.to_thread(
                self.dead_letters.put, source="nats",
                payload=bytes(m.data) if payload is None else payload,
                positions=positions, reason=reason, deliveries=deliveries,
                subject=m.subject, sequence=_sequence(m))
        except Exception as exc:  # the database is away too: try again later
            log.warning("dead letter not stored; the message comes again",
                        reason=reason_of(exc))
            await m.nak(delay=self.retry.delay(deliveries))
            return
        await m.ack()


def _deliveries(m: Any) -> int:
    try:
        return int(m.metadata.num_delivered)
    except Exception:  # not a JetStream message (cannot happen on a pull subscription)
        return 1


def _sequence(m: Any) -> int | None:
    try:
        return int(m.metadata.sequence.stream)
    except Exception:  # as above
        return None
