"""E-receipts: one per payment, as HTML and PDF, in Vietnamese (the default), Chinese or
English, with a QR code linking to the public verification page.

Codes (gate, payment method, status) are shown by their labels (:mod:`borderflow.domain.labels`,
the network's names first); money, dates and times are written in the receipt's language with
Babel, in Lang Son time. The PDF embeds Noto Sans SC (SIL Open Font License, shipped in the
package: :data:`borderflow.documents.FONT`), which covers Vietnamese and Chinese; text is
normalised to NFC so Vietnamese tone marks use the font's precomposed letters. The verification
page shows only what proves the receipt: amount, date, gate, masked plate and status, nothing
personal.
"""

from __future__ import annotations

import html
import io
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import segno
from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_currency
from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow.clock import LOCAL_TZ
from borderflow.documents import FONT
from borderflow.domain import labels
from borderflow.domain.network import Network
from borderflow.errors import NotFound, msg
from borderflow.store.models import Invoice, Payment

Lang = Literal["vi", "en", "zh"]
Layout = Literal["a4", "thermal"]
LAYOUTS: tuple[Layout, ...] = ("a4", "thermal")
LANGS: tuple[Lang, ...] = ("vi", "en", "zh")
BABEL_LOCALES: dict[Lang, str] = {"vi": "vi_VN", "en": "en_GB", "zh": "zh_Hans_CN"}

TEXTS: dict[str, tuple[str, str, str]] = {
    "title": ("BIÊN LAI THU PHÍ", "FEE RECEIPT", "收费收据"),
    "fee": ("Phí sử dụng công trình kết cấu hạ tầng khu vực cửa khẩu",
            "Border-gate infrastructure fee", "边境口岸基础设施使用费"),
    "receipt": ("Biên lai", "Receipt", "收据"),
    "number": ("Số", "No.", "编号"),
    "status": ("Tình trạng", "Status", "状态"),
    "gate": ("Cửa khẩu", "Gate", "口岸"),
    "plate": ("Biển số", "Plate", "车牌"),
    "trip": ("Chuyến", "Trip", "车次"),
    "invoice": ("Hóa đơn", "Invoice", "账单"),
    "tariff": ("Biểu phí", "Tariff", "收费标准"),
    "amount": ("Số tiền", "Amount", "金额"),
    "refunded": ("Đã hoàn", "Refunded", "已退款"),
    "method": ("Hình thức", "Method", "支付方式"),
    "paid": ("Thời gian nộp", "Paid at", "缴费时间"),
    "time_zone": ("giờ Việt Nam", "Vietnam time", "越南时间"),
    "verify": ("Kiểm tra biên lai", "Verify this receipt", "验证收据"),
    "item": ("Khoản thu", "Item", "收费项目"),
    "print": ("In biên lai", "Print", "打印收据"),
    "a4": ("Khổ A4", "A4 page", "A4 纸"),
    "thermal": ("Máy in nhiệt 80 mm", "80 mm thermal printer", "80 毫米热敏打印机"),
    "pdf": ("Tải PDF", "Download PDF", "下载 PDF"),
    "layouts": ("Khổ in", "Print layout", "打印版式"),
}
"""The receipt's own words in vi, en and zh."""


def text(key: str, lang: Lang) -> str:
    return TEXTS[key][LANGS.index(lang)]


def _by_lang(kind: str) -> dict[str, tuple[str, str, str]]:
    """A label table as (vi, zh, en) triples (the order the verification page prints)."""
    return {code: (n.vi, n.zh, n.en) for code, n in labels.TABLES[kind].items()}


METHODS = _by_lang("payment_method")
STATUS = _by_lang("receipt_status")


def mask_plate(plate: str) -> str:
    """Enough of a plate to recognise one's own truck, not to identify a stranger's:
    ``29C-123.45`` -> ``29C-***.45``."""
    keep_head = 3 if plate[:2].isdigit() else 2
    head, tail = plate[:keep_head], plate[-2:]
    middle = "".join("*" if ch.isalnum() else ch for ch in plate[keep_head:-2])
    return head + middle + tail


def vnd(amount: int, lang: Lang = "vi") -> str:
    """An amount in VND as the receipt's language writes it (``1.200.000 ₫`` in Vietnamese)."""
    return format_currency(amount, "VND", locale=BABEL_LOCALES[lang])


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
    network: Network | None = None

    @property
    def masked_plate(self) -> str:
        return mask_plate(self.plate)

    def gate_name(self, lang: Lang) -> str:
        return labels.label("gate", self.gate, lang, self.network) if self.network \
            else self.gate_names[{"vi": 0, "zh": 1, "en": 2}[lang]]

    def line_text(self, line: dict[str, Any], lang: Lang) -> str:
        """An invoice line in the receipt's language (English when it has no other)."""
        own = {"vi": line.get("description_vi"), "zh": line.get("description_zh")}.get(lang)
        return str(own or line.get("description") or line.get("code") or "")


def load(session: Session, payment: Payment, network: Network | None, base_url: str
         ) -> Receipt:
    invoice = session.get(Invoice, payment.invoice_id)
    if invoice is None:
        raise NotFound(msg("payment {number} has no invoice", number=payment.receipt_number))
    gate = network.gate(invoice.gate) if network else None
    names = (gate.name.vi, gate.name.zh, gate.name.en) if gate else (invoice.gate,) * 3
    return Receipt(number=payment.receipt_number, status=payment.status, amount=payment.amount,
                   refunded=payment.refunded_amount or 0, method=payment.method,
                   paid_at=payment.paid_at, gate=invoice.gate, gate_names=names,
                   plate=invoice.plate, invoice=invoice.number, trip=invoice.trip_reference,
                   lines=invoice.lines, tariff_version=invoice.tariff_version,
                   verify_url=f"{base_url.rstrip('/')}/verify/{payment.verify_token}",
                   network=network)


def by_token(session: Session, token: str) -> Payment:
    row = session.scalar(select(Payment).where(Payment.verify_token == token))
    if row is None:
        raise NotFound(msg("no receipt with this verification code"))
    return row


def public_view(r: Receipt) -> dict[str, Any]:
    """What anyone holding the QR code may see."""
    return {"receipt": r.number, "status": r.status, "amount": r.amount,
            "refunded": r.refunded, "paid_at": r.paid_at, "gate": r.gate,
            "gate_name": r.gate_names[2], "plate": r.masked_plate}


def local_time(at: datetime, lang: Lang | None = None) -> str:
    """A moment in Lang Son time: ``dd/mm/yyyy HH:MM``, or in a language's own way."""
    local = at.astimezone(LOCAL_TZ)
    if lang is None:
        return local.strftime("%d/%m/%Y %H:%M")
    locale = Locale.parse(BABEL_LOCALES[lang])
    return str(locale.datetime_formats["medium"]).format(
        format_time(local, "short", locale=locale), format_date(local, "medium", locale=locale))


def _qr_svg(url: str) -> str:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=4, xmldecl=False, svgns=True)
    return out.getvalue().decode()


def _fields(r: Receipt, lang: Lang) -> list[tuple[str, str]]:
    """The receipt's facts as (label, value), in ``lang``."""
    def w(key: str) -> str:
        return text(key, lang)

    return [
        (w("number"), r.number),
        (w("status"), labels.label("receipt_status", r.status, lang)),
        (w("gate"), r.gate_name(lang)),
        (w("plate"), r.plate),
        (w("trip"), r.trip),
        (w("invoice"), f"{r.invoice} ({w('tariff')}: {r.tariff_version})"),
        (w("paid"), f"{local_time(r.paid_at, lang)} ({w('time_zone')})"),
        (w("method"), labels.label("payment_method", r.method, lang)),
    ]


def _tools(r: Receipt, lang: Lang, layout: Layout) -> str:
    """The layout links (A4, 80 mm thermal), the PDF and the print button; hidden in print."""
    e = html.escape
    current = ' aria-current="true"'
    links = "".join(
        f'<a href="?lang={lang}&amp;layout={x}" data-layout="{x}"'
        f'{current if x == layout else ""}>{e(text(x, lang))}</a>' for x in LAYOUTS)
    return (f'<nav class="tools" aria-label="{e(text("layouts", lang))}">{links}'
            f'<a href="receipt.pdf?lang={lang}">{e(text("pdf", lang))}</a>'
            f'<button type="button" data-print>{e(text("print", lang))}</button></nav>')


def to_html(r: Receipt, lang: Lang = "vi", layout: Layout = "a4") -> str:
    """The receipt as a web page in ``lang``, laid out for an A4 page or an 80 mm thermal
    roll (``layout``; the print style sheet follows it)."""
    e = html.escape
    facts = "".join(f"<tr><th scope='row'>{e(k)}</th><td>{e(v)}</td></tr>"
                    for k, v in _fields(r, lang))
    rows = "".join(f"<tr><td>{e(r.line_text(x, lang))}</td>"
                   f"<td class='n'>{e(vnd(int(x['amount']), lang))}</td></tr>" for x in r.lines)
    refunded = (f"<p>{e(text('refunded', lang))}: {e(vnd(r.refunded, lang))}</p>"
                if r.refunded else "")
    html_lang = {"vi": "vi", "en": "en", "zh": "zh-Hans"}[lang]
    return f"""<!doctype html>
<html lang="{html_lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(text("receipt", lang))} {e(r.number)}</title>
<link rel="stylesheet" href="/static/receipt.css">
<script src="/static/receipt.js" defer></script></head><body class="{layout}">
{_tools(r, lang, layout)}
<article class="receipt" data-receipt="{e(r.number)}" data-layout="{layout}">
<h1>{e(text("title", lang))}</h1>
<p>{e(text("fee", lang))}</p>
<table>{facts}</table>
<h2>{e(text("item", lang))}</h2>
<table>{rows}</table>
<p class="total">{e(text("amount", lang))}:
<b data-amount="{r.amount}">{e(vnd(r.amount, lang))}</b></p>
{refunded}
<div class="qr">{_qr_svg(r.verify_url)}</div>
<p class="url">{e(text("verify", lang))}: <a href="{e(r.verify_url)}">{e(r.verify_url)}</a></p>
</article>
</body></html>"""


def verify_html(r: Receipt | None) -> str:
    """The public check of a receipt (where its QR code lands), in Vietnamese, Chinese and
    English one under the other, for a phone: only what proves the receipt (``public_view``),
    or that there is no such receipt."""
    e = html.escape
    head = ("<!doctype html><html lang='vi'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>Biên lai / 收据 / Receipt</title>"
            "<link rel='stylesheet' href='/static/receipt.css'></head><body>"
            "<main class='check'>")
    if r is None:
        return (head + "<h1>Biên lai không tồn tại / <span lang='zh-Hans'>收据不存在</span> / "
                "<span lang='en'>No such receipt</span></h1></main></body></html>")
    view = public_view(r)
    status = STATUS.get(view["status"], (view["status"],) * 3)
    gate = " / ".join(dict.fromkeys((r.gate_name("vi"), r.gate_name("zh"))))

    def item(key: str, value: str) -> str:
        vi, en, zh = TEXTS[key]
        return (f"<dt>{e(vi)} / <span lang='zh-Hans'>{e(zh)}</span> / <span lang='en'>"
                f"{e(en)}</span></dt><dd>{e(value)}</dd>")

    facts = [item("amount", vnd(view["amount"]))]
    if view["refunded"]:
        facts.append(item("refunded", vnd(view["refunded"])))
    facts += [item("gate", gate), item("plate", view["plate"]),
              item("paid", f"{local_time(view['paid_at'])} ({TEXTS['time_zone'][0]})")]
    return (head + f"<h1 class='status-{e(view['status'])}'>{e(view['receipt'])}: "
            f"{e(status[0])} / <span lang='zh-Hans'>{e(status[1])}</span> / "
            f"<span lang='en'>{e(status[2])}</span></h1><dl>{''.join(facts)}</dl>"
            "</main></body></html>")


def to_pdf(r: Receipt, lang: Lang = "vi") -> bytes:
    """The receipt as an A5 PDF in ``lang``."""
    def t(value: str) -> str:
        return unicodedata.normalize("NFC", value)

    pdf = FPDF(format=(148.0, 210.0))  # A5
    pdf.set_title(t(f"{text('receipt', lang)} {r.number}"))
    pdf.set_lang({"vi": "vi-VN", "en": "en-GB", "zh": "zh-CN"}[lang])
    pdf.set_creator("Borderflow")
    pdf.add_font("Noto", "", FONT)
    pdf.add_page()
    pdf.set_font("Noto", size=14)
    pdf.multi_cell(0, 7, t(text("title", lang)), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Noto", size=8)
    pdf.multi_cell(0, 5, t(text("fee", lang)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Noto", size=9)
    for label, value in _fields(r, lang):
        pdf.multi_cell(0, 5, t(f"{label}: {value}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    with pdf.table(col_widths=(75, 25), text_align=("LEFT", "RIGHT"),
                   first_row_as_headings=False, borders_layout="HORIZONTAL_LINES") as table:
        for line in r.lines:
            row = table.row()
            row.cell(t(r.line_text(line, lang)))
            row.cell(t(vnd(int(line["amount"]), lang)))
    pdf.set_font("Noto", size=12)
    pdf.cell(0, 8, t(f"{text('amount', lang)}: {vnd(r.amount, lang)}"), new_x="LMARGIN",
             new_y="NEXT")
    if r.refunded:
        pdf.set_font("Noto", size=9)
        pdf.cell(0, 5, t(f"{text('refunded', lang)}: {vnd(r.refunded, lang)}"),
                 new_x="LMARGIN", new_y="NEXT")
    png = io.BytesIO()
    segno.make(r.verify_url, error="m").save(png, kind="png", scale=4)
    png.seek(0)
    y = pdf.get_y() + 3
    pdf.image(png, x=pdf.l_margin, y=y, w=30, h=30)
    pdf.set_xy(pdf.l_margin + 33, y + 8)
    pdf.set_font("Noto", size=7)
    pdf.multi_cell(0, 4, t(f"{text('verify', lang)}:\n{r.verify_url}"))
    return bytes(pdf.output())
