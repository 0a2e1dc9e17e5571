"""How decoded positions travel on the bus: JSON, one message per ingested batch."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from borderflow.telemetry.decoders import Fix, Rejection


def encode(items: list[Fix | Rejection], received_at: datetime) -> bytes:
    out: list[dict[str, Any]] = []
    for item in items:
        d = asdict(item)
        if isinstance(item, Fix):
            d["fix_time"] = item.fix_time.isoformat()
            d["attributes"] = dict(item.attributes)
        d["kind"] = "fix" if isinstance(item, Fix) else "rejection"
        out.append(d)
    return json.dumps({"received_at": received_at.isoformat(), "items": out},
                      default=str, separators=(",", ":")).encode()


def decode(data: bytes) -> tuple[list[Fix | Rejection], datetime]:
    doc = json.loads(data)
    items: list[Fix | Rejection] = []
    for d in doc["items"]:
        kind = d.pop("kind")
        if kind == "fix":
            d["fix_time"] = datetime.fromisoformat(d["fix_time"])
            items.append(Fix(**d))
        else:
            items.append(Rejection(**d))
    return items, datetime.fromisoformat(doc["received_at"])
