"""How positions travel between ingestion and processors: the partition of a device is the same
everywhere, and splitting a batch by partition loses, duplicates and reorders nothing."""

from __future__ import annotations

import zlib
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from borderflow.telemetry import wire
from borderflow.telemetry.decoders import Fix, Rejection
from tests.conftest import NOW


def test_a_device_has_the_same_partition_on_every_machine() -> None:
    # CRC-32 of the id, not Python's hash() (salted per process): publishers on other
    # machines and after restarts agree on where a device goes
    assert wire.partition_of("truck-1", 4) == zlib.crc32(b"truck-1") % 4 == 2
    assert wire.partition_of("ng/phone", 8) == zlib.crc32(b"ng/phone") % 8
    assert wire.partition_of("truck-1", 1) == 0
    assert wire.partition_of(None, 4) == 0  # a rejection without a device id


devices = st.text(alphabet="abcdef0123456789-/", min_size=1, max_size=12)


@given(st.lists(st.tuples(devices, st.booleans()), max_size=60), st.integers(1, 9))
def test_splitting_by_partition_keeps_every_item_once_in_order(
        rows: list[tuple[str, bool]], partitions: int) -> None:
    items: list[Fix | Rejection] = [
        Fix(d, NOW - timedelta(seconds=i), 21.9, 106.7, "batch") if ok
        else Rejection("batch", "bad", d) for i, (d, ok) in enumerate(rows)]
    parts = wire.split(items, partitions)
    assert sorted(id(i) for group in parts.values() for i in group) == sorted(map(id, items))
    for p, group in parts.items():
        assert group, "no empty message is published"
        assert all(wire.partition_of(i.device_id, partitions) == p for i in group)
        position = {id(i): n for n, i in enumerate(items)}
        order = [position[id(i)] for i in group]
        assert order == sorted(order)
