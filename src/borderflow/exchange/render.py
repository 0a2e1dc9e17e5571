"""A signed bulletin as CSV (one table, one row per figure) and as a bilingual PDF
(Vietnamese and Chinese, Noto Sans SC embedded as for the e-receipts)."""

from __future__ import annotations

import csv
import io
import unicodedata
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace

from borderflow.documents import FONT, defuse
from borderflow.domain.exchange import BY_FORECAST, content_sha256

CSV_COLUMNS = ("section", "gate", "code", "name_vi", "name_zh", "date", "direction",
               "vehicles", "declared", "booked", "capacity", "starts", "ends", "kind", "note",
               "forecast_rest", "planned", "planned_lo80", "planned_hi80", "planned_lo95",
               "planned_hi95")
"""The columns; the last six are the plans' figures of version 2 (empty for version 1)."""


def defused(value: Any) -> str:
    """A CSV cell as text that a spreadsheet will not run as a formula."""
    return str(defuse("" if value is None else str(value)))


def to_csv(envelope: dict[str, Any]) -> str:
    """Rows: ``bulletin`` (who, when, signature), ``yard``, ``staging``, ``planned``,
    ``hours``, ``closure``; directions are the issuing side's."""
    b, sig = envelope["bulletin"], envelope["signature"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)

    def row(**cells: Any) -> None:
        writer.writerow([defused(cells.get(c)) for c in CSV_COLUMNS])

    row(section="bulletin", code=b["side"], name_vi=b["issuer"], date=b["date"],
        starts=b["issued_at"], ends=b["counted_at"], kind=f"schema v{b['schema_version']}",
        note=f"{sig['alg']} {sig['key_id']} {sig['value']} sha256:{content_sha256(b)}")
    for y in b["yards"]:
        for d in ("export", "import"):
            row(section="yard", gate=y["gate"], code=y["code"], name_vi=y.get("name", {})
                .get("vi"), name_zh=y.get("name", {}).get("zh"), date=b["date"], direction=d,
                vehicles=y["vehicles"][d], capacity=y.get("capacity"), starts=b["counted_at"])
    for s in b["staging_areas"]:
        for d in ("export", "import"):
            row(section="staging", code=s["code"], name_vi=s.get("name", {}).get("vi"),
                name_zh=s.get("name", {}).get("zh"), date=b["date"], direction=d,
                vehicles=s["vehicles"][d], capacity=s.get("capacity"), starts=b["counted_at"])
    forecast = b.get("planned_forecast")
    for p in b["planned"]:
        used = p.get("basis") == BY_FORECAST and forecast
        row(section="planned", gate=p["gate"], date=b["planned_date"], direction=p["direction"],
            declared=p["declared"], booked=p["booked"], capacity=p["capacity"],
            kind=p.get("basis"), note=f"forecast {forecast['model_version']} "
                                      f"{forecast['created_at']}" if used else None,
            **{k: p.get(k) for k in PLAN_FIGURES})
    for h in b["hours"]:
        row(section="hours", gate=h["gate"], date=h["date"], kind=h["kind"],
            starts=" ".join(f"{r['from']}-{r['to']}" for r in h["open"]), note=h.get("note"))
    for c in b["closures"]:
        row(section="closure", gate=c["gate"], direction=c["direction"], kind=c["kind"],
            starts=c["starts_at"], ends=c["ends_at"], capacity=c.get("vehicles_per_hour"),
            note=c["reason"])
    return out.getvalue()


PLAN_FIGURES = ("forecast_rest", "planned", "planned_lo80", "planned_hi80", "planned_lo95",
                "planned_hi95")
DIRECTION = {"export": "Xuất / 出口", "import": "Nhập / 进口"}
DAY_KIND = {"regular": "Thường lệ / 正常", "extended": "Kéo dài / 延长",
            "holiday": "Ngày lễ / 节假日", "exception": "Đặc biệt / 特别",
            "closed": "Đóng cửa / 关闭"}
CONTROL = {"closure": "Tạm đóng / 临时关闭", "pause": "Tạm dừng gọi xe / 暂停放行",
           "capacity": "Giới hạn năng lực / 限流", "extended_hours": "Kéo dài giờ / 延长时间"}


def _name(names: dict[str, str] | None, code: str) -> str:
    if not names:
        return code
    return " / ".join(dict.fromkeys(n for n in (names.get("vi"), names.get("zh")) if n)) or code


def _t(value: Any) -> str:
    """Text for the PDF: composed (NFC), so that the font has a glyph for every letter."""
    return unicodedata.normalize("NFC", str(value))


def to_pdf(envelope: dict[str, Any], gates: dict[str, str] | None = None) -> bytes:
    """The bulletin in Vietnamese and Chinese on A4; ``gates`` names the gate codes in a
    legend."""
    b, sig = envelope["bulletin"], envelope["signature"]
    pdf = FPDF(format="A4")
    pdf.set_title(f"Bản tin {b['side']} {b['date']}")
    pdf.set_creator("Borderflow")
    pdf.add_font("Noto", "", FONT)
    pdf.add_page()
    _masthead(pdf, b)
    _tables(pdf, b, gates or {})
    _signature(pdf, b, sig)
    return bytes(pdf.output())


def _masthead(pdf: FPDF, b: dict[str, Any]) -> None:
    """The title, who issued the bulletin, for which day, and whose directions it uses."""
    pdf.set_font("Noto", size=14)
    pdf.multi_cell(0, 7, _t("BẢN TIN TRAO ĐỔI HẰNG NGÀY / 每日交换通报"),
                   new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Noto", size=9)
    for label, value in (
        ("Bên phát hành / 发布方", f"{b['side']} · {b['issuer']}"),
        ("Ngày / 日期", b["date"]),
        ("Thời điểm đếm / 统计时间", b["counted_at"]),
        ("Phát hành lúc / 发布时间", b["issued_at"]),
        ("Chiều / 方向", f"theo bên {b['side']}: xuất = rời {b['side']} / "
                         f"以{b['side']}方为准：出口 = 离开{b['side']}"),
    ):
        pdf.multi_cell(0, 5, _t(f"{label}: {value}"), new_x="LMARGIN", new_y="NEXT")


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(2)
    pdf.set_font("Noto", size=11)
    pdf.multi_cell(0, 6, _t(text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Noto", size=8)


def _table(pdf: FPDF, widths: tuple[int, ...], header: tuple[str, ...],
           rows: list[tuple[Any, ...]]) -> None:
    with pdf.table(col_widths=widths, first_row_as_headings=True, text_align="LEFT",
                   headings_style=FontFace(emphasis="", fill_color=(230, 230, 230)),
                   borders_layout="HORIZONTAL_LINES") as tbl:
        for cells in [header, *rows]:
            r = tbl.row()
            for cell in cells:
                r.cell(_t("" if cell is None else cell))


def _tables(pdf: FPDF, b: dict[str, Any], names: dict[str, str]) -> None:
    """The gate legend (when names are given), the yards, the staging areas, the plan, the
    working hours and the closures."""
    codes = sorted({r["gate"] for key in ("yards", "planned", "hours", "closures")
                    for r in b[key]})
    if names:
        _heading(pdf, "Cửa khẩu / 口岸")
        _table(pdf, (25, 75), ("Mã / 代码", "Tên / 名称"), [(c, names.get(c, "")) for c in codes])
    _heading(pdf, "Xe trong bãi / 堆场内车辆")
    _table(pdf, (20, 40, 14, 13, 13),
           ("Cửa khẩu / 口岸", "Bãi / 堆场", "Sức chứa / 容量", "Xuất / 出口", "Nhập / 进口"),
           [(y["gate"], _name(y.get("name"), y["code"]), y.get("capacity"),
             y["vehicles"]["export"], y["vehicles"]["import"]) for y in b["yards"]])
    _heading(pdf, "Xe tại bãi chờ / 待检区车辆")
    _table(pdf, (60, 14, 13, 13),
           ("Bãi chờ / 待检区", "Sức chứa / 容量", "Xuất / 出口", "Nhập / 进口"),
           [(_name(s.get("name"), s["code"]), s.get("capacity"), s["vehicles"]["export"],
             s["vehicles"]["import"]) for s in b["staging_areas"]])
    _heading(pdf, f"Kế hoạch ngày {b['planned_date']} / {b['planned_date']} 计划")
    if "planned_forecast" in b:  # version 2: declared plus the forecast rest, with intervals
        _plan_basis(pdf, b)
        _table(pdf, (18, 14, 12, 12, 12, 12, 12, 15, 15),
               ("Cửa khẩu / 口岸", "Chiều / 方向", "Đã khai báo / 已申报",
                "Dự báo thêm / 预测增量", "Kế hoạch / 计划量", "Đã đặt chỗ / 已预约",
                "Năng lực / 能力", "Khoảng 80% / 80%区间", "Khoảng 95% / 95%区间"),
               [(p["gate"], DIRECTION[p["direction"]], p["declared"], p["forecast_rest"],
                 p["planned"], p["booked"], p["capacity"],
                 _interval(p["planned_lo80"], p["planned_hi80"]),
                 _interval(p["planned_lo95"], p["planned_hi95"])) for p in b["planned"]])
    else:
        _table(pdf, (25, 20, 15, 15, 15),
               ("Cửa khẩu / 口岸", "Chiều / 方向", "Đã khai báo / 已申报", "Đã đặt chỗ / 已预约",
                "Năng lực / 能力"),
               [(p["gate"], DIRECTION[p["direction"]], p["declared"], p["booked"],
                 p["capacity"]) for p in b["planned"]])
    _heading(pdf, "Giờ làm việc / 工作时间")
    _table(pdf, (22, 16, 22, 40),
           ("Cửa khẩu / 口岸", "Ngày / 日期", "Loại / 类型", "Giờ mở / 开放时间"),
           [(h["gate"], h["date"], DAY_KIND.get(h["kind"], h["kind"]),
             ", ".join(f"{r['from']}–{r['to']}" for r in h["open"]) or "—") for h in b["hours"]])
    _heading(pdf, "Tạm đóng và điều chỉnh / 临时关闭与调整")
    if b["closures"]:
        _table(pdf, (18, 22, 32, 28),
               ("Cửa khẩu / 口岸", "Loại / 类型", "Thời gian / 时间", "Lý do / 原因"),
               [(c["gate"], CONTROL.get(c["kind"], c["kind"]),
                 f"{c['starts_at']} → {c['ends_at']}", c["reason"]) for c in b["closures"]])
    else:
        pdf.multi_cell(0, 5, _t("Không có / 无"), new_x="LMARGIN", new_y="NEXT")


def _interval(lo: int | None, hi: int | None) -> str:
    return "—" if lo is None or hi is None else f"{lo}–{hi}"


def _plan_basis(pdf: FPDF, b: dict[str, Any]) -> None:
    """What the planned trucks are made of: the declarations alone, or with the forecast of
    the undeclared rest (its model and when it was made)."""
    forecast = b["planned_forecast"]
    if forecast is None:
        text = ("Cơ sở: chỉ các tờ khai (chưa có dự báo cho ngày này) / "
                "依据：仅申报（该日尚无预测）")
    else:
        model, made = forecast["model_version"], forecast["created_at"]
        text = (f"Cơ sở: tờ khai + dự báo phần chưa khai báo (mô hình {model}, lập lúc {made}) / "
                f"依据：申报 + 未申报部分的预测（模型 {model}，生成于 {made}）")
        if any(p["basis"] != BY_FORECAST for p in b["planned"]):
            text += ("; '—': chỉ tờ khai, không có dự báo / "
                     "「—」：仅申报，无预测")
    pdf.multi_cell(0, 4, _t(text), align="L", new_x="LMARGIN", new_y="NEXT")


def _signature(pdf: FPDF, b: dict[str, Any], sig: dict[str, Any]) -> None:
    """The signature and the content hash; the signed JSON is the original."""
    pdf.ln(3)
    pdf.set_font("Noto", size=7)
    pdf.multi_cell(0, 4, _t(
        f"Chữ ký / 签名 ({sig['alg']}, {sig['key_id']}): {sig['value']}\n"
        f"SHA-256: {content_sha256(b)}\n"
        "Bản JSON có chữ ký là bản gốc / 以带签名的 JSON 文本为准"),
        new_x="LMARGIN", new_y="NEXT")
