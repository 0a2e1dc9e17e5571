"""Paged lists: accounts, enterprises, kept bulletins, deadline alerts and the officers' work
queue answer a bounded page in a stable order, name the next page in the ``Link`` header,
and walking the pages sees every row exactly once; bad paging input is refused naming the
field; scoping holds page after page."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from stdnum.vn import mst

from borderflow.clock import FixedClock
from borderflow.store.models import Bulletin
from borderflow.store.paging import MAX_LIMIT, encode
from tests.conftest import NOW, PASSWORD, Peek
from tests.trip.test_rerouting import staged

LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


def walk(client: TestClient, path: str, headers: dict[str, str], *, limit: int,
         **params: Any) -> tuple[list[Any], int]:
    """Every row of a paged list, following ``Link`` from page to page; and the pages."""
    rows: list[Any] = []
    r = client.get(path, headers=headers, params={"limit": limit, **params})
    pages = 0
    while True:
        assert r.status_code == 200, r.text
        pages += 1
        assert len(r.json()) <= limit
        rows += r.json()
        link = r.headers.get("link")
        if link is None:
            return rows, pages
        found = LINK.match(link)
        assert found, link
        assert len(r.json()) == limit  # a page with a next one is full
        r = client.get(found["url"], headers=headers)


def test_accounts_page_by_username_each_seen_once(client: TestClient, auth: Any) -> None:
    for i in range(7):
        made = client.post("/api/v1/accounts", headers=auth("admin"), json={
            "username": f"officer-{i:02d}", "display_name": f"Officer {i}",
            "roles": ["customs"], "password": PASSWORD})
        assert made.status_code == 201, made.text
    everyone, pages = walk(client, "/api/v1/accounts", auth("admin"), limit=4)
    names = [a["username"] for a in everyone]
    assert names == sorted(names)
    assert len(names) == len(set(names)) == 13 + 7  # the seeded accounts and the new ones
    assert pages == 5
    customs, _ = walk(client, "/api/v1/accounts", auth("admin"), limit=3, role="customs")
    assert [a["username"] for a in customs] == ["customs", *(f"officer-{i:02d}"
                                                             for i in range(7))]
    assert all("customs" in a["roles"] for a in customs)
    # the whole list in one page when it fits, and no Link then
    r = client.get("/api/v1/accounts", headers=auth("admin"), params={"limit": MAX_LIMIT})
    assert len(r.json()) == 20
    assert "link" not in r.headers


def test_enterprises_page_by_tax_code(client: TestClient, auth: Any) -> None:
    codes = [c for c in (f"01001091{i:02d}" for i in range(60)) if mst.is_valid(c)][:7]
    for code in codes:
        r = client.put(f"/api/v1/enterprises/{code}", headers=auth("admin"),
                       json={"name": f"Cong ty {code}", "aeo": False})
        assert r.status_code == 200, r.text
    seen, pages = walk(client, "/api/v1/enterprises", auth("customs"), limit=2)
    taxes = [e["tax_code"] for e in seen]
    assert taxes == sorted(set(taxes))
    assert set(codes) <= set(taxes)
    assert pages == -(-len(taxes) // 2)
    assert client.get("/api/v1/enterprises", headers=auth("enterprise")).status_code == 403


def test_bulletins_page_newest_day_first(client: TestClient, auth: Any, db: Peek) -> None:
    with db.sessions() as s:
        for day in range(4):
            for side in ("CN", "VN"):
                for version in (1, 2):
                    s.add(Bulletin(side=side, day=date(2026, 11, 10 + day), version=version,
                                   sha256=f"{day}{side}{version}".ljust(64, "0"), body={},
                                   signature={"key_id": "k"}, origin="received",
                                   source="api", fed=[], created_by="liaison",
                                   created_at=NOW))
        s.commit()
    seen, pages = walk(client, "/api/v1/exchange/bulletins", auth("liaison"), limit=3)
    keys = [(b["date"], b["side"], b["version"]) for b in seen]
    assert len(keys) == len(set(keys)) == 16
    assert pages == 6
    expected = sorted(keys, key=lambda k: (-date.fromisoformat(k[0]).toordinal(), k[1], -k[2]))
    assert keys == expected
    cn, _ = walk(client, "/api/v1/exchange/bulletins", auth("liaison"), limit=5, side="CN")
    assert {b["side"] for b in cn} == {"CN"}
    assert len(cn) == 8


def _called(client: TestClient, auth: Any, n: int, first: int = 0) -> list[str]:
    """``n`` trucks declared, in the staging park and called to the gate."""
    refs = []
    for i in range(first, first + n):
        ref = staged(client, auth, f"29C-61{i}.{i:02d}")
        r = client.post(f"/api/v1/trips/{ref}/call", json={}, headers=auth("regulator"))
        assert r.status_code == 200, r.text
        refs.append(ref)
    return refs


@pytest.mark.slow
def test_deadline_alerts_and_the_work_queue_walk_their_pages(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    refs = _called(client, auth, 5)
    assert client.get("/api/v1/alerts/deadlines", headers=auth("regulator")).json() == []
    clock.set(NOW + timedelta(hours=2))  # the 90 minutes to reach the gate have passed
    late, pages = walk(client, "/api/v1/alerts/deadlines", auth("regulator"), limit=2)
    assert sorted(a["reference"] for a in late) == sorted(refs)
    assert len({a["reference"] for a in late}) == 5
    assert pages == 3
    assert all(a["deadlines"][0]["code"] == "call-grace" for a in late)
    # officials read every gate's alerts (the same pages for an admin); others none
    assert walk(client, "/api/v1/alerts/deadlines", auth("admin"), limit=3)[0] == late
    assert client.get("/api/v1/alerts/deadlines", headers=auth("driver")).status_code == 403
    assert client.get("/api/v1/alerts/deadlines",
                      headers=auth("enterprise")).status_code == 403

    # in the gate area: the deadline is met, the border guard has the trips to inspect
    for i, ref in enumerate(reversed(refs)):  # the last called enters first
        clock.set(NOW + timedelta(hours=2, minutes=i))
        r = client.post(f"/api/v1/trips/{ref}/movements", headers=auth("borderguard"),
                        json={"action": "enter", "area": "gate_area:huu-nghi"})
        assert r.status_code == 200, r.text
    assert client.get("/api/v1/alerts/deadlines", headers=auth("regulator")).json() == []
    queue, pages = walk(client, "/api/v1/checkpoints/pending", auth("borderguard"), limit=2)
    assert [i["trip"]["reference"] for i in queue] == refs[::-1]  # longest waiting first
    assert all(i["steps"] == ["border_guard"] for i in queue)
    assert pages == 3
    elsewhere = client.post("/api/v1/accounts", headers=auth("admin"), json={
        "username": "guard-cm", "display_name": "Border guard Chi Ma",
        "roles": ["border_guard"], "gate_scope": ["chi-ma"], "password": PASSWORD})
    assert elsewhere.status_code == 201, elsewhere.text
    assert walk(client, "/api/v1/checkpoints/pending", auth("guard-cm"), limit=2)[0] == []


@pytest.mark.parametrize("path", ["/api/v1/accounts", "/api/v1/exchange/bulletins",
                                  "/api/v1/alerts/deadlines", "/api/v1/checkpoints/pending",
                                  "/api/v1/enterprises"])
def test_bad_paging_input_is_refused_naming_the_field(client: TestClient, auth: Any,
                                                      path: str) -> None:
    who = auth({"/api/v1/exchange/bulletins": "liaison", "/api/v1/alerts/deadlines":
                "regulator", "/api/v1/checkpoints/pending": "customs"}.get(path, "admin"))
    bad = {"limit": [str(MAX_LIMIT + 1), "0", "-3", "many"],
           "cursor": ["not a cursor", "!!!", encode(["x", "y", "z", "w"]), "x" * 600,
                     encode([{"a": 1}, 2, 3])]}
    for field, values in bad.items():
        for value in values:
            r = client.get(path, headers=who, params={field: value})
            assert r.status_code == 422, (field, value, r.text)
            error = r.json()["error"]
            assert error["code"] == "validation_failed"
            assert [f["field"] for f in error["fields"]] == [field], (value, error)
    r = client.get(path, headers=who, params={"limit": MAX_LIMIT})
    assert r.status_code == 200, r.text
