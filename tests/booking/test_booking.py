"""Bookings: one place in a gate's time slot, never more bookings than places, one per vehicle,
queue position and estimated call time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from borderflow.booking import service as booking
from borderflow.declaration import service as declarations
from borderflow.declaration.schemas import DeclarationIn
from borderflow.domain.access import SYSTEM, Principal, Role
from borderflow.errors import AppError
from borderflow.network import service as networks
from borderflow.network.holidays import around
from borderflow.store.models import Booking, GateSlot, Trip
from borderflow.store.session import make_engine, make_session_factory
from tests import factories
from tests.conftest import NOW, TODAY, Database

SLOT = "2026-11-25T08:00:00+07:00"  # a Wednesday morning: Huu Nghi open
SLOT_UTC = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def _declare(client: TestClient, auth: Any, plate: str = "29C-123.45",
             who: str = "enterprise") -> str:
    body = factories.declaration()
    body["vehicles"][0]["plate"] = plate
    r = client.post("/api/v1/declarations", json=body, headers=auth(who))
    assert r.status_code == 201, r.text
    return f"{r.json()['reference']}-1"


def test_book_see_position_move_and_cancel(client: TestClient, auth: Any) -> None:
    first = _declare(client, auth, "29C-111.11")
    second = _declare(client, auth, "29C-222.22")
    slots = client.get("/api/v1/gates/huu-nghi/slots",
                       params={"direction": "export", "from": SLOT, "count": 2}).json()
    assert slots[0]["capacity"] == 11  # 22 trucks/hour export, a full half hour open
    assert slots[0]["free"] == 11
    r = client.post(f"/api/v1/trips/{first}/booking", json={"slot_start": SLOT},
                    headers=auth("enterprise"))
    assert r.status_code == 201, r.text
    assert r.json()["position"] == 1
    r2 = client.post(f"/api/v1/trips/{second}/booking", json={"slot_start": SLOT},
                     headers=auth("driver"))  # the driver books for the trip that names him
    assert r2.status_code == 201, r2.text
    assert r2.json()["position"] == 2
    assert r2.json()["estimated_call"].startswith("2026-11-25T01:00")
    after = client.get("/api/v1/gates/huu-nghi/slots",
                       params={"direction": "export", "from": SLOT, "count": 1}).json()
    assert after[0]["booked"] == 2
    twice = client.post(f"/api/v1/trips/{first}/booking", json={"slot_start": SLOT},
                        headers=auth("enterprise"))
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "already_booked"
    moved = client.put(f"/api/v1/trips/{first}/booking",
                       json={"slot_start": "2026-11-25T09:00:00+07:00"},
                       headers=auth("enterprise"))
    assert moved.status_code == 200, moved.text
    assert client.get(f"/api/v1/trips/{second}/booking",
                      headers=auth("enterprise")).json()["position"] == 1
    trip = client.get(f"/api/v1/trips/{first}", headers=auth("enterprise")).json()
    assert trip["version"] == 5  # created, fee estimated, booked, unbooked, booked
    assert client.delete(f"/api/v1/trips/{first}/booking",
                         headers=auth("enterprise")).status_code == 204
    assert client.get(f"/api/v1/trips/{first}/booking",
                      headers=auth("enterprise")).status_code == 404


def test_slots_are_refused_when_closed_misaligned_past_or_not_yours(
    client: TestClient, auth: Any
) -> None:
    trip = _declare(client, auth)
    lunch = client.post(f"/api/v1/trips/{trip}/booking",
                        json={"slot_start": "2026-11-25T11:30:00+07:00"},
                        headers=auth("enterprise"))
    assert lunch.status_code == 422
    assert "closed then; free slots: 2026-11-25 13:00" in lunch.json()["error"]["message"]
    odd = client.post(f"/api/v1/trips/{trip}/booking",
                      json={"slot_start": "2026-11-25T08:10:00+07:00"},
                      headers=auth("enterprise"))
    assert odd.json()["error"]["fields"][0]["field"] == "slot_start"
    past = client.post(f"/api/v1/trips/{trip}/booking",
                       json={"slot_start": "2026-11-22T08:00:00+07:00"},
                       headers=auth("enterprise"))
    assert "over" in past.json()["error"]["message"]
    other = client.post(f"/api/v1/trips/{trip}/booking", json={"slot_start": SLOT},
                        headers=auth("enterprise2"))
    assert other.status_code == 404
    customs = client.post(f"/api/v1/trips/{trip}/booking", json={"slot_start": SLOT},
                          headers=auth("customs"))
    assert customs.status_code == 403


def test_a_full_slot_offers_the_next_free_ones(client: TestClient, auth: Any,
                                               database: Database) -> None:
    engine = make_engine(database.url)
    with make_session_factory(engine)() as s:
        _, network = networks.network_at(s, NOW)
        s.add(GateSlot(gate="huu-nghi", direction="export", slot_start=SLOT_UTC,
                       capacity=booking.capacity_at(s, network, "huu-nghi", "export", SLOT_UTC),
                       booked=11))
        s.commit()
    engine.dispose()
    trip = _declare(client, auth)
    full = client.post(f"/api/v1/trips/{trip}/booking", json={"slot_start": SLOT},
                       headers=auth("enterprise"))
    assert full.status_code == 409
    assert full.json()["error"]["code"] == "slot_full"
    assert "2026-11-25 08:30" in full.json()["error"]["message"]


def test_cancelling_the_declaration_gives_the_place_back(client: TestClient, auth: Any) -> None:
    body = factories.declaration()
    d = client.post("/api/v1/declarations", json=body, headers=auth("enterprise")).json()
    trip = f"{d['reference']}-1"
    client.post(f"/api/v1/trips/{trip}/booking", json={"slot_start": SLOT},
                headers=auth("enterprise"))
    cancel = client.post(f"/api/v1/declarations/{d['id']}/cancel", json={"reason": "sold"},
                         headers=auth("enterprise"))
    assert cancel.status_code == 200
    slot = client.get("/api/v1/gates/huu-nghi/slots",
                      params={"direction": "export", "from": SLOT, "count": 1}).json()[0]
    assert slot["booked"] == 0


BOOKER = Principal(id=None, username="regulator-test", kind="user",
                   roles=frozenset({Role.REGULATOR}))


def test_two_hundred_requests_for_the_last_twenty_places_grant_exactly_twenty(
    database: Database,
) -> None:
    """Real parallel connections (on PostgreSQL, 16 at once) race for one slot."""
    engine = make_engine(database.url, pool_size=16, max_overflow=4)
    sessions = make_session_factory(engine)
    refs: list[str] = []
    with sessions() as s:
        _, network = networks.network_at(s, NOW)
        for d in range(5):
            body = factories.declaration(direction="import", requested_gate="huu-nghi")
            vehicle = body["vehicles"][0]
            body["vehicles"] = [dict(vehicle, plate=f"桂A{d}{v:04d}") for v in range(45)]
            decl = declarations.create(s, DeclarationIn.model_validate(body), actor=SYSTEM,
                                       now=NOW, network=network, holidays=around(TODAY))
            refs += [f"{decl.reference}-{v + 1}" for v in range(45)]
        capacity = booking.capacity_at(s, network, "huu-nghi", "import", SLOT_UTC)
        s.commit()
    assert capacity == 22
    for ref in refs[:capacity - 20]:  # leave the last 20 places
        with sessions() as s:
            booking.book(s, ref, SLOT_UTC, actor=BOOKER, network=network, now=NOW)
            s.commit()

    def attempt(ref: str) -> bool:
        with sessions() as s:
            try:
                booking.book(s, ref, SLOT_UTC, actor=BOOKER, network=network, now=NOW)
                s.commit()
                return True
            except AppError:
                s.rollback()
                return False

    with ThreadPoolExecutor(max_workers=16) as pool:
        granted = list(pool.map(attempt, refs[capacity - 20:capacity + 180]))
    assert len(granted) == 200
    assert sum(granted) == 20
    with sessions() as s:
        slot = s.scalars(select(GateSlot).where(GateSlot.slot_start == SLOT_UTC,
                                                GateSlot.direction == "import")).one()
        assert slot.booked == slot.capacity == 22
        active = s.scalar(select(func.count()).select_from(Booking)
                          .where(Booking.status == "active"))
        assert active == 22
        booked = [t for t in s.scalars(select(Trip)).all() if t.state["booking"]]
        assert len(booked) == 22
    engine.dispose()
