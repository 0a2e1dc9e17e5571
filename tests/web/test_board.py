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


def _gate_card(html: str, gate: str) -> str:
    card = html[html.index(f'id="gate-{gate}"'):]
    return card[:card.index("</article>")]


def test_a_closed_gate_gives_no_estimated_wait_but_when_calls_start_again(
    client: TestClient, auth: Any
) -> None:
    staged(client, auth, "29C-401.01")
    before = _gate_card(client.get("/board", params={"lang": "en"}).text, "huu-nghi")
    assert re.search(r'data-figure="wait">\d+ min<', before)
    client.post("/api/v1/gates/huu-nghi/controls", headers=auth("regulator"), json={
        "kind": "closure", "ends_at": "2026-11-23T20:00:00+07:00", "reason": "storm"})
    card = _gate_card(client.get("/board", params={"lang": "en"}).text, "huu-nghi")
    assert 'data-figure="wait">no calls until 20:00<' in card
    assert " min<" not in card
    vi = _gate_card(client.get("/board/panel", params={"lang": "vi"}).text, "huu-nghi")
    assert "không gọi xe đến 20:00" in vi


def test_a_pause_of_one_direction_is_shown_and_the_wait_is_the_other_directions(
    client: TestClient, auth: Any
) -> None:
    client.post("/api/v1/gates/huu-nghi/controls", headers=auth("regulator"), json={
        "kind": "pause", "direction": "import", "ends_at": "2026-11-23T20:00:00+07:00",
        "reason": "inspection backlog"})
    card = _gate_card(client.get("/board", params={"lang": "en"}).text, "huu-nghi")
    assert "inspection backlog · until 20:00" in card
    assert re.search(r'data-figure="wait">\d+ min \(Import: stopped\)<', card), card


def test_the_display_board_shows_a_few_gates_and_turns_through_all_of_them(
    client: TestClient,
) -> None:
    first = client.get("/board", params={"screen": "large", "lang": "en"}).text
    assert 'class="top"' not in first
    assert "<footer" not in first
    assert 'hx-trigger="every 10s"' in first
    assert "Screen 1 of 2" in first
    assert "more than a minute old" in first  # the warning the page shows when stale
    seen: list[str] = []
    for page in range(3):
        panel = client.get("/board/panel", params={
            "screen": "large", "page": page, "lang": "en"}).text
        assert "<html" not in panel
        gates = re.findall(r'id="gate-([a-z-]+)"', panel)
        assert len(gates) == 3
        seen += gates
        assert f'id="board-next" name="page" value="{(page + 1) % 2}"' in panel
    network_gates = re.findall(r'id="gate-([a-z-]+)"', client.get("/board").text)
    assert seen[:6] == network_gates
    assert seen[6:] == network_gates[:3]


def test_a_display_boards_settings_in_its_address_never_break_it(client: TestClient) -> None:
    for params in ({"per": "x", "every": "-4", "page": "9999"}, {"per": "0"},
                   {"per": "50", "every": "100000"}):
        page = client.get("/board/panel", params={"screen": "large", **params})
        assert page.status_code == 200
        assert re.findall(r'id="gate-([a-z-]+)"', page.text)
    one = client.get("/board", params={"screen": "large", "per": "1", "every": "5"}).text
    assert 'hx-trigger="every 5s"' in one
    assert len(re.findall(r'id="gate-', one)) == 1
