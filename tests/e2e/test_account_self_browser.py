"""Accounts that serve themselves, in a real browser (Debian's Chromium, headless, driven by
Playwright), in Vietnamese: an enterprise registers from the login page, cannot sign in until
an admin confirms it in the queue, then signs in and adds a driver to its team; a driver who
forgot the password asks for a code, reads it from the SMS outbox and signs in with the new
password. The pages are saved at desktop and phone sizes under
``test-artifacts/screenshots/<role>-<page>-{desktop,phone}.png``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.store.models import AccountMessage
from borderflow.store.session import make_engine, make_session_factory
from tests.conftest import NOW, PASSWORD, Database
from tests.demo_data import demo_settings, fresh_database, serving

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
NEW_PASSWORD = "quả vải thiều Lục Ngạn 2026"


@pytest.fixture(scope="module")
def site(database_template: Database, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[Settings, httpx.Client]]:
    folder = tmp_path_factory.mktemp("accounts")
    settings = demo_settings(fresh_database(database_template, folder), folder)
    with serving(settings, FixedClock(NOW)) as (_app, client):
        yield settings, client


def _page(browser: Browser, site: tuple[Settings, httpx.Client], size: str = "desktop",
          lang: str = "vi") -> Page:
    width, height = SIZES[size]
    base = str(site[1].base_url)
    context = browser.new_context(base_url=base, locale=lang,
                                  viewport={"width": width, "height": height})
    context.add_cookies([{"name": "lang", "value": lang, "url": base}])
    return context.new_page()


def _login(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("main form[action='/login'] button[type=submit]")


def _shots(browser: Browser, site: tuple[Settings, httpx.Client], name: str, path: str,
           user: str | None = None) -> None:
    """The page at desktop and phone sizes; on the phone nothing is wider than the screen."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        page = _page(browser, site, size)
        if user:
            _login(page, user)
            page.wait_for_url(lambda url: "/login" not in url)
        page.goto(path)
        page.evaluate("document.fonts.ready")
        page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=True)
        if size == "phone":
            wide = page.evaluate("""() => [...document.querySelectorAll('main *')]
                .filter(e => e.getBoundingClientRect().right > innerWidth)
                .map(e => e.tagName + '.' + e.className).slice(0, 5)""")
            assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size][0], wide
        page.context.close()


def _sms(settings: Settings, kind: str) -> AccountMessage:
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as s:
            row = s.scalars(select(AccountMessage).where(AccountMessage.kind == kind)
                            .order_by(AccountMessage.id.desc())).first()
            assert row is not None
            return row
    finally:
        engine.dispose()


def test_an_enterprise_registers_an_admin_confirms_and_it_signs_in(
    browser: Browser, site: tuple[Settings, httpx.Client]
) -> None:
    settings, _client = site
    page = _page(browser, site)
    page.goto("/login")
    page.click("a.register")
    expect(page.locator("h1")).to_have_text("Đăng ký doanh nghiệp của bạn")
    page.fill("#enterprise_name", "Công ty TNHH Nông sản Tân Thanh")
    page.fill("#tax_code", "0100109107")  # a wrong check digit
    page.fill("#contact_name", "Nguyễn Thị Hoa")
    page.fill("#phone", "0912 345 678")
    page.fill("#username", "tanthanh")
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password_again", NEW_PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator("#tax_code-error")).to_contain_text("mã số thuế")
    expect(page.locator("#enterprise_name")).to_have_value("Công ty TNHH Nông sản Tân Thanh")
    page.fill("#tax_code", "3100000030")
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password_again", NEW_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/register/sent")
    _login(page, "tanthanh", NEW_PASSWORD)
    expect(page.locator("main .alert")).to_contain_text("đang chờ quản trị viên xác nhận")
    _shots(browser, site, "admin-registrations", "/admin/registrations", user="admin")
    admin = _page(browser, site)
    _login(admin, "admin")
    admin.wait_for_url(lambda url: "/login" not in url)
    admin.goto("/admin/registrations")
    card = admin.locator("li.card", has_text="tanthanh")
    card.locator("form.confirm button").click()
    expect(admin.locator("main .notice")).to_contain_text("Đăng ký đã được xác nhận")
    sms = _sms(settings, "registration_confirmed")
    assert sms.phone == "+84912345678"
    assert sms.language == "vi"
    assert "tanthanh" in sms.text
    _login(page, "tanthanh", NEW_PASSWORD)
    page.wait_for_url("**/portal")
    page.goto("/portal/team")
    page.fill("#display_name", "Lê Văn Tài")
    page.fill("#username", "taixe.tai")
    page.fill("#phone", "0987 654 321")
    page.fill("#driver_document", "001089077777")
    page.click("main form[action='/portal/team'] button[type=submit]")
    page.wait_for_url("**/portal/team?done=added")
    expect(page.locator("#member-taixe\\.tai")).to_contain_text("001089077777")
    _shots(browser, site, "enterprise-team", "/portal/team", user="enterprise")
    _shots(browser, site, "public-register", "/register")


def test_a_driver_resets_a_forgotten_password_with_the_code_of_the_sms(
    browser: Browser, site: tuple[Settings, httpx.Client]
) -> None:
    settings, _client = site
    page = _page(browser, site)
    _login(page, "driver")
    page.wait_for_url("**/driver")
    page.goto("/account")
    page.fill("#account-phone", "0912 000 333")
    page.click("#phone button[type=submit]")
    page.wait_for_url("**/account?done=phone*")
    _shots(browser, site, "driver-account", "/account", user="driver")
    page.click("header form.logout button")
    page.goto("/login")
    page.click("a.forgot")
    expect(page.locator("h1")).to_have_text("Quên mật khẩu?")
    _shots(browser, site, "public-password-forgot", "/password/forgot")
    page.fill("#username", "driver")
    page.click("main button[type=submit]")
    page.wait_for_url("**/password/reset?*")
    expect(page.locator("main .notice")).to_contain_text("10 phút")
    found = re.search(r"\b(\d{6})\b", _sms(settings, "password_reset_code").text)
    assert found
    page.fill("#code", found.group(1))
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#new_password_again", NEW_PASSWORD)
    page.screenshot(path=str(SHOTS / "public-password-reset-desktop.png"), full_page=True)
    page.click("main button[type=submit]")
    page.wait_for_url("**/login?reset=1")
    expect(page.locator("main .notice")).to_contain_text("Mật khẩu của bạn đã được đổi")
    _login(page, "driver", NEW_PASSWORD)
    page.wait_for_url("**/driver")
    phone = _page(browser, site, "phone")
    phone.goto("/password/reset?sent=1&username=driver")
    assert phone.evaluate("document.documentElement.scrollWidth") <= SIZES["phone"][0]
    phone.screenshot(path=str(SHOTS / "public-password-reset-phone.png"), full_page=True)
