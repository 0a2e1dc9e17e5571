"""Reports as files: CSV, Excel and PDF (with a chart), in Vietnamese, English or Chinese.

A report document (the JSON the API returns) is first turned into **sheets** (a title, column
headers and rows of plain values) in the chosen language; CSV writes the sheets one after the
other, Excel one worksheet each, PDF one table each after a chart. CSV cells that a spreadsheet
would run as a formula (starting with = + - @, tab or carriage return) are prefixed with an
apostrophe; numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from borderflow.documents import FONT, defuse

Lang = Literal["vi", "en", "zh"]
LANGS: tuple[Lang, ...] = ("vi", "en", "zh")
Format = Literal["json", "csv", "xlsx", "pdf"]
FORMATS: tuple[Format, ...] = ("json", "csv", "xlsx", "pdf")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}

L: dict[str, tuple[str, str, str]] = {
    # report titles
    "traffic": ("Báo cáo lưu lượng phương tiện và hàng hóa", "Traffic and goods report",
                "车辆与货物流量报告"),
    "times": ("Báo cáo thời gian thông quan", "Time spent report", "通关时间报告"),
    "holds": ("Báo cáo tạm giữ và từ chối", "Holds and rejections report", "暂扣与拒绝报告"),
    "peaks": ("Báo cáo cao điểm", "Peaks report", "高峰报告"),
    "targets": ("Báo cáo tiến độ chỉ tiêu năm", "Annual targets report", "年度目标进度报告"),
    "situation": ("Báo cáo tình hình trong ngày", "Daily situation report", "每日情况报告"),
    # words
    "period": ("Kỳ báo cáo", "Period", "报告期"),
    "filters": ("Bộ lọc", "Filters", "筛选"),
    "indicator": ("Chỉ tiêu", "Indicator", "指标"),
    "value": ("Kỳ này", "This period", "本期"),
    "previous": ("Cùng kỳ năm trước", "Same period last year", "去年同期"),
    "change": ("Tăng/giảm", "Change", "增减"),
    "change_pct": ("Tăng/giảm (%)", "Change (%)", "增减（%）"),
    "total": ("Tổng", "Total", "合计"),
    "month_to_date": ("Lũy kế tháng", "Month to date", "本月累计"),
    "year_to_date": ("Lũy kế năm", "Year to date", "本年累计"),
    "breakdown": ("Chi tiết", "Breakdown", "明细"),
    "key": ("Theo", "By", "按"),
    "measure": ("Khâu", "Measure", "环节"),
    "vehicles": ("Số xe", "Vehicles", "车辆数"),
    "mean_minutes": ("Trung bình (phút)", "Mean (min)", "平均（分钟）"),
    "p50_minutes": ("Trung vị (phút)", "Median (min)", "中位数（分钟）"),
    "p90_minutes": ("P90 (phút)", "P90 (min)", "P90（分钟）"),
    "kind": ("Loại", "Kind", "类型"),
    "step": ("Bước", "Step", "步骤"),
    "reason_code": ("Mã lý do", "Reason code", "原因代码"),
    "count": ("Số lượt", "Count", "次数"),
    "hold": ("Tạm giữ", "Hold", "暂扣"),
    "reject": ("Từ chối", "Rejection", "拒绝"),
    "no_shows": ("Không đến", "No-shows", "未到"),
    "total_holds": ("Tổng lượt tạm giữ", "Holds", "暂扣总数"),
    "total_rejections": ("Tổng lượt từ chối", "Rejections", "拒绝总数"),
    "peak_day": ("Ngày cao điểm", "Peak day", "高峰日"),
    "peak_hour": ("Giờ cao điểm", "Peak hour", "高峰小时"),
    "hour": ("Giờ", "Hour", "小时"),
    "average_per_hour": ("Trung bình mỗi giờ", "Average per hour", "每小时平均"),
    "date": ("Ngày", "Date", "日期"),
    "target": ("Chỉ tiêu năm", "Annual target", "年度目标"),
    "achieved": ("Đã đạt", "Achieved", "已完成"),
    "share_pct": ("Tỷ lệ (%)", "Share (%)", "完成率（%）"),
    "remaining": ("Còn lại", "Remaining", "剩余"),
    "months_left": ("Số tháng còn lại", "Months left", "剩余月数"),
    "per_month_needed": ("Bình quân cần đạt mỗi tháng", "Needed per month", "每月需完成"),
    "previous_year": ("Cùng kỳ năm trước", "Same period last year", "去年同期"),
    "gate": ("Cửa khẩu", "Gate", "口岸"),
    "direction": ("Chiều", "Direction", "方向"),
    "route": ("Loại cửa khẩu", "Kind of crossing", "口岸类型"),
    "goods_group": ("Nhóm hàng", "Goods group", "货物类别"),
    "enterprise": ("Doanh nghiệp", "Enterprise", "企业"),
    "export": ("Xuất khẩu", "Export", "出口"),
    "import": ("Nhập khẩu", "Import", "进口"),
    "cleared": ("Đã thông quan", "Cleared", "已通关"),
    "declared": ("Đã khai báo", "Declared", "已申报"),
    "staging": ("Trong bãi chờ", "In the staging park", "在待检停车场"),
    "called": ("Đã gọi, đang đến", "Called, on the way", "已叫号在途"),
    "gate_area": ("Trong khu vực cửa khẩu", "In the gate area", "在口岸区"),
    "working_hours": ("Giờ làm việc", "Working hours", "工作时间"),
    "controls": ("Điều tiết, đóng cửa", "Controls and closures", "调控与关闭"),
    "partner_yard": ("Bãi phía bạn", "Partner side's yard", "对方停车场"),
    "as_of": ("Tính đến", "As of", "截至"),
    "generated": ("Lập lúc", "Generated", "生成时间"),
    "none": ("Không có", "None", "无"),
    # indicators
    "vehicles_declared": ("Xe đã khai báo", "Vehicles declared", "申报车辆"),
    "vehicles_called": ("Xe được gọi vào", "Vehicles called forward", "叫号车辆"),
    "vehicles_crossed": ("Xe đã qua cửa khẩu", "Vehicles crossed", "通关车辆"),
    "vehicles_rejected": ("Xe bị từ chối", "Vehicles rejected", "被拒车辆"),
    "vehicles_cancelled": ("Xe hủy khai báo", "Vehicles cancelled", "取消车辆"),
    "export_crossed": ("Xe xuất khẩu", "Export vehicles crossed", "出口车辆"),
    "import_crossed": ("Xe nhập khẩu", "Import vehicles crossed", "进口车辆"),
    "tonnage_kg": ("Khối lượng (kg)", "Tonnage (kg)", "重量（公斤）"),
    "turnover_usd_cents": ("Kim ngạch (cent USD)", "Turnover (US cents)", "贸易额（美分）"),
    "turnover_usd": ("Kim ngạch (USD)", "Turnover (USD)", "贸易额（美元）"),
    "tonnage_t": ("Khối lượng (tấn)", "Tonnage (t)", "重量（吨）"),
    "declarations": ("Số tờ khai", "Declarations", "报关单数"),
    "active_enterprises": ("Doanh nghiệp tham gia", "Active enterprises", "参与企业"),
    "fees_vnd": ("Phí thu được (VND)", "Fees collected (VND)", "收费（越南盾）"),
    "system": ("Toàn bộ thời gian", "Time in the system", "全程时间"),
    "wait": ("Chờ gọi vào", "Waiting for the call", "等待叫号"),
}


def t(key: str, lang: Lang) -> str:
    names = L.get(key)
    return key if names is None else names[LANGS.index(lang)]


@dataclass
class Sheet:
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


@dataclass
class Chart:
    title: str
    labels: list[str]
    series: dict[str, list[float]]


def _pct(v: Any) -> Any:
    return "" if v is None else v


def _comparison_sheet(title: str, figures: dict[str, dict[str, Any]], lang: Lang) -> Sheet:
    sheet = Sheet(title, [t(c, lang) for c in ("indicator", "value", "previous", "change",
                                                "change_pct")])
    for name, c in figures.items():
        if name == "turnover_usd_cents":  # shown in dollars
            sheet.rows.append([t("turnover_usd", lang), c["value"] / 100, c["previous"] / 100,
                               c["change"] / 100, _pct(c["change_pct"])])
            continue
        sheet.rows.append([t(name, lang), c["value"], c["previous"], c["change"],
                           _pct(c["change_pct"])])
    return sheet


def sheets(doc: dict[str, Any], lang: Lang) -> tuple[list[Sheet], Chart | None]:
    """The sheets and the chart of a report document, in ``lang``."""
    kind = doc["report"]
    out: list[Sheet] = []
    chart: Chart | None = None
    if kind == "traffic":
        out.append(_comparison_sheet(t("total", lang), doc["total"], lang))
        for name in ("month_to_date", "year_to_date"):
            figures = {k: v for k, v in doc[name].items() if k not in ("from", "to")}
            out.append(_comparison_sheet(f"{t(name, lang)} {doc[name]['from']} – "
                                         f"{doc[name]['to']}", figures, lang))
        if doc["rows"]:
            names = ["vehicles_crossed", "export_crossed", "import_crossed", "tonnage_kg",
                     "turnover_usd_cents", "declarations", "active_enterprises", "fees_vnd"]
            sheet = Sheet(t("breakdown", lang), [t(doc["by"] or "key", lang)]
                          + [t("turnover_usd" if n == "turnover_usd_cents" else n, lang)
                             for n in names] + [t("previous", lang), t("change_pct", lang)])
            for r in doc["rows"]:
                sheet.rows.append([r["key"]] + [r[n]["value"] / 100 if n == "turnover_usd_cents"
                                                 else r[n]["value"] for n in names]
                                  + [r["vehicles_crossed"]["previous"],
                                     _pct(r["vehicles_crossed"]["change_pct"])])
            out.append(sheet)
            chart = Chart(t("vehicles_crossed", lang), [r["key"] for r in doc["rows"]],
                          {t("value", lang): [r["vehicles_crossed"]["value"] for r in doc["rows"]],
                           t("previous", lang): [r["vehicles_crossed"]["previous"]
                                                 for r in doc["rows"]]})
        else:
            chart = Chart(t("vehicles_crossed", lang), [t("export", lang), t("import", lang)],
                          {t("value", lang): [doc["total"]["export_crossed"]["value"],
                                              doc["total"]["import_crossed"]["value"]],
                           t("previous", lang): [doc["total"]["export_crossed"]["previous"],
                                                 doc["total"]["import_crossed"]["previous"]]})
    elif kind == "times":
        cols = ["measure", "vehicles", "mean_minutes", "p50_minutes", "p90_minutes"]
        sheet = Sheet(t("total", lang), [t(c, lang) for c in cols]
                      + [f"{t('previous', lang)}: {t('mean_minutes', lang)}",
                         t("change_pct", lang)])
        for m, s in doc["total"].items():
            sheet.rows.append([t(m, lang), s["n"], _pct(s["mean_minutes"]),
                               _pct(s["p50_minutes"]), _pct(s["p90_minutes"]),
                               _pct(s.get("previous_mean_minutes")),
                               _pct(s.get("mean_change_pct"))])
        out.append(sheet)
        if doc["rows"]:
            sheet = Sheet(t("breakdown", lang), [t(doc["by"] or "key", lang)]
                          + [t(c, lang) for c in cols])
            for r in doc["rows"]:
                for m, s in r["measures"].items():
                    sheet.rows.append([r["key"], t(m, lang), s["n"], _pct(s["mean_minutes"]),
                                       _pct(s["p50_minutes"]), _pct(s["p90_minutes"])])
            out.append(sheet)
        measures = list(doc["total"])
        chart = Chart(t("times", lang), [t(m, lang) for m in measures],
                      {t("p50_minutes", lang): [doc["total"][m]["p50_minutes"] or 0
                                                for m in measures],
                       t("p90_minutes", lang): [doc["total"][m]["p90_minutes"] or 0
                                                for m in measures]})
    elif kind == "holds":
        sheet = Sheet(t("holds", lang), [t(c, lang) for c in ("kind", "step", "reason_code",
                                                               "count")])
        for k, items in (("hold", doc["holds"]), ("reject", doc["rejections"])):
            for i in items:
                sheet.rows.append([t(k, lang), i["step"], i["reason_code"], i["count"]])
        sheet.rows.append([t("no_shows", lang), "", "", doc["no_shows"]])
        out.append(sheet)
        if "compared" in doc:
            out.append(_comparison_sheet(f"{t('previous', lang)} {doc['previous_from']} – "
                                         f"{doc['previous_to']}", doc["compared"], lang))
        top = doc["holds"][:10]
        chart = Chart(t("hold", lang), [f"{i['step']}/{i['reason_code']}" for i in top],
                      {t("count", lang): [i["count"] for i in top]})
    elif kind == "peaks":
        sheet = Sheet(t("peaks", lang), [t("indicator", lang), t("date", lang), t("hour", lang),
                                         t("vehicles", lang)])
        if doc["peak_day"]:
            sheet.rows.append([t("peak_day", lang), doc["peak_day"]["date"], "",
                               doc["peak_day"]["vehicles"]])
        if doc["peak_hour"]:
            sheet.rows.append([t("peak_hour", lang), doc["peak_hour"]["date"],
                               doc["peak_hour"]["hour"], doc["peak_hour"]["vehicles"]])
        out.append(sheet)
        hours = Sheet(t("average_per_hour", lang), [t("hour", lang), t("vehicles", lang)],
                      [[h["hour"], h["vehicles"]] for h in doc["average_per_hour"]])
        out.append(hours)
        chart = Chart(t("average_per_hour", lang),
                      [str(h["hour"]) for h in doc["average_per_hour"]],
                      {t("vehicles", lang): [h["vehicles"] for h in doc["average_per_hour"]]})
    elif kind == "targets":
        cols = ["indicator", "target", "achieved", "share_pct", "remaining", "months_left",
                "per_month_needed", "previous_year"]
        sheet = Sheet(t("targets", lang), [t(c, lang) for c in cols])
        for r in doc["rows"]:
            sheet.rows.append([t(r["indicator"], lang)] + [_pct(r[c]) for c in cols[1:]])
        out.append(sheet)
        chart = Chart(t("share_pct", lang), [t(r["indicator"], lang) for r in doc["rows"]],
                      {t("share_pct", lang): [r["share_pct"] for r in doc["rows"]]})
    elif kind == "situation":
        d = ("export", "import")
        sheet = Sheet(t("situation", lang), [""] + [t(x, lang) for x in d])
        sheet.rows.append([t("cleared", lang)] + [doc["cleared"][x] for x in d])
        sheet.rows.append([t("declared", lang)] + [doc["declared"][x] for x in d])
        for place in ("staging", "called", "gate_area"):
            sheet.rows.append([t(place, lang)] + [doc["remaining"][place][x] for x in d])
        for p in doc["partner_yard"]:
            sheet.rows.append([f"{t('partner_yard', lang)} ({t(p['direction'], lang)})",
                               p["vehicles"], p["counted_at"]])
        out.append(sheet)
        hours = doc["working_hours"]
        info = Sheet(t("controls", lang), [t("kind", lang), t("value", lang)])
        info.rows.append([t("working_hours", lang),
                          ", ".join(f"{a}–{b}" for a, b in hours["intervals"])
                          or t("none", lang)])
        for c in doc["controls"]:
            info.rows.append([c["kind"], f"{c['starts_at']} – {c['ends_at']}: {c['reason']}"])
        for k, items in (("hold", doc["holds"]), ("reject", doc["rejections"])):
            for i in items:
                info.rows.append([t(k, lang), f"{i['step']} {i['reason_code']}: {i['count']}"])
        out.append(info)
        chart = Chart(t("situation", lang), [t(p, lang) for p in ("staging", "called",
                                                                  "gate_area")],
                      {t(x, lang): [doc["remaining"][p][x] for p in ("staging", "called",
                                                                      "gate_area")]
                       for x in d})
    else:  # pragma: no cover - every report kind is listed above
        raise ValueError(kind)
    return out, chart


def title(doc: dict[str, Any], lang: Lang) -> tuple[str, str]:
    """The report's title and its subtitle (period and filters)."""
    kind = doc["report"]
    if kind == "targets":
        sub = f"{doc['year']} · {t('as_of', lang)} {doc['as_of']}"
    elif kind == "situation":
        sub = f"{doc['gate_name']} · {doc['date']} · {t('as_of', lang)} {doc['as_of'][:16]}"
    else:
        sub = f"{t('period', lang)}: {doc['from']} – {doc['to']}"
        if doc.get("filters"):
            sub += " · " + ", ".join(f"{t(k, lang)}={v}" for k, v in doc["filters"].items())
    return t(kind, lang), sub


# --- writers ---------------------------------------------------------------------------------


def to_csv(doc: dict[str, Any], lang: Lang) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    head, sub = title(doc, lang)
    writer.writerow([defuse(head)])
    writer.writerow([defuse(sub)])
    for sheet in sheets(doc, lang)[0]:
        writer.writerow([])
        writer.writerow([defuse(sheet.title)])
        writer.writerow([defuse(c) for c in sheet.columns])
        for row in sheet.rows:
            writer.writerow([defuse(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(doc: dict[str, Any], lang: Lang) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    head, sub = title(doc, lang)
    for i, sheet in enumerate(sheets(doc, lang)[0]):
        ws = wb.active if i == 0 else wb.create_sheet()
        assert ws is not None  # noqa: S101 - a new workbook has an active sheet
        ws.title = _sheet_name(sheet.title, i)
        ws.append([defuse(head)])
        ws.append([defuse(sub)])
        ws.append([])
        ws.append([defuse(c) for c in sheet.columns])
        for cell in ws[4]:
            cell.font = Font(bold=True)
        for row in sheet.rows:
            ws.append([defuse(v) for v in row])
        from openpyxl.utils import get_column_letter

        for i_col, col in enumerate(ws.iter_cols(min_row=4), start=1):
            width = max((len(str(c.value or "")) for c in col), default=8)
            ws.column_dimensions[get_column_letter(i_col)].width = min(max(width + 2, 10), 60)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _sheet_name(name: str, i: int) -> str:
    cleaned = "".join(" " if ch in "[]:*?/\\" else ch for ch in name).strip()
    return f"{i + 1} {cleaned}"[:31]


def chart_png(chart: Chart, *, width: float = 7.0, height: float = 3.0) -> bytes:
    """A bar chart (grouped bars, one group per label) as PNG, text in any of our languages."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    font_manager.fontManager.addfont(str(FONT))
    name = font_manager.FontProperties(fname=str(FONT)).get_name()
    with plt.rc_context({"font.family": [name, "DejaVu Sans"], "font.size": 8}):
        fig, ax = plt.subplots(figsize=(width, height), dpi=150)
        try:
            n = max(len(chart.series), 1)
            bar = 0.8 / n
            xs = list(range(len(chart.labels)))
            for i, (label, values) in enumerate(chart.series.items()):
                ax.bar([x + (i - (n - 1) / 2) * bar for x in xs], values, bar, label=label)
            ax.set_xticks(xs, chart.labels, rotation=30 if len(chart.labels) > 6 else 0,
                          ha="right" if len(chart.labels) > 6 else "center")
            ax.set_title(chart.title)
            if n > 1:
                ax.legend()
            ax.spines[["top", "right"]].set_visible(False)
            fig.tight_layout()
            out = io.BytesIO()
            fig.savefig(out, format="png")
        finally:
            plt.close(fig)
    return out.getvalue()


def to_pdf(doc: dict[str, Any], lang: Lang) -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    pdf = FPDF(orientation="portrait", format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("Noto", "", str(FONT))
    pdf.add_page()
    head, sub = title(doc, lang)
    pdf.set_font("Noto", size=15)
    pdf.multi_cell(0, 8, head, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Noto", size=9)
    pdf.multi_cell(0, 5, sub, new_x="LMARGIN", new_y="NEXT")
    tables, chart = sheets(doc, lang)
    if chart is not None and chart.labels:
        pdf.image(io.BytesIO(chart_png(chart)), w=pdf.epw)
    for sheet in tables:
        pdf.ln(3)
        pdf.set_font("Noto", size=11)
        pdf.multi_cell(0, 6, sheet.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Noto", size=7)
        with pdf.table(headings_style=FontFace(emphasis=None, fill_color=(230, 236, 240)),
                       text_align="LEFT", line_height=4.5) as table:
            table.row([str(c) for c in sheet.columns])
            for row in sheet.rows:
                table.row([_fmt(v) for v in _pad(row, len(sheet.columns))])
    return bytes(pdf.output())


def _pad(row: Sequence[Any], n: int) -> list[Any]:
    return [*row, *[""] * (n - len(row))][:max(n, len(row))]


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return str(v)


def render(doc: dict[str, Any], fmt: Format, lang: Lang) -> bytes:
    if fmt == "csv":
        return to_csv(doc, lang)
    if fmt == "xlsx":
        return to_xlsx(doc, lang)
    if fmt == "pdf":
        return to_pdf(doc, lang)
    raise ValueError(fmt)  # pragma: no cover - json is returned as is by the API
