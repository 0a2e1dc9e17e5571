"""Drivers are told when the control room changes their gate: a called truck whose gate closes
is recalled (wait, why, until when) by SMS in the driver's language and in the app; the trucks
waiting for that gate are told once that their expected call moved, never again on the next
dispatcher cycles; a capacity cut tells only the trucks it delays; a re-route names the new
gate."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import structlog
from fastapi.testclient import TestClient
from sqlalchemy import select
from structlog.testing import capture_logs

from borderflow.notify.channels import InAppChannel, LoggingSmsGateway, SmsChannel
from borderflow.notify.delivery import deliver_pending
from borderflow.store.models import Notification, NotificationDelivery
from tests.conftest import NOW, Peek
from tests.trip.test_rerouting import staged

UNTIL = NOW + timedelta(hours=3)


def _driver_notices(db: Peek, ref: str) -> list[Notification]:
    return list(db.scalars(select(Notification).where(
        Notification.trip_reference == ref, Notification.recipient_kind == "driver")
        .order_by(Notification.id)))


def _sms(db: Peek, notification: Notification) -> list[NotificationDelivery]:
    return list(db.scalars(select(NotificationDelivery).where(
        NotificationDelivery.notification_id == notification.id,
        NotificationDelivery.channel == "sms")))


def _close(client: TestClient, auth: Any, kind: str = "closure", **extra: Any) -> Any:
    r = client.post("/api/v1/gates/huu-nghi/controls", headers=auth("regulator"), json={
        "kind": kind, "direction": "export", "ends_at": UNTIL.isoformat(),
        "reason": "landslide on the approach road", **extra})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_closure_after_the_call_recalls_the_driver_and_tells_the_queue_once(
    client: TestClient, auth: Any, db: Peek
) -> None:
    # caustic soda passes Huu Nghi only: these trucks stay at the closed gate
    called = staged(client, auth, "29C-710.01", "chemicals")
    run = client.post("/api/v1/dispatch/run", headers=auth("regulator")).json()
    assert [c["trip"] for c in run["called"]] == [called]
    waiting = [staged(client, auth, f"29C-710.1{i}", "chemicals") for i in range(3)]
    before = {ref: len(_driver_notices(db, ref)) for ref in [called, *waiting]}

    effects = _close(client, auth)
    assert effects["trips_recalled"] == [called]

    recall = _driver_notices(db, called)[before[called]:]
    assert [n.kind for n in recall] == ["order_withdrawn"]
    assert recall[0].language == "vi"  # a Vietnamese driver's phone
    text = recall[0].message_vi
    assert "KHÔNG đi vào" in text
    assert "chờ tại" in text
    assert "Lý do: landslide on the approach road." in text
    assert "đóng cửa đến 11:00 ngày 23/11" in text  # until the closure's end, local time
    assert len(_sms(db, recall[0])) == 1
    for ref in waiting:
        told = _driver_notices(db, ref)[before[ref]:]
        assert [n.kind for n in told] == ["call_delayed"], ref
        assert "Ở lại" in told[0].message_vi
        assert "11:00 ngày 23/11" in told[0].message_vi
        assert told[0].payload["control_kind"] == "closure"
        assert len(_sms(db, told[0])) == 1

    counted = {ref: len(_driver_notices(db, ref)) for ref in [called, *waiting]}
    for _ in range(2):  # the next dispatcher cycles tell no one again
        assert client.post("/api/v1/dispatch/run", headers=auth("regulator")).status_code == 200
    assert {ref: len(_driver_notices(db, ref)) for ref in [called, *waiting]} == counted

    # one sender pass puts the recall in the SMS log, in Vietnamese
    channels = {"in_app": InAppChannel(), "sms": SmsChannel(LoggingSmsGateway())}
    kept = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    try:
        with capture_logs() as logs:
            report = deliver_pending(client.app.state.ctx.sessions,  # type: ignore[attr-defined]
                                     channels, NOW)
    finally:
        structlog.configure(**kept)
    assert report.failed == []
    texts = [e["text"] for e in logs if e["event"] == "sms"]
    assert sum(1 for t in texts if t.startswith(f"{called} ") and "KHÔNG đi vào" in t) == 1, \
        texts
    assert sum(1 for t in texts if "Dự kiến được gọi" in t) == 3


def test_a_pause_recalls_and_says_no_calls_until_its_end(
    client: TestClient, auth: Any, db: Peek
) -> None:
    called = staged(client, auth, "29C-711.01", "chemicals")
    client.post("/api/v1/dispatch/run", headers=auth("regulator"))
    seen = len(_driver_notices(db, called))
    _close(client, auth, "pause")
    [recall] = _driver_notices(db, called)[seen:]
    assert "tạm dừng gọi xe đến 11:00 ngày 23/11" in recall.message_vi
    assert "not calling trucks until 11:00 on 23 Nov" in recall.message_en


def test_a_capacity_cut_tells_only_the_trucks_it_delays(
    client: TestClient, auth: Any, db: Peek
) -> None:
    refs = [staged(client, auth, f"29C-712.{i:02d}", "chemicals") for i in range(6)]

    def expected() -> dict[str, Any]:
        return {ref: client.get(f"/api/v1/trips/{ref}/queue", headers=auth("regulator"))
                .json()["estimated_call"] for ref in refs}

    was = expected()
    seen = {ref: len(_driver_notices(db, ref)) for ref in refs}
    effects = _close(client, auth, "capacity", vehicles_per_hour=1)
    now = expected()
    told = {ref for ref in refs if len(_driver_notices(db, ref)) > seen[ref]}
    delayed = {ref for ref in refs if now[ref] is None or (
        was[ref] is not None and now[ref] > was[ref] and ref not in
        [c["trip"] for c in effects["cycle"]["called"]])}
    assert told, (was, now)
    assert told <= delayed
    assert all(_driver_notices(db, ref)[-1].kind == "call_delayed" for ref in told)
    assert "giảm lượt xe qua" in _driver_notices(db, sorted(told)[0])[-1].message_vi


def test_a_reroute_by_hand_names_the_new_gate(client: TestClient, auth: Any, db: Peek) -> None:
    ref = staged(client, auth, "29C-713.01")
    r = client.post(f"/api/v1/trips/{ref}/reroute", headers=auth("regulator"),
                    json={"gate": "tan-thanh-dedicated", "reason": "lane works at Huu Nghi"})
    assert r.status_code == 200, r.text
    [moved] = [n for n in _driver_notices(db, ref) if n.kind == "rerouted"]
    assert "Tân Thanh" in moved.message_vi
    assert "Wait at the staging area until you are called to" in moved.message_en
    assert "Reason: lane works at Huu Nghi." in moved.message_en
    assert len(_sms(db, moved)) == 1
