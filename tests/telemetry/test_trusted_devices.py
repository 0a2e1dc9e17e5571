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


def send(client: TestClient, device: str, at: tuple[float, float], seconds: int,
         status: int = 200) -> dict[str, Any]:
    """A position from Traccar Client; ``status`` 400 when ``device`` is not a live token
    (the position is kept for diagnosis, and the phone told, as Traccar's server does)."""
    r = client.post("/api/v1/telemetry/osmand", data={
        "id": device, "lat": str(at[0]), "lon": str(at[1]), "timestamp": str(EPOCH + seconds)})
    assert r.status_code == status, r.text
    if status == 400:
        assert r.json()["error"]["code"] == "device_unknown"
    return dict(r.json())


def positions_of(db: Peek, device: str) -> int:
    return int(db.scalar(select(func.count()).select_from(Position).where(
        Position.device_id == device)) or 0)


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

    plain = send(client, "phone-1", INSIDE, 0, status=400)  # the guessable id
    assert "is bound: send the token" in plain["error"]["message"]
    assert positions_of(db, "phone-1") == 0
    stale = send(client, old, INSIDE, 1, status=400)
    assert "is not known here" in stale["error"]["message"]
    assert positions_of(db, old) == 1  # nobody's token any more: stored under it, moves nothing
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
    send(client, token, OUTSIDE, -60, status=400)
    refused = send(client, token, INSIDE, 0, status=400)
    assert "revoked" in refused["error"]["message"]
    assert token not in refused["error"]["message"]
    assert db.scalar(select(func.count()).select_from(RejectedPosition).where(
        RejectedPosition.reason == service.REVOKED)) == 2
    assert client.get(f"/api/v1/trips/{ref}", headers=auth("driver")).json()["location"] \
        is None

    fresh = bind(client, auth)  # bound again: a new token, which works
    assert fresh != token
    send(client, fresh, OUTSIDE, 60)
    moved = send(client, fresh, INSIDE, 120)
    assert [e["event"] for e in moved["processed"]["events"]] == ["area.entered"]
    send(client, token, OUTSIDE, 180, status=400)  # the old one: nobody's id now
    assert positions_of(db, token) == 1


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


def test_an_unknown_id_is_stored_and_answered_400_on_every_route(
        client: TestClient, auth: Any, db: Peek, clock: FixedClock) -> None:
    """As Traccar's own server answers a device it does not know: the phone shows that it is
    not set up. The positions are kept for diagnosis and move no trip."""
    ref = declared(client, auth)
    bind(client, auth)
    clock.set(NOW + timedelta(minutes=10))
    where = {"lat": str(INSIDE[0]), "lon": str(INSIDE[1])}
    answers = [
        client.get("/api/v1/telemetry/osmand", params={**where, "id": "stranger",
                                                       "timestamp": str(EPOCH)}),
        client.post("/api/v1/telemetry/osmand", data={**where, "id": "stranger",
                                                      "timestamp": str(EPOCH + 1)}),
        client.post("/api/v1/telemetry/osmand", json={"device_id": "stranger", "location": {
            "timestamp": EPOCH + 2, "coords": {"latitude": INSIDE[0],
                                               "longitude": INSIDE[1]}}}),
        client.post("/api/v1/telemetry/owntracks", json={
            "_type": "location", "lat": INSIDE[0], "lon": INSIDE[1], "tst": EPOCH + 3},
            headers={"X-Limit-U": "stranger", "X-Limit-D": "phone"}),
    ]
    assert [a.status_code for a in answers] == [400] * 4
    assert [a.json()["error"]["fields"][0]["field"] for a in answers] == [
        "id", "id", "device_id", "X-Limit-U"]
    assert {a.json()["error"]["code"] for a in answers} == {"device_unknown"}
    assert positions_of(db, "stranger") == 3
    assert positions_of(db, "stranger/phone") == 1
    assert db.scalar(select(func.count()).select_from(TripEvent).where(AREA_EVENTS)) == 0
    assert client.get(f"/api/v1/trips/{ref}", headers=auth("driver")).json()[
        "location"] is None
    doc = client.get("/openapi.json").json()["paths"]
    assert "device_unknown" in doc["/api/v1/telemetry/osmand"]["get"]["responses"]["400"][
        "description"]
    assert "401" in doc["/api/v1/telemetry/owntracks"]["post"]["responses"]


def test_knowing_a_device_costs_no_query_per_position(
        client: TestClient, auth: Any, db: Peek) -> None:
    """Ingestion decides "unknown" from a snapshot of the devices loaded in one query (again
    after a bind or revoke committed in this process, and when older than its TTL); an id it
    does not know is looked up once, the first time it is seen, at most so many a second."""
    from borderflow.telemetry import directory
    from borderflow.telemetry.endpoints import directory_of

    ticks = [0.0]
    state = client.app.state  # type: ignore[attr-defined]
    found = state.device_directory = directory.DeviceDirectory(
        directory_of(state).sessions, lookups_per_second=5, monotonic=lambda: ticks[0])

    def osmand(device: str, n: int) -> int:
        return client.get("/api/v1/telemetry/osmand", params={
            "id": device, "lat": "21.9", "lon": "106.7",
            "timestamp": str(EPOCH - 600 + n)}).status_code

    token = bind(client, auth)
    assert [osmand(token, n) for n in range(30)] == [200] * 30
    assert (found.loads, found.lookups) == (1, 0)
    assert [osmand("stranger", n) for n in range(30)] == [400] * 30
    assert (found.loads, found.lookups) == (1, 1)  # looked up once, the first time
    assert [osmand(f"made-up-{n}", n) for n in range(30)] == [400] * 30
    assert found.lookups == 5  # a flood of new ids: at most 5 look-ups a second here
    ticks[0] = 1.5
    # a device bound through another process: its first position finds it
    with found.sessions() as s:
        elsewhere = service.bind(s, "phone-9", actor=service.GPS, now=NOW,
                                 driver_document=factories.DRIVER_DOC)[1]
        s.info.pop(service.DEVICES_CHANGED)  # as if committed in another process
        s.commit()
    assert osmand(elsewhere, 40) == 200
    assert (found.loads, found.lookups) == (1, 6)
    assert [osmand(elsewhere, n) for n in range(41, 60)] == [200] * 19
    assert (found.loads, found.lookups) == (1, 6)
    ticks[0] = 1.5 + directory.TTL_SECONDS
    assert osmand(token, 61) == 200
    assert found.loads == 2  # too old: loaded again
    assert client.post("/api/v1/devices/phone-1/revoke",
                       headers=auth("regulator")).status_code == 200
    assert osmand(token, 62) == 400  # revoked here: known at once, without waiting
    assert found.loads == 3


def test_owntracks_signs_in_with_the_device_token_as_its_password(
        client: TestClient, auth: Any, db: Peek, clock: FixedClock) -> None:
    """OwnTracks over HTTP with HTTP Basic credentials (user: the device's id before the
    slash, password: its token), as the set-up code on the driver's page configures it: the
    messages are the device's, whatever id they name; wrong credentials get 401."""
    import base64

    def basic(user: str, password: str) -> dict[str, str]:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {pair}", "X-Limit-U": user, "X-Limit-D": "phone"}

    ref = declared(client, auth)
    token = bind(client, auth, device="29C12345/phone", label="")
    clock.set(NOW + timedelta(minutes=10))
    for seconds, at in ((-60, OUTSIDE), (0, INSIDE)):
        r = client.post("/api/v1/telemetry/owntracks", json={
            "_type": "location", "lat": at[0], "lon": at[1], "tst": EPOCH + seconds,
            "tid": "ph", "topic": "owntracks/29C12345/phone"},
            headers=basic("29C12345", token))
        assert (r.status_code, r.json()) == (200, []), r.text
    event = db.one(select(TripEvent).where(AREA_EVENTS))
    assert event.actor_name == "device:29C12345/phone"
    assert positions_of(db, "29C12345/phone") == 2
    assert client.get(f"/api/v1/trips/{ref}", headers=auth("driver")).json()[
        "location"] == "staging:viettel-logistics-park"
    # the whole id as the user works too; other message types are acknowledged
    status = client.post("/api/v1/telemetry/owntracks", json={"_type": "status"},
                         headers=basic("29C12345/phone", token))
    assert (status.status_code, status.json()) == (200, [])

    near_miss = token[:-1] + ("y" if token.endswith("x") else "x")  # never the token itself
    for user, password in (("29C12345", near_miss), ("someone", token)):
        wrong = client.post("/api/v1/telemetry/owntracks", json={
            "_type": "location", "lat": OUTSIDE[0], "lon": OUTSIDE[1], "tst": EPOCH + 60},
            headers=basic(user, password))
        assert wrong.status_code == 401, wrong.text
        assert wrong.headers["www-authenticate"].startswith('Basic realm="Borderflow"')
        assert wrong.json()["error"]["code"] == "credentials_invalid"
        assert token not in wrong.text
    # kept for diagnosis under the ids they named, and nothing moved
    assert db.scalar(select(func.count()).select_from(RejectedPosition).where(
        RejectedPosition.device_id == "29C12345/phone")) == 1
    assert positions_of(db, "someone/phone") == 1
    assert db.scalar(select(func.count()).select_from(TripEvent).where(AREA_EVENTS)) == 1
    assert db.scalar(select(func.count()).select_from(Position).where(
        Position.device_id == token)) == 0
