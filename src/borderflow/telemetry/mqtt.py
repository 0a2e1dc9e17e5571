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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import orjson
import structlog

from borderflow.redaction import redact
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
RETRY_SECONDS: tuple[float, ...] = (1, 2, 5)
"""Waits between attempts to reach a broker that is away (then every 5 s, for ever)."""
REFUSED_RETRY_SECONDS: tuple[float, ...] = (10, 60)
"""Waits after the broker refused the subscriber's credentials or authorisation."""

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 1, 2, 3, 4, 8, 9
V5, V311 = 5, 4
"""Protocol levels in CONNECT: MQTT 5 and MQTT 3.1.1."""
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14

Message = tuple[str, bytes, int, int]
"""Topic, payload, packet id (0 at QoS 0), QoS."""


def decode_message(topic: str, payload: bytes, now: datetime
                   ) -> list[decoders.Fix | decoders.Rejection]:
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return [decoders.Rejection("owntracks", "message is not JSON", None,
                                   decoders.storable(payload[:300].decode("utf-8", "replace")))]
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
                   username: str | None = None, password: str | None = None,
                   version: int = V5) -> bytes:
    """CONNECT: a clean start without a client id, else the session resumes. MQTT 5 keeps it
    ``session_seconds`` while away and lets the broker leave ``RECEIVE_MAXIMUM`` messages
    unacknowledged; MQTT 3.1.1 (``version=4``) has no properties (the broker keeps the
    session as configured, and its own window of messages in flight)."""
    flags = 0x02 if not client_id else 0
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    if version == V5:
        props = bytes([0x21]) + RECEIVE_MAXIMUM.to_bytes(2, "big")
        if client_id:
            props += bytes([0x11]) + session_seconds.to_bytes(4, "big")
        properties = _varint(len(props)) + props
    else:
        properties = b""
    body = (_string("MQTT") + bytes([version, flags]) + keepalive.to_bytes(2, "big")
            + properties + _string(client_id))
    if username is not None:
        body += _string(username)
    if password is not None:
        body += _string(password)
    return packet(CONNECT, 0, body)


def subscribe_packet(packet_id: int, topic: str, version: int = V5) -> bytes:
    """SUBSCRIBE at QoS 1 at most (MQTT 5 with no properties; 3.1.1 has none)."""
    props = b"\x00" if version == V5 else b""
    return packet(SUBSCRIBE, 0x02, packet_id.to_bytes(2, "big") + props + _string(topic)
                  + b"\x01")


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


def parse_publish(flags: int, body: bytes, version: int = V5) -> Message:
    """An incoming PUBLISH: topic, payload, packet id, QoS (MQTT 5 has properties, skipped;
    3.1.1 none)."""
    qos = (flags >> 1) & 0x03
    size = int.from_bytes(body[0:2], "big")
    topic = body[2:2 + size].decode("utf-8", "replace")
    at = 2 + size
    packet_id = 0
    if qos:
        packet_id = int.from_bytes(body[at:at + 2], "big")
        at += 2
    if version != V5:
        return topic, body[at:], packet_id, qos
    props, at = _skip_varint(body, at)
    return topic, body[at + props:], packet_id, qos


_TWO_BYTES = {0x13, 0x21, 0x22}
_FOUR_BYTES = {0x02, 0x11, 0x18, 0x27}
_TEXTS = {0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F}
_BINARY = {0x09, 0x16}


def parse_properties(data: bytes) -> dict[int, Any]:
    """MQTT 5 properties (their length first): id -> value (user properties left out)."""
    size, at = _skip_varint(data, 0)
    end = at + size
    out: dict[int, Any] = {}
    while at < end:
        prop = data[at]
        at += 1
        if prop in _TWO_BYTES:
            out[prop], at = int.from_bytes(data[at:at + 2], "big"), at + 2
        elif prop in _FOUR_BYTES:
            out[prop], at = int.from_bytes(data[at:at + 4], "big"), at + 4
        elif prop in _TEXTS or prop in _BINARY:
            n = int.from_bytes(data[at:at + 2], "big")
            raw = data[at + 2:at + 2 + n]
            out[prop] = raw.decode("utf-8", "replace") if prop in _TEXTS else raw
            at += 2 + n
        elif prop == 0x26:  # user property: two strings
            for _ in range(2):
                at += 2 + int.from_bytes(data[at:at + 2], "big")
        elif prop == 0x0B:  # subscription identifier
            _value, at = _skip_varint(data, at)
        else:  # one byte (maximum QoS, retain available, ...)
            out[prop], at = data[at], at + 1
        if at > end:
            raise ProtocolError("malformed properties")
    return out


SERVER_KEEP_ALIVE, REASON_STRING = 0x13, 0x1F
REFUSALS_V3 = {1: "unacceptable protocol version", 2: "client identifier rejected",
               3: "server unavailable", 4: "bad user name or password", 5: "not authorised"}
REFUSALS_V5 = {0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error",
               0x83: "implementation specific error", 0x84: "unsupported protocol version",
               0x85: "client identifier not valid", 0x86: "bad user name or password",
               0x87: "not authorised", 0x88: "server unavailable", 0x89: "server busy",
               0x8A: "banned", 0x8C: "bad authentication method", 0x95: "packet too large",
               0x97: "quota exceeded", 0x99: "payload format invalid",
               0x9A: "retain not supported", 0x9B: "QoS not supported",
               0x9C: "use another server", 0x9D: "server moved",
               0x9F: "connection rate exceeded"}
NOT_ALLOWED = {(4, 2), (4, 4), (4, 5), (V5, 0x85), (V5, 0x86), (V5, 0x87), (V5, 0x8A),
               (V5, 0x8C)}
"""Refusals that sending the same CONNECT again cannot cure (credentials, authorisation,
client id): the subscriber stops after a few (``BORDERFLOW_MQTT_REFUSED_ATTEMPTS``)."""


class Refused(ProtocolError):
    """The broker refused the connection (CONNACK with an error): its code and reason."""

    def __init__(self, version: int, code: int, reason: str | None = None) -> None:
        names = REFUSALS_V5 if version == V5 else REFUSALS_V3
        self.version, self.code = version, code
        self.not_allowed = (version, code) in NOT_ALLOWED
        self.unsupported = (version, code) in {(4, 1), (V5, 0x84)}
        text = f"the broker refused the connection: {names.get(code, 'error')} ({hex(code)})"
        super().__init__(text + (f": {reason}" if reason else ""))


def parse_connack(body: bytes, version: int) -> tuple[int, dict[int, Any]]:
    """A CONNACK's reason code and (MQTT 5) properties; :class:`Refused` if it refuses. A
    3.1.1 broker answers an MQTT 5 CONNECT in its own form (two bytes)."""
    if len(body) < 2:
        raise ProtocolError("malformed CONNACK")
    code = body[1]
    if version == V5 and len(body) == 2:  # a 3.1.1 broker's answer
        if code:
            raise Refused(4, code)
        raise ProtocolError("the broker answered MQTT 5 in the form of 3.1.1")
    props = parse_properties(body[2:]) if version == V5 and len(body) > 2 else {}
    if (version == V5 and code >= 0x80) or (version != V5 and code):
        raise Refused(version, code, props.get(REASON_STRING))
    return code, props


# --- the connection ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """How the subscriber connects (settings ``BORDERFLOW_MQTT_*``)."""

    protocol: str = "auto"
    """``5``, ``3.1.1``, or ``auto``: 5, and 3.1.1 once the broker says it does not speak 5."""
    keepalive: float | None = None
    """Asked for at CONNECT (default :data:`KEEPALIVE_SECONDS`); an MQTT 5 broker's Server
    Keep Alive replaces it."""
    refused_attempts: int = 3
    """Connections refused for credentials or authorisation before the subscriber stops."""
    refused_retry_seconds: tuple[float, ...] = REFUSED_RETRY_SECONDS
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @classmethod
    def of(cls, settings: Any) -> Options:
        return cls(protocol=settings.mqtt_protocol, keepalive=settings.mqtt_keepalive_seconds,
                   refused_attempts=settings.mqtt_refused_attempts,
                   ca_file=settings.mqtt_ca_file, cert_file=settings.mqtt_cert_file,
                   key_file=settings.mqtt_key_file)

    def tls(self, scheme: str) -> ssl.SSLContext | None:
        """TLS for ``mqtts://`` (or whenever a CA or client certificate is given): the
        broker's certificate checked against ``ca_file`` (else the system's CAs), and the
        client certificate presented if given."""
        if scheme not in ("mqtts", "ssl") and not (self.ca_file or self.cert_file):
            return None
        context = ssl.create_default_context(
            cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file:
            context.load_cert_chain(str(self.cert_file),
                                    str(self.key_file) if self.key_file else None)
        return context


class NotAllowed(Exception):
    """The broker keeps refusing the subscriber's credentials or authorisation: it stopped."""


class _Connection(asyncio.Protocol):
    """One connection to the broker: received messages wait in ``inbox`` until handed on."""

    def __init__(self, version: int = V5, keepalive: float = 60) -> None:
        self.version = version
        self.keepalive = keepalive
        """Seconds: what was asked for, or the broker's Server Keep Alive (0: none)."""
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
                    self.inbox.append(parse_publish(flags, body, self.version))
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
                log.warning("MQTT broker closed the session", reason_code=hex(reason),
                            reason=REFUSALS_V5.get(reason, "normal"))
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


async def _open(url: str, topic: str, client_id: str | None, version: int = V5,
                options: Options | None = None) -> _Connection:
    """Connect, resume or start the session, subscribe; raises what went wrong
    (:class:`Refused` with the broker's reason when it refuses)."""
    options = options or Options()
    parts = urlparse(url)
    tls = options.tls(parts.scheme)
    loop = asyncio.get_running_loop()
    keepalive = options.keepalive if options.keepalive is not None else KEEPALIVE_SECONDS
    _transport, conn = await asyncio.wait_for(loop.create_connection(
        lambda: _Connection(version, keepalive), parts.hostname or "127.0.0.1",
        parts.port or (8883 if tls else 1883), ssl=tls), 10)
    conn.send(connect_packet(
        client_id or "", keepalive=max(1, round(keepalive)),
        session_seconds=SESSION_SECONDS,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        version=version))
    try:
        _code, props = parse_connack(await asyncio.wait_for(conn.connack, 10), version)
    except ProtocolError:
        conn.close()
        raise
    if SERVER_KEEP_ALIVE in props:  # the broker's word replaces ours (MQTT 5)
        conn.keepalive = float(props[SERVER_KEEP_ALIVE])
    conn.send(subscribe_packet(1, topic, version))
    suback = await asyncio.wait_for(conn.suback, 10)
    at = 2
    if version == V5:
        props_size, at = _skip_varint(suback, 2)
        at += props_size
    codes = suback[at:]
    if not codes or codes[0] >= 0x80:
        conn.close()
        raise ProtocolError(f"the broker refused the subscription to {topic} (reason code "
                            f"{hex(codes[0]) if codes else '?'})")
    return conn


async def run(url: str,
              publish: Callable[[list[decoders.Fix | decoders.Rejection]], Awaitable[Any]],
              now: Callable[[], datetime], stop: asyncio.Event,
              ready: asyncio.Event | None = None, topic: str = TOPIC,
              client_id: str | None = None, options: Options | None = None) -> None:
    """Subscribe and forward until ``stop`` is set. The messages given to ``publish`` are
    acknowledged to the broker when it returns; if it raises they are not, and the broker
    sends them again on the next connection. A broker that cannot be reached is tried again
    and again; one that refuses the subscriber's credentials or authorisation
    ``options.refused_attempts`` times in a row ends it with :class:`NotAllowed` (each refusal
    is logged with the broker's reason). The broker's address is logged without its
    password."""
    options = options or Options()
    version = V311 if options.protocol == "3.1.1" else V5
    broker = redact(url)
    failures = refused = 0
    while not stop.is_set():
        try:
            conn = await _open(url, topic, client_id, version, options)
        except Refused as exc:
            if exc.unsupported and options.protocol == "auto" and version == V5:
                log.info("MQTT broker does not speak MQTT 5; speaking 3.1.1", broker=broker)
                version = V311
                continue
            if exc.not_allowed:
                refused += 1
                if refused >= options.refused_attempts:
                    log.error("MQTT broker refuses this subscriber; MQTT stopped (check the "
                              "user and password in BORDERFLOW_MQTT_URL, the client id and "
                              "the broker's access list)", broker=broker, reason=str(exc),
                              attempts=refused)
                    raise NotAllowed(str(exc)) from None
                delay = options.refused_retry_seconds[
                    min(refused, len(options.refused_retry_seconds)) - 1]
                log.error("MQTT broker refused the connection", broker=broker,
                          reason=str(exc), attempts=refused,
                          attempts_left=options.refused_attempts - refused,
                          retry_in_seconds=delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                continue
            failures = await _wait_retry(stop, failures, broker, exc)
            continue
        except (OSError, ConnectionError, TimeoutError, ProtocolError) as exc:
            failures = await _wait_retry(stop, failures, broker, exc)
            continue
        failures = refused = 0
        log.info("listening for OwnTracks over MQTT", broker=broker, topic=topic,
                 protocol="5" if version == V5 else "3.1.1", keepalive=conn.keepalive)
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


async def _wait_retry(stop: asyncio.Event, failures: int, broker: str,
                      exc: BaseException) -> int:
    delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
    log.warning("MQTT broker unreachable; retrying", broker=broker, reason=redact(str(exc)),
                retry_in_seconds=delay)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay)
    return failures + 1


async def _forward(conn: _Connection,
                   publish: Callable[[list[decoders.Fix | decoders.Rejection]], Awaitable[Any]],
                   now: Callable[[], datetime], stop: asyncio.Event) -> None:
    """Hand what arrives to the bus in batches, acknowledge each batch once the bus has it;
    keep the connection alive (at the connection's keep-alive: 0 sends no pings). Returns
    when the connection is lost or ``stop`` is set (after handing on what has arrived)."""
    loop = asyncio.get_running_loop()
    pinged = loop.time()
    keepalive = conn.keepalive
    wait = keepalive / 2 if keepalive else 30.0
    while True:
        if not conn.inbox and not stop.is_set() and not conn.closed.is_set():
            waiters = [asyncio.ensure_future(conn.arrived.wait()),
                       asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
        if conn.closed.is_set():
            return  # unacknowledged messages come again on the next connection
        if not stop.is_set() and len(conn.inbox) < BATCH:  # a batch gathers, FLUSH_SECONDS at most
            await asyncio.sleep(max(0.0, conn.oldest + FLUSH_SECONDS - loop.time()))
        if keepalive and loop.time() - pinged > keepalive / 2:
            conn.send(packet(PINGREQ, 0, b""))
            pinged = loop.time()
        if keepalive and loop.time() - conn.heard > keepalive * 1.5:
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
