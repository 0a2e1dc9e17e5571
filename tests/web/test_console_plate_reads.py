"""The control room reviews the plate reads no trip could be matched to, in the browser:
confirm one as its trip, correct the plate and confirm, or reject it; audited; a read another
reviewer already handled is refused with who did what."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.clock import FixedClock
from borderflow.store.models import AuditEntry
from tests.conftest import Peek
from tests.telemetry.test_cameras import LATER, _called, _camera, _read, _trip
from tests.web.test_driver import _csrf, _login, visible


def _waiting(client: TestClient, key: str, plate: str, **extra: Any) -> int:
    read = client.post("/api/v1/plate-reads", json=_read(plate, **extra),
                       headers={"X-API-Key": key}).json()
    assert read["status"] == "review", read
    return int(read["id"])


def test_a_read_is_confirmed_from_the_review_page_and_audited(
    client: TestClient, auth: Any, clock: FixedClock, db: Peek
) -> None:
    key = _camera(client, auth)
    ref = _called(client, auth)
    clock.set(LATER)
    read = _waiting(client, key, "29C-123.45", confidence=0.62,
                    image_ref="data:image/png;base64,iVBORw0KGgo=")
    client.cookies.clear()
    _login(client, "regulator")
    console = client.get("/console", params={"lang": "en"}).text
    assert "Review plate reads (1 waiting)" in visible(console)
    page = client.get("/console/plate-reads", params={"lang": "en"}).text
    card = re.search(rf'<article class="read" id="read-{read}".*?</article>', page, re.S)
    assert card is not None
    shown = visible(f"<main>{card.group(0)}</main>")
    for text in ("29C-123.45", "huu-nghi-in-1", "Huu Nghi International Border Gate", "62%",
                 "08:09", ref):
        assert text in shown, text
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in card.group(0)  # the camera's picture
    token = _csrf(client, "/console/plate-reads")
    r = client.post(f"/console/plate-reads/{read}/confirm",
                    data={"csrf": token, "action": "confirm", "trip": ref},
                    follow_redirects=False)
    assert r.status_code == 303
    done = client.get(r.headers["location"] + "&lang=en").text
    assert f"Read 29C-123.45 confirmed as {ref}." in done
    assert f'id="read-{read}"' not in done
    assert _trip(client, auth, ref)["location"] == "gate_area:huu-nghi"
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "plate_read.confirm"))
    assert entry is not None
    assert (entry.actor_name, entry.target_id) == ("regulator", str(read))

    client.cookies.set("lang", "en")
    again = client.post(f"/console/plate-reads/{read}/confirm",
                        data={"csrf": token, "action": "confirm", "trip": ref})
    assert again.status_code == 409  # already handled: refused, with who did what
    assert "Another reviewer already handled read 29C-123.45: confirmed by regulator. " \
           "Nothing was changed." in visible(again.text)


def test_a_misread_plate_is_corrected_then_confirmed(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    key = _camera(client, auth)
    ref = _called(client, auth, plate="29C-456.78")
    clock.set(LATER)
    read = _waiting(client, key, "88X-000.11", confidence=0.55)  # nothing like the plate
    client.cookies.clear()
    _login(client, "regulator")
    client.cookies.set("lang", "en")
    token = _csrf(client, "/console/plate-reads")
    wrong = client.post(f"/console/plate-reads/{read}/confirm",
                        data={"csrf": token, "action": "correct", "plate": "51D-999.99"})
    assert wrong.status_code == 422
    assert "No trip under way with the plate 51D-999.99: check the plate." in wrong.text
    assert re.search(rf'id="plate-{read}"[^>]*value="51D-999.99"', wrong.text)  # as typed
    ok = client.post(f"/console/plate-reads/{read}/confirm",
                     data={"csrf": token, "action": "correct", "plate": "29c 456 78"},
                     follow_redirects=False)
    assert ok.status_code == 303
    assert f"Read 88X-000.11 corrected and confirmed as {ref}." in \
        client.get(ok.headers["location"]).text
    item = client.get(f"/api/v1/plate-reads/{read}", headers=auth("regulator")).json()
    assert (item["status"], item["trip"], item["resolution_note"]) == (
        "confirmed", ref, "plate corrected to 29c 456 78")


def test_a_read_is_rejected_with_a_reason_and_a_second_reviewer_is_told(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    key = _camera(client, auth)
    clock.set(LATER)
    read = _waiting(client, key, "51D-999.99")
    client.cookies.clear()
    _login(client, "regulator")
    token = _csrf(client, "/console/plate-reads")
    short = client.post(f"/console/plate-reads/{read}/dismiss",
                        data={"csrf": token, "reason": "x"})
    assert short.status_code == 422
    assert "Hãy ghi lý do, ít nhất 3 ký tự." in short.text  # Vietnamese by default
    r = client.post(f"/console/plate-reads/{read}/dismiss",
                    data={"csrf": token, "reason": "Xe không thuộc chuyến nào"},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "Đã loại bỏ lần đọc 51D-999.99." in page
    assert "Không có lần đọc biển số nào chờ xem xét." in page
    item = client.get(f"/api/v1/plate-reads/{read}", headers=auth("regulator")).json()
    assert (item["status"], item["resolved_by"]) == ("dismissed", "regulator")
    late = client.post(f"/console/plate-reads/{read}/dismiss",
                       data={"csrf": token, "reason": "another reason"})
    assert late.status_code == 409
    assert "regulator" in late.text
    assert "Không thay đổi gì." in late.text


def test_only_the_control_room_reviews_reads_here(client: TestClient) -> None:
    assert client.get("/console/plate-reads", follow_redirects=False).status_code == 303
    _login(client, "customs")
    assert client.get("/console/plate-reads").status_code == 403
    assert client.post("/console/plate-reads/1/dismiss", data={
        "csrf": _csrf(client, "/login"), "reason": "not mine"}).status_code == 403
