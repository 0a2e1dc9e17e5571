"""Receipts for people in a browser: the receipt's HTML and PDF open with the browser session
of the enterprise owning the trip, the driver named on it and the officials, and are refused to
another enterprise as with an API token; the HTML receipt carries the platform's own font and
an 80 mm thermal layout; the public check of a receipt is made for a phone; the officer's fee
step, refused while unpaid, says so in the page's language."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from borderflow.errors import msg
from borderflow.web import i18n
from tests import factories
from tests.fees.test_counter_and_invoices import Desk, with_plate
from tests.web.test_driver import _login


@pytest.fixture
def paid(client: TestClient, auth: Any) -> dict[str, Any]:
    desk = Desk(client, auth)
    ref = desk.declare(with_plate(factories.declaration(), "29C-702.01"))[1]
    inv = desk.invoice(ref)
    payment = desk.pay(inv["number"], inv["due"])
    return {"ref": ref, "invoice": inv, "payment": payment}


def _as(client: TestClient, who: str) -> None:
    client.cookies.clear()
    assert _login(client, who).status_code == 303


@pytest.mark.parametrize("who", ["enterprise", "driver", "regulator", "cashier"])
def test_the_receipt_opens_with_the_browser_session_of_those_who_may_read_it(
    client: TestClient, paid: dict[str, Any], who: str
) -> None:
    receipt = paid["payment"]["receipt_number"]
    _as(client, who)
    page = client.get(f"/api/v1/payments/{receipt}/receipt.html", params={"lang": "zh"})
    assert page.status_code == 200, page.text
    assert receipt in page.text
    assert "收费收据" in page.text
    pdf = client.get(f"/api/v1/payments/{receipt}/receipt.pdf")
    assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
    assert pdf.content.startswith(b"%PDF")


def test_another_enterprise_and_strangers_are_refused_the_receipt(
    client: TestClient, paid: dict[str, Any]
) -> None:
    receipt = paid["payment"]["receipt_number"]
    client.cookies.clear()
    anonymous = client.get(f"/api/v1/payments/{receipt}/receipt.html")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"
    client.cookies.set("bf_session", "forged-session-token")
    assert client.get(f"/api/v1/payments/{receipt}/receipt.pdf").status_code == 401
    _as(client, "enterprise2")
    for kind in ("html", "pdf"):
        other = client.get(f"/api/v1/payments/{receipt}/receipt.{kind}")
        assert other.status_code == 404
        assert other.json()["error"]["code"] == "not_found"
    _as(client, "liaison")  # signed in, but no role that reads invoices
    assert client.get(f"/api/v1/payments/{receipt}/receipt.html").status_code == 403
    client.post("/logout", data={"csrf": client.cookies.get("bf_csrf") or ""})


def test_a_logged_out_session_no_longer_opens_the_receipt(
    client: TestClient, paid: dict[str, Any]
) -> None:
    receipt = paid["payment"]["receipt_number"]
    _as(client, "enterprise")
    session = client.cookies.get("bf_session")
    assert client.get(f"/api/v1/payments/{receipt}/receipt.html").status_code == 200
    page = client.get("/portal").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    client.post("/logout", data={"csrf": csrf})
    client.cookies.set("bf_session", session or "")
    assert client.get(f"/api/v1/payments/{receipt}/receipt.html").status_code == 401


def test_the_html_receipt_has_the_platforms_font_and_an_80_mm_layout(
    client: TestClient, auth: Any, paid: dict[str, Any]
) -> None:
    receipt = paid["payment"]["receipt_number"]
    url = f"/api/v1/payments/{receipt}/receipt.html"
    a4 = client.get(url, headers=auth("enterprise")).text
    assert '<body class="a4">' in a4
    assert 'name="viewport"' in a4
    assert 'href="?lang=vi&amp;layout=thermal"' in a4
    assert "data-print" in a4
    assert "1.500.000" in a4
    thermal = client.get(url, params={"layout": "thermal"}, headers=auth("enterprise")).text
    assert '<body class="thermal">' in thermal
    assert client.get(url, params={"layout": "a5"}, headers=auth("enterprise")).status_code \
        == 422
    css = client.get("/static/receipt.css").text
    assert "@font-face" in css
    assert 'url("/static/fonts/NotoSansSC-Regular.ttf")' in css
    assert "80mm" in css
    assert "@media print" in css
    font = client.get("/static/fonts/NotoSansSC-Regular.ttf")
    assert (font.status_code, font.headers["content-type"]) == (200, "font/ttf")


def test_the_receipt_check_is_made_for_a_phone(
    client: TestClient, auth: Any, paid: dict[str, Any]
) -> None:
    payment = paid["payment"]
    found = client.get(f"/api/v1/payments/{payment['receipt_number']}/receipt.html",
                       headers=auth("enterprise")).text
    verify = re.search(r'href="[^"]*(/verify/[^"]+)"', found)
    assert verify
    page = client.get(verify.group(1))
    assert page.status_code == 200
    assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in page.text
    assert "/static/receipt.css" in page.text
    assert "1.500.000" in page.text
    assert "29C-***.01" in page.text
    assert "29C-702.01" not in page.text  # the plate is masked
    missing = client.get("/verify/no-such-code")
    assert missing.status_code == 404
    assert "name='viewport'" in missing.text


def test_the_fee_step_refused_while_unpaid_says_so_in_vietnamese_and_chinese(
    client: TestClient, auth: Any
) -> None:
    desk = Desk(client, auth)
    ref = desk.declare(with_plate(factories.declaration(), "29C-702.02"))[1]
    desk.into_gate_area(ref)
    refused = desk.step(ref, "fee", "cashier", 409)
    assert refused["error"]["message"].startswith("the fee is not paid")
    inv = desk.invoice(ref)
    text = msg("the fee is not paid: invoice {invoice} is {invoice_status} ({total} VND); it "
               "passes when the invoice is paid or a regulator waives it",
               invoice=inv["number"], invoice_status="open", total=inv["total"])
    assert text == refused["error"]["message"]  # the domain's message, as the page gets it
    for lang, start in (("vi", "Phí chưa được nộp: hóa đơn"), ("zh", "费用未缴：发票")):
        shown = i18n.Formatter(lang).message(text, "invalid_transition")
        assert shown.startswith(start)
        assert inv["number"] in shown
