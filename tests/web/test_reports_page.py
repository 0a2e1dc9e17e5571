"""The reports page: figures and charts for a period, files in the page's language, for
officials and (their own figures) enterprises."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pypdf import PdfReader

from tests.factories import ENTERPRISE_TAX
from tests.report.test_trip_reports import TODAY, run_trip
from tests.web.test_accessibility import _unlabelled
from tests.web.test_driver import _login


def test_the_reports_page_shows_the_day(client: TestClient, auth: Any) -> None:
    run_trip(client, auth)
    _login(client, "regulator")
    page = client.get("/reports", params={"from": TODAY, "to": TODAY, "by": "gate",
                                          "lang": "en"})
    assert page.status_code == 200, page.text
    html = page.text
    assert "Traffic and goods report" in html
    assert "<th scope=\"row\">Huu Nghi" in html  # the gate by its name
    assert "<rect class=\"s0\"" in html  # the chart
    assert "Quarantine sampling" in html  # the hold, by its reason's name
    assert ">sampling<" not in html
    assert _unlabelled(html) == []
    xlsx = client.get(f"/reports/download/traffic.xlsx?from={TODAY}&to={TODAY}&lang=zh")
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book[book.sheetnames[0]]["A1"].value == "车辆与货物流量报告"
    pdf = client.get(f"/reports/download/holds.pdf?from={TODAY}&to={TODAY}")
    assert pdf.content.startswith(b"%PDF")
    bad = client.get("/reports", params={"from": TODAY, "to": "2020-01-01", "lang": "en"})
    assert bad.status_code == 422
    assert "before it starts on" in bad.text


def test_who_sees_the_reports_page(client: TestClient, auth: Any) -> None:
    run_trip(client, auth)
    _login(client, "enterprise2")
    page = client.get("/reports", params={"from": TODAY, "to": TODAY, "lang": "en"})
    assert page.status_code == 200
    # another enterprise's crossing is not in its figures, and the officials' parts are absent
    assert "<th scope=\"row\">Vehicles crossed</th><td>0</td>" in page.text
    assert "Holds and rejections report" not in page.text
    assert client.get(f"/reports/download/holds.csv?from={TODAY}&to={TODAY}").status_code == 403
    client.cookies.clear()
    _login(client, "driver")
    assert client.get("/reports").status_code == 403
    client.cookies.clear()
    first = client.get("/reports", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=/reports"


def _text(html: str) -> str:
    """What a person reads on a page: the text between the tags, not the attributes."""
    body = html.split("<main", 1)[1]
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


CODES = ("fresh-fruit", "quarantine", "sampling", "huu-nghi", "export", "import",
         "border_guard", "customs", "crossing", "medical")


def _codes(html: str) -> list[str]:
    text = _text(html)
    return [c for c in CODES if re.search(rf"(?<![\w-]){re.escape(c)}(?![\w-])", text)]


def test_the_reports_page_in_vietnamese_names_goods_steps_and_reasons(
        client: TestClient, auth: Any) -> None:
    run_trip(client, auth)
    _login(client, "regulator")
    page = client.get("/reports", params={"from": TODAY, "to": TODAY, "by": "goods_group",
                                          "lang": "vi"})
    assert page.status_code == 200, page.text
    html = page.text
    assert "<th scope=\"row\">Quả tươi (chuối" in html  # the goods group by its name
    assert "Kiểm dịch động, thực vật" in html  # the step of the hold
    assert "Lấy mẫu kiểm dịch" in html  # its reason
    assert _codes(html) == []
    day = date.fromisoformat(TODAY)
    shown = f"{day.day} thg {day.month}, {day.year}"  # the Vietnamese way
    assert f"{shown} – {shown}" in html
    assert TODAY not in _text(html)
    assert "900.000\xa0₫" in html  # the fee, in Vietnamese money
    # the peak hour: a date and an hour span, not "2026-... 9:00"
    assert re.search(rf"{re.escape(shown)}, \d\d:00–\d\d:00 \(1\)", html)
    by_gate = client.get("/reports", params={"from": TODAY, "to": TODAY, "by": "direction",
                                              "gate": "huu-nghi", "lang": "vi"}).text
    assert "<th scope=\"row\">Xuất khẩu</th>" in by_gate
    assert "Báo cáo tình hình trong ngày: Cửa khẩu quốc tế Hữu Nghị" in by_gate
    assert _codes(by_gate) == []
    by_enterprise = client.get("/reports", params={"from": TODAY, "to": TODAY,
                                                   "by": "enterprise", "lang": "vi"}).text
    assert "<th scope=\"row\">Cong ty TNHH Xuat nhap khau Demo</th>" in by_enterprise
    assert ENTERPRISE_TAX not in _text(by_enterprise)


def test_the_reports_page_in_chinese(client: TestClient, auth: Any) -> None:
    run_trip(client, auth)
    _login(client, "regulator")
    html = client.get("/reports", params={"from": TODAY, "to": TODAY, "by": "goods_group",
                                          "lang": "zh"}).text
    assert "鲜果（香蕉" in html
    assert "动植物检疫" in html
    assert "检疫抽样" in html
    day = date.fromisoformat(TODAY)
    assert f"{day.year}年{day.month}月{day.day}日" in html
    assert _codes(html) == []


def test_a_wrong_filter_keeps_the_others_and_says_why_in_vietnamese(
        client: TestClient, auth: Any) -> None:
    _login(client, "regulator")
    bad = client.get("/reports", params={"from": "2026-03-10", "to": "2026-03-01",
                                         "gate": "huu-nghi", "direction": "export",
                                         "by": "gate", "lang": "vi"})
    assert bad.status_code == 422
    html = bad.text
    assert ('<p class="alert" role="alert">Vui lòng kiểm tra các bộ lọc được đánh dấu.</p>'
            in html)
    assert ('<span class="error" id="to-error">kỳ báo cáo kết thúc ngày 1 thg 3, 2026, '
            "trước ngày bắt đầu 10 thg 3, 2026</span>") in html
    assert 'name="to" value="2026-03-01" required aria-invalid="true"' in html
    assert 'name="from" value="2026-03-10"' in html
    assert '<option value="huu-nghi" selected>' in html
    assert '<option value="export" selected>' in html
    assert '<option value="gate" selected>' in html
    assert "before" not in html
    typo = client.get("/reports", params={"from": "10/03/2026", "lang": "vi"})
    assert typo.status_code == 422
    assert "10/03/2026 không phải là ngày; hãy chọn ngày trên lịch" in typo.text
    strange = client.get("/reports", params={"by": "colour", "gate": "nowhere", "lang": "zh"})
    assert "请从所列分类方式中选择一项" in strange.text
    assert "口岸网络中没有口岸nowhere" in strange.text


def test_report_files_in_chinese_name_the_codes_and_keep_numbers(
        client: TestClient, auth: Any) -> None:
    run_trip(client, auth)
    _login(client, "regulator")
    span = f"from={TODAY}&to={TODAY}"
    pdf = client.get(f"/reports/download/holds.pdf?{span}&lang=zh")
    assert pdf.status_code == 200
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "暂扣与拒绝报告" in text
    assert "动植物检疫" in text
    assert "检疫抽样" in text
    assert "sampling" not in text
    assert "quarantine" not in text
    day = date.fromisoformat(TODAY)
    assert f"{day.year}年{day.month}月{day.day}日" in text  # the period, the Chinese way
    # a spreadsheet: the goods group by its name, its code beside it, figures as numbers
    raw = client.get(f"/reports/download/traffic.csv?{span}&by=goods_group&lang=zh")
    rows = list(csv.reader(io.StringIO(raw.content.decode("utf-8-sig"))))
    header = next(r for r in rows if r and r[0] == "货物类别")
    row = next(r for r in rows if r and r[0].startswith("鲜果"))
    assert header[1] == "货物类别（代码）" or header[1].startswith("货物类别")
    assert row[1] == "fresh-fruit"
    assert row[2] == "1"  # vehicles crossed: a plain number
    assert row[header.index("收费（越南盾）")] == "900000"
    book = load_workbook(io.BytesIO(client.get(
        f"/reports/download/traffic.xlsx?{span}&by=goods_group&lang=vi").content))
    sheet = book[book.sheetnames[-1]]
    found = next(r for r in sheet.iter_rows(values_only=True)
                 if r[0] and str(r[0]).startswith("Quả tươi"))
    assert found[1] == "fresh-fruit"
    assert found[2] == 1
