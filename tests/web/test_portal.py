"""The enterprise portal: a declaration made in the form is checked with the API's rules and
messages next to each field, then appears in the portal, on the board and in the console; the
fee is paid online through the gateway; another enterprise's trips stay out."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
import segno
from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.config import DEFAULT_NETWORK_FILE
from borderflow.declaration import service as declarations
from borderflow.declaration.schemas import DeclarationIn
from borderflow.domain.access import SYSTEM
from borderflow.network import service as networks
from borderflow.network.holidays import around
from borderflow.store.models import Trip
from borderflow.store.session import make_engine, make_session_factory
from borderflow.trip import service as trips
from tests import factories
from tests.conftest import NOW, TODAY, Peek
from tests.factories import ENTERPRISE_TAX, OTHER_TAX
from tests.web.test_accessibility import _unlabelled
from tests.web.test_driver import _csrf, _login

# What these pages show and refuse does not depend on the database: the services they
# call run on PostgreSQL in the API tests, so the PostgreSQL pass leaves this module out.
pytestmark = pytest.mark.any_database

GOOD = {
    "direction": "export", "requested_gate": "huu-nghi", "requested_date": "2026-11-23",
    "enterprise.name": "Cong ty TNHH Xuat nhap khau Demo",
    "goods[0].hs_code": "0810.90", "goods[0].description": "Fresh dragon fruit",
    "goods[0].quantity": "1200", "goods[0].unit": "carton",
    "goods[0].net_weight_kg": "15000", "goods[0].value_usd": "21000",
    "vehicles[0].plate": "29C-800.01", "vehicles[0].vehicle_type": "refrigerated_truck",
    "vehicles[0].payload_tonnes": "18", "vehicles[0].container": "none",
    "vehicles[0].driver.name": "Nguyen Van Tai",
    "vehicles[0].driver.document_type": "vn_citizen_id",
    "vehicles[0].driver.document_number": "001089012345",
    "vehicles[0].driver.phone": "0912345678",
    "quarantine[0].kind": "plant", "quarantine[0].certificate_number": "KDTV-2026-001234",
}


def _declared(client: TestClient, plate: str) -> str:
    """A declaration sent from the portal's form by the signed-in enterprise; its reference."""
    token = _csrf(client, "/portal/declarations/new")
    sent = client.post("/portal/declarations/new",
                       data={**GOOD, "vehicles[0].plate": plate, "csrf": token},
                       follow_redirects=False)
    assert sent.status_code == 303, sent.text
    return str(sent.headers["location"]).split("created=")[1]


def test_a_declaration_made_in_the_portal_is_checked_then_shows_everywhere(
    client: TestClient, auth: Any
) -> None:
    ok = _login(client, "enterprise")
    assert ok.headers["location"] == "/portal"
    token = _csrf(client, "/portal/declarations/new")
    bad = dict(GOOD, **{"goods[0].hs_code": "12", "vehicles[0].plate": "not a plate",
                        "quarantine[0].certificate_number": ""})
    refused = client.post("/portal/declarations/new", data={**bad, "csrf": token},
                          params={"lang": "en"})
    assert refused.status_code == 422
    page = refused.text
    for name in ("goods[0].hs_code", "vehicles[0].plate"):
        assert f'id="{name}-error"' in page, name
    assert 'value="Fresh dragon fruit"' in page  # what was typed is kept
    api = client.post("/api/v1/declarations", headers=auth("enterprise"), json={
        "direction": "export", "enterprise": {"tax_code": "0100109106", "name": "X Co"},
        "requested_gate": "huu-nghi", "requested_date": "2026-11-23",
        "goods": [{"hs_code": "12", "description": "x", "quantity": "1", "unit": "kg",
                   "net_weight_kg": 1, "value_usd": "1"}],
        "vehicles": [{"plate": "29C-800.09", "vehicle_type": "truck", "payload_tonnes": "5",
                      "driver": {"name": "A", "document_type": "vn_citizen_id",
                                 "document_number": "001089012345", "phone": "0912345678"}}]})
    api_reason = next(f["reason"] for f in api.json()["error"]["fields"]
                      if f["field"] == "goods[0].hs_code")
    assert api_reason in page  # the same message as the API gives
    sent = client.post("/portal/declarations/new", data={**GOOD, "csrf": token},
                       follow_redirects=False)
    assert sent.status_code == 303, sent.text
    reference = sent.headers["location"].split("created=")[1]
    portal = client.get("/portal", params={"lang": "en"}).text
    assert f'id="trip-{reference}-1"' in portal
    assert "Pay online" in portal
    detail = client.get(f"/portal/trips/{reference}-1", params={"lang": "en"}).text
    assert "trip.created" in detail  # the timeline
    assert "fee.assessed" in detail
    assert 'data-step="declaration" data-step-status="passed">Passed<' in detail
    client.post(f"/api/v1/trips/{reference}-1/movements",
                json={"action": "enter", "area": "staging:viettel-logistics-park"},
                headers=auth("yard"))
    board = client.get("/board", params={"lang": "en"}).text
    gate = board[board.index('id="gate-huu-nghi"'):]
    assert re.search(r'data-figure="queue-export">1<', gate)
    client.cookies.clear()
    _login(client, "regulator")
    assert f"{reference}-1" in client.get("/console").text


def test_the_fee_is_paid_online_from_the_portal(client: TestClient, auth: Any) -> None:
    _login(client, "enterprise")
    reference = _declared(client, "29C-800.02")
    number = client.get(f"/api/v1/trips/{reference}-1/invoice",
                        headers=auth("enterprise")).json()["number"]
    go = client.post(f"/portal/invoices/{number}/pay", data={"csrf": _csrf(client, "/portal")},
                     follow_redirects=False)
    assert go.status_code == 303
    assert "/sandbox/vnpay/paymentv2/vpcpay.html?" in go.headers["location"]
    assert "vnp_SecureHash=" in go.headers["location"]


def test_another_enterprises_trips_and_other_roles_stay_out(
    client: TestClient, auth: Any
) -> None:
    _login(client, "enterprise")
    reference = _declared(client, "29C-800.03")
    client.cookies.clear()
    _login(client, "enterprise2")
    assert reference not in client.get("/portal").text
    number = client.get(f"/api/v1/trips/{reference}-1/invoice",
                        headers=auth("enterprise")).json()["number"]
    stolen = client.post(f"/portal/invoices/{number}/pay",
                         data={"csrf": _csrf(client, "/portal/declarations/new")})
    assert stolen.status_code == 404
    assert client.get(f"/portal/trips/{reference}-1").status_code == 404
    client.cookies.clear()
    _login(client, "customs")
    assert client.get("/portal").status_code == 403


class _Form(HTMLParser):
    """The fields a browser sends for the page's amend form (the Save button)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and a.get("name"):
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.fields[a["name"]] = "on"
            else:
                self.fields[a["name"]] = a.get("value", "")
        elif tag == "select":
            self.select = a["name"]
            self.fields.setdefault(self.select, "")
        elif tag == "option" and self.select and "selected" in a:
            self.fields[self.select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self.select = None


def _confirmation(html: str) -> dict[str, str]:
    """What ticking "I have checked these figures and they are right" sends."""
    found = re.search(r'name="figures" value="([^"]+)"', html)
    assert found, "no figures to confirm on the page"
    return {"figures": found.group(1), "figures_checked": "on"}


def _amend_form(client: TestClient, url: str, html: str | None = None) -> dict[str, str]:
    parser = _Form()
    parser.feed(html if html is not None else client.get(url, params={"lang": "en"}).text)
    return parser.fields


def test_a_declaration_is_amended_in_the_portal_with_the_apis_rules(
    client: TestClient, auth: Any
) -> None:
    _login(client, "enterprise")
    client.cookies.set("lang", "en")  # the form read and sent in one language
    reference = _declared(client, "29C-800.05")
    url = f"/portal/declarations/{reference}/amend"
    form = _amend_form(client, url)
    assert form["vehicles[0].driver.document_number"] == "001089012345"  # the whole vehicle
    assert form["goods[0].hs_code"] == "081090"
    bad = client.post(url, data={**form, "requested_date": "2026-11-24",
                                 "vehicles[0].plate": "not a plate"}, params={"lang": "en"})
    assert bad.status_code == 422
    assert 'id="vehicles[0].plate-error"' in bad.text
    after_bad = client.get(f"/api/v1/declarations/{reference}",
                           headers=auth("enterprise")).json()
    assert after_bad["requested_date"] == "2026-11-23"  # nothing half-written
    ok = client.post(url, data={**form, "requested_date": "2026-11-24",
                                "vehicles[0].plate": "29C-800.55",
                                "vehicles[0].driver.phone": "0987654321"},
                     follow_redirects=False)
    assert ok.status_code == 303, ok.text
    decl = client.get(f"/api/v1/declarations/{reference}", headers=auth("enterprise")).json()
    assert decl["requested_date"] == "2026-11-24"
    assert decl["vehicles"][0]["plate"] == "29C-800.55"
    assert decl["vehicles"][0]["driver"]["phone"] == "+84987654321"
    assert decl["goods"][0]["description"] == "Fresh dragon fruit"  # untouched, kept
    stale = client.post(url, data={**form, "requested_date": "2026-11-25",
                                   "vehicles[0].plate": "29C-800.55"})
    assert stale.status_code == 412  # filled in from an older revision, as If-Match in the API
    client.cookies.clear()
    _login(client, "enterprise2")
    assert client.get(url).status_code == 404


def test_goods_lines_and_vehicles_are_added_and_removed_all_or_nothing(
    client: TestClient, auth: Any
) -> None:
    _login(client, "enterprise")
    client.cookies.set("lang", "en")  # the form read and sent in one language
    reference = _declared(client, "29C-800.06")
    url = f"/portal/declarations/{reference}/amend"
    form = _amend_form(client, url)
    # "Add a goods line" and "Add a vehicle" show one more empty row each; nothing is saved
    added = client.post(url, data={**form, "add": "goods", "requested_date": "2026-11-24"},
                        params={"lang": "en"})
    assert added.status_code == 200
    assert 'name="goods[1].hs_code"' in added.text
    form = _amend_form(client, url, added.text)
    assert form["requested_date"] == "2026-11-24"  # what was typed is kept
    form = _amend_form(client, url, client.post(url, data={**form, "add": "vehicles"}).text)
    assert "vehicles[1].plate" in form
    assert client.get(f"/api/v1/declarations/{reference}", headers=auth("enterprise")
                      ).json()["revision"] == 1
    # a bad second vehicle and a bad new goods line: the API's messages next to each field,
    # and none of the changes is saved
    form.update({
        "goods[1].hs_code": "8471.30", "goods[1].description": "Laptop computers",
        "goods[1].quantity": "50", "goods[1].unit": "carton", "goods[1].net_weight_kg": "-5",
        "goods[1].value_usd": "9000",
        "vehicles[1].plate": "29C-800.07", "vehicles[1].vehicle_type": "container_truck",
        "vehicles[1].payload_tonnes": "25", "vehicles[1].container": "40ft",
        "vehicles[1].driver.name": "Tran Van Lai",
        "vehicles[1].driver.document_type": "vn_citizen_id",
        "vehicles[1].driver.document_number": "12345", "vehicles[1].driver.phone": "0912000111"})
    bad = client.post(url, data=form, params={"lang": "en"})
    assert bad.status_code == 422
    assert re.search(r'id="goods\[1\]\.net_weight_kg-error">Must be more than 0', bad.text)
    assert 'id="vehicles[1].driver.document_number-error"' in bad.text
    assert 'id="goods[0].hs_code-error"' not in bad.text
    unchanged = client.get(f"/api/v1/declarations/{reference}", headers=auth("enterprise")).json()
    assert (unchanged["revision"], len(unchanged["goods"]), len(unchanged["vehicles"])) == (
        1, 1, 1)
    # corrected: saved at once; the second vehicle is a second trip
    form.update({"goods[1].net_weight_kg": "400",
                 "vehicles[1].driver.document_number": "001089012399"})
    ok = client.post(url, data=form, follow_redirects=False)
    assert ok.status_code == 303, ok.text
    decl = client.get(f"/api/v1/declarations/{reference}", headers=auth("enterprise")).json()
    assert [g["hs_code"] for g in decl["goods"]] == ["081090", "847130"]
    assert [v["plate"] for v in decl["vehicles"]] == ["29C-800.06", "29C-800.07"]
    assert client.get(f"/api/v1/trips/{reference}-2", headers=auth("enterprise")
                      ).status_code == 200
    # removing the first goods line and the first vehicle: errors of what stays are shown
    # against the rows they were typed in
    form = _amend_form(client, url)
    removed = client.post(url, data={**form, "goods[0].remove": "on",
                                     "vehicles[0].remove": "on",
                                     "vehicles[1].driver.phone": "12"}, params={"lang": "en"})
    assert removed.status_code == 422
    assert 'id="vehicles[1].driver.phone-error"' in removed.text
    kept = {**form, "goods[0].remove": "on", "vehicles[0].remove": "on",
            "quarantine[0].remove": "on"}
    light = client.post(url, data=kept)  # 400 kg left on a 25-tonne truck: check it first
    assert 'id="goods[1].net_weight_kg-warning"' in light.text
    assert client.get(f"/api/v1/declarations/{reference}", headers=auth("enterprise")
                      ).json()["revision"] == 2
    ok = client.post(url, data={**kept, **_confirmation(light.text)}, follow_redirects=False)
    assert ok.status_code == 303, ok.text
    decl = client.get(f"/api/v1/declarations/{reference}", headers=auth("enterprise")).json()
    assert [g["hs_code"] for g in decl["goods"]] == ["847130"]
    assert [v["plate"] for v in decl["vehicles"]] == ["29C-800.07"]
    assert decl["quarantine"] == []


# --- numbers in the page's language, one round of errors, warnings confirmed ----------------


def _notes(html: str) -> dict[str, str]:
    """The messages next to the fields: field name -> text (errors and warnings)."""
    return {name: unescape(text) for name, text in
            re.findall(r'<p class="(?:error|warning)" id="([^"]+)-(?:error|warning)">([^<]*)',
                       html)}


def _declarations(client: TestClient, auth: Any) -> list[dict[str, Any]]:
    return list(client.get("/api/v1/declarations", headers=auth("enterprise")).json()["items"])


VI_NUMBERS = {"goods[0].quantity": "1.200", "goods[0].net_weight_kg": "15.000",
              "goods[0].value_usd": "21.000,50", "vehicles[0].payload_tonnes": "18"}


def test_numbers_typed_the_vietnamese_way_are_stored_exactly(
    client: TestClient, auth: Any
) -> None:
    """`1.200` cartons and `15.000` kg on a Vietnamese page are one thousand two hundred and
    fifteen thousand (not 1.2 and 15); `21.000,50` USD is 21000.50."""
    _login(client, "enterprise")
    token = _csrf(client, "/portal/declarations/new?lang=vi")
    sent = client.post("/portal/declarations/new", params={"lang": "vi"}, follow_redirects=False,
                       data={**GOOD, **VI_NUMBERS, "vehicles[0].plate": "29C-800.21",
                             "csrf": token})
    assert sent.status_code == 303, _notes(sent.text)
    reference = sent.headers["location"].split("created=")[1]
    stored = client.get(f"/api/v1/declarations/{reference}", headers=auth("enterprise")).json()
    line = stored["goods"][0]
    assert (line["quantity"], line["net_weight_kg"], line["value_usd"]) == (
        "1200", 15000, "21000.50")
    assert stored["vehicles"][0]["payload_tonnes"] == "18"
    # the confirmation says what was stored, in Vietnamese, numbers written the same way
    done = client.get(sent.headers["location"] + "&lang=vi").text
    status = re.search(r'role="status">([^<]*)<', done)
    assert status is not None, done
    assert status.group(1).startswith(f"Đã gửi tờ khai {reference}: 1 dòng hàng, "
                                      "khối lượng tịnh 15.000 kg, trị giá 21.000,50")
    assert "Cửa khẩu quốc tế Hữu Nghị" in status.group(1)
    # the amend form shows them back as they were typed there
    form = _amend_form(client, f"/portal/declarations/{reference}/amend?lang=vi",
                       client.get(f"/portal/declarations/{reference}/amend",
                                  params={"lang": "vi"}).text)
    assert form["goods[0].quantity"] == "1.200"
    assert form["goods[0].net_weight_kg"] == "15.000"
    assert form["goods[0].value_usd"] == "21.000,5"
    # ...and saved unchanged they stay the same numbers
    again = client.post(f"/portal/declarations/{reference}/amend", params={"lang": "vi"},
                        data={**form, "note": "Hàng xếp trên pallet"}, follow_redirects=False)
    assert again.status_code == 303, _notes(again.text)
    amended = client.get(f"/api/v1/declarations/{reference}", headers=auth("enterprise")).json()
    assert amended["goods"] == stored["goods"]
    assert amended["revision"] == 2


def test_numbers_typed_the_chinese_way_are_stored_exactly(client: TestClient, auth: Any) -> None:
    _login(client, "enterprise")
    token = _csrf(client, "/portal/declarations/new?lang=zh")
    sent = client.post("/portal/declarations/new", params={"lang": "zh"}, follow_redirects=False,
                       data={**GOOD, "goods[0].quantity": "1,200",
                             "goods[0].net_weight_kg": "15,000",
                             "goods[0].value_usd": "21000.50", "vehicles[0].plate": "29C-800.22",
                             "csrf": token})
    assert sent.status_code == 303, _notes(sent.text)
    reference = sent.headers["location"].split("created=")[1]
    line = client.get(f"/api/v1/declarations/{reference}",
                      headers=auth("enterprise")).json()["goods"][0]
    assert (line["quantity"], line["net_weight_kg"], line["value_usd"]) == (
        "1200", 15000, "21000.50")
    form = _amend_form(client, "", client.get(f"/portal/declarations/{reference}/amend",
                                              params={"lang": "zh"}).text)
    assert (form["goods[0].quantity"], form["goods[0].net_weight_kg"]) == ("1,200", "15,000")


def test_an_ambiguous_number_is_refused_at_its_field_naming_both_readings(
    client: TestClient, auth: Any
) -> None:
    _login(client, "enterprise")
    token = _csrf(client, "/portal/declarations/new?lang=vi")
    refused = client.post("/portal/declarations/new", params={"lang": "vi"},
                          data={**GOOD, **VI_NUMBERS, "goods[0].quantity": "1,200",
                                "csrf": token})
    assert refused.status_code == 422
    notes = _notes(refused.text)
    assert notes == {"goods[0].quantity": "1,200 có thể hiểu là 1,2 hoặc 1.200; "
                                          "hãy viết 1,2 hoặc 1200"}
    assert 'value="1,200"' in refused.text  # what was typed is kept
    assert re.search(r'id="goods\[0\]\.quantity"[^>]*autofocus', refused.text)
    assert _declarations(client, auth) == []
    zh = client.post("/portal/declarations/new", params={"lang": "zh"},
                     data={**GOOD, "goods[0].net_weight_kg": "15.000", "csrf": token})
    assert _notes(zh.text) == {"goods[0].net_weight_kg": "15.000 可理解为 15 或 15,000；"
                                                         "请写成 15 或 15000"}


def test_every_error_of_the_form_is_shown_in_one_round_in_the_pages_language(
    client: TestClient, auth: Any
) -> None:
    """A bad plate and an unreadable number (field errors) together with every network rule
    the rest breaks: a gate that takes no imports and not these goods, a date in the past,
    a missing quarantine certificate, more weight than payload."""
    _login(client, "enterprise")
    token = _csrf(client, "/portal/declarations/new?lang=vi")
    bad = {**GOOD, **VI_NUMBERS, "csrf": token,
           "direction": "import", "requested_gate": "binh-nghi", "requested_date": "2026-11-20",
           "vehicles[0].plate": "not a plate", "vehicles[0].payload_tonnes": "1,500",
           "goods[0].net_weight_kg": "20.000", "quarantine[0].certificate_number": "",
           "goods[1].hs_code": "8471.30", "goods[1].description": "Máy tính xách tay",
           "goods[1].quantity": "50", "goods[1].unit": "carton",
           "goods[1].net_weight_kg": "400", "goods[1].value_usd": "9.000"}
    page = client.post("/portal/declarations/new", params={"lang": "vi"}, data=bad)
    assert page.status_code == 422
    notes = _notes(page.text)
    assert notes["vehicles[0].plate"].startswith("Biển số không hợp lệ")
    assert notes["requested_gate"].startswith("Cửa khẩu Bình Nghi")
    assert "không tiếp nhận xe theo chiều “Nhập khẩu”" in notes["requested_gate"]
    assert notes["requested_date"].startswith("Phải là hôm nay (23 thg 11, 2026)")
    assert "không được qua Cửa khẩu Bình Nghi" in notes["goods[1].hs_code"]
    assert notes["quarantine"] == "Dòng hàng 1 cần có giấy chứng nhận: Kiểm dịch thực vật."
    assert notes["vehicles[0].payload_tonnes"].startswith("1,500 có thể hiểu là 1,5 hoặc 1.500")
    assert len(notes) == 6, notes
    # with a payload that can be read, the weight beyond it is named too
    page = client.post("/portal/declarations/new", params={"lang": "vi"},
                       data={**bad, "vehicles[0].payload_tonnes": "18"})
    assert "vượt tải trọng của các phương tiện (18.000 kg)" in _notes(page.text)["goods"]
    # the first field with a problem has the focus; nothing English on the page
    assert re.search(r'id="requested_gate"[^>]*autofocus', page.text)
    for english in ("gate '", "Field required", "Input should", "required for", "exceeds"):
        assert english not in page.text
    assert _declarations(client, auth) == []


def test_implausible_figures_are_confirmed_before_the_declaration_is_stored(
    client: TestClient, auth: Any
) -> None:
    """15 kg of fruit on an 18-tonne refrigerated truck: not stored at the first send; the
    warnings next to the figures and a box to tick; ticked with nothing else changed, it is
    stored."""
    _login(client, "enterprise")
    token = _csrf(client, "/portal/declarations/new?lang=vi")
    light = {**GOOD, **VI_NUMBERS, "goods[0].net_weight_kg": "15", "goods[0].value_usd": "30",
             "vehicles[0].plate": "29C-800.23", "csrf": token}
    first = client.post("/portal/declarations/new", params={"lang": "vi"}, data=light,
                        follow_redirects=False)
    assert first.status_code == 200
    assert _declarations(client, auth) == []
    assert _notes(first.text) == {"goods[0].net_weight_kg": (
        "Tổng khối lượng tịnh 15 kg chưa đến 5% tải trọng của các phương tiện (18.000 kg); "
        "hãy kiểm tra khối lượng (tính bằng kg) và tải trọng (tính bằng tấn).")}
    assert "Tôi đã kiểm tra các số liệu này và chúng chính xác" in first.text
    assert re.search(r'id="goods\[0\]\.net_weight_kg"[^>]*autofocus', first.text)
    confirmed = _confirmation(first.text)
    # not ticked: shown again, still not stored
    again = client.post("/portal/declarations/new", params={"lang": "vi"},
                        data={**light, "figures": confirmed["figures"]})
    assert again.status_code == 200
    assert _declarations(client, auth) == []
    # ticked, but a figure changed meanwhile: the new figures are checked again
    changed = client.post("/portal/declarations/new", params={"lang": "zh"},
                          data={**light, **confirmed, "goods[0].net_weight_kg": "16",
                                "goods[0].quantity": "1200"})
    assert changed.status_code == 200
    assert "总净重 16 千克不足车辆载重（18,000 千克）的 5%" in _notes(changed.text)[
        "goods[0].net_weight_kg"]
    assert _declarations(client, auth) == []
    # ticked and unchanged: stored as typed
    sent = client.post("/portal/declarations/new", params={"lang": "vi"},
                       data={**light, **confirmed}, follow_redirects=False)
    assert sent.status_code == 303
    [stored] = _declarations(client, auth)
    assert stored["total_net_weight_kg"] == 15


def test_refusals_show_a_portal_page_with_the_message_and_a_way_back(
    client: TestClient, auth: Any
) -> None:
    _login(client, "enterprise")
    token = _csrf(client, "/portal?lang=vi")
    # paying an invoice that is not theirs (or not there): the list again, message on top
    pay = client.post("/portal/invoices/NO-SUCH/pay", params={"lang": "vi"},
                      data={"csrf": token})
    assert pay.status_code == 404
    assert "<h1>Tờ khai của tôi</h1>" in pay.text
    assert re.search(r'class="alert" role="alert">[^<]*[a-zà-ỹ]', pay.text)
    assert 'href="/portal/declarations/new"' in pay.text
    # a declaration that is not theirs: the list again
    missing = client.get("/portal/declarations/BF-0000-0000/amend", params={"lang": "zh"})
    assert missing.status_code == 404
    assert "<h1>我的申报</h1>" in missing.text
    assert 'class="alert" role="alert">' in missing.text
    # changed by someone else meanwhile: the form again with what was typed, the message on
    # top and the current version a click away; saving again replaces the other change
    reference = _declared(client, "29C-800.24")
    # the pay button of a trip's page: that page again, with the message on top
    on_trip = client.post("/portal/invoices/NO-SUCH/pay", params={"lang": "vi"},
                          data={"csrf": token, "trip": f"{reference}-1"})
    assert on_trip.status_code == 404
    assert f"<h1>{reference}-1 · 29C-800.24</h1>" in on_trip.text
    assert 'class="alert" role="alert">' in on_trip.text
    url = f"/portal/declarations/{reference}/amend"
    form = _amend_form(client, url, client.get(url, params={"lang": "vi"}).text)
    client.patch(f"/api/v1/declarations/{reference}", headers=auth("enterprise"),
                 json={"note": "changed by the office"})
    stale = client.post(url, params={"lang": "vi"}, data={**form, "note": "mine"})
    assert stale.status_code == 412
    assert 'value="mine"' in stale.text
    assert f'<a href="{url}">Mở bản hiện tại</a>' in stale.text
    assert "Những thay đổi của bạn bên dưới vẫn được giữ" in stale.text
    saved = client.post(url, params={"lang": "vi"}, follow_redirects=False,
                        data=_amend_form(client, url, stale.text))
    assert saved.status_code == 303
    assert client.get(f"/api/v1/declarations/{reference}",
                      headers=auth("enterprise")).json()["note"] == "mine"


def test_the_portal_pages_show_labels_never_codes(client: TestClient, auth: Any) -> None:
    _login(client, "enterprise")
    reference = _declared(client, "29C-800.25")
    for lang, gate, status in (("vi", "Cửa khẩu quốc tế Hữu Nghị", "Đã khai báo"),
                               ("zh", "友谊国际口岸", "已申报")):
        listing = client.get("/portal", params={"lang": lang}).text
        row = listing[listing.index(f'id="trip-{reference}-1"'):]
        row = row[:row.index("</tr>")]
        cells = re.sub(r"<[^>]+>", "|", row)
        assert gate in cells
        assert status in cells
        for code in ("huu-nghi", "declared", ">open<", "normal", "perishable"):
            assert code not in cells, code
        trip = client.get(f"/portal/trips/{reference}-1", params={"lang": lang}).text
        text = re.sub(r"<[^>]+>", "|", trip[trip.index("<main"):])
        for code in ("huu-nghi", "trip.created", "fee.assessed", "passed", "pending",
                     "declared"):
            assert code not in text, code
        assert gate in text
    form = client.get("/portal/declarations/new", params={"lang": "vi"}).text
    assert '<option value="refrigerated_truck" >Xe tải đông lạnh</option>' in form
    assert '<option value="temporary_import_reexport" >Tạm nhập tái xuất</option>' in form
    assert '<option value="carton" >thùng</option>' in form
    assert re.search(r'id="direction"[^>]*autofocus', form)


def test_gates_and_dates_are_offered_where_they_can_be_valid(client: TestClient) -> None:
    """The gate options say which directions and goods they take (the page's script offers only
    those), the date is limited to the next 60 days and the gate's closed days are listed."""
    _login(client, "enterprise")
    form = client.get("/portal/declarations/new", params={"lang": "vi"}).text
    option = re.search(r'<option value="binh-nghi" ([^>]*)>', form)
    assert option is not None
    assert 'data-flows="export"' in option.group(1)
    assert 'data-groups="cassava-roots fresh-fruit fresh-vegetables coffee-tea-spices"' in \
        option.group(1)
    assert 'data-closed="2026-11-24 2026-11-28' in option.group(1)
    assert 'min="2026-11-23" max="2027-01-22"' in form
    closed = re.search(r'data-closed-days="binh-nghi" hidden>([^<]*)<', form)
    assert closed is not None
    assert closed.group(1).startswith("Ngày đóng cửa trong 60 ngày tới: 24 thg 11, 2026")
    assert '<script src="/static/portal.js" defer></script>' in form
    assert "BarcodeDetector" not in client.get("/static/portal.js").text
    assert client.get("/static/portal.js").status_code == 200


# --- the list of trips: search, paging, sorting; the trip page ---------------------------------


def _open_days(first: date, count: int) -> list[date]:
    """The next ``count`` days from ``first`` on which the Huu Nghi gate works."""
    network = networks.parse(networks.read_file(DEFAULT_NETWORK_FILE))
    gate = network.gate("huu-nghi")
    assert gate is not None
    calendar = network.calendar(gate.calendar)
    assert calendar is not None
    holidays = around(TODAY)
    found: list[date] = []
    day = first
    while len(found) < count:
        if not calendar.hours_on(day, holidays).is_closed:
            found.append(day)
        day += timedelta(days=1)
    return found


OPEN_DAYS = _open_days(TODAY + timedelta(days=2), 20)


def make_trips(url: str, count: int, *, tax: str = ENTERPRISE_TAX, first: int = 0,
               days: int = 10) -> list[tuple[str, str, str]]:
    """``count`` one-truck declarations made through the declaration service (quick: no page,
    no HTTP), plates 29C-5xx.yy from number ``first`` on, spread over ``days`` open days
    from the day after tomorrow; (trip reference, plate, ISO day) of each, in order."""
    engine = make_engine(url)
    made: list[tuple[str, str, str]] = []
    with make_session_factory(engine)() as s:
        _, network = networks.network_at(s, NOW)
        holidays = around(TODAY)
        for i in range(first, first + count):
            plate = f"29C-{500 + i // 100:03d}.{i % 100:02d}"
            body = factories.declaration(
                enterprise={"tax_code": tax, "name": f"Enterprise {tax}"},
                requested_date=OPEN_DAYS[i % days].isoformat())
            body["vehicles"][0]["plate"] = plate
            decl = declarations.create(s, DeclarationIn.model_validate(body), actor=SYSTEM,
                                       now=NOW + timedelta(seconds=i), network=network,
                                       holidays=holidays)
            made.append((f"{decl.reference}-1", plate, decl.requested_date.isoformat()))
        s.commit()
    engine.dispose()
    return made


def _listed(html: str) -> list[str]:
    """The trip references of a list page, in the order shown."""
    return re.findall(r'<tr id="trip-(BF-[0-9A-Z-]+)"', html)


def _count(html: str) -> str:
    found = re.search(r'id="trip-count">([^<]*)<', html)
    return unescape(found.group(1)).strip() if found else ""


def test_the_list_finds_a_trip_by_plate_reference_status_and_day(
    client: TestClient, settings: Any
) -> None:
    mine = make_trips(settings.database_url, 30)
    theirs = make_trips(settings.database_url, 2, tax=OTHER_TAX, first=7)  # same plates as 7, 8
    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as s:  # one of mine cancelled
        row = s.scalars(select(Trip).where(Trip.reference == mine[3][0])).one()
        trips.cancel_trip(s, row, "no longer needed", actor=SYSTEM, now=NOW)
        s.commit()
    engine.dispose()
    _login(client, "enterprise")
    ref, plate, _day = mine[7]
    for typed in (plate, plate.replace("-", " ").replace(".", "").lower(), "500.07"):
        assert _listed(client.get("/portal", params={"q": typed}).text) == [ref], typed
    assert _listed(client.get("/portal", params={"q": ref}).text) == [ref]
    declaration = ref.rsplit("-", 1)[0]
    assert _listed(client.get("/portal", params={"q": declaration}).text) == [ref]
    assert _listed(client.get("/portal", params={"q": theirs[0][0]}).text) == []
    assert _listed(client.get("/portal", params={"status": "cancelled"}).text) == [mine[3][0]]
    # a day range typed the Vietnamese way (day/month/year), both ends included
    first, last = OPEN_DAYS[2], OPEN_DAYS[3]
    page = client.get("/portal", params={"lang": "vi", "from": f"{first.day}/{first.month}/"
                                         f"{first.year}", "to": f"{last:%d/%m/%Y}"}).text
    wanted = {r for r, _p, d in mine if d in (first.isoformat(), last.isoformat())}
    assert set(_listed(page)) == wanted
    assert len(wanted) == 6
    assert _count(page) == "Chuyến 1–6 trong tổng số 6 chuyến"
    assert f'value="{first.day}/{first.month}/{first.year}"' in page  # what was typed is kept
    # combined: a plate within the range, nothing outside it
    assert _listed(client.get("/portal", params={"q": plate, "from": last.isoformat(),
                                                 "to": last.isoformat()}).text) == []


def test_the_list_pages_by_25_and_sorts_in_the_query_string(
    client: TestClient, settings: Any
) -> None:
    mine = make_trips(settings.database_url, 30)
    _login(client, "enterprise")
    first = client.get("/portal", params={"lang": "vi"}).text
    shown = _listed(first)
    assert len(shown) == 25
    assert _unlabelled(first) == []
    assert _count(first) == "Chuyến 1–25 trong tổng số 30 chuyến"
    assert "Trang 1/2" in first
    # newest day first, then the latest declared
    order = {r: (d, i) for i, (r, _p, d) in enumerate(mine)}
    assert shown == sorted(shown, key=lambda r: order[r], reverse=True)
    second = client.get("/portal", params={"page": "2"}).text
    assert len(_listed(second)) == 5
    assert set(_listed(second)).isdisjoint(shown)
    assert 'rel="prev"' in second
    assert 'rel="next"' not in second
    for beyond in ("9", "99999999999999999999999"):  # past the end: the last page
        assert client.get("/portal", params={"page": beyond}).text.count('<tr id="trip-') == 5
    assert len(_listed(client.get("/portal", params={"page": "-1"}).text)) == 25
    # sorted by reference, ascending; the page links keep the sort and the search
    by_ref = client.get("/portal", params={"sort": "reference", "order": "asc"}).text
    assert _listed(by_ref) == sorted(r for r, _p, _d in mine)[:25]
    assert 'href="/portal?sort=reference&amp;order=asc&amp;page=2"' in by_ref
    assert 'aria-sort="ascending"><a href="/portal?sort=reference&amp;order=desc"' in by_ref
    oldest = client.get("/portal", params={"sort": "date", "order": "asc"}).text
    assert _listed(oldest)[0] == mine[0][0]
    searched = client.get("/portal", params={"q": "29C-500", "sort": "reference"}).text
    assert "q=29C-500" in searched.split('class="pager"')[1]


def test_another_enterprises_trip_never_appears_and_its_page_is_refused(
    client: TestClient, settings: Any
) -> None:
    mine = make_trips(settings.database_url, 3)
    theirs = make_trips(settings.database_url, 3, tax=OTHER_TAX)  # the same plates
    _login(client, "enterprise")
    everything = set(_listed(client.get("/portal", params={"sort": "status"}).text))
    assert everything == {r for r, _p, _d in mine}
    for ref, plate, _day in theirs:
        assert _listed(client.get("/portal", params={"q": plate}).text) != [ref]
        assert _listed(client.get("/portal", params={"q": ref}).text) == []
        refused = client.get(f"/portal/trips/{ref}", params={"lang": "vi"})
        assert refused.status_code == 404
        assert ref not in _listed(refused.text)
        assert 'class="alert" role="alert">' in refused.text


def test_a_search_that_cannot_be_read_is_named_in_vietnamese(client: TestClient) -> None:
    _login(client, "enterprise")
    bad = client.get("/portal", params={"lang": "vi", "from": "31/02/2026", "to": "hôm qua",
                                        "status": "flying", "q": "29C"})
    assert bad.status_code == 422
    page = unescape(bad.text)
    assert "Không đọc được điều kiện tìm:" in page
    assert 'id="from-error">“31/02/2026” không phải là ngày; hãy viết như 23/11/2026<' in page
    assert 'id="to-error">“hôm qua” không phải là ngày' in page
    assert 'id="status-error">“flying” không phải là trạng thái của chuyến xe' in page
    assert 'value="31/02/2026"' in page
    assert 'value="29C"' in page
    assert 'aria-invalid="true" aria-describedby="from-error"' in page
    assert _unlabelled(bad.text) == []  # every field labelled, ids unique, drawings named
    backwards = client.get("/portal", params={"lang": "vi", "from": "2026-11-30",
                                              "to": "25/11/2026"})
    assert backwards.status_code == 422
    assert "“Đến ngày” ở trước “Từ ngày”." in unescape(backwards.text)
    chinese = client.get("/portal", params={"lang": "zh", "from": "2026/11/25"})
    assert chinese.status_code == 200  # the Chinese order: year/month/day


def test_the_trip_page_has_the_declaration_the_gate_code_the_slot_and_the_receipts(
    client: TestClient, auth: Any, db: Peek
) -> None:
    _login(client, "enterprise")
    reference = _declared(client, "29C-800.31")
    trip = f"{reference}-1"
    booked = client.post(f"/api/v1/trips/{trip}/booking", headers=auth("enterprise"),
                         json={"slot_start": "2026-11-23T09:00:00+07:00"})
    assert booked.status_code in (200, 201), booked.text
    invoice = client.get(f"/api/v1/trips/{trip}/invoice", headers=auth("enterprise")).json()
    paid = client.post(f"/api/v1/invoices/{invoice['number']}/payments",
                       json={"method": "cash", "amount": invoice["due"]},
                       headers=auth("cashier"))
    assert paid.status_code == 201, paid.text
    receipt = paid.json()["receipt_number"]
    page = client.get(f"/portal/trips/{trip}", params={"lang": "vi"})
    assert page.status_code == 200
    assert _unlabelled(page.text) == []
    html = unescape(page.text)
    # the declaration: goods line with its HS code, figures the Vietnamese way
    hs = re.findall(r'data-hs="([^"]+)"', html)
    assert [h.replace(".", "")[:6] for h in hs] == ["081090"]
    assert "Fresh dragon fruit" in html
    assert re.search(r">1\.200 [^<]+</td>", html)  # quantity, with its unit's label
    assert ">15.000</td>" in html  # net weight, kg
    assert "21.000,00" in html  # value in USD
    # the vehicle and its driver, the certificate, the gate, direction and day
    assert "29C-800.31" in html
    assert "Xe tải đông lạnh" in html
    assert "Nguyen Van Tai" in html
    assert "001089012345" in html
    assert "+84912345678" in html
    assert "KDTV-2026-001234" in html
    assert 'data-direction="export">Xuất khẩu<' in html
    assert '<time datetime="2026-11-23">' in html
    # the QR code holds the trip's reference, which the officers' search reads
    expected = segno.make(trip, error="m").svg_inline(scale=1, border=4, omitsize=True,
                                                      light="#fff",
                                                      title="Mã QR của chuyến xe, xuất trình "
                                                            "tại cửa khẩu")
    assert expected.replace("<svg ", "") in html
    assert f'<svg role="img" aria-label="Mã QR của chuyến xe, xuất trình tại cửa khẩu {trip}"' \
        in html
    # the slot booked, the fee and the receipt of the payment
    assert re.search(r'id="booked-slot">[^<]*09:00–09:30<', html)
    assert f'href="/api/v1/payments/{receipt}/receipt.html"' in html
    assert f'href="/api/v1/payments/{receipt}/receipt.pdf"' in html
    assert 'data-invoice-status="paid"' in html
    assert "Tiền mặt" in html  # the method's label
    assert db.scalar(select(Trip.status).where(Trip.reference == trip)) == "declared"


def test_a_truck_in_the_park_shows_its_place_in_the_queue_in_the_list_and_on_its_page(
    client: TestClient, auth: Any
) -> None:
    _login(client, "enterprise")
    trip = f"{_declared(client, '29C-800.32')}-1"
    entered = client.post(f"/api/v1/trips/{trip}/movements", headers=auth("yard"),
                          json={"action": "enter", "area": "staging:viettel-logistics-park"})
    assert entered.status_code in (200, 201), entered.text
    place = client.get(f"/api/v1/trips/{trip}/queue", headers=auth("enterprise")).json()
    assert place["position"] == 1
    listed = client.get("/portal", params={"lang": "vi", "q": trip}).text
    row = listed[listed.index(f'id="trip-{trip}"'):]
    assert re.search(r'data-label="Vị trí trong hàng chờ" class="num">1 / 1<', row)
    page = client.get(f"/portal/trips/{trip}", params={"lang": "vi"}).text
    assert '<dd id="queue-place"><b>1 / 1</b></dd>' in page
    assert 'data-status="at_staging"' in page
