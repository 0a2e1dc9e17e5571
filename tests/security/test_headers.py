"""Security headers on every answer (pages, API, static files, errors): a Content-Security-
Policy without inline scripts or styles, frame denial, a referrer policy, no MIME sniffing;
HSTS and Secure cookies in production. The templates carry no inline script, handler or
style, so the policy costs the pages nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from borderflow import production
from borderflow.api.protect import CSP, secure_cookie
from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import PACKAGE_DIR, Settings
from tests.conftest import PASSWORD

# Headers do not depend on the database, so the PostgreSQL pass leaves this module out.
pytestmark = pytest.mark.any_database

TEMPLATES = PACKAGE_DIR / "web" / "templates"
STATIC = PACKAGE_DIR / "web" / "static"


def _check_common(headers: Any) -> None:
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"


@pytest.mark.parametrize(("path", "status"), [
    ("/board", 200), ("/login", 200), ("/api/v1/network", 200), ("/static/app.css", 200),
    ("/healthz", 200), ("/no/such/page", 404), ("/api/v1/me", 401),
])
def test_every_answer_carries_the_headers(client: TestClient, path: str, status: int) -> None:
    r = client.get(path)
    assert r.status_code == status
    _check_common(r.headers)
    assert r.headers["content-security-policy"] == CSP
    assert "strict-transport-security" not in r.headers  # not outside production


def test_the_policy_allows_no_inline_script_or_style_and_no_framing() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CSP


def test_a_refused_body_and_a_sandbox_page_carry_them_too(client: TestClient) -> None:
    r = client.post("/api/v1/declarations", content=b"x" * (2 * 1024 * 1024),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    _check_common(r.headers)


def _templates() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


@pytest.mark.parametrize("template", _templates(), ids=lambda p: p.name)
def test_templates_have_no_inline_script_handler_or_style(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    for script in re.finditer(r"<script\b([^>]*)>(.*?)</script>", text, re.S | re.I):
        assert "src=" in script.group(1), f"inline script in {template.name}"
        assert not script.group(2).strip()
    assert not re.search(r"\son[a-z]+\s*=", text, re.I), f"handler attribute in {template.name}"
    assert not re.search(r"\sstyle\s*=", text, re.I), f"style attribute in {template.name}"
    assert "<style" not in text.lower(), f"style element in {template.name}"
    assert "javascript:" not in text.lower()


def test_confirmations_are_asked_by_a_static_script() -> None:
    script = (STATIC / "confirm.js").read_text(encoding="utf-8")
    assert "data-confirm" in script
    asking = [t.name for t in _templates() if "data-confirm=" in t.read_text(encoding="utf-8")]
    assert {"console.html", "officer_trip.html"} <= set(asking)
    assert 'src="/static/confirm.js"' in (TEMPLATES / "base.html").read_text(encoding="utf-8")


def test_the_documentation_pages_get_a_policy_of_their_own(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200
    _check_common(r.headers)
    assert "cdn.jsdelivr.net" in r.headers["content-security-policy"]
    assert "cdn.jsdelivr.net" not in client.get("/board").headers["content-security-policy"]


@pytest.fixture
def production_client(settings: Settings, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
                      ) -> Iterator[TestClient]:
    monkeypatch.setattr(production, "check", lambda *a, **k: None)  # SQLite seed, demo users
    app = create_app(settings.model_copy(update={"env": "production"}), clock=clock)
    # a plain-HTTP request, as from a proxy that ends TLS in front of the server
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as c:
        yield c
    app.state.ctx.engine.dispose()


def test_in_production_hsts_and_every_cookie_is_secure(production_client: TestClient) -> None:
    page = production_client.get("/login")
    assert page.headers["strict-transport-security"].startswith("max-age=63072000")
    _check_common(page.headers)
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    # a browser sends a Secure cookie back over HTTPS only; the client here speaks HTTP
    production_client.cookies.clear()
    production_client.cookies.set("bf_csrf", token.group(1))
    login = production_client.post("/login", data={"username": "driver", "password": PASSWORD,
                                                   "csrf": token.group(1)},
                                   follow_redirects=False)
    assert login.status_code == 303, login.text
    cookies = [v for k, v in login.headers.multi_items() if k == "set-cookie"]
    assert cookies
    for cookie in cookies + [v for k, v in page.headers.multi_items() if k == "set-cookie"]:
        assert "secure" in [a.strip().lower() for a in cookie.split(";")], cookie


def test_outside_production_cookies_over_http_are_not_forced_secure(client: TestClient) -> None:
    page = client.get("/login")
    cookies = [v for k, v in page.headers.multi_items() if k == "set-cookie"]
    assert cookies
    assert all("secure" not in c.lower() for c in cookies)


def test_secure_is_added_once() -> None:
    assert secure_cookie(b"a=1; Path=/") == b"a=1; Path=/; Secure"
    assert secure_cookie(b"a=1; Path=/; Secure") == b"a=1; Path=/; Secure"
    assert secure_cookie(b"a=1; secure; HttpOnly") == b"a=1; secure; HttpOnly"


def test_pages_made_in_code_have_no_inline_script_or_style() -> None:
    """Receipts, payment results, a receipt's check and the sandbox gateway are made in Python:
    they link stylesheets too (the scenario report, a file written to disk and never served,
    keeps its styles inside)."""
    served = [p for p in (PACKAGE_DIR).rglob("*.py") if p != PACKAGE_DIR / "sim" / "report.py"]
    for source in served:
        text = source.read_text(encoding="utf-8")
        assert not re.search(r"""\sstyle=['"]""", text), source
        assert "<style" not in text, source
        assert not re.search(r"<script(?![^>]*\ssrc=)", text), source
    assert (STATIC / "plain.css").exists()
    assert (STATIC / "receipt.css").exists()
