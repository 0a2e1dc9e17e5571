"""The MQTT 5 subscriber's packets: what it sends is what the standard says, and what the broker
sends is read back whole however the network cuts it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from borderflow.telemetry import mqtt
from tests.conftest import NOW


def test_connect_asks_for_a_kept_session_and_a_wide_window() -> None:
    raw = mqtt.connect_packet("ingest-1", keepalive=60, session_seconds=86400,
                              username="u", password="p")
    kind, flags, body = mqtt.Reader().feed(raw)[0]
    assert (kind, flags) == (mqtt.CONNECT, 0)
    assert body[:7] == b"\x00\x04MQTT\x05"  # protocol name, version 5
    assert body[7] == 0xC0  # user name and password, session resumed (no clean start)
    assert body[8:10] == (60).to_bytes(2, "big")
    # properties: receive maximum 65535, session expiry 86400 s
    assert body[10:19] == bytes([8, 0x21, 0xFF, 0xFF, 0x11]) + (86400).to_bytes(4, "big")
    assert body[19:] == b"\x00\x08ingest-1\x00\x01u\x00\x01p"
    anonymous = mqtt.Reader().feed(mqtt.connect_packet("", keepalive=60,
                                                       session_seconds=86400))[0][2]
    assert anonymous[7] == 0x02  # clean start, no session kept
    assert anonymous[10:14] == bytes([3, 0x21, 0xFF, 0xFF])


def test_subscribe_and_acknowledgements() -> None:
    assert mqtt.subscribe_packet(1, "owntracks/+/+") == (
        b"\x82\x13\x00\x01\x00\x00\x0downtracks/+/+\x01")
    assert mqtt.pubacks([1, 258]) == b"\x40\x02\x00\x01\x40\x02\x01\x02"


def publish(topic: str, payload: bytes, packet_id: int, props: bytes = b"") -> bytes:
    raw = topic.encode()
    body = (len(raw).to_bytes(2, "big") + raw + packet_id.to_bytes(2, "big")
            + bytes([len(props)]) + props + payload)
    return mqtt.packet(mqtt.PUBLISH, 0x02, body)


messages = st.lists(st.tuples(st.text(min_size=1, max_size=40), st.binary(max_size=400),
                              st.integers(1, 65535), st.booleans()), min_size=1, max_size=8)


@given(messages, st.lists(st.integers(1, 50), max_size=30))
def test_publishes_read_back_whole_however_the_bytes_arrive(
        sent: list[tuple[str, bytes, int, bool]], cuts: list[int]) -> None:
    stream = b"".join(publish(t, p, i, b"\x01\x01" if props else b"")  # a property to skip
                      for t, p, i, props in sent)
    reader, got, at = mqtt.Reader(), [], 0
    for cut in [*cuts, len(stream)]:
        got += reader.feed(stream[at:at + cut])
        at += cut
    got += reader.feed(stream[at:])
    assert [mqtt.parse_publish(flags, body) for _kind, flags, body in got] == [
        (t, p, i, 1) for t, p, i, _props in sent]
    assert reader.buffer == bytearray()


class FakeBroker:
    """A broker that accepts the subscriber, sends it ``messages`` on every connection and
    records the packet ids each connection acknowledged (or stays silent after SUBACK)."""

    def __init__(self, messages: list[bytes], silent: bool = False) -> None:
        self.messages, self.silent = messages, silent
        self.acked: list[list[int]] = []
        self.connects: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = mqtt.Reader()
        acked: list[int] = []
        self.acked.append(acked)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                for kind, _flags, body in parser.feed(data):
                    if kind == mqtt.CONNECT:
                        self.connects.append(body)
                        writer.write(b"\x20\x03\x00\x00\x00")
                    elif kind == mqtt.SUBSCRIBE:
                        writer.write(b"\x90\x04" + body[:2] + b"\x00\x01")
                        if not self.silent:
                            writer.write(b"".join(self.messages))
                    elif kind == mqtt.PUBACK:
                        acked.append(int.from_bytes(body[:2], "big"))
                    elif kind == mqtt.PINGREQ and not self.silent:
                        writer.write(b"\xd0\x00")
        finally:
            writer.close()


def location(i: int) -> bytes:
    body = json.dumps({"_type": "location", "lat": 21.9, "lon": 106.7,
                       "tst": int(NOW.timestamp()) - i, "tid": "ng"}).encode()
    return publish(f"owntracks/ng/phone{i}", body, i)


def run_against(broker: FakeBroker, publish_items: Any, until: Any,
                keepalive: float | None = None) -> None:
    async def main() -> None:
        server = await asyncio.start_server(broker.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        stop = asyncio.Event()
        task = asyncio.create_task(mqtt.run(f"mqtt://u%40x:p%3A1@127.0.0.1:{port}",
                                            publish_items, lambda: NOW, stop,
                                            client_id="ingest-1"))
        for _ in range(400):
            if until():
                break
            await asyncio.sleep(0.025)
        stop.set()
        await asyncio.wait_for(task, 10)
        server.close()

    if keepalive is not None:
        old = mqtt.KEEPALIVE_SECONDS, mqtt.RETRY_SECONDS
        mqtt.KEEPALIVE_SECONDS, mqtt.RETRY_SECONDS = keepalive, (0.05,)
        try:
            asyncio.run(main())
        finally:
            mqtt.KEEPALIVE_SECONDS, mqtt.RETRY_SECONDS = old
    else:
        asyncio.run(main())


def test_messages_are_acknowledged_only_once_the_bus_has_them() -> None:
    """The first hand-over fails: nothing is acknowledged, the subscriber reconnects, the
    broker sends the messages again, and this time they are acknowledged (each once)."""
    broker = FakeBroker([location(1), location(2), publish("owntracks/ng/x", b"{", 3)])
    handed: list[list[Any]] = []

    async def hand_over(items: list[Any]) -> None:
        handed.append(items)
        if len(handed) == 1:
            raise ConnectionError("the bus is away")

    run_against(broker, hand_over, lambda: any(broker.acked[1:]), keepalive=60)
    assert broker.acked[0] == []  # the failed hand-over acknowledged nothing
    assert sorted(broker.acked[1]) == [1, 2, 3]  # the bad message too: it is counted
    assert [type(i).__name__ for i in handed[1]] == ["Fix", "Fix", "Rejection"]
    assert {i.device_id for i in handed[1][:2]} == {"ng/phone1", "ng/phone2"}
    # user name and password from the URL, percent-decoded; the session is kept
    assert broker.connects[0].endswith(b"\x00\x03u@x\x00\x03p:1")
    assert broker.connects[0][7] == 0xC0


def test_a_silent_broker_is_left_and_reconnected() -> None:
    broker = FakeBroker([], silent=True)

    async def hand_over(items: list[Any]) -> None:
        return None

    run_against(broker, hand_over, lambda: len(broker.connects) >= 2, keepalive=0.2)
    assert len(broker.connects) >= 2


# --- MQTT 3.1.1, refusals, the broker's keep-alive ---------------------------------------------


def test_connect_in_mqtt_3_1_1_has_no_properties() -> None:
    raw = mqtt.connect_packet("ingest-1", keepalive=30, session_seconds=86400, username="u",
                              password="p", version=mqtt.V311)
    kind, _flags, body = mqtt.Reader().feed(raw)[0]
    assert kind == mqtt.CONNECT
    assert body == (b"\x00\x04MQTT\x04\xc0\x00\x1e" + b"\x00\x08ingest-1\x00\x01u\x00\x01p")
    assert mqtt.subscribe_packet(1, "a/+", mqtt.V311) == b"\x82\x08\x00\x01\x00\x03a/+\x01"


def test_a_connack_says_the_broker_s_keep_alive_or_why_it_refuses() -> None:
    # MQTT 5: accepted, with Server Keep Alive 10 s and a reason string
    props = b"\x13\x00\x0a" + b"\x1f\x00\x02ok"
    code, found = mqtt.parse_connack(b"\x00\x00" + bytes([len(props)]) + props, mqtt.V5)
    assert (code, found[mqtt.SERVER_KEEP_ALIVE], found[mqtt.REASON_STRING]) == (0, 10, "ok")
    refusal = b"\x00\x86\x0b\x1f\x00\x08no entry"
    with pytest.raises(mqtt.Refused, match=r"bad user name or password \(0x86\): no entry"
                       ) as refused:
        mqtt.parse_connack(refusal, mqtt.V5)
    assert refused.value.not_allowed
    for body, version, not_allowed, unsupported in [
            (b"\x00\x05", mqtt.V311, True, False),   # not authorised
            (b"\x00\x03", mqtt.V311, False, False),  # server unavailable: tried again
            (b"\x00\x01", mqtt.V5, False, True)]:    # a 3.1.1 broker answering MQTT 5
        with pytest.raises(mqtt.Refused) as refused:
            mqtt.parse_connack(body, version)
        assert (refused.value.not_allowed, refused.value.unsupported) == (
            not_allowed, unsupported)


class Broker311(FakeBroker):
    """A broker of MQTT 3.1.1 only, like NATS's MQTT listener: an MQTT 5 CONNECT is refused
    (unacceptable protocol version) and the connection closed."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = mqtt.Reader()
        acked: list[int] = []
        self.acked.append(acked)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                for kind, _flags, body in parser.feed(data):
                    if kind == mqtt.CONNECT:
                        self.connects.append(body)
                        if body[6] != 4:
                            writer.write(b"\x20\x02\x00\x01")
                            await writer.drain()
                            return
                        writer.write(b"\x20\x02\x00\x00")
                    elif kind == mqtt.SUBSCRIBE:
                        writer.write(b"\x90\x03" + body[:2] + b"\x01")
                        writer.write(b"".join(self.messages))
                    elif kind == mqtt.PUBACK:
                        acked.append(int.from_bytes(body[:2], "big"))
                    elif kind == mqtt.PINGREQ:
                        writer.write(b"\xd0\x00")
        finally:
            writer.close()


def publish_311(topic: str, payload: bytes, packet_id: int) -> bytes:
    raw = topic.encode()
    return mqtt.packet(mqtt.PUBLISH, 0x02, len(raw).to_bytes(2, "big") + raw
                       + packet_id.to_bytes(2, "big") + payload)


def test_auto_falls_back_to_mqtt_3_1_1_when_the_broker_does_not_speak_5() -> None:
    body = json.dumps({"_type": "location", "lat": 21.9, "lon": 106.7,
                       "tst": int(NOW.timestamp()), "tid": "ng"}).encode()
    broker = Broker311([publish_311("owntracks/ng/phone", body, 7)])
    handed: list[Any] = []

    async def hand_over(items: list[Any]) -> None:
        handed.extend(items)

    run_against(broker, hand_over, lambda: any(broker.acked))
    assert [c[6] for c in broker.connects[:2]] == [5, 4]  # tried 5, then spoke 3.1.1
    assert [a for a in broker.acked if a] == [[7]]
    assert [i.device_id for i in handed] == ["ng/phone"]
