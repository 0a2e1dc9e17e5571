"""The processor as it runs for long: devices' fences kept in memory between batches never
replace what another processor (or a rolled-back batch) wrote since, and a position already
stored is stored once when a batch is written again."""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import func, select

from borderflow.clock import FixedClock
from borderflow.config import DEFAULT_NETWORK_FILE
from borderflow.network import service as networks
from borderflow.store.models import Device, Position
from borderflow.store.session import make_session_factory
from borderflow.telemetry.bus import FenceCache, Processor, process
from borderflow.telemetry.decoders import Fix, Rejection
from tests.conftest import NOW, Peek

NETWORK = networks.parse(networks.read_file(DEFAULT_NETWORK_FILE))
PARK = NETWORK.staging_areas[0].area.polygon
PARK_CODE = f"staging:{NETWORK.staging_areas[0].code}"


def _points() -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
    """Inside the park, 10 m west of its western edge (within the margin), and far away."""
    lat = sum(p.lat for p in PARK) / len(PARK)
    west = min(p.lon for p in PARK)
    per_deg = 111_320 * math.cos(math.radians(lat))
    inside = (lat, sum(p.lon for p in PARK) / len(PARK))
    return inside, (lat, west - 10 / per_deg), (lat - 0.05, west - 0.05)


def fix(at: tuple[float, float], seconds: int) -> Fix:
    return Fix("phone-m", NOW + timedelta(seconds=seconds), at[0], at[1], "osmand")


def test_a_processor_never_trusts_its_memory_over_what_another_one_wrote(db: Peek) -> None:
    inside, edge, far = _points()
    sessions = make_session_factory(db.engine)
    clock = FixedClock(NOW + timedelta(minutes=5))
    first, second = (Processor(sessions, clock, FenceCache(30)) for _ in range(2))

    first([fix(inside, 0)], NOW)
    assert db.scalar(select(Device.inside)) == [PARK_CODE]
    second([fix(far, 10)], NOW)  # another processor takes the device out of the park
    assert db.scalar(select(Device.inside)) == []
    # ``first`` remembers the device in the park; a fix within the margin would keep it there,
    # but the row says it left: it stays out
    first([fix(edge, 20)], NOW)
    assert db.scalar(select(Device.inside)) == []
    # and the same processor on its own keeps following it from memory
    first([fix(inside, 30)], NOW)
    first([fix(edge, 40)], NOW)
    assert db.scalar(select(Device.inside)) == [PARK_CODE]


def test_a_batch_written_again_stores_each_position_once(db: Peek) -> None:
    far = _points()[2]
    sessions = make_session_factory(db.engine)
    clock = FixedClock(NOW + timedelta(minutes=5))
    batch: list[Fix | Rejection] = [fix(far, -i) for i in range(50)]
    first = process(sessions, clock, FenceCache(30), batch[:20], NOW)
    again = process(sessions, clock, FenceCache(30), batch, NOW)
    assert (first.stored, first.duplicates) == (20, 0)
    assert (again.stored, again.duplicates) == (30, 20)
    assert db.scalar(select(func.count()).select_from(Position)) == 50


def test_a_fix_under_a_live_token_keeps_every_field_under_the_device_s_id(db: Peek) -> None:
    """The processor puts a fix sent under a token under the device's id, field for field."""
    from dataclasses import fields, replace

    from borderflow.telemetry import service

    with db.sessions() as s:
        _device, token = service.bind(s, "phone-f", actor=service.GPS, now=NOW,
                                      driver_document="B1234567")
        sent = Fix(token, NOW, 21.9, 106.7, "osmand", speed_mps=3.5, bearing=90.0,
                   altitude=250.0, accuracy=4.0, battery=77.0, attributes={"k": "v"})
        assert all(getattr(sent, f.name) not in (None, {}) for f in fields(Fix))
        items, trusted = service._resolve(s, [sent])
        s.rollback()
    assert items == [replace(sent, device_id="phone-f")]
    assert trusted == {"phone-f": ""}
