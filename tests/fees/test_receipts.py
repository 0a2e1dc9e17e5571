"""E-receipts: PDF and HTML in Vietnamese, Chinese and English with a QR code to a public
verification page that shows the amount, date, gate and a masked plate, nothing personal."""

from __future__ import annotations

import io
import re
from typing import Any

from fastapi.testclient import TestClient
from pypdf import PdfReader

from borderflow.fees.receipts import mask_plate
from tests import factories


def _paid(client: TestClient, auth: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    d = client.post("/api/v1/declarations", json=factories.declaration(),
                    headers=auth("enterprise")).json()
    inv = client.get(f"/api/v1/trips/{d['reference']}-1/invoice",
                     headers=auth("enterprise")).json()
    r = client.post(f"/api/v1/invoices/{inv['number']}/payments",
                    json={"method": "cash", "amount": inv["due"]}, headers=auth("cashier"))
    assert r.status_code == 201, r.text
    return inv, r.json()


def _pdf_text(content: bytes) -> tuple[str, PdfReader]:
    reader = PdfReader(io.BytesIO(content))
    return "".join(page.extract_text() for page in reader.pages), reader


def test_the_pdf_receipt_is_in_vietnamese_with_the_verification_link(
    client: TestClient, auth: Any
) -> None:
    inv, pay = _paid(client, auth)
    r = client.get(f"/api/v1/payments/{pay['receipt_number']}/receipt.pdf",
                   headers=auth("enterprise"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    text, reader = _pdf_text(r.content)
    for expected in ("BIÊN LAI THU PHÍ", "Cửa khẩu", "Hữu Nghị", pay["receipt_number"],
                     inv["plate"], "Hình thức", "Tiền mặt", "Hợp lệ",
                     f"{inv['total']:,} ₫".replace(",", ".")):
        assert expected in text, expected
    assert "cash" not in text  # the method by its label, never its code
    assert "https://gate.example/verify/" in text.replace("\n", "")
    fonts = {str(f) for page in reader.pages
             for f in page["/Resources"]["/Font"].values()}  # type: ignore[index]
    assert fonts  # the font is embedded (a subset of Noto Sans SC)


def test_a_receipt_in_chinese_has_chinese_labels_money_and_dates(
    client: TestClient, auth: Any
) -> None:
    inv, pay = _paid(client, auth)
    url = f"/api/v1/payments/{pay['receipt_number']}/receipt"
    text, _ = _pdf_text(client.get(f"{url}.pdf", params={"lang": "zh"},
                                   headers=auth("enterprise")).content)
    for expected in ("收费收据", "口岸", "友谊", "支付方式", "现金", "有效", "缴费时间",
                     f"{inv['total']:,}", "年"):
        assert expected in text, expected
    for vietnamese in ("Tiền mặt", "BIÊN LAI", "Hữu Nghị"):
        assert vietnamese not in text
    page = client.get(f"{url}.html", params={"lang": "zh"}, headers=auth("enterprise")).text
    assert '<html lang="zh-Hans">' in page
    assert "现金" in page
    assert "cash" not in page
    english = client.get(f"{url}.html", params={"lang": "en"}, headers=auth("enterprise")).text
    assert "FEE RECEIPT" in english
    assert "Cash" in english
    assert f"{inv['total']:,}" in english


def test_the_qr_code_leads_to_a_public_page_with_nothing_personal(
    client: TestClient, auth: Any
) -> None:
    inv, pay = _paid(client, auth)
    page = client.get(f"/api/v1/payments/{pay['receipt_number']}/receipt.html",
                      headers=auth("cashier")).text
    assert "BIÊN LAI THU PHÍ" in page
    assert "<svg" in page  # the QR code
    link = next(h for h in re.findall(r'href="([^"]+)"', page) if "/verify/" in h)
    token = link.rsplit("/", 1)[1]
    public = client.get(f"/api/v1/receipts/{token}/verify").json()  # no login
    assert public == {"receipt": pay["receipt_number"], "status": "completed",
                      "amount": inv["total"], "refunded": 0, "paid_at": public["paid_at"],
                      "gate": "huu-nghi", "gate_name": public["gate_name"],
                      "plate": mask_plate(inv["plate"])}
    assert inv["plate"] not in str(public)
    human = client.get(f"/verify/{token}")
    assert human.status_code == 200
    assert mask_plate(inv["plate"]) in human.text
    assert "Cong ty" not in human.text  # no enterprise, no driver
    # a voided entry verifies as void
    client.post(f"/api/v1/payments/{pay['receipt_number']}/void",
                json={"reason": "wrong truck"}, headers=auth("cashier"))
    assert client.get(f"/api/v1/receipts/{token}/verify").json()["status"] == "voided"
    assert client.get("/api/v1/receipts/not-a-token/verify").status_code == 404
    assert client.get("/verify/not-a-token").status_code == 404


def test_receipts_are_scoped_like_their_invoices(client: TestClient, auth: Any) -> None:
    _, pay = _paid(client, auth)
    url = f"/api/v1/payments/{pay['receipt_number']}/receipt.html"
    assert client.get(url, headers=auth("enterprise2")).status_code == 404
    assert client.get(url).status_code == 401


def test_plates_are_masked_keeping_the_province_and_the_last_digits() -> None:
    assert mask_plate("29C-123.45") == "29C-***.45"
    assert mask_plate("12H-01234") == "12H-***34"
    assert mask_plate("桂A·12345") == "桂A·***45"
