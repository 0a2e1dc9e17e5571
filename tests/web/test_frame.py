"""What every page shares: the header with the user's name, roles, their pages and logout;
the language switch that keeps the page; browsers get pages for errors (API clients the JSON
shape); an expired session leads to the login page and back."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from borderflow.clock import FixedClock
from borderflow.domain import labels
from borderflow.errors import msg
from borderflow.web.i18n import Formatter
from tests.web.test_driver import _login

# What these pages show and refuse does not depend on the database: the services they
# call run on PostgreSQL in the API tests, so the PostgreSQL pass leaves this module out.
pytestmark = pytest.mark.any_database

BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _menu(html: str) -> list[str]:
    nav = re.search(r'<nav aria-label="[^"]*" class="menu">(.*?)</nav>', html, re.S)
    return re.findall(r'href="([^"]+)"', nav.group(1)) if nav else []


def test_the_header_shows_who_is_signed_in_their_pages_and_logout(client: TestClient) -> None:
    board = client.get("/board?lang=vi")
    assert _menu(board.text) == ["/board"]
    assert "Đăng nhập" in board.text
    assert 'action="/logout"' not in board.text
    assert _login(client, "enterprise").status_code == 303
    page = client.get("/portal?lang=vi").text
    assert _menu(page) == ["/board", "/portal", "/portal/declarations/new", "/portal/bookings",
                           "/portal/team", "/reports"]
    assert 'action="/logout"' in page
    assert labels.TABLES["role"]["enterprise"].vi in page
    client.cookies.clear()
    _login(client, "regulator")
    page = client.get("/console?lang=zh").text
    assert "/console" in _menu(page)
    assert "/portal" not in _menu(page)
    assert labels.TABLES["role"]["regulator"].zh in page


def test_logging_out_ends_the_session(client: TestClient) -> None:
    _login(client, "customs")
    page = client.get("/officer").text
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token
    out = client.post("/logout", data={"csrf": token.group(1)}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/board")
    again = client.get("/officer", follow_redirects=False)
    assert again.headers["location"] == "/login?next=/officer"


def test_the_language_switch_stays_on_the_page_and_follows_only_this_site(
    client: TestClient
) -> None:
    back = client.get("/lang/zh?next=/reports%3Ffrom%3D2026-11-01", follow_redirects=False)
    assert (back.status_code, back.headers["location"]) == (303, "/reports?from=2026-11-01")
    assert back.cookies.get("lang") == "zh"
    elsewhere = client.get("/lang/vi?next=//evil.example/x", follow_redirects=False)
    assert elsewhere.headers["location"] == "/board"
    links = re.findall(r'href="(/lang/\w+\?next=[^"]+)"', client.get("/board").text)
    assert links
    assert all("next=/board" in link for link in links)


def test_an_expired_session_leads_to_login_and_back_to_the_same_page(
    client: TestClient, clock: FixedClock
) -> None:
    _login(client, "regulator")
    assert client.get("/console", follow_redirects=False).status_code == 200
    clock.set(clock.now() + timedelta(hours=13))
    later = client.get("/console?gate=huu-nghi", follow_redirects=False)
    assert (later.status_code, later.headers["location"]) == (
        303, "/login?next=/console%3Fgate%3Dhuu-nghi")


def test_browsers_get_a_page_for_errors_and_api_clients_the_json_shape(
    client: TestClient
) -> None:
    page = client.get("/no-such-page?lang=vi", headers=BROWSER)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Không có trang này." in page.text
    assert 'href="/board"' in page.text
    api = client.get("/api/v1/no-such-thing", headers=BROWSER)
    assert api.headers["content-type"].startswith("application/json")
    assert api.json()["error"]["code"] == "not_found"
    plain = client.get("/no-such-page")
    assert plain.json()["error"]["code"] == "not_found"


def test_reloading_a_forms_address_goes_back_to_the_forms_page(client: TestClient) -> None:
    _login(client, "customs")
    again = client.get("/officer/trips/D-1-1/steps/customs?lang=zh", headers=BROWSER,
                       follow_redirects=False)
    assert (again.status_code, again.headers["location"]) == (303, "/officer/trips/D-1-1")
    console = client.get("/console/controls", headers=BROWSER, follow_redirects=False)
    assert console.headers["location"] == "/console"


def test_a_services_message_is_shown_in_the_pages_language_with_labels() -> None:
    text = msg("Must be at most {limit}.", limit=1200)
    assert str(text) == "Must be at most 1,200."
    assert Formatter("vi").message(text) == "Không được quá 1.200."
    assert Formatter("zh").message(text) == "不能超过 1,200。"
    untranslated = "gate huu-nghi is closed for an English-only reason"
    assert Formatter("vi").message(untranslated, "conflict") != untranslated
    assert Formatter("en").message(untranslated) == untranslated
