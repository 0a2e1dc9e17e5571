"""Several notification senders at once (one per worker process): a webhook that answers more
slowly than a claim's lease still receives each notification exactly once, because the sender
renews the lease while the message is in flight; a sender keeps several messages in flight."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.notify.channels import IDEMPOTENCY_HEADER, WebhookChannel
from borderflow.notify.delivery import MAX_ATTEMPTS, deliver_pending
from borderflow.store.models import NotificationDelivery
from borderflow.store.session import make_engine, make_session_factory
from tests.conftest import NOW, Peek
from tests.notify.test_notifications import at_staging, call_forward

SECRET = "webhook-secret-for-tests"
LEASE = timedelta(seconds=0.6)
ANSWER_SECONDS = 1.5
"""How long the webhook takes to answer: more than two leases."""


class SlowHook:
    """A real HTTP server that answers every POST after :data:`ANSWER_SECONDS`, counting the
    idempotency keys it received and how many requests it held at once."""

    def __init__(self) -> None:
        self.keys: Counter[str] = Counter()
        self.open = 0
        self.most_open = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
        self.server.hook = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


class _Slow(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        hook: SlowHook = self.server.hook  # type: ignore[attr-defined]
        self.rfile.read(int(self.headers["Content-Length"]))
        with hook.lock:
            hook.keys[self.headers[IDEMPOTENCY_HEADER]] += 1
            hook.open += 1
            hook.most_open = max(hook.most_open, hook.open)
        time.sleep(ANSWER_SECONDS)
        with hook.lock:
            hook.open -= 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def slow_hook() -> Iterator[SlowHook]:
    hook = SlowHook()
    thread = threading.Thread(target=hook.server.serve_forever, daemon=True)
    thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture
def hooked(settings: Settings, clock: FixedClock, slow_hook: SlowHook) -> Iterator[TestClient]:
    configured = Settings(**{**settings.model_dump(), "notify_channels": "in_app,webhook",
                             "webhook_url": slow_hook.url, "webhook_secret": SECRET})
    app = create_app(configured, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.ctx.engine.dispose()


def _sender(url: str, hook_url: str, stop: threading.Event, started: float) -> None:
    """One sender, as a worker process runs it: its own engine, its clock running from NOW."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    channels = {"webhook": WebhookChannel(hook_url, SECRET, timeout=10)}
    try:
        while not stop.is_set():
            now: datetime = NOW + timedelta(seconds=time.monotonic() - started)
            deliver_pending(sessions, channels, now, concurrency=2, lease=LEASE)
            time.sleep(0.05)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_two_senders_send_a_webhook_slower_than_the_lease_exactly_once(
    hooked: TestClient, auth: Any, db: Peek, settings: Settings, slow_hook: SlowHook
) -> None:
    refs = [at_staging(hooked, auth, f"29C-310.{n:02d}") for n in range(1, 5)]
    call_forward(hooked, *refs)
    webhooks = db.scalars(select(NotificationDelivery.id)
                          .where(NotificationDelivery.channel == "webhook"))
    assert len(webhooks) == len(refs)

    stop, started = threading.Event(), time.monotonic()
    senders = [threading.Thread(target=_sender, args=(settings.database_url, slow_hook.url,
                                                      stop, started)) for _ in range(2)]
    for sender in senders:
        sender.start()
    try:
        deadline = time.monotonic() + 10 * ANSWER_SECONDS
        while time.monotonic() < deadline and db.scalars(
                select(NotificationDelivery.id).where(NotificationDelivery.channel == "webhook",
                                                      NotificationDelivery.status != "sent")):
            time.sleep(0.1)
        time.sleep(2 * LEASE.total_seconds())  # any second claim would have been made by now
    finally:
        stop.set()
        for sender in senders:
            sender.join(30)

    rows = db.scalars(select(NotificationDelivery)
                      .where(NotificationDelivery.channel == "webhook"))
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}
    assert len(slow_hook.keys) == len(refs)
    assert set(slow_hook.keys.values()) == {1}  # each notification received exactly once
    assert slow_hook.most_open >= 3  # two senders, two in flight each: not one at a time


def test_a_delivery_whose_every_claim_ended_without_an_outcome_is_given_up(
    hooked: TestClient, auth: Any, db: Peek, slow_hook: SlowHook
) -> None:
    call_forward(hooked, at_staging(hooked, auth, "29C-310.09"))
    sessions = hooked.app.state.ctx.sessions  # type: ignore[attr-defined]
    with sessions() as session:  # every sender that claimed it died before recording
        row = session.scalars(select(NotificationDelivery)
                              .where(NotificationDelivery.channel == "webhook")).one()
        row.attempts = MAX_ATTEMPTS
        session.commit()
    channels = {"webhook": WebhookChannel(slow_hook.url, SECRET, timeout=10)}
    assert deliver_pending(sessions, channels, NOW).claimed == 0
    row = db.one(select(NotificationDelivery).where(NotificationDelivery.channel == "webhook"))
    assert row.status == "failed"
    assert "no outcome after" in row.last_error
    assert not slow_hook.keys  # not sent a ninth time
