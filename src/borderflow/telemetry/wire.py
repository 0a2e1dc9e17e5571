"""How decoded positions travel on the bus: JSON, one message per ingested batch, or per
several requests published together (:class:`borderflow.telemetry.nats_bus.NatsBus` gathers the
single-position requests that arrive while a publish is on its way into one message).

Each item is a list, its first element saying what it is: ``["f", device_id, fix_time, lat,
lon, protocol, speed_mps, bearing, altitude, accuracy, battery, attributes]`` for a fix,
``["r", protocol, reason, device_id, excerpt]`` for a rejection. Lists rather than objects keep
encoding and decoding cheap (they run for every position). A message is
``{"received_at": ..., "v": 2, "i": [items]}``, or, for several requests received at different
times, ``{"v": 3, "g": [[received_at, [items]], ...]}``. Messages of the first format (one
object per item, ``"items"``) are still read, so a stream written before an upgrade drains.

The stream is split into partitions by device (:func:`partition_of`): every position of a device
goes to the same partition, so one processor follows each device and two never wait on each
other's devices.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import orjson

from borderflow.telemetry.decoders import Fix, Rejection


def partition_of(device_id: str | None, partitions: int) -> int:
    """The partition of a device's positions: the same on every machine and after every
    restart (CRC-32 of the id, not Python's per-process string hash). Rejections without a
    device id go to partition 0."""
    if partitions <= 1 or not device_id:
        return 0
    return zlib.crc32(device_id.encode()) % partitions


def split(items: list[Fix | Rejection], partitions: int) -> dict[int, list[Fix | Rejection]]:
    """Items by partition, each in the order given."""
    if partitions <= 1:
        return {0: items} if items else {}
    out: dict[int, list[Fix | Rejection]] = {}
    cache: dict[str | None, int] = {}
    for item in items:
        key = item.device_id
        p = cache.get(key)
        if p is None:
            p = cache[key] = partition_of(key, partitions)
        got = out.get(p)
        if got is None:
            out[p] = [item]
        else:
            got.append(item)
    return out


def encode_groups(groups: Sequence[tuple[list[Fix | Rejection], datetime]]) -> bytes:
    """Several requests' items in one message, each group with the time ingestion received
    it (one group is written as :func:`encode` writes it)."""
    if len(groups) == 1:
        return encode(*groups[0])
    return orjson.dumps({"v": 3, "g": [[at, _rows(items)] for items, at in groups]},
                        default=str)


def encode(items: list[Fix | Rejection], received_at: datetime) -> bytes:
    return orjson.dumps({"received_at": received_at, "v": 2, "i": _rows(items)}, default=str)


def _rows(items: list[Fix | Rejection]) -> list[list[Any]]:
    out: list[list[Any]] = []
    append = out.append
    for i in items:
        if i.__class__ is Fix:
            f = i
            append(["f", f.device_id, f.fix_time, f.lat, f.lon, f.protocol,
                    f.speed_mps, f.bearing, f.altitude, f.accuracy, f.battery,
                    dict(f.attributes) if f.attributes else None])
        else:
            r = cast(Rejection, i)
            append(["r", r.protocol, r.reason, r.device_id, r.excerpt])
    return out


def decode(data: bytes) -> tuple[list[Fix | Rejection], list[datetime]]:
    """A message's items, and for each the time ingestion received it."""
    doc = orjson.loads(data)
    parse = datetime.fromisoformat
    if doc.get("v") == 3:
        items: list[Fix | Rejection] = []
        received: list[datetime] = []
        for at, rows in doc["g"]:
            got = _items(rows)
            items += got
            received += [parse(at)] * len(got)
        return items, received
    received_at = parse(doc["received_at"])
    items = _decode_v1(doc["items"]) if "items" in doc else _items(doc["i"])
    return items, [received_at] * len(items)


def _items(rows: list[list[Any]]) -> list[Fix | Rejection]:
    items: list[Fix | Rejection] = []
    append = items.append
    parse = datetime.fromisoformat
    for d in rows:
        if d[0] == "f":
            append(Fix(d[1], parse(d[2]), d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10],
                       d[11] or {}))
        else:
            append(Rejection(d[1], d[2], d[3], d[4]))
    return items


def _decode_v1(raw: list[dict[str, Any]]) -> list[Fix | Rejection]:
    items: list[Fix | Rejection] = []
    for d in raw:
        kind = d.pop("kind")
        if kind == "fix":
            d["fix_time"] = datetime.fromisoformat(d["fix_time"])
            items.append(Fix(**d))
        else:
            items.append(Rejection(**d))
    return items
