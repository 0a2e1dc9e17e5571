"""Personal data: drivers' documents and phones masked for roles that do not need them (API
views, logs), purged past their retention period (exactly what is due, nothing else), and the
data-subject export of a driver (theirs only, audited)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from borderflow import audit
from borderflow.cli.main import app
from borderflow.config import get_settings
from borderflow.domain import privacy
from borderflow.domain.access import SYSTEM
from borderflow.logging import configure_logging
from borderflow.privacy import service
from borderflow.store.models import (
    Account,
    AuditEntry,
    Camera,
    Declaration,
    DeclarationVehicle,
    Device,
    Notification,
    PlateRead,
    Position,
    Trip,
    TripEvent,
)
from borderflow.store.session import make_engine, make_session_factory
from tests import factories
from tests.conftest import NOW, Database, Peek
from tests.factories import DRIVER_DOC

OTHER_DOC = "001089099999"
URL = "/api/v1/declarations"


def two_drivers() -> dict[str, Any]:
    body = factories.declaration()
    second = json.loads(json.dumps(body["vehicles"][0]))
    second["plate"] = "29C-678.90"
    second["driver"].update(name="Tran Van Khac", document_number=OTHER_DOC, phone="0987654321")
    body["vehicles"].append(second)
    return body


@pytest.fixture
def declared(client: TestClient, auth: Any) -> dict[str, Any]:
    r = client.post(URL, json=two_drivers(), headers=auth("enterprise"))
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture
def sessions(database: Database) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database.url)
    yield make_session_factory(engine)
    engine.dispose()


# --- masking -----------------------------------------------------------------------------------


def test_document_numbers_and_phones_are_masked_as_documented() -> None:
    assert privacy.mask_document("001088012345") == "0010****2345"
    assert privacy.mask_document("B1234567") == "B1****67"
    assert privacy.mask_document("1234") == "****"
    assert privacy.mask_phone("+84912345678") == "*********678"


@given(st.text(alphabet="0123456789ABCDEFGHJKLMNPRSTUVWXYZ", min_size=5, max_size=40))
def test_a_masked_document_hides_its_middle_and_masks_to_itself(number: str) -> None:
    masked = privacy.mask_document(number)
    assert privacy.is_masked(masked)
    assert privacy.mask_document(masked) == masked
    hidden = number[4:-4] if len(number) >= 10 else number[2:-2]
    assert len(masked.replace("*", "")) < len(number)
    if len(hidden) >= 4:
        assert hidden not in masked


@pytest.mark.parametrize(("username", "whole"), [
    ("customs", True), ("borderguard", True), ("health", True), ("police", True),
    ("admin", True), ("enterprise", True),
    ("regulator", False), ("quarantine", False), ("yard", False), ("cashier", False),
])
def test_declarations_and_trips_show_drivers_only_to_roles_that_need_them(
    client: TestClient, auth: Any, declared: dict[str, Any], username: str, whole: bool
) -> None:
    one = client.get(f"{URL}/{declared['id']}", headers=auth(username))
    listed = client.get(URL, headers=auth(username))
    trips = client.get("/api/v1/trips", params={"q": declared["reference"]},
                       headers=auth(username))
    if one.status_code == 404:  # a gate outside the role's scope: nothing to mask
        return
    assert one.status_code == 200, one.text
    assert listed.status_code == 200, listed.text
    assert trips.status_code == 200, trips.text
    drivers = [v["driver"] for v in one.json()["vehicles"]]
    drivers += [v["driver"] for d in listed.json()["items"] if d["id"] == declared["id"]
                for v in d["vehicles"]]
    drivers += [t["facts"]["driver"] for t in trips.json()["items"]]
    assert len(drivers) == 6
    text_of = json.dumps([one.json(), listed.json(), trips.json()])
    if whole:
        assert {d["document_number"] for d in drivers} == {DRIVER_DOC, OTHER_DOC}
        assert {d["phone"] for d in drivers} == {"+84912345678", "+84987654321"}
    else:
        assert {d["document_number"] for d in drivers} == {"0010****2345", "0010****9999"}
        assert {d["phone"] for d in drivers} == {"*********678", "*********321"}
        for secret in (DRIVER_DOC, OTHER_DOC, "912345678", "987654321"):
            assert secret not in text_of
    assert {d["name"] for d in drivers} == {"Nguyen Van Tai", "Tran Van Khac"}


def test_the_logs_mask_documents_and_phones(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    structlog.get_logger("test").info("bound", driver_document=DRIVER_DOC, phone="+84912345678",
                                      plate="29C-123.45")
    out = capsys.readouterr().err
    assert "0010****2345" in out
    assert "*********678" in out
    assert DRIVER_DOC not in out
    assert "912345678" not in out
    assert "29C-123.45" in out


# --- retention -----------------------------------------------------------------------------------

RETENTION = privacy.Retention(positions_days=90, driver_days=180, camera_images_days=30,
                              notification_contacts_days=60)


def _age(session: Session, trip_id: str, status: str, days: float) -> None:
    session.execute(update(Trip).where(Trip.id == trip_id).values(
        status=status, updated_at=NOW - timedelta(days=days)))


def test_finished_trips_past_the_period_lose_their_driver_and_nothing_else_does(
    client: TestClient, auth: Any, declared: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    with sessions() as s:
        trips = s.scalars(select(Trip).where(Trip.declaration_id == declared["id"])
                          .order_by(Trip.position)).all()
        first, second = trips[0].id, trips[1].id
        stats_before = s.execute(text("SELECT count(*) FROM trip_events")).scalar()
        _age(s, first, "completed", 181)
        _age(s, second, "completed", 179)  # finished, but not for long enough
        s.execute(update(Declaration).where(Declaration.id == declared["id"])
                  .values(updated_at=NOW - timedelta(days=200)))
        s.commit()
    with sessions() as s:
        done = service.purge(s, RETENTION, now=NOW, actor=SYSTEM)
        s.commit()
    assert done["trips"] == 1
    assert done["declarations"] == 0  # one of its trips is still within the period
    with sessions() as s:
        old, recent = s.get(Trip, first), s.get(Trip, second)
        assert old is not None
        assert recent is not None
        assert old.driver_document == "0010****2345"
        assert old.state["facts"]["driver"] == {
            "name": privacy.PURGED, "document_type": "vn_citizen_id",
            "document_number": "0010****2345", "phone": ""}
        assert old.state["facts"]["plate"] == "29C-123.45"  # the figures stay
        assert recent.driver_document == OTHER_DOC
        assert recent.state["facts"]["driver"]["phone"] == "+84987654321"
        assert s.execute(text("SELECT count(*) FROM trip_events")).scalar() == stats_before
        decl = s.get(Declaration, declared["id"])
        assert decl is not None
        assert decl.vehicles[0]["driver"]["document_number"] == DRIVER_DOC
        purge_rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.purge")
                               ).all()
        assert len(purge_rows) == 1
        assert audit.verify(s).broken is None
    # once both trips are past the period, the declaration goes too; running again is a no-op
    with sessions() as s:
        _age(s, second, "cancelled", 400)
        s.commit()
    with sessions() as s:
        done = service.purge(s, RETENTION, now=NOW, actor=SYSTEM)
        again = service.purge(s, RETENTION, now=NOW, actor=SYSTEM)
        s.commit()
    assert (done["trips"], done["declarations"]) == (1, 1)
    assert not any(again.values())
    with sessions() as s:
        decl = s.get(Declaration, declared["id"])
        assert decl is not None
        assert [v["driver"]["document_number"] for v in decl.vehicles] == [
            "0010****2345", "0010****9999"]
        assert {v["driver"]["name"] for v in decl.vehicles} == {privacy.PURGED}
        assert set(s.scalars(select(DeclarationVehicle.driver_document).where(
            DeclarationVehicle.declaration_id == declared["id"]))) == {
            "0010****2345", "0010****9999"}
    # a purged declaration and its trips still read, with the drivers as purged
    for username in ("customs", "regulator"):
        one = client.get(f"{URL}/{declared['id']}", headers=auth(username))
        listed = client.get(URL, headers=auth(username))
        trips = client.get("/api/v1/trips", params={"q": declared["reference"]},
                           headers=auth(username))
        assert one.status_code == listed.status_code == trips.status_code == 200, one.text
        assert [v["driver"] for v in one.json()["vehicles"]] == [
            {"name": privacy.PURGED, "document_type": "vn_citizen_id",
             "document_number": number, "phone": "", "crosses_border": False}
            for number in ("0010****2345", "0010****9999")]
        assert {t["facts"]["driver"]["name"] for t in trips.json()["items"]} == {
            privacy.PURGED}


@pytest.fixture
def camera(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        account = Account(kind="client", username="cam-test", display_name="cam",
                          roles=["camera"], gate_scope=[], yard_scope=[], active=True,
                          created_at=NOW, updated_at=NOW)
        s.add(account)
        s.flush()
        cam = Camera(code="CAM-T", name="cam", gate="huu-nghi", checkpoint="gate_in",
                     account_id=account.id, created_at=NOW, created_by="test")
        s.add(cam)
        s.commit()
        return cam.id


AGES = st.lists(st.integers(0, 400 * 24), min_size=1, max_size=6)  # in hours


@given(positions=AGES, images=AGES, notices=AGES)
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_purge_removes_exactly_what_is_past_its_period(
    declared: dict[str, Any], sessions: sessionmaker[Session], camera: int,
    positions: list[int], images: list[int], notices: list[int]
) -> None:
    cut = RETENTION.cutoffs(NOW)
    with sessions() as s:
        trip_id = s.scalars(select(Trip.id).where(Trip.declaration_id == declared["id"])).first()
        base = int(s.scalar(text("SELECT coalesce(max(event_seq), 0) FROM notifications"))
                   or 0) + 1000
        device = f"dev-{base}"
        s.add(Device(id=device, protocol="osmand", label="", positions=0, inside=[]))
        fixes = sorted({NOW - timedelta(hours=h) for h in positions})
        for at in fixes:
            s.add(Position(device_id=device, fix_time=at, lat=21.8, lon=106.7,
                           protocol="osmand", attributes={}, received_at=at, stored_at=at))
        reads = []
        for h in images:
            read = PlateRead(camera_id=camera, gate="huu-nghi", checkpoint="gate_in",
                             raw_plate="29C12345", plate_key="29C12345", confidence=0.9,
                             read_at=NOW - timedelta(hours=h), received_at=NOW,
                             image_ref=f"s3://cams/{base}-{h}.jpg", status="review")
            s.add(read)
            reads.append(read)
        notes = []
        for i, h in enumerate(notices):
            for kind, key in (("driver", DRIVER_DOC), ("enterprise", "0100109106")):
                n = Notification(
                    trip_id=trip_id, trip_reference="T", event_seq=base + i, event_type="x",
                    kind="x", recipient_kind=kind, recipient_key=key, phone="+84912345678",
                    language="vi", message_vi="m", message_en="m", message_zh="m", payload={},
                    created_at=NOW - timedelta(hours=h))
                s.add(n)
                notes.append(n)
        s.commit()
        read_ids = [(r.id, r.read_at) for r in reads]
        note_ids = [(n.id, n.created_at, n.recipient_kind) for n in notes]
    with sessions() as s:
        service.purge(s, RETENTION, now=NOW, actor=SYSTEM)
        s.commit()
    with sessions() as s:
        kept = list(s.scalars(select(Position.fix_time).where(Position.device_id == device)
                              .order_by(Position.fix_time)))
        assert kept == [at for at in fixes if at >= cut["positions"]]
        for read_id, at in read_ids:
            ref = s.scalar(select(PlateRead.image_ref).where(PlateRead.id == read_id))
            assert (ref is None) == (at < cut["camera_images"])
        for note_id, at, kind in note_ids:
            n = s.get(Notification, note_id)
            assert n is not None
            due = at < cut["notification_contacts"]
            assert (n.phone is None) == due
            expected = ("0010****2345" if due else DRIVER_DOC) if kind == "driver" \
                else "0100109106"
            assert n.recipient_key == expected


def test_the_retention_worker_purges_in_the_background(
    declared: dict[str, Any], sessions: sessionmaker[Session], settings: Any, clock: Any
) -> None:
    from borderflow.app import create_app
    from borderflow.privacy.loop import run_once

    with sessions() as s:
        trip_id = s.scalars(select(Trip.id).where(Trip.declaration_id == declared["id"])).first()
        assert trip_id is not None
        _age(s, trip_id, "completed", 400)
        s.commit()
    application = create_app(settings, clock=clock)
    try:
        done = run_once(application.state.ctx)
    finally:
        application.state.ctx.engine.dispose()
    assert done["trips"] == 1


def test_the_purge_command_reports_what_it_did(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BORDERFLOW_DATABASE_URL", database.url)
    monkeypatch.setenv("BORDERFLOW_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["privacy", "purge"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "purged: positions 0" in result.output


# --- the data-subject export ------------------------------------------------------------------


def test_a_drivers_export_holds_their_data_and_none_of_another_drivers(
    client: TestClient, auth: Any, declared: dict[str, Any], database: Database,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db: Peek
) -> None:
    r = client.post("/api/v1/devices/phone-of-tai/bind",
                    json={"driver_document": DRIVER_DOC}, headers=auth("driver"))
    with make_session_factory(make_engine(database.url))() as s:
        if r.status_code >= 300:  # bound by hand if the route differs
            s.add(Device(id="phone-of-tai", driver_document=DRIVER_DOC, protocol="osmand",
                         label="", positions=0, inside=[]))
        s.add(Device(id="phone-of-khac", driver_document=OTHER_DOC, protocol="osmand",
                     label="", positions=0, inside=[]))
        for device in ("phone-of-tai", "phone-of-khac"):
            s.add(Position(device_id=device, fix_time=NOW, lat=21.8, lon=106.7,
                           protocol="osmand", attributes={"device": device}, received_at=NOW,
                           stored_at=NOW))
        s.commit()
    out = tmp_path / "tai.json"
    monkeypatch.setenv("BORDERFLOW_DATABASE_URL", database.url)
    monkeypatch.setenv("BORDERFLOW_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        refused = CliRunner().invoke(app, ["privacy", "export", "--driver-document", DRIVER_DOC,
                                           "-o", str(out), "--by", "regulator"])
        result = CliRunner().invoke(app, ["privacy", "export", "--driver-document", DRIVER_DOC,
                                          "-o", str(out), "--by", "admin"])
    finally:
        get_settings.cache_clear()
    assert refused.exit_code == 1
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [a["username"] for a in data["accounts"]] == ["driver"]
    assert "password_hash" not in data["accounts"][0]
    assert [d["id"] for d in data["declarations"]] == [declared["id"]]
    assert [v["driver"]["document_number"] for v in data["declarations"][0]["vehicles"]] == [
        DRIVER_DOC]
    assert [t["driver_document"] for t in data["trips"]] == [DRIVER_DOC]
    assert data["trips"][0]["events"]
    assert [d["id"] for d in data["devices"]] == ["phone-of-tai"]
    assert [p["device_id"] for p in data["positions"]] == ["phone-of-tai"]
    assert any(r["target_id"] == declared["id"] for r in data["audit"])
    dumped = out.read_text(encoding="utf-8")
    for other in (OTHER_DOC, "Tran Van Khac", "987654321", "phone-of-khac"):
        assert other not in dumped
    exported = db.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.export"))
    assert [(e.actor_name, e.target_id) for e in exported] == [("admin", "0010****2345")]
    assert db.scalar(select(TripEvent.id).limit(1)) is not None


def test_notifications_show_a_drivers_document_masked_to_the_regulator(
    client: TestClient, auth: Any, declared: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    with sessions() as s:
        trip_id = s.scalars(select(Trip.id).where(Trip.declaration_id == declared["id"])).first()
        s.add(Notification(
            trip_id=trip_id, trip_reference="T", event_seq=9999, event_type="x", kind="x",
            recipient_kind="driver", recipient_key=DRIVER_DOC, phone="+84912345678",
            language="vi", message_vi="m", message_en="m", message_zh="m", payload={},
            created_at=NOW))
        s.commit()
    seen = {}
    for username in ("regulator", "driver", "admin"):
        r = client.get("/api/v1/notifications", headers=auth(username))
        assert r.status_code == 200, r.text
        seen[username] = {n["recipient_key"] for n in r.json()["items"]
                          if n["recipient_kind"] == "driver" and n["event"] == "x"}
    assert seen == {"regulator": {"0010****2345"}, "driver": {DRIVER_DOC},
                    "admin": {DRIVER_DOC}}


def test_devices_show_a_drivers_document_masked_to_roles_without_need(
    client: TestClient, auth: Any, sessions: sessionmaker[Session]
) -> None:
    with sessions() as s:
        s.add(Device(id="phone-x", driver_document=DRIVER_DOC, protocol="osmand", label="",
                     positions=0, inside=[], last_seen_at=NOW))
        s.commit()
    seen = {}
    for username in ("regulator", "quarantine", "customs", "admin"):
        r = client.get("/api/v1/devices", headers=auth(username))
        assert r.status_code == 200, r.text
        seen[username] = {d["driver_document"] for d in r.json() if d["id"] == "phone-x"}
    assert seen == {"quarantine": {"0010****2345"}, "regulator": {DRIVER_DOC},
                    "customs": {DRIVER_DOC}, "admin": {DRIVER_DOC}}
