"""The enterprise portal: a declaration made in the form is checked with the API's rules and
messages next to each field, then appears in the portal, on the board and in the console; the
fee is paid online through the gateway; another enterprise's trips stay out."""

from __future__ import annotations

import re
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
    return sent.headers["location"].split("created=")[1]


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
