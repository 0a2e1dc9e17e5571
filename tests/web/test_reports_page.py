"""The reports page: figures and charts for a period, files in the page's language, for
officials and (their own figures) enterprises."""

from __future__ import annotations

import io
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook

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
    assert "sampling" in html  # the hold, by reason
    assert _unlabelled(html) == []
    xlsx = client.get(f"/reports/download/traffic.xlsx?from={TODAY}&to={TODAY}&lang=zh")
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book[book.sheetnames[0]]["A1"].value == "车辆与货物流量报告"
    pdf = client.get(f"/reports/download/holds.pdf?from={TODAY}&to={TODAY}")
    assert pdf.content.startswith(b"%PDF")
    bad = client.get("/reports", params={"from": TODAY, "to": "2020-01-01"})
    assert bad.status_code == 422
    assert "is before" in bad.text


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
