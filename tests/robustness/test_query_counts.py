"""The work of a request does not grow with the data: the main pages and endpoints make the
same number of database queries with two trucks in the system as with six (no query per
row), however many trucks, devices and invoices there are."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from stdnum.vn import mst

from borderflow.config import Settings
from tests.conftest import PASSWORD
from tests.trip.test_rerouting import staged
from tests.web.test_driver import _csrf

PAGES = ("/board", "/board/panel", "/console", "/portal", "/officer", "/cashier", "/exchange",
         "/admin/accounts")
"""Pages, each read as the role that uses it (see WHO)."""
ENDPOINTS = ("/api/v1/alerts/deadlines", "/api/v1/devices", "/api/v1/alerts/devices",
             "/api/v1/invoices", "/api/v1/checkpoints/pending", "/api/v1/dispatch/queue",
             "/api/v1/occupancy", "/api/v1/declarations", "/api/v1/telemetry/latest",
             "/api/v1/accounts", "/api/v1/enterprises", "/api/v1/exchange/bulletins")
WHO = {"/console": "regulator", "/portal": "enterprise", "/officer": "customs",
       "/cashier": "cashier", "/exchange": "liaison", "/admin/accounts": "admin",
       "/api/v1/accounts": "admin", "/api/v1/enterprises": "customs",
       "/api/v1/exchange/bulletins": "liaison", "/api/v1/alerts/deadlines": "regulator",
       "/api/v1/devices": "regulator", "/api/v1/alerts/devices": "regulator",
       "/api/v1/invoices": "enterprise", "/api/v1/checkpoints/pending": "customs",
       "/api/v1/dispatch/queue": "regulator", "/api/v1/declarations": "enterprise",
       "/api/v1/telemetry/latest": "regulator"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Who a token is looked up at every request, not remembered for a wall-clock second: a
    slow machine must not count the look-up in one reading and not in the other."""
    return settings.model_copy(update={"caller_memory_seconds": 0})


def _counter(client: TestClient) -> Callable[[], int]:
    seen = [0]

    def count(*_args: Any) -> None:
        seen[0] += 1

    event.listen(client.app.state.ctx.engine, "before_cursor_execute", count)  # type: ignore[attr-defined]
    return lambda: seen[0]


def _truck(client: TestClient, auth: Any, i: int) -> None:
    plate = f"29C-51{i:01d}.{i:02d}"
    staged(client, auth, plate)
    bound = client.post(f"/api/v1/devices/tracker-{i}/bind", headers=auth("regulator"),
                        json={"plate": plate, "label": f"tracker {i}"})
    assert bound.status_code == 200, bound.text
    # the account and enterprise lists grow too
    made = client.post("/api/v1/accounts", headers=auth("admin"), json={
        "username": f"officer-{i}", "display_name": f"Officer {i}", "roles": ["customs"],
        "password": PASSWORD})
    assert made.status_code == 201, made.text
    tax = [c for c in (f"01001091{n:02d}" for n in range(99)) if mst.is_valid(c)][i + 1]
    put = client.put(f"/api/v1/enterprises/{tax}", headers=auth("admin"),
                     json={"name": f"Cong ty {i}", "aeo": False})
    assert put.status_code == 200, put.text


def _signed_in(client: TestClient, username: str) -> None:
    client.cookies.clear()
    r = client.post("/login", data={"username": username, "password": PASSWORD,
                                    "csrf": _csrf(client), "next": ""}, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]


def _queries(client: TestClient, auth: Any, count: Callable[[], int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for path in ENDPOINTS:
        headers = auth(WHO[path]) if path in WHO else {}
        client.get(path, headers=headers)  # warm (the network in force, caches)
        before = count()
        r = client.get(path, headers=headers)
        assert r.status_code == 200, (path, r.text[:300])
        out[path] = count() - before
    for path in PAGES:
        if path in WHO:
            _signed_in(client, WHO[path])
        else:
            client.cookies.clear()
        client.get(path)
        before = count()
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        out[path] = count() - before
    client.cookies.clear()
    return out


@pytest.mark.slow
def test_no_page_or_list_makes_a_query_per_truck(client: TestClient, auth: Any) -> None:
    count = _counter(client)
    for i in range(2):
        _truck(client, auth, i)
    few = _queries(client, auth, count)
    for i in range(2, 6):
        _truck(client, auth, i)
    more = _queries(client, auth, count)
    grew = {path: (few[path], more[path]) for path in few if more[path] > few[path]}
    assert grew == {}, f"queries per request grew with the data (2 -> 6 trucks): {grew}"
