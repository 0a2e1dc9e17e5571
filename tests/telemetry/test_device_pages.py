"""The list of GPS devices, a page at a time: the API answers at most ``limit`` devices,
latest heard first, and names the next page in its ``Link`` header; the admin's page shows
50 at a time with previous and next links in the page's language. Walking the pages sees every
device once."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from borderflow.clock import FixedClock
from tests.conftest import NOW
from tests.web.test_driver import _login


def _report(client: TestClient, clock: FixedClock, count: int) -> None:
    """``count`` devices, each heard once, a second apart (dev-000 first); nobody bound
    them: their positions are stored and the phones answered 400."""
    for i in range(count):
        clock.set(NOW + timedelta(seconds=i))
        r = client.get("/api/v1/telemetry/osmand", params={
            "id": f"dev-{i:03d}", "lat": "21.9", "lon": "106.7",
            "timestamp": str(int((NOW - timedelta(minutes=5)).timestamp()) + i)})
        assert r.status_code == 400, r.text


def _next(response: Any) -> str | None:
    found = re.search(r'<([^>]+)>; rel="next"', response.headers.get("link", ""))
    return found.group(1) if found else None


def test_the_device_list_is_paged_and_every_device_seen_once(
        client: TestClient, clock: FixedClock, auth: Any) -> None:
    _report(client, clock, 7)
    seen: list[str] = []
    url: str | None = "/api/v1/devices?limit=3"
    pages = 0
    while url:
        r = client.get(url, headers=auth("regulator"))
        assert r.status_code == 200, r.text
        assert len(r.json()) <= 3
        seen += [d["id"] for d in r.json()]
        url = _next(r)
        pages += 1
    assert pages == 3
    assert sorted(seen) == [f"dev-{i:03d}" for i in range(7)]
    assert len(seen) == len(set(seen))
    r = client.get("/api/v1/devices", params={"limit": 201}, headers=auth("regulator"))
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "limit"
    r = client.get("/api/v1/devices", params={"cursor": "nonsense"}, headers=auth("regulator"))
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "cursor"


def test_unknown_devices_are_paged_too(client: TestClient, clock: FixedClock, auth: Any
                                       ) -> None:
    _report(client, clock, 4)
    r = client.get("/api/v1/devices", params={"unknown": "true", "limit": 2},
                   headers=auth("regulator"))
    assert r.status_code == 200
    assert len(r.json()) == 2
    assert all(d["trip"] is None for d in r.json())
    assert _next(r) is not None


def test_the_admin_page_shows_devices_a_page_at_a_time(
        client: TestClient, clock: FixedClock) -> None:
    _report(client, clock, 55)
    client.cookies.clear()
    assert _login(client, "admin").status_code == 303  # pages need a browser session
    headers = {"Accept-Language": "vi"}
    first = client.get("/admin/devices", params={"lang": "vi"}, headers=headers)
    assert first.status_code == 200, first.text
    rows = re.findall(r'id="device-\d+"', first.text)
    assert len(rows) == 50
    assert "Các trang danh sách thiết bị" in first.text
    link = re.search(r'href="(/admin/devices\?cursor=[^"#]+)[^"]*" rel="next"', first.text)
    assert link is not None
    second = client.get(link.group(1).replace("&amp;", "&") + "&lang=vi", headers=headers)
    assert len(re.findall(r'id="device-\d+"', second.text)) == 5
    assert 'rel="prev"' in second.text
    assert 'rel="next"' not in second.text
    stale = client.get("/admin/devices", params={"cursor": "nonsense", "lang": "vi"},
                       headers=headers)
    assert stale.status_code == 200  # a cursor the list did not give: the first page
