"""A platform served over real HTTP with the sandbox gateway mounted, and payment helpers."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from tests import factories


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


