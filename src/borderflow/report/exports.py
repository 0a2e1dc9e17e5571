"""Reports as files: CSV, Excel and PDF (with a chart), in Vietnamese, English or Chinese.

A report document (the JSON the API returns) is first turned into **sheets** (a title, column
headers and rows of typed values) in the chosen language: every code a person reads (gate,
direction, goods group, step, reason, kind of crossing, control) becomes its label from
:mod:`borderflow.domain.labels`, an enterprise its name. CSV writes the sheets one after the
other, Excel one worksheet each, PDF one table each after a chart.

Spreadsheets stay machine-friendly: numbers are numbers (a sum works), dates are dates (ISO in
CSV), and a column of codes sits next to a column of labels where a program may need them
(``machine`` columns, left out of the PDF). The PDF and the titles are for people: numbers,
money and dates in the language's locale (Babel). CSV cells that a spreadsheet would run as a
formula (starting with = + - @, tab or carriage return) are prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from borderflow.clock import LOCAL_TZ
from borderflow.documents import FONT, defuse
from borderflow.domain import labels
from borderflow.domain.network import Network

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
    "reason_code": ("Lý do", "Reason", "原因"),
    "code": ("Mã", "Code", "代码"),
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
    "detail": ("Nội dung", "Details", "内容"),
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
    """A report's own word (a title, a column, an indicator) in ``lang``."""
    names = L.get(key)
    return key if names is None else names[LANGS.index(lang)]


BABEL_LOCALES: dict[Lang, str] = {"vi": "vi_VN", "en": "en_GB", "zh": "zh_Hans_CN"}

BY_KIND = {"gate": "gate", "route": "gate_kind", "direction": "direction",
           "goods_group": "goods_group"}
"""A breakdown dimension -> the kind of its codes in :mod:`borderflow.domain.labels`."""


@dataclass(frozen=True)
class Naming:
    """How a report names and writes what it shows in one language: its own words, the
    labels of codes (the network's names first), enterprises by name, and numbers and dates
    in the language's locale."""

    lang: Lang = "vi"
    network: Network | None = None
    enterprises: Mapping[str, str] = field(default_factory=dict)
    """Tax code -> the enterprise's name."""

    def t(self, key: str) -> str:
        return t(key, self.lang)

    def code(self, kind: str, code: object) -> str:
        if code is None or code == "":
            return ""
        return labels.label(kind, str(code), self.lang, self.network)

    def key(self, by: str | None, key: object) -> str:
        """A breakdown row's key (a gate, a kind of crossing, a direction, a goods group or
        an enterprise) as people read it."""
        if by == "enterprise":
            return self.enterprises.get(str(key)) or str(key)
        kind = BY_KIND.get(by or "")
        return self.code(kind, key) if kind else str(key)

    def measure(self, measure: str) -> str:
        """A measure of the time report: the time in the system, the wait, or a step."""
        return self.t(measure) if measure in L else self.code("step", measure)

    def number(self, value: float | int | Decimal) -> str:
        return format_decimal(value, locale=BABEL_LOCALES[self.lang])

    def date(self, day: date | str) -> str:
        if isinstance(day, str):
            day = date.fromisoformat(day[:10])
        if isinstance(day, datetime):
            day = day.astimezone(LOCAL_TZ).date()
        return format_date(day, "medium", locale=BABEL_LOCALES[self.lang])

    def datetime(self, at: datetime | str) -> str:
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        return format_datetime(at.astimezone(LOCAL_TZ), "short", locale=BABEL_LOCALES[self.lang])

    def period(self, start: str, end: str) -> str:
        return f"{self.date(start)} – {self.date(end)}"

    @property
    def colon(self) -> str:
        """What follows a heading word: a full-width colon in Chinese."""
        return "：" if self.lang == "zh" else ": "

    def cell(self, value: Any) -> str:
        """A value as the PDF prints it."""
        if value is None or isinstance(value, bool):
            return "" if value is None else str(value)
        if isinstance(value, (int, float, Decimal)):
            return self.number(value)
        if isinstance(value, datetime):
            return self.datetime(value)
        if isinstance(value, date):
            return self.date(value)
        if isinstance(value, time):
            return value.strftime("%H:%M")
        return str(value)


def naming(lang: Lang | Naming, network: Network | None = None,
           enterprises: Mapping[str, str] | None = None) -> Naming:
    if isinstance(lang, Naming):
        return lang
    return Naming(lang, network, dict(enterprises or {}))


@dataclass
class Sheet:
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    machine: frozenset[int] = frozenset()
    """Columns of codes for programs, next to their labels: in CSV and Excel, not the PDF."""


@dataclass
class Chart:
    title: str
    labels: list[str]
    series: dict[str, list[float]]


def _pct(v: Any) -> Any:
    return "" if v is None else v


def _usd(cents: int) -> Decimal:
    return Decimal(cents) / 100


def _day(value: str | None) -> date | str:
    return "" if not value else date.fromisoformat(value[:10])


def _hour(value: int) -> time:
    return time(int(value) % 24)


def _comparison_sheet(title: str, figures: dict[str, dict[str, Any]], n: Naming) -> Sheet:
    sheet = Sheet(title, [n.t(c) for c in ("indicator", "value", "previous", "change",
                                           "change_pct")])
    for name, c in figures.items():
        if name == "turnover_usd_cents":  # shown in dollars
            sheet.rows.append([n.t("turnover_usd"), _usd(c["value"]), _usd(c["previous"]),
                               _usd(c["change"]), _pct(c["change_pct"])])
            continue
        sheet.rows.append([n.t(name), c["value"], c["previous"], c["change"],
                           _pct(c["change_pct"])])
    return sheet


def _key_columns(by: str | None, n: Naming) -> list[str]:
    """A breakdown's key as a label and, for programs, as its code."""
    return [n.t(by or "key"), f"{n.t(by or 'key')} ({n.t('code')})"]


def sheets(doc: dict[str, Any], lang: Lang | Naming,
           network: Network | None = None) -> tuple[list[Sheet], Chart | None]:
    """The sheets and the chart of a report document, in ``lang``."""
    n = naming(lang, network)
    kind = doc["report"]
    build = _SHEETS.get(kind)
    if build is None:  # pragma: no cover - every report kind is listed in _SHEETS
        raise ValueError(kind)
    out, chart = build(doc, n)
    return out, chart


def _directions(n: Naming) -> list[str]:
    return [n.code("direction", d) for d in ("export", "import")]


def _traffic_sheets(doc: dict[str, Any], n: Naming) -> tuple[list[Sheet], Chart]:
    """Totals, month- and year-to-date against the year before, and the breakdown."""
    out = [_comparison_sheet(n.t("total"), doc["total"], n)]
    for name in ("month_to_date", "year_to_date"):
        figures = {k: v for k, v in doc[name].items() if k not in ("from", "to")}
        out.append(_comparison_sheet(
            f"{n.t(name)} {n.period(doc[name]['from'], doc[name]['to'])}", figures, n))
    if not doc["rows"]:
        return out, Chart(n.t("vehicles_crossed"), _directions(n),
                          {n.t("value"): [doc["total"]["export_crossed"]["value"],
                                          doc["total"]["import_crossed"]["value"]],
                           n.t("previous"): [doc["total"]["export_crossed"]["previous"],
                                             doc["total"]["import_crossed"]["previous"]]})
    names = ["vehicles_crossed", "export_crossed", "import_crossed", "tonnage_kg",
             "turnover_usd_cents", "declarations", "active_enterprises", "fees_vnd"]
    sheet = Sheet(n.t("breakdown"), _key_columns(doc["by"], n)
                  + [n.t("turnover_usd" if c == "turnover_usd_cents" else c)
                     for c in names] + [n.t("previous"), n.t("change_pct")],
                  machine=frozenset({1}))
    for r in doc["rows"]:
        sheet.rows.append([n.key(doc["by"], r["key"]), r["key"]]
                          + [_usd(r[c]["value"]) if c == "turnover_usd_cents"
                             else r[c]["value"] for c in names]
                          + [r["vehicles_crossed"]["previous"],
                             _pct(r["vehicles_crossed"]["change_pct"])])
    out.append(sheet)
    return out, Chart(n.t("vehicles_crossed"), [n.key(doc["by"], r["key"])
                                                for r in doc["rows"]],
                      {n.t("value"): [r["vehicles_crossed"]["value"] for r in doc["rows"]],
                       n.t("previous"): [r["vehicles_crossed"]["previous"]
                                         for r in doc["rows"]]})


def _times_sheets(doc: dict[str, Any], n: Naming) -> tuple[list[Sheet], Chart]:
    """Count, mean and percentiles per measure, in total and per breakdown key."""
    cols = ["measure", "vehicles", "mean_minutes", "p50_minutes", "p90_minutes"]
    sheet = Sheet(n.t("total"), [n.t(c) for c in cols]
                  + [f"{n.t('previous')}: {n.t('mean_minutes')}", n.t("change_pct")])
    for m, s in doc["total"].items():
        sheet.rows.append([n.measure(m), s["n"], _pct(s["mean_minutes"]),
                           _pct(s["p50_minutes"]), _pct(s["p90_minutes"]),
                           _pct(s.get("previous_mean_minutes")),
                           _pct(s.get("mean_change_pct"))])
    out = [sheet]
    if doc["rows"]:
        sheet = Sheet(n.t("breakdown"), _key_columns(doc["by"], n)
                      + [n.t(c) for c in cols], machine=frozenset({1}))
        for r in doc["rows"]:
            for m, s in r["measures"].items():
                sheet.rows.append([n.key(doc["by"], r["key"]), r["key"], n.measure(m),
                                   s["n"], _pct(s["mean_minutes"]),
                                   _pct(s["p50_minutes"]), _pct(s["p90_minutes"])])
        out.append(sheet)
    measures = list(doc["total"])
    return out, Chart(n.t("times"), [n.measure(m) for m in measures],
                      {n.t("p50_minutes"): [doc["total"][m]["p50_minutes"] or 0
                                            for m in measures],
                       n.t("p90_minutes"): [doc["total"][m]["p90_minutes"] or 0
                                            for m in measures]})


def _holds_sheets(doc: dict[str, Any], n: Naming) -> tuple[list[Sheet], Chart]:
    """Holds and rejections by step and reason, no-shows, and the year before."""
    sheet = Sheet(n.t("holds"), [n.t(c) for c in ("kind", "step", "reason_code", "count")]
                  + [f"{n.t('step')} ({n.t('code')})",
                     f"{n.t('reason_code')} ({n.t('code')})"],
                  machine=frozenset({4, 5}))
    for k, items in (("hold", doc["holds"]), ("reject", doc["rejections"])):
        for i in items:
            sheet.rows.append([n.t(k), n.code("step", i["step"]),
                               n.code("reason", i["reason_code"]), i["count"],
                               i["step"], i["reason_code"]])
    sheet.rows.append([n.t("no_shows"), "", "", doc["no_shows"], "", ""])
    out = [sheet]
    if "compared" in doc:
        out.append(_comparison_sheet(
            f"{n.t('previous')} {n.period(doc['previous_from'], doc['previous_to'])}",
            doc["compared"], n))
    top = doc["holds"][:10]
    return out, Chart(n.t("hold"), [f"{n.code('step', i['step'])}{n.colon}"
                                    f"{n.code('reason', i['reason_code'])}" for i in top],
                      {n.t("count"): [i["count"] for i in top]})


def _peaks_sheets(doc: dict[str, Any], n: Naming) -> tuple[list[Sheet], Chart]:
    """The peak day and hour, and the average vehicles per hour of the day."""
    sheet = Sheet(n.t("peaks"), [n.t("indicator"), n.t("date"), n.t("hour"),
                                 n.t("vehicles")])
    if doc["peak_day"]:
        sheet.rows.append([n.t("peak_day"), _day(doc["peak_day"]["date"]), "",
                           doc["peak_day"]["vehicles"]])
    if doc["peak_hour"]:
        sheet.rows.append([n.t("peak_hour"), _day(doc["peak_hour"]["date"]),
                           _hour(doc["peak_hour"]["hour"]), doc["peak_hour"]["vehicles"]])
    hours = Sheet(n.t("average_per_hour"), [n.t("hour"), n.t("vehicles")],
                  [[_hour(h["hour"]), h["vehicles"]] for h in doc["average_per_hour"]])
    return [sheet, hours], Chart(
        n.t("average_per_hour"), [str(h["hour"]) for h in doc["average_per_hour"]],
        {n.t("vehicles"): [h["vehicles"] for h in doc["average_per_hour"]]})


def _targets_sheets(doc: dict[str, Any], n: Naming) -> tuple[list[Sheet], Chart]:
    """Progress against the year's targets."""
    cols = ["indicator", "target", "achieved", "share_pct", "remaining", "months_left",
            "per_month_needed", "previous_year"]
    sheet = Sheet(n.t("targets"), [n.t(c) for c in cols])
    for r in doc["rows"]:
        sheet.rows.append([n.t(r["indicator"])] + [_pct(r[c]) for c in cols[1:]])
    return [sheet], Chart(n.t("share_pct"), [n.t(r["indicator"]) for r in doc["rows"]],
                          {n.t("share_pct"): [r["share_pct"] for r in doc["rows"]]})


def _situation_sheets(doc: dict[str, Any], n: Naming) -> tuple[list[Sheet], Chart]:
    """The day's situation by direction, and the controls, hours, holds and rejections."""
    d = ("export", "import")
    sheet = Sheet(n.t("situation"), ["", *_directions(n)])
    sheet.rows.append([n.t("cleared")] + [doc["cleared"][x] for x in d])
    sheet.rows.append([n.t("declared")] + [doc["declared"][x] for x in d])
    for place in ("staging", "called", "gate_area"):
        sheet.rows.append([n.t(place)] + [doc["remaining"][place][x] for x in d])
    for p in doc["partner_yard"]:
        sheet.rows.append([f"{n.t('partner_yard')} ({n.code('direction', p['direction'])})",
                           p["vehicles"], datetime.fromisoformat(p["counted_at"])])
    hours = doc["working_hours"]
    info = Sheet(n.t("controls"), [n.t("kind"), n.t("detail")])
    info.rows.append([n.t("working_hours"),
                      ", ".join(f"{a}–{b}" for a, b in hours["intervals"])
                      or n.code("day_kind", hours.get("kind")) or n.t("none")])
    for c in doc["controls"]:
        info.rows.append([n.code("control_kind", c["kind"]),
                          f"{n.datetime(c['starts_at'])} – {n.datetime(c['ends_at'])}"
                          + (f"{n.colon}{c['reason']}" if c.get("reason") else "")])
    for k, items in (("hold", doc["holds"]), ("reject", doc["rejections"])):
        for i in items:
            info.rows.append([n.t(k), f"{n.code('step', i['step'])}, "
                                      f"{n.code('reason', i['reason_code'])}{n.colon}"
                                      f"{n.number(i['count'])}"])
    return [sheet, info], Chart(
        n.t("situation"), [n.t(p) for p in ("staging", "called", "gate_area")],
        {n.code("direction", x): [doc["remaining"][p][x]
                                  for p in ("staging", "called", "gate_area")]
         for x in d})


_SHEETS: dict[str, Callable[[dict[str, Any], Naming], tuple[list[Sheet], Chart]]] = {
    "traffic": _traffic_sheets,
    "times": _times_sheets,
    "holds": _holds_sheets,
    "peaks": _peaks_sheets,
    "targets": _targets_sheets,
    "situation": _situation_sheets,
}
"""How each report kind becomes sheets and a chart."""


def title(doc: dict[str, Any], lang: Lang | Naming,
          network: Network | None = None) -> tuple[str, str]:
    """The report's title and its subtitle (period and filters), for people."""
    n = naming(lang, network)
    kind = doc["report"]
    if kind == "targets":
        sub = f"{doc['year']} · {n.t('as_of')} {n.date(doc['as_of'])}"
        if doc.get("gate"):
            sub += f" · {n.code('gate', doc['gate'])}"
    elif kind == "situation":
        gate = n.code("gate", doc["gate"]) if doc.get("gate") else doc["gate_name"]
        if gate == doc.get("gate"):
            gate = doc["gate_name"]
        sub = f"{gate} · {n.date(doc['date'])} · {n.t('as_of')} {n.datetime(doc['as_of'])}"
    else:
        sub = f"{n.t('period')}{n.colon}{n.period(doc['from'], doc['to'])}"
        if doc.get("filters"):
            sub += " · " + ", ".join(f"{n.t(k)}{n.colon}{n.key(k, v)}"
                                     for k, v in doc["filters"].items())
    return n.t(kind), sub


# --- writers ---------------------------------------------------------------------------------

Names = Mapping[str, str]


def _csv_value(v: Any) -> Any:
    """A cell as CSV writes it: numbers as they are, dates in ISO form, hours as HH:MM."""
    if isinstance(v, datetime):
        return v.astimezone(LOCAL_TZ).isoformat(timespec="minutes")
    if isinstance(v, time):
        return v.strftime("%H:%M")
    return defuse(v)


def to_csv(doc: dict[str, Any], lang: Lang, *, network: Network | None = None,
           enterprises: Names | None = None) -> bytes:
    n = naming(lang, network, enterprises)
    buf = io.StringIO()
    writer = csv.writer(buf)
    head, sub = title(doc, n)
    writer.writerow([defuse(head)])
    writer.writerow([defuse(sub)])
    for sheet in sheets(doc, n)[0]:
        writer.writerow([])
        writer.writerow([defuse(sheet.title)])
        writer.writerow([defuse(c) for c in sheet.columns])
        for row in sheet.rows:
            writer.writerow([_csv_value(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _xlsx_value(v: Any) -> Any:
    if isinstance(v, datetime):  # Excel has no time zones: the local time
        return v.astimezone(LOCAL_TZ).replace(tzinfo=None)
    return defuse(v)


def to_xlsx(doc: dict[str, Any], lang: Lang, *, network: Network | None = None,
            enterprises: Names | None = None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    n = naming(lang, network, enterprises)
    wb = Workbook()
    head, sub = title(doc, n)
    for i, sheet in enumerate(sheets(doc, n)[0]):
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
            ws.append([_xlsx_value(v) for v in row])
            for cell, v in zip(ws[ws.max_row], row, strict=False):
                if isinstance(v, time):
                    cell.number_format = "hh:mm"
                elif isinstance(v, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
                elif isinstance(v, date):
                    cell.number_format = "yyyy-mm-dd"
        for i_col, col in enumerate(ws.iter_cols(min_row=4), start=1):
            width = max((len(n.cell(c.value)) for c in col), default=8)
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


def to_pdf(doc: dict[str, Any], lang: Lang, *, network: Network | None = None,
           enterprises: Names | None = None) -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    n = naming(lang, network, enterprises)
    pdf = FPDF(orientation="portrait", format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("Noto", "", str(FONT))
    pdf.add_page()
    head, sub = title(doc, n)
    pdf.set_title(head)
    pdf.set_lang({"vi": "vi-VN", "en": "en-GB", "zh": "zh-CN"}[n.lang])
    pdf.set_font("Noto", size=15)
    pdf.multi_cell(0, 8, head, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Noto", size=9)
    pdf.multi_cell(0, 5, sub, new_x="LMARGIN", new_y="NEXT")
    tables, chart = sheets(doc, n)
    if chart is not None and chart.labels and any(v for vs in chart.series.values() for v in vs):
        pdf.image(io.BytesIO(chart_png(chart)), w=pdf.epw)
    for sheet in tables:
        pdf.ln(3)
        pdf.set_font("Noto", size=11)
        pdf.multi_cell(0, 6, sheet.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Noto", size=7)
        keep = [i for i in range(len(sheet.columns)) if i not in sheet.machine]
        numeric = [bool(sheet.rows) and all(isinstance(r[i], (int, float, Decimal)) or r[i] == ""
                                            for r in (_pad(r, len(sheet.columns))
                                                      for r in sheet.rows))
                   for i in keep]
        with pdf.table(headings_style=FontFace(emphasis=None, fill_color=(230, 236, 240)),
                       text_align=tuple("RIGHT" if num else "LEFT" for num in numeric),
                       col_widths=tuple(1 if num else 2 for num in numeric),
                       line_height=4.5) as table:
            table.row([str(sheet.columns[i]) for i in keep])
            for row in sheet.rows:
                cells = _pad(row, len(sheet.columns))
                table.row([n.cell(cells[i]) for i in keep])
    return bytes(pdf.output())


def _pad(row: Sequence[Any], n: int) -> list[Any]:
    return [*row, *[""] * (n - len(row))][:max(n, len(row))]


def render(doc: dict[str, Any], fmt: Format, lang: Lang, *, network: Network | None = None,
           enterprises: Names | None = None) -> bytes:
    """A report document as a file in ``lang``; with the network, its codes are named as the
    network names them (else by the label tables), enterprises by ``enterprises``."""
    if fmt == "csv":
        return to_csv(doc, lang, network=network, enterprises=enterprises)
    if fmt == "xlsx":
        return to_xlsx(doc, lang, network=network, enterprises=enterprises)
    if fmt == "pdf":
        return to_pdf(doc, lang, network=network, enterprises=enterprises)
    raise ValueError(fmt)  # pragma: no cover - json is returned as is by the API
