"""The enterprise's gate slots and cancelling a declaration in the browser: book, move and
cancel a slot (a form sent twice books once; a full slot or a closed gate is refused with the
fresh list), and cancel a declaration (the booking released; another enterprise refused; the
states the service refuses explained)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from borderflow.booking import service as booking
from borderflow.network import service as networks
from borderflow.store.models import AuditEntry, Booking, GateSlot
from borderflow.store.session import make_engine, make_session_factory
from tests.conftest import NOW, Database
from tests.web.test_driver import _csrf, _login, visible
from tests.web.test_portal import _declared

DAY = "2026-11-25"  # a Wednesday: Huu Nghi open
SLOT = "2026-11-25T08:00:00+07:00"
LATER = "2026-11-25T09:00:00+07:00"
SLOT_UTC = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def _page(client: TestClient, trip: str, lang: str = "vi") -> str:
    r = client.get("/portal/bookings", params={"trip": trip, "day": DAY, "lang": lang})
    assert r.status_code == 200, r.text
    return r.text


def _row(html: str, slot_id: str) -> str:
    return html[html.index(f'id="{slot_id}"'):].split("</tr>")[0]


def test_a_slot_is_booked_moved_and_cancelled_and_a_double_submit_books_once(
    client: TestClient, db: Any
) -> None:
    _login(client, "enterprise")
    trip = f"{_declared(client, '29C-830.01')}-1"
    listing = client.get("/portal/bookings", params={"lang": "en"}).text
    assert f'id="trip-{trip}"' in listing
    assert "No slot booked" in listing
    assert 'href="/portal/bookings"' in listing  # the menu's "Slots"
    page = _page(client, trip)
    assert "08:00–08:30" in page  # the page's time format
    assert re.search(r'<td class="num" data-label="[^"]+">11</td>', _row(page, "slot-0800"))
    token = _csrf(client, f"/portal/bookings?trip={trip}")
    form = {"csrf": token, "slot": SLOT, "day": DAY}
    first = client.post(f"/portal/bookings/{trip}/book", data=form, follow_redirects=False)
    again = client.post(f"/portal/bookings/{trip}/book", data=form, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert db.scalar(select(func.count()).select_from(Booking).where(
        Booking.status == "active", Booking.slot_start == SLOT_UTC)) == 1
    done = client.get(first.headers["location"] + "&lang=en").text
    assert "Slot booked for" in visible(done)
    assert ">1</td>" in _row(done, "slot-0800")
    assert "Your slot" in _row(done, "slot-0800")
    moved = client.post(f"/portal/bookings/{trip}/book", data={**form, "slot": LATER},
                        follow_redirects=False)
    client.post(f"/portal/bookings/{trip}/book", data={**form, "slot": LATER})  # twice
    assert "moved" in moved.headers["location"]
    held = db.scalars(select(Booking).where(Booking.status == "active"))
    assert [b.slot_start for b in held] == [datetime(2026, 11, 25, 2, 0, tzinfo=UTC)]
    audit = db.one(select(AuditEntry).where(AuditEntry.action == "booking.move"))
    assert audit.before["slot_start"].startswith("2026-11-25T01:00")
    assert audit.after["slot_start"].startswith("2026-11-25T02:00")
    cancelled = client.post(f"/portal/bookings/{trip}/cancel", data=form,
                            follow_redirects=False)
    twice = client.post(f"/portal/bookings/{trip}/cancel", data=form, follow_redirects=False)
    assert cancelled.status_code == twice.status_code == 303
    assert db.scalar(select(func.count()).select_from(Booking).where(
        Booking.status == "active")) == 0
    assert "No slot booked" in client.get("/portal/bookings", params={"lang": "en"}).text


def test_a_full_slot_and_a_closed_gate_are_refused_with_the_fresh_list(
    client: TestClient, database: Database
) -> None:
    _login(client, "enterprise")
    trip = f"{_declared(client, '29C-830.02')}-1"
    token = _csrf(client, f"/portal/bookings?trip={trip}")
    engine = make_engine(database.url)
    with make_session_factory(engine)() as s:
        _, network = networks.network_at(s, NOW)
        capacity = booking.capacity_at(s, network, "huu-nghi", "export", SLOT_UTC)
        s.add(GateSlot(gate="huu-nghi", direction="export", slot_start=SLOT_UTC,
                       capacity=capacity, booked=capacity))
        s.commit()
    engine.dispose()
    full = client.post(f"/portal/bookings/{trip}/book", params={"lang": "vi"},
                       data={"csrf": token, "slot": SLOT, "day": DAY})
    assert full.status_code == 409
    text = visible(full.text)
    assert "08:00–08:30" in text  # the fresh list comes back
    assert 'id="booking-error"' in full.text
    row = _row(full.text, "slot-0800")
    assert "<button" not in row  # the full slot offers no button
    lunch = client.post(f"/portal/bookings/{trip}/book", params={"lang": "en"},
                        data={"csrf": token, "slot": "2026-11-25T11:30:00+07:00", "day": DAY})
    assert lunch.status_code == 422
    assert "closed then" in visible(lunch.text)
    assert 'id="slot-1130"' not in lunch.text  # closed slots are not offered


def test_cancelling_a_declaration_releases_its_booking_and_only_the_owner_may(
    client: TestClient, auth: Any, db: Any
) -> None:
    _login(client, "enterprise")
    reference = _declared(client, "29C-830.03")
    token = _csrf(client, "/portal/bookings")
    client.post(f"/portal/bookings/{reference}-1/book",
                data={"csrf": token, "slot": SLOT, "day": DAY})
    page = client.get(f"/portal/declarations/{reference}/cancel", params={"lang": "en"})
    assert page.status_code == 200
    text = visible(page.text)
    assert "The booked slot" in text
    assert "is released" in text
    assert "is voided" in text  # the estimated fee, nothing paid
    no_reason = client.post(f"/portal/declarations/{reference}/cancel",
                            data={"csrf": token, "reason": " "}, params={"lang": "en"})
    assert no_reason.status_code == 422
    assert 'id="cancel-error"' in no_reason.text
    client.cookies.clear()
    _login(client, "enterprise2")
    other = _csrf(client, "/portal/bookings")
    assert client.get(f"/portal/declarations/{reference}/cancel").status_code == 404
    stolen = client.post(f"/portal/declarations/{reference}/cancel",
                         data={"csrf": other, "reason": "not mine"})
    assert stolen.status_code == 404
    assert client.post(f"/portal/bookings/{reference}-1/cancel",
                       data={"csrf": other}).status_code == 404
    assert db.scalar(select(func.count()).select_from(Booking).where(
        Booking.status == "active")) == 1
    client.cookies.clear()
    _login(client, "enterprise")
    token = _csrf(client, "/portal/bookings")
    done = client.post(f"/portal/declarations/{reference}/cancel",
                       data={"csrf": token, "reason": "buyer cancelled the order"},
                       params={"lang": "en"})
    assert done.status_code == 200
    assert 'id="cancel-done"' in done.text
    assert db.scalar(select(func.count()).select_from(Booking).where(
        Booking.status == "active")) == 0
    decl = client.get(f"/api/v1/declarations/{reference}", headers=auth("enterprise")).json()
    assert (decl["status"], decl["cancel_reason"]) == ("cancelled", "buyer cancelled the order")
    assert f'id="trip-{reference}-1"' not in client.get("/portal/bookings").text


def test_a_declaration_whose_truck_arrived_cannot_be_cancelled_and_the_page_says_why(
    client: TestClient, auth: Any
) -> None:
    _login(client, "enterprise")
    reference = _declared(client, "29C-830.04")
    client.post(f"/api/v1/trips/{reference}-1/movements",
                json={"action": "enter", "area": "staging:viettel-logistics-park"},
                headers=auth("yard"))
    page = client.get(f"/portal/declarations/{reference}/cancel", params={"lang": "vi"})
    assert 'id="cancel-refused"' in page.text
    assert "29C-830.04" in visible(page.text)
    assert "<textarea" not in page.text
    refused = client.post(f"/portal/declarations/{reference}/cancel", params={"lang": "vi"},
                          data={"csrf": _csrf(client, "/portal/bookings"),
                                "reason": "too late now"})
    assert refused.status_code == 409
    assert "cancel-refused" in refused.text or "cancel-error" in refused.text


def test_the_same_slot_form_sent_twice_at_once_books_one_place(live: Any, db: Any) -> None:
    """A double click: two identical requests at the same moment on a real server; both
    answer with the booking, and the slot has one booking more."""
    _login(live, "enterprise")
    trip = f"{_declared(live, '29C-830.05')}-1"
    token = _csrf(live, "/portal/bookings")
    form = {"csrf": token, "slot": SLOT, "day": DAY}
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(
            lambda _: live.post(f"/portal/bookings/{trip}/book", data=form,
                                follow_redirects=False), range(2)))
    # a request that waited longer than the database wait for the other's row lock is
    # answered 503 with Retry-After (PostgreSQL on a busy machine); sent again, it finds
    # the slot booked
    answers = [a if a.status_code != 503 else live.post(
        f"/portal/bookings/{trip}/book", data=form, follow_redirects=False) for a in answers]
    assert [a.status_code for a in answers] == [303, 303]
    assert all("done=booked" in a.headers["location"] for a in answers)
    assert db.scalar(select(func.count()).select_from(Booking).where(
        Booking.status == "active")) == 1
    assert db.scalar(select(GateSlot.booked).where(GateSlot.slot_start == SLOT_UTC)) == 1
