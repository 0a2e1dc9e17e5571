"""Pages that list a growing number of rows show a page at a time with previous and next
links labelled in the page's language: the kept bulletin versions on the partner bulletin
page, the officer's work queue and the trips past a deadline on the checkpoint screen, the
trucks inside a yard. Walking
forward and back sees every row once; a cursor the list did not give shows the first
page."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from borderflow.clock import FixedClock
from borderflow.domain import labels
from borderflow.store.models import Bulletin
from borderflow.web import exchange_page, officer, yard
from tests.api.test_paging import _called
from tests.conftest import NOW, PASSWORD, Peek
from tests.trip.test_rerouting import staged
from tests.web.test_driver import _csrf

NEXT = re.compile(r'<a href="([^"]+)" rel="next">')
PREV = re.compile(r'<a href="([^"]+)" rel="prev">')
LABELS = {"vi": ("Trang trước", "Trang sau"), "zh": ("上一页", "下一页"),
          "en": ("Previous page", "Next page")}


def _sign_in(client: TestClient, username: str) -> None:
    client.cookies.clear()
    r = client.post("/login", data={"username": username, "password": PASSWORD,
                                    "csrf": _csrf(client), "next": ""}, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]


def _walk(client: TestClient, first: str, rows: re.Pattern[str], lang: str
          ) -> tuple[list[str], list[str]]:
    """Rows read going forward from ``first`` to the last page, then back to the first."""
    previous, following = LABELS[lang]
    forward: list[str] = []
    client.cookies.set("lang", lang)  # the language the visitor chose, on every page
    r = client.get(first)
    pages = [r.text]
    while True:
        assert r.status_code == 200, r.text[:300]
        forward += rows.findall(r.text)
        nxt = NEXT.search(r.text)
        if nxt is None:
            break
        assert following in r.text
        r = client.get(html.unescape(nxt.group(1)))
        pages.append(r.text)
    backward: list[str] = []
    while (prev := PREV.search(r.text)) is not None:
        assert previous in r.text
        r = client.get(html.unescape(prev.group(1)))
        assert r.status_code == 200
        backward = rows.findall(r.text) + backward
    return forward, backward


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_kept_bulletins_a_page_at_a_time(client: TestClient, db: Peek, lang: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exchange_page, "KEPT_PAGE", 4)
    with db.sessions() as s:
        for i in range(9):
            s.add(Bulletin(side="CN", day=date(2026, 11, 1) + timedelta(days=i), version=1,
                           sha256=f"{i}".ljust(64, "0"), body={}, signature={"key_id": "k"},
                           origin="received", source="api", fed=[], created_by="liaison",
                           created_at=NOW))
        s.commit()
    _sign_in(client, "liaison")
    ids = re.compile(r'href="/api/v1/exchange/bulletins/(\d+)\?format=pdf"')
    forward, backward = _walk(client, "/exchange", ids, lang)
    assert len(forward) == len(set(forward)) == 9
    assert backward == forward[:len(backward)]
    assert len(backward) == 8  # the first two pages, back from the third
    first = client.get("/exchange", params={"cursor": "not-a-cursor", "lang": lang})
    assert first.status_code == 200
    assert ids.findall(first.text) == forward[:4]
    assert "Next page" not in first.text or lang == "en"


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_the_officers_work_queue_a_page_at_a_time(client: TestClient, auth: Any,
                                                  clock: FixedClock, lang: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(officer, "QUEUE_PAGE", 2)
    refs = _called(client, auth, 5)
    for i, ref in enumerate(refs):
        clock.set(NOW + timedelta(minutes=i))
        r = client.post(f"/api/v1/trips/{ref}/movements", headers=auth("borderguard"),
                        json={"action": "enter", "area": "gate_area:huu-nghi"})
        assert r.status_code == 200, r.text
    _sign_in(client, "borderguard")
    trips = re.compile(r'<a href="/officer/trips/([^"]+)" translate="no">')
    forward, backward = _walk(client, "/officer", trips, lang)
    assert forward == refs
    assert backward == refs[:4]
    page = client.get("/officer", params={"lang": lang}).text
    assert "border_guard" not in re.sub(r"<[^>]+>", " ", page)  # the step by its name


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_the_trucks_inside_a_yard_a_page_at_a_time(client: TestClient, auth: Any,
                                                   clock: FixedClock, lang: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yard, "INSIDE_PAGE", 2)
    refs = []
    for i in range(5):
        clock.set(NOW + timedelta(minutes=i))  # the first in has been there longest
        refs.append(staged(client, auth, f"29C-71{i}.{i:02d}"))
    _sign_in(client, "yard")
    inside = re.compile(r'<tr id="inside-([^"]+)">')
    forward, backward = _walk(client, "/yard", inside, lang)
    assert forward == refs
    assert backward == refs[:4]


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_the_trips_past_a_deadline_a_page_at_a_time(client: TestClient, auth: Any,
                                                    clock: FixedClock, lang: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(officer, "LATE_PAGE", 2)
    refs = []
    for i in range(5):
        clock.set(NOW + timedelta(minutes=i))  # called one after the other
        refs += _called(client, auth, 1, first=i)
    clock.set(NOW + timedelta(hours=3))
    _sign_in(client, "borderguard")
    client.cookies.set("lang", lang)
    late = re.compile(r'<a href="/officer/trips/([^"]+)" translate="no" data-late>')
    following = re.compile(r'<a href="([^"]+late_cursor[^"]+)" rel="next">')
    r = client.get("/officer")
    seen = late.findall(r.text)
    while (nxt := following.search(r.text)) is not None:
        assert LABELS[lang][1] in r.text
        r = client.get(html.unescape(nxt.group(1)))
        seen += late.findall(r.text)
    assert seen == refs  # the longest overdue first
    shown = re.sub(r"<[^>]+>", " ", r.text)
    assert "call-grace" not in shown
    assert getattr(labels.TABLES["deadline"]["call-grace"], lang) in shown
    assert client.get("/officer", params={"late_cursor": "x"}).status_code == 200
