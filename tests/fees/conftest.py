"""A platform served over real HTTP with the sandbox gateway mounted, and payment helpers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from tests import factories


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(settings: Settings, clock: FixedClock) -> Iterator[httpx.Client]:
    """The platform on a real port, with the sandbox gateway mounted next to it."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(settings.model_copy(update={"public_base_url": base}), clock=clock)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    with httpx.Client(base_url=base, timeout=30) as client:
        yield client
    server.should_exit = True
    thread.join(10)
    app.state.ctx.engine.dispose()


def trip(live: httpx.Client, auth: Any) -> tuple[str, dict[str, Any]]:
    d = live.post("/api/v1/declarations", json=factories.declaration(),
                  headers=auth("enterprise"))
    assert d.status_code == 201, d.text
    ref = f"{d.json()['reference']}-1"
    inv = live.get(f"/api/v1/trips/{ref}/invoice", headers=auth("enterprise")).json()
    return ref, inv


def start(live: httpx.Client, auth: Any, number: str) -> dict[str, Any]:
    r = live.post(f"/api/v1/invoices/{number}/pay-online", json={},
                  headers=auth("enterprise"))
    assert r.status_code == 201, r.text
    return dict(r.json())


def pay(live: httpx.Client, payment_url: str, outcome: str = "pay") -> dict[str, Any]:
    """The payer opens the payment page and presses a button."""
    page = live.get(payment_url)
    assert page.status_code == 200, page.text
    r = live.post(payment_url.split("?")[0].replace("vpcpay.html", "confirm"),
                  data={"query": urlsplit(payment_url).query, "outcome": outcome},
                  headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    return dict(r.json())


