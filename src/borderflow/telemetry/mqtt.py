"""OwnTracks over MQTT: subscribe to ``owntracks/+/+`` on the broker (Mosquitto, or NATS's MQTT
listener), decode each location message and hand it to the telemetry bus, like the HTTP
endpoints do.

Messages are taken at QoS 1 (as OwnTracks sends them) and acknowledged to the broker only once
the bus has them: in batches, after ``publish`` returns (with NATS, once JetStream has them), so
a subscriber that stops in between gets them again and the positions' key (device, fix time)
stores each once. The subscriber speaks MQTT 5 to tell the broker how many unacknowledged
messages it may hold (``RECEIVE_MAXIMUM``), so batching acknowledgements does not stall the
flow. With a client id (``BORDERFLOW_MQTT_CLIENT_ID``) the session outlives a restart: the
broker keeps the messages that arrive meanwhile. Several ingest workers share the messages with
a shared subscription (``BORDERFLOW_MQTT_TOPIC=$share/borderflow/owntracks/+/+``), each with
its own client id. Reconnects when the broker goes away.

The client is the small part of MQTT 5 a subscriber needs (CONNECT, SUBSCRIBE, PUBLISH in,
PUBACK, PINGREQ, DISCONNECT), written for this one job: it parses what arrives in bulk and sends
a batch's acknowledgements in one write. A general client (paho-mqtt) reads each packet with
several system calls and builds objects per message, and cost the ingest worker 36 µs per
message before any decoding, more than the rest of the pipeline (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlparse

import orjson
import structlog

from borderflow.telemetry import decoders

log = structlog.get_logger("borderflow.telemetry")
TOPIC = "owntracks/+/+"
BATCH = 2000
FLUSH_SECONDS = 0.025
"""Messages are handed to the bus in batches: up to ``BATCH``, and none waits longer than
25 ms for its batch to fill."""
RECEIVE_MAXIMUM = 65535
"""Unacknowledged QoS 1 messages the broker may send before it waits (the MQTT 5 maximum)."""
SESSION_SECONDS = 24 * 3600
"""How long the broker keeps a named subscriber's session (and its messages) while it is away."""
KEEPALIVE_SECONDS: float = 60
RETRY_SECONDS = (1, 2, 5)

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 1, 2, 3, 4, 8, 9
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14

Message = tuple[str, bytes, int, int]
"""Topic, payload, packet id (0 at QoS 0), QoS."""


def decode_message(topic: str, payload: bytes, now: datetime
                   ) -> list[decoders.Fix | decoders.Rejection]:
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return [decoders.Rejection("owntracks", "message is not JSON", None,
                                   payload[:300].decode("utf-8", "replace"))]
    return decoders.owntracks(body, now, topic=topic)


class ProtocolError(Exception):
    """The broker refused us or sent something MQTT does not allow."""


# --- packets -------------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        digit, n = n % 128, n // 128
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


def packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([kind << 4 | flags]) + _varint(len(body)) + body


def connect_packet(client_id: str, *, keepalive: int, session_seconds: int,
                   username: str | None = None, password: str | None = None) -> bytes:
    """CONNECT, MQTT 5: a clean start without a client id, else the session resumes and is
    kept ``session_seconds`` while away; the broker may leave ``RECEIVE_MAXIMUM`` messages
    unacknowledged."""
    flags = 0x02 if not client_id else 0
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    props = bytes([0x21]) + RECEIVE_MAXIMUM.to_bytes(2, "big")
    if client_id:
        props += bytes([0x11]) + session_seconds.to_bytes(4, "big")
    body = (_string("MQTT") + bytes([5, flags]) + keepalive.to_bytes(2, "big")
            + _varint(len(props)) + props + _string(client_id))
    if username is not None:
        body += _string(username)
    if password is not None:
        body += _string(password)
    return packet(CONNECT, 0, body)


def subscribe_packet(packet_id: int, topic: str) -> bytes:
    return packet(SUBSCRIBE, 0x02, packet_id.to_bytes(2, "big") + b"\x00" + _string(topic)
                  + b"\x01")  # no properties; maximum QoS 1


def pubacks(packet_ids: list[int]) -> bytes:
    """PUBACKs of many messages, for one write (MQTT 5 allows the short form: success)."""
    return b"".join([b"\x40\x02" + i.to_bytes(2, "big") for i in packet_ids])


def _skip_varint(data: bytes | bytearray, at: int) -> tuple[int, int]:
    """A variable byte integer at ``at``: its value and where what follows it starts."""
    value, shift = 0, 0
    while True:
        if at >= len(data) or shift > 21:
            raise ProtocolError("malformed variable byte integer")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


class Reader:
    """Packets out of the bytes the broker sends, as they arrive in pieces."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        """The complete packets now buffered: (type, flags, body)."""
        buf = self.buffer
        buf += data
        out = []
        at, end = 0, len(buf)
        while end - at >= 2:
            first = buf[at]
            if buf[at + 1] < 0x80:  # the common case: a packet under 128 bytes of body
                size, start = buf[at + 1], at + 2
            else:
                try:
                    size, start = _skip_varint(buf, at + 1)
                except ProtocolError:
                    if end - at < 5:
                        break  # the length itself is not all here yet
                    raise
            if start + size > end:
                break
            out.append((first >> 4, first & 0x0F, bytes(buf[start:start + size])))
            at = start + size
        del buf[:at]
        return out


def parse_publish(flags: int, body: bytes) -> Message:
    """An incoming PUBLISH (MQTT 5): topic, payload, packet id, QoS."""
    qos = (flags >> 1) & 0x03
    size = int.from_bytes(body[0:2], "big")
    topic = body[2:2 + size].decode("utf-8", "replace")
    at = 2 + size
    packet_id = 0
    if qos:
        packet_id = int.from_bytes(body[at:at + 2], "big")
        at += 2
    props, at = _skip_varint(body, at)
    return topic, body[at + props:], packet_id, qos


# --- the connection ------------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One connection to the broker: received messages wait in ``inbox`` until handed on."""

    def __init__(self) -> None:
        self.reader = Reader()
        self.inbox: list[Message] = []
        self.oldest = 0.0
        """When the oldest message waiting in the inbox arrived (event loop time)."""
        self.arrived = asyncio.Event()
        self.connack: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.suback: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.closed = asyncio.Event()
        self.transport: asyncio.Transport | None = None
        self.heard = asyncio.get_running_loop().time()
        """When the broker last sent anything (a PINGRESP at least every keep-alive)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.heard = asyncio.get_running_loop().time()
        try:
            packets = self.reader.feed(data)
        except ProtocolError as exc:
            log.warning("MQTT broker sent a malformed packet; reconnecting", reason=str(exc))
            self.close()
            return
        if not self.inbox:
            self.oldest = asyncio.get_running_loop().time()
        for kind, flags, body in packets:
            if kind == PUBLISH:
                try:
                    self.inbox.append(parse_publish(flags, body))
                except (ProtocolError, IndexError):
                    log.warning("MQTT broker sent a malformed PUBLISH; reconnecting")
                    self.close()
                    return
            elif kind == CONNACK and not self.connack.done():
                self.connack.set_result(body)
            elif kind == SUBACK and not self.suback.done():
                self.suback.set_result(body)
            elif kind == DISCONNECT:
                reason = body[0] if body else 0
                log.warning("MQTT broker closed the session", reason_code=hex(reason))
                self.close()
        if self.inbox:
            self.arrived.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()
        self.arrived.set()
        for waiter in (self.connack, self.suback):
            if not waiter.done():
                waiter.set_exception(ConnectionError("the broker closed the connection"))
                waiter.exception()  # whoever awaits it gets the error; nobody else must

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def take(self, limit: int) -> list[Message]:
        got, self.inbox = self.inbox[:limit], self.inbox[limit:]
        if self.inbox:
            self.oldest = asyncio.get_running_loop().time()  # about: they came meanwhile
        else:
            self.arrived.clear()
        return got


async def _open(url: str, topic: str, client_id: str | None) -> _Connection:
    """Connect, resume or start the session, subscribe; raises what went wrong."""
    parts = urlparse(url)
    tls = ssl.create_default_context() if parts.scheme in ("mqtts", "ssl") else None
    loop = asyncio.get_running_loop()
    _transport, conn = await asyncio.wait_for(loop.create_connection(
        _Connection, parts.hostname or "127.0.0.1",
        parts.port or (8883 if tls else 1883), ssl=tls), 10)
    conn.send(connect_packet(
        client_id or "", keepalive=max(1, round(KEEPALIVE_SECONDS)),
        session_seconds=SESSION_SECONDS,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None))
    connack = await asyncio.wait_for(conn.connack, 10)
    if len(connack) < 2 or connack[1] >= 0x80:
        conn.close()
        raise ProtocolError(f"the broker refused the connection (reason code "
                            f"{hex(connack[1]) if len(connack) > 1 else '?'})")
    conn.send(subscribe_packet(1, topic))
    suback = await asyncio.wait_for(conn.suback, 10)
    props, at = _skip_varint(suback, 2)
    codes = suback[at + props:]
    if not codes or codes[0] >= 0x80:
        conn.close()
        raise ProtocolError(f"the broker refused the subscription to {topic} (reason code "
                            f"{hex(codes[0]) if codes else '?'})")
    return conn


async def run(url: str,
              publish: Callable[[list[decoders.Fix | decoders.Rejection]], Awaitable[Any]],
              now: Callable[[], datetime], stop: asyncio.Event,
              ready: asyncio.Event | None = None, topic: str = TOPIC,
              client_id: str | None = None) -> None:
    """Subscribe and forward until ``stop`` is set. The messages given to ``publish`` are
    acknowledged to the broker when it returns; if it raises they are not, and the broker
    sends them again on the next connection."""
    failures = 0
    while not stop.is_set():
        try:
            conn = await _open(url, topic, client_id)
        except (OSError, ConnectionError, TimeoutError, ProtocolError) as exc:
            delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
            failures += 1
            log.warning("MQTT broker unreachable; retrying", broker=url, reason=str(exc),
                        retry_in_seconds=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            continue
        failures = 0
        log.info("listening for OwnTracks over MQTT", broker=url, topic=topic)
        if ready is not None:
            ready.set()
        try:
            await _forward(conn, publish, now, stop)
        except Exception:  # not acknowledged: the broker sends them again on reconnecting
            log.exception("OwnTracks messages not handed on; reconnecting to get them again")
        finally:
            if stop.is_set():
                conn.send(packet(DISCONNECT, 0, b""))
            conn.close()


async def _forward(conn: _Connection,
                   publish: Callable[[list[decoders.Fix | decoders.Rejection]], Awaitable[Any]],
                   now: Callable[[], datetime], stop: asyncio.Event) -> None:
    """Hand what arrives to the bus in batches, acknowledge each batch once the bus has it;
    keep the connection alive. Returns when the connection is lost or ``stop`` is set (after
    handing on what has arrived)."""
    loop = asyncio.get_running_loop()
    pinged = loop.time()
    while True:
        if not conn.inbox and not stop.is_set() and not conn.closed.is_set():
            waiters = [asyncio.ensure_future(conn.arrived.wait()),
                       asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=KEEPALIVE_SECONDS / 2,
                               return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
        if conn.closed.is_set():
            return  # unacknowledged messages come again on the next connection
        if not stop.is_set() and len(conn.inbox) < BATCH:  # a batch gathers, FLUSH_SECONDS at most
            await asyncio.sleep(max(0.0, conn.oldest + FLUSH_SECONDS - loop.time()))
        if loop.time() - pinged > KEEPALIVE_SECONDS / 2:
            conn.send(packet(PINGREQ, 0, b""))
            pinged = loop.time()
        if loop.time() - conn.heard > KEEPALIVE_SECONDS * 1.5:
            log.warning("MQTT broker silent past the keep-alive; reconnecting")
            conn.close()
            return
        taken = conn.take(BATCH)
        if taken:
            at = now()
            items: list[decoders.Fix | decoders.Rejection] = []
            for message_topic, payload, _id, _qos in taken:
                items += decode_message(message_topic, payload, at)
            if items:
                await publish(items)
            conn.send(pubacks([i for _t, _p, i, qos in taken if qos]))
        if stop.is_set() and not conn.inbox:
            return
