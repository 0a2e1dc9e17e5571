"""OwnTracks over MQTT: subscribe to ``owntracks/+/+`` on the broker (Mosquitto, or NATS's MQTT
listener), decode each location message and hand it to the telemetry bus, like the HTTP
endpoints do. Reconnects when the broker goes away."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import aiomqtt
import structlog

from borderflow.telemetry import decoders

log = structlog.get_logger("borderflow.telemetry")
TOPIC = "owntracks/+/+"
BATCH = 500
FLUSH_SECONDS = 0.05
"""Messages are handed to the bus in batches: up to ``BATCH``, at least every 50 ms."""


def decode_message(topic: str, payload: bytes, now: datetime
                   ) -> list[decoders.Fix | decoders.Rejection]:
    try:
        body = json.loads(payload)
    except ValueError:
        return [decoders.Rejection("owntracks", "message is not JSON", None,
                                   payload[:300].decode("utf-8", "replace"))]
    return decoders.owntracks(body, now, topic=topic)


async def run(url: str, publish: Callable[[list[decoders.Fix | decoders.Rejection]], Any],
              now: Callable[[], datetime], stop: asyncio.Event,
              ready: asyncio.Event | None = None, topic: str = TOPIC) -> None:
    """Subscribe and forward until ``stop`` is set. ``publish`` runs in a worker thread."""
    parts = urlparse(url)
    while not stop.is_set():
        try:
            async with aiomqtt.Client(parts.hostname or "127.0.0.1", parts.port or 1883,
                                      username=parts.username, password=parts.password,
                                      identifier=None) as client:
                await client.subscribe(topic, qos=1)
                log.info("listening for OwnTracks over MQTT", broker=url, topic=topic)
                if ready is not None:
                    ready.set()
                messages = client.messages.__aiter__()
                pending: list[decoders.Fix | decoders.Rejection] = []
                deadline = asyncio.get_running_loop().time() + FLUSH_SECONDS
                while not stop.is_set():
                    wait = max(0.0, deadline - asyncio.get_running_loop().time())
                    try:
                        message = await asyncio.wait_for(messages.__anext__(), timeout=wait)
                        payload = message.payload
                        data = payload if isinstance(payload, bytes) else str(payload).encode()
                        pending += decode_message(str(message.topic), data, now())
                    except TimeoutError:
                        pass
                    late = asyncio.get_running_loop().time() >= deadline
                    if pending and (late or len(pending) >= BATCH):
                        await asyncio.to_thread(publish, pending)
                        pending = []
                    if late:
                        deadline = asyncio.get_running_loop().time() + FLUSH_SECONDS
                if pending:
                    await asyncio.to_thread(publish, pending)
        except aiomqtt.MqttError as exc:
            log.warning("MQTT broker unreachable; retrying", broker=url, reason=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=2)
