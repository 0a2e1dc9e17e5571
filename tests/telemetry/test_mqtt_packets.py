"""The MQTT 5 subscriber's packets: what it sends is what the standard says, and what the broker
sends is read back whole however the network cuts it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from borderflow.telemetry import mqtt


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
