"""E-receipts: one per payment, as HTML and PDF, in Vietnamese with Chinese and English, and a
QR code linking to the public verification page.

The PDF embeds Noto Sans SC (SIL Open Font License, from the ``rendercv-fonts`` package), which
covers Vietnamese and Chinese; text is normalised to NFC so Vietnamese tone marks use the
font's precomposed letters. The verification page shows only what proves the receipt: amount,
date, gate, masked plate and status, nothing personal.
"""

from __future__ import annotations

import html
import io
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import segno
from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow.clock import LOCAL_TZ
from borderflow.documents import FONT
from borderflow.domain.network import Network
from borderflow.errors import NotFound
from borderflow.store.models import Invoice, Payment

METHODS = {"online": ("Thanh toán trực tuyến", "在线支付", "online"),
           "cash": ("Tiền mặt", "现金", "cash"),
           "bank_transfer": ("Chuyển khoản", "银行转账", "bank transfer")}
STATUS = {"completed": ("Hợp lệ", "有效", "valid"),
          "voided": ("Đã hủy", "已作废", "void"),
          "refunded": ("Đã hoàn tiền", "已退款", "refunded")}


def mask_plate(plate: str) -> str:
    """Enough of a plate to recognise one's own truck, not to identify a stranger's:
    ``29C-123.45`` -> ``29C-***.45``."""
    keep_head = 3 if plate[:2].isdigit() else 2
    head, tail = plate[:keep_head], plate[-2:]
    middle = "".join("*" if ch.isalnum() else ch for ch in plate[keep_head:-2])
    return head + middle + tail


def vnd(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " ₫"


@dataclass(frozen=True)
class Receipt:
    number: str
    status: str
    amount: int
    refunded: int
    method: str
    paid_at: datetime
    gate: str
    gate_names: tuple[str, str, str]
    plate: str
    invoice: str
    trip: str
    lines: list[dict[str, Any]]
    tariff_version: str
    verify_url: str

    @property
    def masked_plate(self) -> str:
        return mask_plate(self.plate)


def load(session: Session, payment: Payment, network: Network | None, base_url: str
         ) -> Receipt:
    invoice = session.get(Invoice, payment.invoice_id)
    if invoice is None:
        raise NotFound(f"payment {payment.receipt_number} has no invoice")
    gate = network.gate(invoice.gate) if network else None
    names = (gate.name.vi, gate.name.zh, gate.name.en) if gate else (invoice.gate,) * 3
    return Receipt(number=payment.receipt_number, status=payment.status, amount=payment.amount,
                   refunded=payment.refunded_amount or 0, method=payment.method,
                   paid_at=payment.paid_at, gate=invoice.gate, gate_names=names,
                   plate=invoice.plate, invoice=invoice.number, trip=invoice.trip_reference,
                   lines=invoice.lines, tariff_version=invoice.tariff_version,
                   verify_url=f"{base_url.rstrip('/')}/verify/{payment.verify_token}")


def by_token(session: Session, token: str) -> Payment:
    row = session.scalar(select(Payment).where(Payment.verify_token == token))
    if row is None:
        raise NotFound("no receipt with this verification code")
    return row


def public_view(r: Receipt) -> dict[str, Any]:
    """What anyone holding the QR code may see."""
    return {"receipt": r.number, "status": r.status, "amount": r.amount,
            "refunded": r.refunded, "paid_at": r.paid_at, "gate": r.gate,
            "gate_name": r.gate_names[2], "plate": r.masked_plate}


def local_time(at: datetime) -> str:
    return at.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M")


def _qr_svg(url: str) -> str:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=4, xmldecl=False, svgns=True)
    return out.getvalue().decode()


def _line_text(line: dict[str, Any]) -> str:
    vi = str(line.get("description_vi") or "")
    en = str(line.get("description") or "")
    return f"{vi} / {en}" if vi else en


def to_html(r: Receipt) -> str:
    e = html.escape
    method = METHODS.get(r.method, (r.method,) * 3)
    status = STATUS.get(r.status, (r.status,) * 3)
    rows = "".join(f"<tr><td>{e(_line_text(x))}</td>"
                   f"<td class='n'>{e(vnd(int(x['amount'])))}</td></tr>" for x in r.lines)
    refunded = (f"<p>Đã hoàn / 已退款 / refunded: {e(vnd(r.refunded))}</p>"
                if r.refunded else "")
    return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Biên lai {e(r.number)}</title>
<style>body{{font-family:"Noto Sans","Noto Sans SC",sans-serif;max-width:40rem;margin:2rem auto}}
table{{width:100%;border-collapse:collapse}}td{{padding:.3rem;border-bottom:1px solid #ccc}}
.n{{text-align:right}}</style></head><body>
<h1>BIÊN LAI THU PHÍ / 收费收据 / Fee receipt</h1>
<p>Phí sử dụng công trình kết cấu hạ tầng khu vực cửa khẩu<br>
边境口岸基础设施使用费 · Border-gate infrastructure fee</p>
<p>Số / 编号 / No.: <b>{e(r.number)}</b> · {e(status[0])} / {e(status[1])} / {e(status[2])}</p>
<p>Cửa khẩu / 口岸 / Gate: {e(r.gate_names[0])} / {e(r.gate_names[1])} / {e(r.gate_names[2])}</p>
<p>Biển số / 车牌 / Plate: {e(r.plate)} · Chuyến / 车次 / Trip: {e(r.trip)}</p>
<p>Hóa đơn / 账单 / Invoice: {e(r.invoice)} · Biểu phí / 收费标准: {e(r.tariff_version)}</p>
<table>{rows}</table>
<p>Số tiền / 金额 / Amount: <b>{e(vnd(r.amount))}</b></p>
{refunded}
<p>Hình thức / 方式 / Method: {e(method[0])} / {e(method[1])} / {e(method[2])}</p>
<p>Thời gian / 时间 / Paid: {e(local_time(r.paid_at))} (GMT+7)</p>
<div>{_qr_svg(r.verify_url)}</div>
<p>Kiểm tra biên lai / 验证收据 / Verify: <a href="{e(r.verify_url)}">{e(r.verify_url)}</a></p>
</body></html>"""


def to_pdf(r: Receipt) -> bytes:
    def t(text: str) -> str:
        return unicodedata.normalize("NFC", text)

    method = METHODS.get(r.method, (r.method,) * 3)
    status = STATUS.get(r.status, (r.status,) * 3)
    pdf = FPDF(format=(148.0, 210.0))  # A5
    pdf.set_title(f"Biên lai {r.number}")
    pdf.set_creator("Borderflow")
    pdf.add_font("Noto", "", FONT)
    pdf.add_page()
    pdf.set_font("Noto", size=14)
    pdf.multi_cell(0, 7, t("BIÊN LAI THU PHÍ / 收费收据 / Fee receipt"),
                   new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Noto", size=8)
    pdf.multi_cell(0, 5, t("Phí sử dụng công trình kết cấu hạ tầng khu vực cửa khẩu · "
                           "边境口岸基础设施使用费 · Border-gate infrastructure fee"),
                   new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Noto", size=9)
    for label, value in (
        ("Số / 编号 / No.", f"{r.number} · {status[0]} / {status[1]} / {status[2]}"),
        ("Cửa khẩu / 口岸 / Gate", " / ".join(r.gate_names)),
        ("Biển số / 车牌 / Plate", r.plate),
        ("Chuyến / 车次 / Trip", r.trip),
        ("Hóa đơn / 账单 / Invoice", f"{r.invoice} ({r.tariff_version})"),
        ("Thời gian / 时间 / Paid", f"{local_time(r.paid_at)} (GMT+7)"),
        ("Hình thức / 方式 / Method", " / ".join(method)),
    ):
        pdf.multi_cell(0, 5, t(f"{label}: {value}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    with pdf.table(col_widths=(75, 25), text_align=("LEFT", "RIGHT"),
                   first_row_as_headings=False, borders_layout="HORIZONTAL_LINES") as table:
        for line in r.lines:
            row = table.row()
            row.cell(t(_line_text(line)))
            row.cell(t(vnd(int(line["amount"]))))
    pdf.set_font("Noto", size=12)
    pdf.cell(0, 8, t(f"Số tiền / 金额 / Amount: {vnd(r.amount)}"), new_x="LMARGIN",
             new_y="NEXT")
    if r.refunded:
        pdf.set_font("Noto", size=9)
        pdf.cell(0, 5, t(f"Đã hoàn / 已退款 / Refunded: {vnd(r.refunded)}"), new_x="LMARGIN",
                 new_y="NEXT")
    png = io.BytesIO()
    segno.make(r.verify_url, error="m").save(png, kind="png", scale=4)
    png.seek(0)
    y = pdf.get_y() + 3
    pdf.image(png, x=pdf.l_margin, y=y, w=30, h=30)
    pdf.set_xy(pdf.l_margin + 33, y + 8)
    pdf.set_font("Noto", size=7)
    pdf.multi_cell(0, 4, t(f"Kiểm tra biên lai / 验证收据 / Verify:\n{r.verify_url}"))
    return bytes(pdf.output())
