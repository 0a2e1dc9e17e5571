"""A basic accessibility check of every page: every input has a label, ids are unique, every
button and drawing has a name, the page says its language, the colours meet WCAG AA
contrast, and every action is a native link or button (reachable by keyboard; the browser
tests press Tab to reach the main ones)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute, APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow import web
from borderflow.config import Settings
from borderflow.domain.access import Principal, Role
from borderflow.sim_jobs import service as sim_jobs
from borderflow.store.models import Account
from borderflow.store.session import make_engine, make_session_factory
from borderflow.web.pages import STATIC
from tests.trip.test_rerouting import staged
from tests.web.test_driver import _csrf, _login

# What these pages show and refuse does not depend on the database: the services they
# call run on PostgreSQL in the API tests, so the PostgreSQL pass leaves this module out.
pytestmark = pytest.mark.any_database


class Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.labels: set[str] = set()
        self.fields: list[dict[str, str | None]] = []
        self.in_label = 0
        self.clickables: list[str] = []
        self.ids: list[str] = []
        self.lang = ""
        self.unnamed: list[str] = []
        self.button: dict[str, str | None] | None = None
        self.button_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(str(a["id"]))
        if tag == "html":
            self.lang = a.get("lang") or ""
        if (tag == "svg" or a.get("role") == "img") and not (
                a.get("aria-label") or a.get("aria-labelledby")):
            self.unnamed.append(tag)
        if tag == "button":
            self.button, self.button_text = a, ""
        if tag == "label":
            self.in_label += 1
            if a.get("for"):
                self.labels.add(str(a["for"]))
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.fields.append({**a, "_wrapped": "yes" if self.in_label else None})
        if "onclick" in a and tag not in ("button", "a"):
            self.clickables.append(tag)

    def handle_data(self, data: str) -> None:
        if self.button is not None:
            self.button_text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.in_label -= 1
        if tag == "button" and self.button is not None:
            if not (self.button_text.strip() or self.button.get("aria-label")):
                self.unnamed.append("button")
            self.button = None


def _unlabelled(html: str) -> list[str]:
    audit = Audit()
    audit.feed(html)
    assert audit.clickables == []  # nothing clickable that a keyboard cannot reach
    assert audit.lang in ("vi", "en", "zh")  # screen readers speak the page's language
    assert len(audit.ids) == len(set(audit.ids)), "ids must be unique for labels to work"
    assert audit.unnamed == []  # every button and drawing has a name
    return [str(f.get("name") or f.get("id")) for f in audit.fields
            if not (f.get("_wrapped") or f.get("aria-label") or (f.get("id") in audit.labels))]


def _search_in_progress(settings: Settings) -> str:
    """A "what would it take" search of the regulator, shown while it runs (its page reloads
    itself)."""
    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as session:
        account = session.scalars(select(Account).where(Account.username == "regulator")).one()
        who = Principal(id=account.id, username="regulator", kind="user",
                        roles=frozenset({Role.REGULATOR}))
        job = sim_jobs.submit(session, actor=who, kind="levers",
                              params={"trucks": 1600, "hours": 2}, runs_total=60,
                              now=datetime.now(UTC))
        job.id, job.status, job.runs_done = "test-search", "running", 7
        session.commit()
    engine.dispose()
    return "test-search"


def _web_pages() -> set[str]:
    """Every page of the web application: GET routes giving HTML of the routers of the
    ``borderflow.web`` modules."""
    out = set()
    for module in pkgutil.iter_modules(web.__path__):
        router = getattr(importlib.import_module(f"borderflow.web.{module.name}"), "router", None)
        for route in router.routes if isinstance(router, APIRouter) else ():
            if isinstance(route, APIRoute) and "GET" in route.methods and \
                    route.response_class is HTMLResponse:
                out.add(route.path)
    return out


@pytest.mark.slow
def test_every_input_of_the_main_pages_has_a_label(client: TestClient, auth: Any,
                                                   settings: Settings) -> None:
    ref = staged(client, auth, "29C-900.01")
    client.post("/api/v1/dispatch/run", headers=auth("regulator"))
    declaration = ref.rsplit("-", 1)[0]
    pages = {"/board": None, "/board?screen=large": None, "/board/panel": None,
             "/login": None, "/driver": "driver", "/officer": "customs",
             "/officer?q=no-such-plate": "customs",
             f"/officer/trips/{ref}": "borderguard", "/console": "regulator",
             "/console?gate=huu-nghi": "regulator",
             "/portal": "enterprise", "/portal/declarations/new": "enterprise",
             f"/portal/declarations/{declaration}/amend": "enterprise",
             f"/portal/trips/{ref}": "enterprise", "/reports": "regulator",
             "/reports?gate=huu-nghi": "regulator", "/sim": "regulator",
             "/account": "customs", "/driver/panel": "driver",
             "/cashier": "cashier", f"/cashier/trips/{ref}": "cashier", "/yard": "yard",
             "/console/live/map": "regulator", "/console/live/queue": "regulator",
             "/console/live/controls": "regulator", "/console/live/charts": "regulator",
             "/console/live/alerts": "regulator", "/console/plate-reads": "regulator",
             f"/console/trips/{ref}": "regulator", f"/officer/trips/{ref}/live": "customs",
             "/exchange": "liaison", "/admin": "admin", "/admin/accounts": "admin",
             "/admin/accounts/1": "admin", "/admin/devices": "admin",
             "/admin/fees": "admin", "/admin/network": "admin",
             "/admin/registrations": "admin", "/password/forgot": None,
             "/password/reset": None, "/register": None, "/register/sent": None,
             "/portal/bookings": "enterprise", "/portal/team": "enterprise",
             f"/portal/declarations/{declaration}/cancel": "enterprise",
             "/sim/levers": "regulator",
             f"/sim/levers/{_search_in_progress(settings)}": "regulator"}
    fragments = {"/board/panel", "/driver/panel", f"/officer/trips/{ref}/live",
                 *(p for p in pages if p.startswith("/console/live/"))}
    patterns = {re.sub(r"^/console/live/\w+$", "/console/live/{part}",
                       path.split("?")[0].replace(ref, "{reference}").replace(
                           declaration, "{reference}").replace("/accounts/1",
                                                               "/accounts/{account_id}")
                       .replace("/sim/levers/test-search", "/sim/levers/{job_id}"))
                for path in pages}
    assert "/portal/declarations/{reference}/amend" in _web_pages()
    assert _web_pages() <= patterns, "a page the check does not visit: add it here"
    for path, user in pages.items():
        client.cookies.clear()
        if user:
            _login(client, user)
        page = client.get(path)
        assert page.status_code == 200, (path, page.status_code)
        html = page.text if path not in fragments else \
            f'<html lang="vi"><body>{page.text}</body></html>'  # a part of a page
        assert _unlabelled(html) == [], path


def test_forms_shown_again_after_a_refusal_point_at_their_messages(
    client: TestClient, auth: Any
) -> None:
    ref = staged(client, auth, "29C-900.02")
    client.post("/api/v1/dispatch/run", headers=auth("regulator"))
    client.post(f"/api/v1/trips/{ref}/movements", headers=auth("borderguard"),
                json={"action": "enter", "area": "gate_area:huu-nghi"})
    refused = {}
    _login(client, "borderguard")
    token = _csrf(client, f"/officer/trips/{ref}")
    refused["officer"] = client.post(f"/officer/trips/{ref}/steps/border_guard",
                                     data={"csrf": token, "outcome": "hold", "note": "x"})
    client.cookies.clear()
    _login(client, "regulator")
    token = _csrf(client, "/console")
    refused["console"] = client.post("/console/controls", data={
        "csrf": token, "gate": "huu-nghi", "kind": "closure", "hours": "0", "reason": ""})
    refused["priority"] = client.post("/console/priority", data={"csrf": token})
    client.cookies.clear()
    _login(client, "driver")
    refused["driver"] = client.post("/driver/device", data={
        "csrf": _csrf(client, "/driver"), "device_id": " "})
    for name, page in refused.items():
        assert page.status_code == 422, name
        assert _unlabelled(page.text) == [], name
        described = re.findall(r'aria-invalid="true" aria-describedby="([^"]+)"', page.text)
        assert described, name  # the field refused is marked, and says why
        for target in described:
            assert f'id="{target}"' in page.text, (name, target)


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_text_colours_meet_wcag_aa_contrast() -> None:
    css = (STATIC / "app.css").read_text(encoding="utf-8")
    var = dict(re.findall(r"--([a-z]+):\s*(#[0-9a-f]{3,6})\b", css))
    var = {k: v if len(v) == 7 else "#" + "".join(c * 2 for c in v[1:]) for k, v in var.items()}
    pairs = [(var["ink"], var["bg"]), (var["ink"], var["card"]), (var["muted"], var["card"]),
             ("#ffffff", var["accent"]), (var["accent"], var["card"]), ("#ffffff", var["alert"]),
             ("#ffffff", "#0b2e52"),
             ("#f0f3f6", "#0d1117"), ("#c9d1d9", "#161b22"), (var["alert"], var["card"]),
             # the console's map and its legend: key letters and counts on the fill colours
             (var["ink"], "#eef2f6"), (var["ink"], "#cfe8d4"), (var["ink"], "#f7dd9b"),
             (var["ink"], "#f3b3b3"),
             # a form's confirmation in place
             ("#0f5323", "#e6f4ea")]
    for fg, bg in pairs:
        assert contrast(fg, bg) >= 4.5, (fg, bg, round(contrast(fg, bg), 2))
