"""Notifications end to end: the outbox written with the trip event, delivery after commit
in-app, by SMS (logged) and to a real local webhook, retries with backoff, scoping and the API."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select
from structlog.testing import capture_logs

from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.domain import trip as domain
from borderflow.domain.access import SYSTEM, Principal, Role
from borderflow.notify import delivery
from borderflow.notify.channels import (
    InAppChannel,
    LoggingSmsGateway,
    SmsChannel,
    build_channels,
    mask_phone,
)
from borderflow.notify.delivery import MAX_ATTEMPTS, backoff, deliver_pending
from borderflow.store.models import AuditEntry, Notification, NotificationDelivery, Trip
from borderflow.store.session import make_engine, make_session_factory
from borderflow.trip import service as trips
from tests import factories
from tests.conftest import NOW, Peek

STAGING = "staging:viettel-logistics-park"
SECRET = "webhook-secret-for-tests"


def at_staging(client: TestClient, auth: Any, plate: str, driver_doc: str | None = None,
               as_enterprise: str = "enterprise", tax: str = factories.ENTERPRISE_TAX) -> str:
    body = factories.declaration()
    body["enterprise"]["tax_code"] = tax
    body["vehicles"][0]["plate"] = plate
    if driver_doc:
        body["vehicles"][0]["driver"]["document_number"] = driver_doc
    r = client.post("/api/v1/declarations", json=body, headers=auth(as_enterprise))
    assert r.status_code == 201, r.text
    ref = f"{r.json()['reference']}-1"
    r = client.post(f"/api/v1/trips/{ref}/movements", json={"action": "enter", "area": STAGING},
                    headers=auth("yard"))
    assert r.status_code == 200, r.text
    return ref


ARRIVE_BY = NOW + timedelta(hours=1)
DISPATCHER = Principal(id=None, username="dispatcher", kind="client",
                       roles=frozenset({Role.REGULATOR}))


def call_forward(client: TestClient, *refs: str) -> None:
    """The dispatcher's order for each trip, in one transaction of the application's own
    sessions (a dispatcher cycle would do the same, but its PostgreSQL advisory lock is shared
    by every test schema of the server)."""
    with client.app.state.ctx.sessions() as session:  # type: ignore[attr-defined]
        for ref in refs:
            row = session.scalars(select(Trip).where(Trip.reference == ref)).one()
            trips.append_event(session, row, domain.Event(
                "trip.called", NOW, DISPATCHER.username,
                {"gate": "huu-nghi", "yard": "huu-nghi-export",
                 "arrive_by": ARRIVE_BY.isoformat()}),
                actor=DISPATCHER, source="regulator", now=NOW)
        session.commit()


def mine(client: TestClient, auth: Any, who: str, **params: Any) -> dict[str, Any]:
    r = client.get("/api/v1/notifications", params=params, headers=auth(who))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


# --- the outbox --------------------------------------------------------------------------------


def test_a_call_forward_reaches_the_driver_and_the_enterprise(
    client: TestClient, auth: Any, db: Peek
) -> None:
    ref = at_staging(client, auth, "29C-300.01")
    assert mine(client, auth, "driver")["total"] == 0  # entering the staging park notifies no one
    call_forward(client, ref)

    (driver,) = mine(client, auth, "driver")["items"]
    assert driver["trip"] == ref
    assert (driver["event"], driver["kind"]) == ("trip.called", "call_forward")
    assert (driver["recipient_kind"], driver["recipient_key"]) == ("driver",
                                                                   factories.DRIVER_DOC)
    assert driver["payload"]["gate"] == "huu-nghi"
    assert driver["payload"]["yard"] == "huu-nghi-export"
    assert driver["payload"]["arrive_by"] == ARRIVE_BY.isoformat()
    assert "09:00 on 23 Nov (Vietnam time)" in driver["messages"]["en"]
    assert "Huu Nghi" in driver["messages"]["en"]
    assert "Hữu Nghị" in driver["messages"]["vi"]
    assert "友谊" in driver["messages"]["zh"]
    assert driver["read_at"] is None
    assert sorted((d["channel"], d["status"]) for d in driver["deliveries"]) == [
        ("in_app", "pending"), ("sms", "pending")]

    (enterprise,) = mine(client, auth, "enterprise")["items"]
    assert (enterprise["recipient_kind"], enterprise["recipient_key"]) == (
        "enterprise", factories.ENTERPRISE_TAX)
    # no phone for the enterprise, and the webhook is not configured by default
    assert [(d["channel"], d["status"]) for d in enterprise["deliveries"]] == [
        ("in_app", "pending")]
    assert mine(client, auth, "enterprise2")["total"] == 0
    assert mine(client, auth, "regulator", trip=ref)["total"] == 2
    assert mine(client, auth, "admin", trip=ref.lower())["total"] == 2
    stored = db.one(select(Notification).where(Notification.recipient_kind == "driver"))
    assert stored.phone == "+84912345678"
    assert stored.event_seq == db.scalar(select(Trip.version).where(Trip.reference == ref))


def test_the_outbox_row_commits_and_rolls_back_with_the_event(
    client: TestClient, auth: Any, db: Peek, settings: Settings
) -> None:
    ref = at_staging(client, auth, "29C-300.02")
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    event = domain.Event("trip.called", NOW, "regulator",
                         {"gate": "huu-nghi", "yard": "huu-nghi-export",
                          "arrive_by": (NOW + timedelta(hours=1)).isoformat()})
    try:
        with sessions() as session:
            row = session.scalars(select(Trip).where(Trip.reference == ref)).one()
            trips.append_event(session, row, event, actor=SYSTEM, source="regulator", now=NOW)
            assert session.scalar(select(func.count()).select_from(Notification)) == 2
            assert session.scalar(select(func.count()).select_from(NotificationDelivery)) == 3
            session.rollback()
        assert db.scalar(select(func.count()).select_from(Notification)) == 0
        assert db.scalar(select(func.count()).select_from(NotificationDelivery)) == 0
        assert db.scalar(select(Trip.status).where(Trip.reference == ref)) == "at_staging"

        with sessions() as session:
            row = session.scalars(select(Trip).where(Trip.reference == ref)).one()
            trips.append_event(session, row, event, actor=SYSTEM, source="regulator", now=NOW)
            session.commit()
        assert db.scalar(select(func.count()).select_from(Notification)) == 2
        assert db.scalar(select(Trip.status).where(Trip.reference == ref)) == "called"
    finally:
        engine.dispose()


def test_a_regulator_recall_and_a_driver_cancelling_their_booking(
    client: TestClient, auth: Any
) -> None:
    ref = at_staging(client, auth, "29C-300.03")
    call_forward(client, ref)
    r = client.post("/api/v1/gates/huu-nghi/controls", headers=auth("regulator"), json={
        "kind": "pause", "ends_at": (NOW + timedelta(hours=1)).isoformat(),
        "reason": "partner side yard full"})
    assert r.status_code == 201, r.text
    kinds = [n["kind"] for n in mine(client, auth, "driver", trip=ref)["items"]]
    assert kinds[:2] == ["order_withdrawn", "call_forward"]  # newest first
    withdrawn = mine(client, auth, "enterprise", kind="order_withdrawn")["items"][0]
    assert "partner side yard full" in withdrawn["messages"]["en"]

    # a booking the driver cancels themselves tells no one
    other = at_staging(client, auth, "29C-300.04")
    slot = "2026-11-25T08:00:00+07:00"
    assert client.post(f"/api/v1/trips/{other}/booking", json={"slot_start": slot},
                       headers=auth("driver")).status_code == 201
    assert client.delete(f"/api/v1/trips/{other}/booking",
                         headers=auth("driver")).status_code == 204
    assert mine(client, auth, "enterprise", trip=other)["total"] == 0


def test_a_reroute_tells_the_old_and_new_gate_and_not_the_booking_it_gave_back(
    client: TestClient, auth: Any
) -> None:
    ref = at_staging(client, auth, "29C-300.13")
    assert client.post(f"/api/v1/trips/{ref}/booking",
                       json={"slot_start": "2026-11-25T08:00:00+07:00"},
                       headers=auth("enterprise")).status_code == 201
    r = client.post(f"/api/v1/trips/{ref}/reroute", headers=auth("regulator"),
                    json={"gate": "chi-ma", "reason": "Huu Nghi export yard full"})
    assert r.status_code == 200, r.text
    (notice,) = mine(client, auth, "driver", trip=ref)["items"]
    assert notice["kind"] == "rerouted"
    assert (notice["payload"]["from_gate"], notice["payload"]["gate"]) == ("huu-nghi", "chi-ma")
    assert "Huu Nghi export yard full" in notice["messages"]["en"]
    assert [n["kind"] for n in mine(client, auth, "enterprise", trip=ref)["items"]] == [
        "rerouted"]


# --- scoping and the API -----------------------------------------------------------------------


def test_each_caller_sees_only_their_own_and_marks_them_read(
    client: TestClient, auth: Any, db: Peek, clock: FixedClock
) -> None:
    own = at_staging(client, auth, "29C-300.05")
    other = at_staging(client, auth, "29C-300.06", driver_doc="001089099999",
                       as_enterprise="enterprise2", tax=factories.OTHER_TAX)
    call_forward(client, own, other)
    assert [n["trip"] for n in mine(client, auth, "driver")["items"]] == [own]
    assert [n["trip"] for n in mine(client, auth, "enterprise")["items"]] == [own]
    assert [n["trip"] for n in mine(client, auth, "enterprise2")["items"]] == [other]
    assert mine(client, auth, "enterprise2", trip=own)["total"] == 0
    assert mine(client, auth, "regulator")["total"] == 4
    for role in ("customs", "yard", "cashier", "liaison"):
        r = client.get("/api/v1/notifications", headers=auth(role))
        assert r.status_code == 403, role
    assert client.get("/api/v1/notifications").status_code == 401

    (notice,) = mine(client, auth, "driver")["items"]
    others = mine(client, auth, "enterprise2")["items"][0]
    r = client.post(f"/api/v1/notifications/{others['id']}/read", headers=auth("driver"))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = client.post(f"/api/v1/notifications/{notice['id']}/read", headers=auth("regulator"))
    assert r.status_code == 403  # visible, but only its recipient reads it
    r = client.post("/api/v1/notifications/999999/read", headers=auth("driver"))
    assert r.status_code == 404
    assert set(r.json()["error"]) == {"code", "message", "fields"}

    r = client.post(f"/api/v1/notifications/{notice['id']}/read", headers=auth("driver"))
    assert r.status_code == 200, r.text
    read_at = r.json()["read_at"]
    assert read_at is not None
    clock.set(NOW + timedelta(minutes=5))
    again = client.post(f"/api/v1/notifications/{notice['id']}/read", headers=auth("driver"))
    assert again.json()["read_at"] == read_at
    assert mine(client, auth, "driver", unread=True)["total"] == 0
    assert mine(client, auth, "driver", unread=False)["total"] == 1
    assert mine(client, auth, "enterprise", unread=True)["total"] == 1
    assert db.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "notification.read")) == 1

    page = mine(client, auth, "regulator", page=2, page_size=3)
    assert (page["total"], len(page["items"]), page["page"]) == (4, 1, 2)


# --- delivery ----------------------------------------------------------------------------------


def _sessions(client: TestClient) -> Any:
    return client.app.state.ctx.sessions  # type: ignore[attr-defined]


def test_delivery_marks_sent_and_the_sms_log_masks_the_phone(
    client: TestClient, auth: Any, db: Peek
) -> None:
    ref = at_staging(client, auth, "29C-300.07")
    call_forward(client, ref)
    channels = {"in_app": InAppChannel(), "sms": SmsChannel(LoggingSmsGateway())}
    kept = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    try:
        with capture_logs() as logs:
            report = deliver_pending(_sessions(client), channels, NOW)
    finally:
        structlog.configure(**kept)
    assert (len(report.sent), report.retrying, report.failed) == (3, [], [])
    sms = [e for e in logs if e["event"] == "sms"]
    assert len(sms) == 1
    assert sms[0]["to"] == "*********678"
    assert "0912345678" not in json.dumps(logs)
    assert "+84912345678" not in json.dumps(logs)
    assert "Hữu Nghị" in sms[0]["text"]  # a Vietnamese driver gets the Vietnamese text
    assert {d.status for d in db.scalars(select(NotificationDelivery))} == {"sent"}
    assert deliver_pending(_sessions(client), channels, NOW).claimed == 0  # sent once only
    items = client.get("/api/v1/notifications/deliveries", params={"channel": "sms"},
                       headers=auth("admin")).json()["items"]
    assert [(d["status"], d["phone"]) for d in items] == [("sent", "*********678")]
    assert mask_phone("+8613800138000") == "***********000"


def test_a_channel_not_sent_on_waits_and_a_sender_that_died_is_taken_over(
    client: TestClient, auth: Any, db: Peek
) -> None:
    ref = at_staging(client, auth, "29C-300.08")
    call_forward(client, ref)
    report = deliver_pending(_sessions(client), {"in_app": InAppChannel()}, NOW)
    assert len(report.sent) == 2
    sms = db.one(select(NotificationDelivery).where(NotificationDelivery.channel == "sms"))
    assert sms.status == "pending"
    # a sender claims the SMS and dies before sending: nobody sends it until the lease is over
    claims = delivery._claim(_sessions(client), {"sms": InAppChannel()}, NOW, 10)
    assert [c.delivery_id for c in claims] == [sms.id]
    channels = {"sms": SmsChannel(LoggingSmsGateway())}
    assert deliver_pending(_sessions(client), channels, NOW + timedelta(minutes=1)).claimed == 0
    later = deliver_pending(_sessions(client), channels, NOW + delivery.LEASE)
    assert later.sent == [sms.id]
    assert db.one(select(NotificationDelivery).where(NotificationDelivery.id == sms.id)
                  ).attempts == 2


# --- the webhook, against a real HTTP server ---------------------------------------------------


class Hook:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.release = threading.Event()
        self.release.set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.hook = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/borderflow"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        hook: Hook = self.server.hook  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers["Content-Length"]))
        hook.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
        hook.release.wait(10)
        try:
            self.send_response(hook.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender gave up waiting (the slow-webhook tests): nothing to answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    thread = threading.Thread(target=h.server.serve_forever, daemon=True)
    thread.start()
    yield h
    h.release.set()
    h.server.shutdown()
    h.server.server_close()


@pytest.fixture
def hooked(settings: Settings, clock: FixedClock, hook: Hook) -> Iterator[TestClient]:
    configured = Settings(**{**settings.model_dump(), "notify_channels": "in_app,webhook",
                             "webhook_url": hook.url, "webhook_secret": SECRET,
                             "webhook_timeout_seconds": 2.0})
    app = create_app(configured, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.ctx.engine.dispose()


def _send(client: TestClient, at: Any) -> delivery.DeliveryReport:
    return deliver_pending(_sessions(client), client.app.state.notifiers, at)  # type: ignore[attr-defined]


def test_the_webhook_gets_a_signed_body_once_per_enterprise_notice(
    hooked: TestClient, auth: Any, hook: Hook, db: Peek
) -> None:
    ref = at_staging(hooked, auth, "29C-300.09")
    call_forward(hooked, ref)
    report = _send(hooked, NOW)
    assert len(report.sent) == 3  # in-app twice, the webhook once (enterprise only)
    ((headers, body),) = hook.requests
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-borderflow-signature"] == expected
    assert headers["content-type"].startswith("application/json")
    assert headers["x-borderflow-event"] == "trip.called"
    document = json.loads(body)
    assert document["trip"]["reference"] == ref
    assert document["recipient"] == {"kind": "enterprise", "key": factories.ENTERPRISE_TAX}
    assert document["kind"] == "call_forward"
    assert document["payload"]["gate"] == "huu-nghi"
    assert set(document["messages"]) == {"vi", "en", "zh"}
    version = db.scalar(select(Trip.version).where(Trip.reference == ref))
    assert headers["idempotency-key"] == f"{document['trip']['id']}:{version}:enterprise"
    assert document["idempotency_key"] == headers["idempotency-key"]


def test_a_failing_webhook_is_retried_with_backoff_then_given_up_and_retried_by_an_admin(
    hooked: TestClient, auth: Any, hook: Hook, db: Peek
) -> None:
    ref = at_staging(hooked, auth, "29C-300.10")
    call_forward(hooked, ref)
    hook.status = 500
    at = NOW
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = _send(hooked, at)
        assert len(hook.requests) == attempt
        webhook = db.one(select(NotificationDelivery).where(
            NotificationDelivery.channel == "webhook"))
        assert webhook.attempts == attempt
        assert webhook.last_error.startswith("HTTP 500")
        if attempt < MAX_ATTEMPTS:
            assert report.retrying == [webhook.id]
            assert webhook.status == "pending"
            assert webhook.next_attempt_at == at + backoff(attempt)
            # not before its time
            assert _send(hooked, at + backoff(attempt) - timedelta(seconds=1)).claimed == 0
            at += backoff(attempt)
    assert report.failed == [webhook.id]
    assert webhook.status == "failed"
    assert [backoff(n).total_seconds() / 60 for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert _send(hooked, at + timedelta(days=1)).claimed == 0  # given up for good

    failed = hooked.get("/api/v1/notifications/deliveries", params={"status": "failed"},
                        headers=auth("admin"))
    assert failed.status_code == 200
    assert [(d["id"], d["channel"], d["attempts"]) for d in failed.json()["items"]] == [
        (webhook.id, "webhook", MAX_ATTEMPTS)]
    assert hooked.get("/api/v1/notifications/deliveries",
                      headers=auth("regulator")).status_code == 403

    hook.status = 204
    r = hooked.post(f"/api/v1/notifications/deliveries/{webhook.id}/retry",
                    headers=auth("admin"))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["attempts"]) == ("pending", 0)
    assert _send(hooked, NOW).sent == [webhook.id]
    again = hooked.post(f"/api/v1/notifications/deliveries/{webhook.id}/retry",
                        headers=auth("admin"))
    assert again.status_code == 409
    missing = hooked.post("/api/v1/notifications/deliveries/424242/retry", headers=auth("admin"))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


@pytest.mark.slow
def test_a_hanging_webhook_holds_no_lock_and_times_out(
    hooked: TestClient, auth: Any, hook: Hook, db: Peek
) -> None:
    ref = at_staging(hooked, auth, "29C-300.11")
    call_forward(hooked, ref)
    webhook = db.one(select(NotificationDelivery).where(NotificationDelivery.channel == "webhook"))
    hook.release.clear()  # the receiver hangs
    sender = threading.Thread(target=_send, args=(hooked, NOW))
    sender.start()
    deadline = time.monotonic() + 5
    while not hook.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hook.requests, "the webhook was not called"
    started = time.monotonic()
    r = hooked.post("/api/v1/declarations", json=factories.declaration(),
                    headers=auth("enterprise"))  # a write while the webhook hangs
    assert r.status_code == 201, r.text
    assert time.monotonic() - started < 1.5
    sender.join(10)
    hook.release.set()
    timed_out = db.one(select(NotificationDelivery).where(
        NotificationDelivery.id == webhook.id))
    assert timed_out.status == "pending"
    assert "Timeout" in (timed_out.last_error or "")


# --- configuration and the background sender ---------------------------------------------------


def test_settings_are_checked(settings: Settings) -> None:
    base = settings.model_dump()
    with pytest.raises(ValidationError, match="BORDERFLOW_WEBHOOK_URL"):
        Settings(**{**base, "notify_channels": "in_app,webhook"})
    with pytest.raises(ValidationError, match="BORDERFLOW_WEBHOOK_SECRET"):
        Settings(**{**base, "notify_channels": "webhook", "webhook_url": "https://x.example"})
    with pytest.raises(ValidationError, match="unknown channel"):
        Settings(**{**base, "notify_channels": "in_app,pigeon"})
    assert Settings(**{**base, "notify_channels": " SMS, in_app ,sms"}).notify_channel_list == (
        "sms", "in_app")
    with pytest.raises(ValueError, match="unknown SMS gateway 'carrier-pigeon'"):
        build_channels(Settings(**{**base, "sms_gateway": "carrier-pigeon"}))
    assert sorted(build_channels(settings)) == ["in_app", "sms"]


@pytest.mark.slow
def test_the_background_sender_delivers_after_commit(
    settings: Settings, clock: FixedClock, auth: Any, db: Peek
) -> None:
    app = create_app(Settings(**{**settings.model_dump(), "notify_interval_seconds": 1}),
                     clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        call_forward(client, at_staging(client, auth, "29C-300.12"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            statuses = set(db.scalars(select(NotificationDelivery.status)))
            if statuses == {"sent"}:
                break
            time.sleep(0.2)
        assert statuses == {"sent"}
    app.state.ctx.engine.dispose()
