"""The public board: no login, the figures of each gate, in three languages, refreshing
itself, every asset served by the platform."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from borderflow.domain import labels
from borderflow.web import i18n
from tests.trip.test_rerouting import staged


def test_anyone_sees_each_gates_queue_and_yards_without_logging_in(
    client: TestClient, auth: Any
) -> None:
    for i in range(3):
        staged(client, auth, f"29C-400.{i:02d}")
    page = client.get("/board")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    huu_nghi = html[html.index('id="gate-huu-nghi"'):]
    huu_nghi = huu_nghi[:huu_nghi.index("</article>")]
    assert re.search(r'data-figure="queue-export">3<', huu_nghi)
    assert "Cửa khẩu quốc tế Hữu Nghị" in huu_nghi  # Vietnamese by default
    assert 'hx-trigger="every 15s"' in html  # it refreshes itself
    assert "Viettel" in html  # the park with its count
    panel = client.get("/board/panel")
    assert panel.status_code == 200
    assert "<html" not in panel.text


def test_a_closure_and_the_partner_sides_counts_show_on_the_board(
    client: TestClient, auth: Any
) -> None:
    client.post("/api/v1/gates/chi-ma/controls", headers=auth("regulator"), json={
        "kind": "closure", "ends_at": "2026-11-23T20:00:00+07:00",
        "reason": "flooding on the approach road"})
    client.post("/api/v1/gates/huu-nghi/partner-yard", headers=auth("regulator"),
                json={"direction": "export", "vehicles": 412, "capacity": 600})
    html = client.get("/board", params={"lang": "en"}).text
    chi_ma = html[html.index('id="gate-chi-ma"'):]
    assert "Gate closed: flooding on the approach road · until 20:00" in \
        chi_ma[:chi_ma.index("</article>")]
    for lang in ("vi", "zh"):  # the kind in the page's language, the reason as typed
        panel = client.get("/board/panel", params={"lang": lang}).text
        chi_ma = panel[panel.index('id="gate-chi-ma"'):]
        closure = getattr(labels.TABLES["control_kind"]["closure"], lang)
        until = {"vi": "đến 20:00", "zh": "至 20:00"}[lang]
        assert f"{closure}: flooding on the approach road · {until}" in \
            chi_ma[:chi_ma.index("</article>")]
        assert "closure" not in panel
    assert "In the partner side&#39;s yard" in html
    assert "412" in html


def test_the_language_is_chosen_remembered_and_numbers_follow_it(client: TestClient) -> None:
    assert "Tình hình cửa khẩu" in client.get("/board").text
    assert "口岸实时情况" in client.get("/board", headers={"Accept-Language": "zh-CN"}).text
    switched = client.get("/lang/en", headers={"referer": "/board"}, follow_redirects=False)
    assert switched.status_code == 303
    assert "lang=en" in switched.headers["set-cookie"]
    assert "Border gates now" in client.get("/board").text  # the cookie is kept
    client.cookies.clear()
    assert "Tình hình cửa khẩu" in client.get("/board", params={"lang": "xx"}).text
    assert i18n.Formatter("vi").number(1300) == "1.300"
    assert i18n.Formatter("en").number(1300) == "1,300"
    assert i18n.Formatter("vi").vnd(4_000_000) == "4.000.000\xa0₫"


def test_the_board_needs_nothing_from_the_internet(client: TestClient) -> None:
    html = client.get("/board", params={"screen": "large"}).text
    assert 'class="board large"' in html
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not url.startswith(("http://", "https://", "//")), url
    assert client.get("/static/vendor/htmx-2.0.11.min.js").status_code == 200
    assert client.get("/static/app.css").status_code == 200
