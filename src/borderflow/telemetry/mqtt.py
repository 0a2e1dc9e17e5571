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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as paho
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from borderflow.telemetry import decoders

log = structlog.get_logger("borderflow.telemetry")
TOPIC = "owntracks/+/+"
BATCH = 2000
FLUSH_SECONDS = 0.05
"""Messages are handed to the bus in batches: up to ``BATCH``, at least every 50 ms."""
RECEIVE_MAXIMUM = 65535
"""Unacknowledged QoS 1 messages the broker may send before it waits (the MQTT 5 maximum)."""
SESSION_SECONDS = 24 * 3600
"""How long the broker keeps a named subscriber's session (and its messages) while it is away."""


def decode_message(topic: str, payload: bytes, now: datetime
                   ) -> list[decoders.Fix | decoders.Rejection]:
    try:
        body = json.loads(payload)
    except ValueError:
        return [decoders.Rejection("owntracks", "message is not JSON", None,
                                   payload[:300].decode("utf-8", "replace"))]
    return decoders.owntracks(body, now, topic=topic)


def _reconnect(client: paho.Client) -> None:
    with contextlib.suppress(OSError):  # the network thread keeps trying
        client.reconnect()


class _Inbox:
    """Messages received by the MQTT network thread, waiting to be handed on and acknowledged.
    Each carries the connection it came on: an acknowledgement is only sent on that one (after
    a reconnect the broker sends unacknowledged messages again)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[tuple[str, bytes, int, int, int]] = []
        self.connection = 0

    def take(self) -> list[tuple[str, bytes, int, int, int]]:
        with self.lock:
            out, self.messages = self.messages, []
        return out


async def run(url: str, publish: Callable[[list[decoders.Fix | decoders.Rejection]], Any],
              now: Callable[[], datetime], stop: asyncio.Event,
              ready: asyncio.Event | None = None, topic: str = TOPIC,
              client_id: str | None = None) -> None:
    """Subscribe and forward until ``stop`` is set. ``publish`` runs in a worker thread; the
    messages it was given are acknowledged when it returns."""
    parts = urlparse(url)
    loop = asyncio.get_running_loop()
    inbox = _Inbox()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id or "",
                         protocol=paho.MQTTv5, manual_ack=True)
    if parts.username:
        client.username_pw_set(parts.username, parts.password)
    client.reconnect_delay_set(1, 5)

    def on_connect(c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT broker refused the connection", broker=url, reason=str(reason))
            return
        with inbox.lock:
            inbox.connection += 1
        c.subscribe(topic, qos=1)

    def on_subscribe(_c: paho.Client, _u: Any, _m: Any, _r: Any, _p: Any) -> None:
        log.info("listening for OwnTracks over MQTT", broker=url, topic=topic)
        if ready is not None:
            loop.call_soon_threadsafe(ready.set)

    def on_message(_c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        with inbox.lock:
            inbox.messages.append((message.topic, bytes(message.payload), message.mid,
                                   message.qos, inbox.connection))

    def on_disconnect(_c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not stop.is_set():
            log.warning("MQTT broker unreachable; retrying", broker=url, reason=str(reason))

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.ReceiveMaximum = RECEIVE_MAXIMUM
    if client_id:
        properties.SessionExpiryInterval = SESSION_SECONDS
    client.connect_async(parts.hostname or "127.0.0.1", parts.port or 1883,
                         clean_start=not client_id, properties=properties)
    client.loop_start()

    async def forward() -> None:
        taken = inbox.take()
        if not taken:
            return
        at = now()
        items: list[decoders.Fix | decoders.Rejection] = []
        for message_topic, payload, _mid, _qos, _conn in taken:
            items += decode_message(message_topic, payload, at)
        if items:
            await asyncio.to_thread(publish, items)
        with inbox.lock:
            current = inbox.connection
        for _topic, _payload, mid, qos, connection in taken:
            if qos and connection == current:
                client.ack(mid, qos)

    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=FLUSH_SECONDS)
            try:
                await forward()
            except Exception:  # not acknowledged: the broker sends them again on reconnecting
                log.exception("OwnTracks messages not handed on; reconnecting to get them again")
                await asyncio.to_thread(_reconnect, client)
        await forward()
    finally:
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)
