"""Plate-reading cameras through the API: registration, the webhook, matching to expected
trips, the review queue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from borderflow.clock import FixedClock
from borderflow.domain.access import PERMISSIONS, Role
from borderflow.store.models import AuditEntry, PlateRead, Trip, TripEvent
from tests import factories
from tests.conftest import NOW, Peek

STAGING = "staging:viettel-logistics-park"
GATE_AREA = "gate_area:huu-nghi"
LATER = NOW + timedelta(minutes=10)
"""When the reads arrive: a minute after the trucks passed, 10 minutes after they were called."""


def _camera(client: TestClient, auth: Any, code: str = "huu-nghi-in-1",
            checkpoint: str = "gate_in", **extra: Any) -> str:
    r = client.post("/api/v1/cameras", headers=auth("admin"),
                    json={"code": code, "name": f"Camera {code}", "gate": "huu-nghi",
                          "checkpoint": checkpoint, **extra})
    assert r.status_code == 201, r.text
    key: str = r.json()["key"]
    return key


def _called(client: TestClient, auth: Any, plate: str = "29C-123.45") -> str:
    """A trip at Huu Nghi, through the staging park, called forward."""
    body = factories.declaration()
    body["vehicles"][0]["plate"] = plate
    d = client.post("/api/v1/declarations", json=body, headers=auth("enterprise"))
    assert d.status_code == 201, d.text
    ref = f"{d.json()['reference']}-1"
    r = client.post(f"/api/v1/trips/{ref}/movements", json={"action": "enter", "area": STAGING},
                    headers=auth("yard"))
    assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/trips/{ref}/call", json={}, headers=auth("regulator"))
    assert r.status_code == 200, r.text
    return ref


def _read(plate: str, confidence: float = 0.96, camera: str = "huu-nghi-in-1",
          **extra: Any) -> dict[str, Any]:
    return {"camera": camera, "plate": plate, "confidence": confidence,
            "time": (NOW + timedelta(minutes=9)).isoformat(), **extra}


def _trip(client: TestClient, auth: Any, ref: str) -> dict[str, Any]:
    out: dict[str, Any] = client.get(f"/api/v1/trips/{ref}", headers=auth("regulator")).json()
    return out


def _events(db: Peek, ref: str) -> list[TripEvent]:
    trip_id = db.scalar(select(Trip.id).where(Trip.reference == ref))
    return list(db.scalars(select(TripEvent).where(TripEvent.trip_id == trip_id)
                           .order_by(TripEvent.seq)))


def test_a_confident_read_moves_the_called_truck_into_the_gate_area(
    client: TestClient, auth: Any, db: Peek, clock: FixedClock
) -> None:
    key = _camera(client, auth)
    ref = _called(client, auth)
    clock.set(LATER)

    r = client.post("/api/v1/plate-reads", json=_read("29C-I23.45", candidates=[
        {"plate": "29C-123.46", "confidence": 0.3}], image_ref="s3://cams/1.jpg"),
        headers={"X-API-Key": key})

    assert r.status_code == 201, r.text
    read = r.json()
    assert read["status"] == "matched"
    assert read["trip"] == ref
    assert read["plate_key"] == "29CI2345"
    assert read["events"] == [f"area.entered {GATE_AREA}"]
    trip = _trip(client, auth, ref)
    assert trip["status"] == "in_gate_area"
    assert trip["location"] == GATE_AREA
    assert next(s for s in trip["steps"] if s["code"] == "vehicle_control")["status"] == "passed"
    last = client.get(f"/api/v1/trips/{ref}/timeline", headers=auth("regulator")).json()
    entry = next(e for e in reversed(last["entries"]) if e["type"] == "area.entered")
    assert (entry["type"], entry["source"], entry["actor"]) == (
        "area.entered", "camera", "camera.huu-nghi-in-1")
    assert entry["occurred_at"].startswith((NOW + timedelta(minutes=9)).isoformat()[:19])
    assert entry["payload"]["plate_read"] == read["id"]

    # the same truck read again a few seconds later: a repeat, nothing more recorded
    again = client.post("/api/v1/plate-reads", json=_read("29C-123.45"),
                        headers={"X-API-Key": key}).json()
    assert again["status"] == "matched"
    assert again["repeat_of"] == read["id"]
    assert again["events"] == []
    assert len(_events(db, ref)) == len(last["entries"])
    assert db.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "plate_read.received")) == 2


def test_a_low_confidence_read_waits_for_an_officer_who_confirms_it(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    key = _camera(client, auth)
    ref = _called(client, auth)
    clock.set(LATER)
    read = client.post("/api/v1/plate-reads", json=_read("29C-123.45", confidence=0.62),
                       headers={"X-API-Key": key}).json()
    assert read["status"] == "review"
    assert "below 0.90" in read["reason"]
    assert _trip(client, auth, ref)["status"] == "called"

    assert client.get("/api/v1/plate-reads/review",
                      headers=auth("enterprise")).status_code == 403
    assert client.post(f"/api/v1/plate-reads/{read['id']}/confirm", json={"trip": ref},
                       headers=auth("enterprise")).status_code == 403
    queue = client.get("/api/v1/plate-reads/review", params={"gate": "huu-nghi"},
                       headers=auth("borderguard")).json()
    assert [q["id"] for q in queue] == [read["id"]]
    best = queue[0]["candidate_trips"][0]
    assert (best["reference"], best["expected"], best["cost"]) == (ref, True, 0)
    assert client.get("/api/v1/plate-reads/review", params={"gate": "chi-ma"},
                      headers=auth("borderguard")).json() == []

    r = client.post(f"/api/v1/plate-reads/{read['id']}/confirm",
                    json={"trip": ref, "note": "checked the picture"},
                    headers=auth("borderguard"))
    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["status"], done["trip"], done["resolved_by"]) == (
        "confirmed", ref, "borderguard")
    assert _trip(client, auth, ref)["status"] == "in_gate_area"
    entry = next(e for e in reversed(client.get(
        f"/api/v1/trips/{ref}/timeline", headers=auth("regulator")).json()["entries"])
        if e["type"] == "area.entered")
    assert (entry["type"], entry["source"], entry["actor"]) == (
        "area.entered", "officer_screen", "borderguard")
    assert client.get("/api/v1/plate-reads/review", headers=auth("regulator")).json() == []
    again = client.post(f"/api/v1/plate-reads/{read['id']}/confirm", json={"trip": ref},
                        headers=auth("regulator"))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_resolved"
    audit = client.get("/api/v1/audit", params={"action": "plate_read.confirm"},
                       headers=auth("admin")).json()
    assert audit["items"][0]["after"]["status"] == "confirmed"


def test_an_unknown_plate_is_dismissed(client: TestClient, auth: Any, clock: FixedClock
                                       ) -> None:
    key = _camera(client, auth)
    clock.set(LATER)
    read = client.post("/api/v1/plate-reads", json=_read("51D-999.99"),
                       headers={"X-API-Key": key}).json()
    assert read["status"] == "review"
    assert read["reason"] == "no expected trip has this plate"
    missing = client.post(f"/api/v1/plate-reads/{read['id']}/dismiss", json={"reason": ""},
                          headers=auth("regulator"))
    assert missing.status_code == 422
    assert missing.json()["error"]["fields"][0]["field"] == "reason"
    r = client.post(f"/api/v1/plate-reads/{read['id']}/dismiss",
                    json={"reason": "a bus, not on any trip"}, headers=auth("regulator"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "dismissed"
    assert r.json()["resolution_note"] == "a bus, not on any trip"
    assert client.get("/api/v1/plate-reads/review", headers=auth("admin")).json() == []


def test_a_truck_not_yet_called_is_offered_but_not_moved(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    key = _camera(client, auth)
    body = factories.declaration()
    d = client.post("/api/v1/declarations", json=body, headers=auth("enterprise")).json()
    ref = f"{d['reference']}-1"
    clock.set(LATER)
    read = client.post("/api/v1/plate-reads", json=_read("29C-123.45"),
                       headers={"X-API-Key": key}).json()
    assert read["status"] == "review"
    item = client.get(f"/api/v1/plate-reads/{read['id']}", headers=auth("borderguard")).json()
    assert item["candidate_trips"][0]["reference"] == ref
    assert item["candidate_trips"][0]["expected"] is False
    refused = client.post(f"/api/v1/plate-reads/{read['id']}/confirm", json={"trip": ref},
                          headers=auth("borderguard"))
    assert refused.status_code == 409  # not at staging, not called: the trip's rules refuse
    assert client.get(f"/api/v1/plate-reads/{read['id']}",
                      headers=auth("borderguard")).json()["status"] == "review"


def test_a_gate_out_camera_sees_the_truck_leave_its_yard_and_the_gate_area(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    key = _camera(client, auth, "huu-nghi-out-1", "gate_out")
    ref = _called(client, auth)
    for area in (GATE_AREA, "yard:huu-nghi-export"):
        r = client.post(f"/api/v1/trips/{ref}/movements", json={"action": "enter", "area": area},
                        headers=auth("borderguard"))
        assert r.status_code == 200, r.text
    clock.set(LATER)
    read = client.post("/api/v1/plate-reads",
                       json=_read("29C-123.45", camera="huu-nghi-out-1", direction="out"),
                       headers={"X-API-Key": key}).json()
    assert read["status"] == "matched", read
    assert read["events"] == ["area.left yard:huu-nghi-export", f"area.left {GATE_AREA}"]
    assert _trip(client, auth, ref)["location"] is None


def test_a_read_going_the_wrong_way_waits_for_an_officer(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    key = _camera(client, auth)
    _called(client, auth)
    clock.set(LATER)
    read = client.post("/api/v1/plate-reads", json=_read("29C-123.45", direction="out"),
                       headers={"X-API-Key": key}).json()
    assert read["status"] == "review"
    assert "going out" in read["reason"]


def test_cameras_post_only_their_own_reads(client: TestClient, auth: Any, clock: FixedClock
                                           ) -> None:
    key = _camera(client, auth)
    _camera(client, auth, "huu-nghi-in-2")
    clock.set(LATER)
    r = client.post("/api/v1/plate-reads", json=_read("29C-123.45", camera="huu-nghi-in-2"),
                    headers={"X-API-Key": key})
    assert r.status_code == 403
    assert r.json()["error"]["fields"][0]["field"] == "camera"
    assert client.post("/api/v1/plate-reads", json=_read("29C-123.45"),
                       headers=auth("borderguard")).status_code == 403
    assert client.post("/api/v1/plate-reads", json=_read("29C-123.45")).status_code == 401
    # a camera may do nothing else
    assert client.get("/api/v1/plate-reads/review",
                      headers={"X-API-Key": key}).status_code == 403
    assert client.get("/api/v1/trips", headers={"X-API-Key": key}).status_code == 403


@pytest.mark.parametrize(("change", "field"), [
    ({"confidence": 1.5}, "confidence"),
    ({"confidence": "high"}, "confidence"),
    ({"time": "2026-11-23T08:09:00"}, "time"),
    ({"time": "yesterday"}, "time"),
    ({"time": (NOW + timedelta(hours=2)).isoformat()}, "time"),
    ({"plate": ""}, "plate"),
    ({"plate": "--- ..."}, "plate"),
    ({"plate": None}, "plate"),
    ({"direction": "sideways"}, "direction"),
    ({"candidates": [{"plate": "29C-123.45", "confidence": 2}]}, "candidates[0].confidence"),
    ({"candidates": "29C-123.45"}, "candidates"),
    ({"camera": None}, "camera"),
])
def test_bad_reads_are_refused_naming_the_field(
    client: TestClient, auth: Any, clock: FixedClock, change: dict[str, Any], field: str
) -> None:
    key = _camera(client, auth)
    clock.set(LATER)
    r = client.post("/api/v1/plate-reads", json={**_read("29C-123.45"), **change},
                    headers={"X-API-Key": key})
    assert r.status_code == 422, r.text
    assert field in [f["field"] for f in r.json()["error"]["fields"]]


def test_a_body_that_is_not_json_is_refused(client: TestClient, auth: Any) -> None:
    key = _camera(client, auth)
    r = client.post("/api/v1/plate-reads", content=b"29C-123.45",
                    headers={"X-API-Key": key, "Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "body"


def test_unix_seconds_are_a_time(client: TestClient, auth: Any, clock: FixedClock) -> None:
    key = _camera(client, auth)
    clock.set(LATER)
    r = client.post("/api/v1/plate-reads",
                    json={**_read("51D-999.99"), "time": int(NOW.timestamp()) + 540},
                    headers={"X-API-Key": key})
    assert r.status_code == 201, r.text
    assert r.json()["read_at"].startswith("2026-11-23T01:09:00")


def test_a_retried_read_has_one_effect(client: TestClient, auth: Any, db: Peek,
                                       clock: FixedClock) -> None:
    key = _camera(client, auth)
    ref = _called(client, auth)
    clock.set(LATER)
    headers = {"X-API-Key": key, "Idempotency-Key": "cam-1-frame-000123"}
    first = client.post("/api/v1/plate-reads", json=_read("29C-123.45"), headers=headers)
    second = client.post("/api/v1/plate-reads", json=_read("29C-123.45"), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert db.scalar(select(func.count()).select_from(PlateRead)) == 1
    assert [e.type for e in _events(db, ref)].count("area.entered") == 2  # staging, gate area
    other = client.post("/api/v1/plate-reads", json=_read("29C-123.46"), headers=headers)
    assert other.status_code == 409


def test_registering_listing_and_revoking_cameras(client: TestClient, auth: Any,
                                                  clock: FixedClock) -> None:
    body = {"code": "huu-nghi-in-1", "name": "Entry lane 1", "gate": "huu-nghi",
            "checkpoint": "gate_in", "direction": "export"}
    clock.set(LATER)
    assert client.post("/api/v1/cameras", json=body, headers=auth("regulator")).status_code == 403
    r = client.post("/api/v1/cameras", json=body, headers=auth("admin"))
    assert r.status_code == 201, r.text
    camera = r.json()
    assert camera["key"].startswith("bfk_")
    assert (camera["username"], camera["active"]) == ("camera.huu-nghi-in-1", True)
    taken = client.post("/api/v1/cameras", json=body, headers=auth("admin"))
    assert taken.status_code == 409
    assert taken.json()["error"]["fields"][0]["field"] == "code"
    bad = client.post("/api/v1/cameras", headers=auth("admin"), json={
        **body, "code": "x-2", "gate": "nowhere"})
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "gate"
    bad = client.post("/api/v1/cameras", headers=auth("admin"), json={
        **body, "code": "x-3", "checkpoint": "roof"})
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "checkpoint"

    me = client.get("/api/v1/me", headers={"X-API-Key": camera["key"]}).json()
    assert me["roles"] == ["camera"]
    assert me["gate_scope"] == ["huu-nghi"]
    client.post("/api/v1/plate-reads", json=_read("51D-999.99"),
                headers={"X-API-Key": camera["key"]})
    listed = client.get("/api/v1/cameras", headers=auth("regulator")).json()
    assert [(c["code"], c["active"]) for c in listed] == [("huu-nghi-in-1", True)]
    assert listed[0]["last_read_at"] is not None
    assert client.get("/api/v1/cameras", headers=auth("borderguard")).status_code == 403

    key_id = listed[0]["keys"][0]["id"]
    assert client.delete(f"/api/v1/api-keys/{key_id}", headers=auth("admin")).status_code == 200
    refused = client.post("/api/v1/plate-reads", json=_read("51D-999.99"),
                          headers={"X-API-Key": camera["key"]})
    assert refused.status_code == 401
    listed = client.get("/api/v1/cameras", headers=auth("admin")).json()
    assert listed[0]["active"] is False


def test_officers_review_only_the_gates_they_work_at(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    key = _camera(client, auth)
    clock.set(LATER)
    read = client.post("/api/v1/plate-reads", json=_read("51D-999.99"),
                       headers={"X-API-Key": key}).json()
    r = client.post("/api/v1/accounts", headers=auth("admin"), json={
        "username": "guard-chi-ma", "password": "a long enough password",
        "roles": ["border_guard"], "gate_scope": ["chi-ma"]})
    assert r.status_code == 201, r.text
    assert client.get("/api/v1/plate-reads/review", headers=auth("guard-chi-ma")).json() == []
    assert client.post(f"/api/v1/plate-reads/{read['id']}/dismiss", json={"reason": "x"},
                       headers=auth("guard-chi-ma")).status_code == 404


def test_a_camera_may_only_post_reads() -> None:
    everyone = {a for a, roles in PERMISSIONS.items() if Role.PUBLIC in roles}
    signed_in = {a for a, roles in PERMISSIONS.items()
                 if set(Role) - {Role.PUBLIC, Role.CAMERA} <= roles}
    mine = {a for a, roles in PERMISSIONS.items() if Role.CAMERA in roles}
    assert mine - everyone - signed_in == {"plate_read.submit"}
    assert PERMISSIONS["plate_read.submit"] == {Role.CAMERA}
    assert PERMISSIONS["plate_read.review"] == {Role.BORDER_GUARD, Role.REGULATOR, Role.ADMIN}
    assert PERMISSIONS["camera.manage"] == {Role.ADMIN}


def test_at_a_gate_without_staging_a_declared_truck_is_expected(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    r = client.post("/api/v1/cameras", headers=auth("admin"), json={
        "code": "chi-ma-in", "name": "Chi Ma entry", "gate": "chi-ma", "checkpoint": "gate_in",
        "direction": "export"})
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    d = client.post("/api/v1/declarations", headers=auth("enterprise"),
                    json=factories.fruit_declaration(requested_gate="chi-ma"))
    assert d.status_code == 201, d.text
    ref = f"{d.json()['reference']}-1"
    clock.set(LATER)
    read = client.post("/api/v1/plate-reads", json=_read("29C-123.4S", camera="chi-ma-in"),
                       headers={"X-API-Key": key}).json()
    assert (read["status"], read["trip"]) == ("matched", ref)
    assert _trip(client, auth, ref)["status"] == "in_gate_area"
