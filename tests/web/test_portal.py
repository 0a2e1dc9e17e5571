"""The enterprise portal: a declaration made in the form is checked with the API's rules and
messages next to each field, then appears in the portal, on the board and in the console; the
fee is paid online through the gateway; another enterprise's trips stay out."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

from fastapi.testclient import TestClient

from tests.web.test_driver import _csrf, _login

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
