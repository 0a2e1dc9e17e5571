"""The features' reactions to trip events: installed in one place, in a fixed order, run in
the trip service's transaction; a booked place is given back before the event that ends it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from borderflow import handlers
from borderflow.booking import service as bookings
from borderflow.fees import invoices
from borderflow.notify import outbox
from borderflow.report import facts
from borderflow.trip import events
from tests import factories

SLOT = "2026-11-25T08:00:00+07:00"  # a Wednesday morning: Huu Nghi open


def test_the_handlers_and_their_order() -> None:
    assert (bookings.give_back_before_trip_change,) == handlers.BEFORE
    assert (outbox.after_trip_change, invoices.after_trip_change,
                              facts.after_trip_change) == handlers.AFTER
    handlers.install()  # twice is harmless
    assert events.installed() == events.Handlers(handlers.BEFORE, handlers.AFTER)


def test_trips_do_not_change_without_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "_installed", None)
    with pytest.raises(RuntimeError, match=r"borderflow\.handlers\.install"):
        events.installed()


def _timeline(client: TestClient, auth: Any, trip: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/trips/{trip}/timeline", headers=auth("regulator"))
    assert r.status_code == 200, r.text
    return list(r.json()["entries"])


def test_a_cancelled_trip_gives_its_place_back_first(client: TestClient, auth: Any) -> None:
    d = client.post("/api/v1/declarations", json=factories.declaration(),
                    headers=auth("enterprise")).json()
    trip = f"{d['reference']}-1"
    r = client.post(f"/api/v1/trips/{trip}/booking", json={"slot_start": SLOT},
                    headers=auth("enterprise"))
    assert r.status_code == 201, r.text
    cancel = client.post(f"/api/v1/declarations/{d['id']}/cancel", json={"reason": "sold"},
                         headers=auth("enterprise"))
    assert cancel.status_code == 200, cancel.text
    entries = _timeline(client, auth, trip)
    types = [e["type"] for e in entries]
    assert types[0] == "trip.created"
    at = types.index("trip.cancelled")
    assert types[at - 1] == "trip.unbooked"
    unbooked = entries[at - 1]["payload"]
    assert unbooked["cause"] == "trip_cancelled"
    assert unbooked["reason"] == "trip cancelled: sold"
    seqs = [e["seq"] for e in entries]
    assert seqs == list(range(1, len(seqs) + 1))


def test_an_amendment_to_another_gate_gives_the_place_back_first(client: TestClient,
                                                                 auth: Any) -> None:
    body = factories.declaration()
    d = client.post("/api/v1/declarations", json=body, headers=auth("enterprise")).json()
    trip = f"{d['reference']}-1"
    r = client.post(f"/api/v1/trips/{trip}/booking", json={"slot_start": SLOT},
                    headers=auth("enterprise"))
    assert r.status_code == 201, r.text
    assert body["requested_gate"] != "chi-ma"
    amended = client.patch(f"/api/v1/declarations/{d['id']}",
                           json={"requested_gate": "chi-ma"}, headers=auth("enterprise"))
    assert amended.status_code == 200, amended.text
    types = [e["type"] for e in _timeline(client, auth, trip)]
    at = types.index("trip.amended")
    assert types[at - 1] == "trip.unbooked"
