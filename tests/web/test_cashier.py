"""The cashier desk: a cashier finds a trip by plate or reference, reads the invoice in the
page's language, takes a payment typed the local way (a wrong amount named at its field), a
double submit records one payment, a void needs a reason, a trip of another gate stays out of
a scoped cashier's reach; the till shows the day's takings and closes once with the count;
other roles are sent away."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.store.models import AuditEntry, Payment, TillClosing
from tests import factories
from tests.conftest import Peek
from tests.fees.test_counter_and_invoices import Desk, add_cashier, with_plate
from tests.web.test_accessibility import _unlabelled
from tests.web.test_driver import _csrf, _login, visible


@pytest.fixture
def desk(client: TestClient, auth: Any) -> Desk:
    return Desk(client, auth)


def _trip(desk: Desk, plate: str) -> tuple[str, dict[str, Any]]:
    ref = desk.declare(with_plate(factories.declaration(), plate))[1]
    return ref, desk.invoice(ref, "regulator")


def _form_key(page: str) -> str:
    found = re.search(r'name="key" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def _signed_in(client: TestClient, who: str = "cashier") -> str:
    client.cookies.clear()
    assert _login(client, who).status_code == 303
    return _csrf(client, "/cashier")


def test_a_cashier_finds_a_trip_by_plate_and_reads_the_invoice_in_vietnamese(
    client: TestClient, desk: Desk
) -> None:
    ref, inv = _trip(desk, "29C-701.01")
    _signed_in(client)
    found = client.get("/cashier", params={"q": "29c 701 01"}, follow_redirects=False)
    assert (found.status_code, found.headers["location"]) == (303, f"/cashier/trips/{ref}")
    by_reference = client.get("/cashier", params={"q": ref}, follow_redirects=False)
    assert by_reference.headers["location"] == f"/cashier/trips/{ref}"
    page = client.get(f"/cashier/trips/{ref}", params={"lang": "vi"})
    assert page.status_code == 200
    text = visible(page.text)
    assert "Bàn thu phí" in text  # the desk's title
    assert inv["number"] in text
    assert "1.500.000 ₫" in text  # the owed amount, Vietnamese money
    assert inv["lines"][0]["description_vi"] in text
    assert 'value="1.500.000"' in page.text  # the amount field, the local way
    assert 'href="/cashier"' in client.get("/cashier").text  # in the menu


def test_a_wrong_amount_typed_the_vietnamese_way_is_named_and_kept(
    client: TestClient, desk: Desk
) -> None:
    ref, _inv = _trip(desk, "29C-701.02")
    token = _signed_in(client)
    key = _form_key(client.get(f"/cashier/trips/{ref}").text)
    url = f"/cashier/trips/{ref}/payments?lang=vi"
    short = client.post(url, data={"csrf": token, "key": key, "method": "cash",
                                   "amount": "1.200.000"})
    assert short.status_code == 422
    assert 'id="amount-error"' in short.text
    assert 'aria-invalid="true"' in short.text
    assert "Phải đúng số tiền phải nộp: 1.500.000 đồng." in visible(short.text)
    assert 'value="1.200.000"' in short.text  # what was typed, kept
    ambiguous = client.post(url, data={"csrf": token, "key": key, "method": "cash",
                                       "amount": "1,500"})
    assert ambiguous.status_code == 422
    assert "1,500" in visible(ambiguous.text)
    assert 'id="amount-error"' in ambiguous.text
    transfer = client.post(url, data={"csrf": token, "key": key, "method": "bank_transfer",
                                      "amount": "1.500.000"})
    assert transfer.status_code == 422
    assert 'id="bank_reference-error"' in transfer.text
    assert desk.invoice(ref)["payments"] == []


def test_a_double_submit_records_one_payment_and_lands_on_its_receipt(
    client: TestClient, desk: Desk, db: Peek
) -> None:
    ref, _inv = _trip(desk, "29C-701.03")
    token = _signed_in(client)
    key = _form_key(client.get(f"/cashier/trips/{ref}").text)
    form = {"csrf": token, "key": key, "method": "cash", "amount": "1.500.000"}
    first = client.post(f"/cashier/trips/{ref}/payments", data=form, follow_redirects=False)
    again = client.post(f"/cashier/trips/{ref}/payments", data=form, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    paid = desk.invoice(ref)
    assert len(paid["payments"]) == 1
    assert paid["status"] == "paid"
    receipt = paid["payments"][0]["receipt_number"]
    assert f"receipt={receipt}" in first.headers["location"]
    page = client.get(first.headers["location"] + "&lang=vi").text
    assert f"Đã ghi nhận khoản thu: biên lai {receipt}." in visible(page)
    assert f"/api/v1/payments/{receipt}/receipt.html?lang=vi&amp;layout=thermal" in page
    assert f"/api/v1/payments/{receipt}/receipt.html?lang=vi&amp;layout=a4" in page
    assert len(list(db.scalars(select(Payment).where(Payment.recorded_by == "cashier")))) == 1


def test_a_void_needs_a_reason_then_the_invoice_is_owed_again(
    client: TestClient, desk: Desk
) -> None:
    ref, inv = _trip(desk, "29C-701.04")
    receipt = desk.pay(inv["number"], inv["due"])["receipt_number"]
    token = _signed_in(client)
    url = f"/cashier/payments/{receipt}/void?lang=vi"
    bare = client.post(url, data={"csrf": token, "trip": ref, "reason": " "})
    assert bare.status_code == 422
    assert 'id="reason-error"' in bare.text
    assert desk.invoice(ref)["status"] == "paid"
    done = client.post(url, data={"csrf": token, "trip": ref, "reason": "sai xe"},
                       follow_redirects=False)
    assert done.status_code == 303
    after = desk.invoice(ref)
    assert (after["status"], after["payments"][0]["void_reason"]) == ("open", "sai xe")


def test_a_scoped_cashier_cannot_open_or_pay_another_gates_trip(
    client: TestClient, desk: Desk
) -> None:
    ref, inv = _trip(desk, "29C-701.05")
    add_cashier(desk, "tt-cashier", "tan-thanh-dedicated")
    client.cookies.clear()
    token_page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', token_page.text).group(1)  # type: ignore[union-attr]
    r = client.post("/login", data={"username": "tt-cashier",
                                    "password": "a long enough password", "csrf": token},
                    follow_redirects=False)
    assert r.status_code == 303
    csrf = _csrf(client, "/cashier")
    assert client.get("/cashier", params={"q": "29C-701.05"}).status_code == 200
    assert ref not in visible(client.get("/cashier", params={"q": "29C-701.05"}).text)
    assert client.get(f"/cashier/trips/{ref}").status_code == 404
    paid = client.post(f"/cashier/trips/{ref}/payments",
                       data={"csrf": csrf, "key": "k1", "method": "cash",
                             "amount": str(inv["due"])})
    assert paid.status_code == 404
    assert desk.invoice(ref)["payments"] == []


def test_the_till_shows_the_takings_and_closes_once_with_the_count(
    client: TestClient, desk: Desk, db: Peek
) -> None:
    _ref1, inv1 = _trip(desk, "29C-701.06")
    _ref2, inv2 = _trip(desk, "29C-701.07")
    desk.pay(inv1["number"], inv1["due"])
    desk.pay(inv2["number"], inv2["due"], method="bank_transfer", reference="VCB-77")
    token = _signed_in(client)
    page = client.get("/cashier", params={"lang": "vi"}).text
    cash_row = re.search(r'<tr data-method="cash">(.*?)</tr>', page, re.S)
    assert cash_row
    assert "1 1.500.000 ₫" in visible(f"<main>{cash_row.group(1)}</main>")
    bad = client.post("/cashier/till/close?lang=vi", data={"csrf": token,
                                                           "counted_cash": "abc"})
    assert bad.status_code == 422
    assert 'id="counted_cash-error"' in bad.text
    closed = client.post("/cashier/till/close", data={"csrf": token,
                                                      "counted_cash": "1.400.000",
                                                      "note": "thiếu tiền lẻ"},
                         follow_redirects=False)
    assert closed.status_code == 303
    row = db.one(select(TillClosing).where(TillClosing.cashier == "cashier"))
    assert (row.expected_cash, row.counted_cash, row.difference) == (
        1_500_000, 1_400_000, -100_000)
    assert row.takings["bank_transfer"] == {"count": 1, "total": 1_500_000}
    shown = client.get("/cashier", params={"lang": "vi"}).text
    assert 'data-closed="true"' in shown
    assert "-100.000" in visible(shown)
    twice = client.post("/cashier/till/close", data={"csrf": token, "counted_cash": "0"})
    assert twice.status_code == 409
    ref3, _inv3 = _trip(desk, "29C-701.08")
    late = client.post(f"/cashier/trips/{ref3}/payments",
                       data={"csrf": token, "key": "late", "method": "cash",
                             "amount": "1.500.000"})
    assert late.status_code == 409
    assert db.scalars(select(AuditEntry).where(AuditEntry.action == "till.closed"))


def test_the_desk_is_for_cashiers_only(client: TestClient) -> None:
    assert client.get("/cashier", follow_redirects=False).headers["location"] == (
        "/login?next=/cashier")
    _login(client, "customs")
    assert client.get("/cashier").status_code == 403
    assert 'href="/cashier"' not in client.get("/officer").text


def test_every_input_of_the_desk_has_a_label_and_errors_point_at_their_fields(
    client: TestClient, desk: Desk
) -> None:
    ref, _inv = _trip(desk, "29C-701.09")
    token = _signed_in(client)
    for path in ("/cashier", f"/cashier/trips/{ref}", "/cashier?q=no-such-plate"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert _unlabelled(page.text) == [], path
    refused = client.post(f"/cashier/trips/{ref}/payments",
                          data={"csrf": token, "key": "x", "method": "cash", "amount": "12"})
    assert _unlabelled(refused.text) == []
    assert 'aria-describedby="amount-error"' in refused.text
