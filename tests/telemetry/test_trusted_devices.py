"""Trusted devices: binding gives the phone an unguessable token, only positions under a live
token move a trip, and the movement is recorded under the device, not under a person."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from borderflow.clock import FixedClock
from borderflow.store.models import AuditEntry, Device, Position, RejectedPosition, TripEvent
from borderflow.telemetry import service
from tests import factories
from tests.conftest import NOW, Peek
from tests.telemetry.test_ingest import EPOCH, INSIDE, OUTSIDE, declared

AREA_EVENTS = TripEvent.type.in_(("area.entered", "area.left"))


def bind(client: TestClient, auth: Any, device: str = "phone-1", label: str = "Tai's phone",
         who: str = "driver") -> str:
    r = client.post(f"/api/v1/devices/{device}/bind",
                    json={"driver_document": factories.DRIVER_DOC, "label": label},
                    headers=auth(who))
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def send(client: TestClient, device: str, at: tuple[float, float], seconds: int
         ) -> dict[str, Any]:
    r = client.post("/api/v1/telemetry/osmand", data={
        "id": device, "lat": str(at[0]), "lon": str(at[1]), "timestamp": str(EPOCH + seconds)})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_binding_issues_a_token_kept_only_as_its_hash(
        client: TestClient, auth: Any, db: Peek) -> None:
    declared(client, auth)
    token = bind(client, auth)
    assert len(token) >= 32  # 24 random bytes, URL-safe: 192 bits
    device = db.one(select(Device).where(Device.id == "phone-1"))
    assert device.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(db.scalars(select(AuditEntry.after)))
    listed = client.get("/api/v1/devices", headers=auth("regulator")).json()
    assert token not in str(listed)
    again = bind(client, auth)
    assert again != token


def test_only_the_live_token_moves_the_trip_and_the_device_is_the_actor(
        client: TestClient, auth: Any, db: Peek, clock: FixedClock) -> None:
    ref = declared(client, auth)
    old = bind(client, auth)
    token = bind(client, auth)  # bound again: the first token stops working
    clock.set(NOW + timedelta(minutes=10))

    plain = send(client, "phone-1", INSIDE, 0)  # the guessable id
    assert (plain["processed"]["stored"], plain["processed"]["events"]) == (0, [])
    stale = send(client, old, INSIDE, 1)
    assert stale["processed"]["events"] == []
    assert stale["processed"]["unknown_devices"] == [old]  # nobody's token any more
    assert db.scalar(select(func.count()).select_from(TripEvent).where(AREA_EVENTS)) == 0
    kept = db.one(select(RejectedPosition).where(RejectedPosition.device_id == "phone-1"))
    assert kept.reason == service.PLAIN_ID  # kept for diagnosis

    send(client, token, OUTSIDE, -60)
    moved = send(client, token, INSIDE, 2)
    assert [e["event"] for e in moved["processed"]["events"]] == ["area.entered"]
    event = db.one(select(TripEvent).where(AREA_EVENTS))
    assert event.actor_name == "device:Tai's phone"
    audited = db.one(select(AuditEntry).where(AuditEntry.action == "area.entered"))
    assert audited.actor_name == "device:Tai's phone"
    # the positions are the device's, under its own id: the token is stored nowhere
    assert db.scalar(select(func.count()).select_from(Position).where(
        Position.device_id == "phone-1")) == 2
    assert db.scalar(select(func.count()).select_from(Position).where(
        Position.device_id == token)) == 0
    assert client.get(f"/api/v1/trips/{ref}", headers=auth("driver")).json()[
        "location"] == "staging:viettel-logistics-park"


POINTS = st.sampled_from([INSIDE, OUTSIDE, (INSIDE[0] + 0.0005, INSIDE[1])])


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sent=st.lists(st.tuples(st.integers(0, 5), st.text(
    st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=12).filter(
    lambda s: s.strip() == s and s), POINTS, st.integers(-600, 600)),
    min_size=1, max_size=8))
def test_no_position_from_a_device_not_bound_and_live_changes_a_trip(
        client: TestClient, auth: Any, db: Peek, clock: FixedClock,
        sent: list[tuple[int, str, tuple[float, float], int]]) -> None:
    """Whatever arrives under a bound device's plain id, an old token, a near miss of the live
    token or any other id, in any order and place, no trip moves."""
    if db.scalar(select(func.count()).select_from(Device)) == 0:
        declared(client, auth)
        bind(client, auth, who="regulator")
    old = bind(client, auth, who="regulator")
    revoked = bind(client, auth, device="unit-2", who="regulator")
    assert client.post("/api/v1/devices/unit-2/revoke",
                       headers=auth("regulator")).status_code == 200
    live = bind(client, auth, who="regulator")  # never sent: the old one is what leaks
    clock.set(NOW + timedelta(minutes=10))
    for kind, text, at, seconds in sent:
        device = ["phone-1", old, live[:-1] + ("A" if live[-1] != "A" else "B"), text,
                  revoked, "unit-2"][kind]
        r = client.post("/api/v1/telemetry/positions", headers=auth("regulator"), json={
            "positions": [{"device_id": device, "time": EPOCH + seconds, "lat": at[0],
                           "lon": at[1]}]})
        assert r.status_code == 200, r.text
        assert r.json()["processed"]["events"] == []
    assert db.scalar(select(func.count()).select_from(TripEvent).where(AREA_EVENTS)) == 0


def test_a_revoked_device_moves_no_trip_until_bound_again(
        client: TestClient, auth: Any, db: Peek, clock: FixedClock) -> None:
    ref = declared(client, auth)
    token = bind(client, auth)
    for who in ("driver", "enterprise"):
        assert client.post("/api/v1/devices/phone-1/revoke",
                           headers=auth(who)).status_code == 403, who
    assert client.post("/api/v1/devices/phone-1/revoke").status_code == 401
    r = client.post("/api/v1/devices/phone-1/revoke", headers=auth("regulator"))
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"]
    again = client.post("/api/v1/devices/phone-1/revoke", headers=auth("admin"))
    assert again.json()["revoked_at"] == r.json()["revoked_at"]  # twice changes nothing
    missing = client.post("/api/v1/devices/nobody/revoke", headers=auth("regulator"))
    assert missing.status_code == 404
    client.post("/api/v1/telemetry/osmand", data={"id": "stray-1", "lat": "21.9",
                                                  "lon": "106.7", "timestamp": str(EPOCH)})
    never = client.post("/api/v1/devices/stray-1/revoke", headers=auth("regulator"))
    assert never.status_code == 422
    assert never.json()["error"]["fields"][0]["field"] == "device_id"
    assert db.one(select(AuditEntry).where(AuditEntry.action == "device.revoke")
                  ).actor_name == "regulator"

    clock.set(NOW + timedelta(minutes=10))
    send(client, token, OUTSIDE, -60)
    refused = send(client, token, INSIDE, 0)
    assert (refused["processed"]["stored"], refused["processed"]["events"]) == (0, [])
    assert db.scalar(select(func.count()).select_from(RejectedPosition).where(
        RejectedPosition.reason == service.REVOKED)) == 2
    assert client.get(f"/api/v1/trips/{ref}", headers=auth("driver")).json()["location"] \
        is None

    fresh = bind(client, auth)  # bound again: a new token, which works
    assert fresh != token
    send(client, fresh, OUTSIDE, 60)
    moved = send(client, fresh, INSIDE, 120)
    assert [e["event"] for e in moved["processed"]["events"]] == ["area.entered"]
    dead = send(client, token, OUTSIDE, 180)["processed"]  # the old one: nobody's id now
    assert (dead["events"], dead["unknown_devices"]) == ([], [token])


def test_the_admin_revokes_a_device_from_its_page(client: TestClient, auth: Any) -> None:
    from tests.web.test_admin import _admin

    csrf = _admin(client)
    bound = client.post("/admin/devices/bind", data={
        "csrf": csrf, "device_id": "phone-1", "driver_document": factories.DRIVER_DOC})
    assert bound.status_code == 201
    page = client.get("/admin/devices", params={"lang": "vi"}).text
    assert 'action="/admin/devices/revoke"' in page
    assert "Thu hồi" in page
    done = client.post("/admin/devices/revoke", data={"csrf": csrf, "device_id": "phone-1"},
                       follow_redirects=False)
    assert done.status_code == 303
    shown = client.get(done.headers["location"] + "&lang=zh").text
    assert "设备令牌已吊销" in shown
    assert 'action="/admin/devices/revoke"' not in shown  # nothing left to revoke
    listed = client.get("/api/v1/devices", headers=auth("admin")).json()
    assert listed[0]["revoked_at"]


def test_owntracks_sends_the_token_as_its_user(
        client: TestClient, auth: Any, db: Peek, clock: FixedClock) -> None:
    """OwnTracks (HTTP) names itself `<user>/<device>` (its Tracker ID has two characters):
    with the token as its user, its positions are the device's."""
    declared(client, auth)
    token = bind(client, auth, device="29C12345/phone", label="")
    clock.set(NOW + timedelta(minutes=10))
    for seconds, at in ((-60, OUTSIDE), (0, INSIDE)):
        r = client.post("/api/v1/telemetry/owntracks", json={
            "_type": "location", "lat": at[0], "lon": at[1], "tst": EPOCH + seconds,
            "tid": "ph"}, headers={"X-Limit-U": token, "X-Limit-D": "phone"})
        assert r.status_code == 200, r.text
    event = db.one(select(TripEvent).where(AREA_EVENTS))
    assert event.actor_name == "device:29C12345/phone"
    assert db.scalar(select(func.count()).select_from(Position).where(
        Position.device_id == "29C12345/phone")) == 2
