"""How decoded positions travel on the bus: JSON, one message per ingested batch.

Each item is a list, its first element saying what it is: ``["f", device_id, fix_time, lat,
lon, protocol, speed_mps, bearing, altitude, accuracy, battery, attributes]`` for a fix,
``["r", protocol, reason, device_id, excerpt]`` for a rejection. Lists rather than objects keep
encoding and decoding cheap (they run for every position). Messages of the first format (one
object per item, ``"items"``) are still read, so a stream written before an upgrade drains.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from borderflow.telemetry.decoders import Fix, Rejection

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def encode(items: list[Fix | Rejection], received_at: datetime) -> bytes:
    out: list[list[Any]] = []
    append = out.append
    for i in items:
        if i.__class__ is Fix:
            f = i
            append(["f", f.device_id, f.fix_time.isoformat(), f.lat, f.lon, f.protocol,
                    f.speed_mps, f.bearing, f.altitude, f.accuracy, f.battery,
                    dict(f.attributes) if f.attributes else None])
        else:
            r = cast(Rejection, i)
            append(["r", r.protocol, r.reason, r.device_id, r.excerpt])
    return _ENCODER.encode({"received_at": received_at.isoformat(), "v": 2, "i": out}).encode()


def decode(data: bytes) -> tuple[list[Fix | Rejection], datetime]:
    doc = json.loads(data)
    received_at = datetime.fromisoformat(doc["received_at"])
    if "items" in doc:
        return _decode_v1(doc["items"]), received_at
    items: list[Fix | Rejection] = []
    append = items.append
    parse = datetime.fromisoformat
    for d in doc["i"]:
        if d[0] == "f":
            append(Fix(d[1], parse(d[2]), d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10],
                       d[11] or {}))
        else:
            append(Rejection(d[1], d[2], d[3], d[4]))
    return items, received_at


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
