"""The new declaration form: as many goods lines and vehicles as the declarant adds (up to the
API's limits), what was typed kept when rows are added or removed, and every error naming its
row and field in the page's language."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.web.test_driver import _csrf, _login, visible
from tests.web.test_portal import GOOD

# What these pages show and refuse does not depend on the database: the services they
# call run on PostgreSQL in the API tests, so the PostgreSQL pass leaves this module out.
pytestmark = pytest.mark.any_database

FORM = "/portal/declarations/new"


def _many(goods: int, vehicles: int) -> dict[str, str]:
    """The good declaration with ``goods`` lines and ``vehicles`` vehicles, numbers typed the
    Vietnamese way."""
    data = {k: v for k, v in GOOD.items() if not k.startswith(("goods[", "vehicles["))}
    for i in range(goods):
        data |= {f"goods[{i}].hs_code": "0810.90", f"goods[{i}].description": f"Thanh long {i}",
                 f"goods[{i}].quantity": "1.200", f"goods[{i}].unit": "carton",
                 f"goods[{i}].net_weight_kg": "2.500", f"goods[{i}].value_usd": "3.500,50"}
    for i in range(vehicles):
        data |= {f"vehicles[{i}].plate": f"29C-81{i}.0{i}",
                 f"vehicles[{i}].vehicle_type": "refrigerated_truck",
                 f"vehicles[{i}].payload_tonnes": "18", f"vehicles[{i}].container": "none",
                 f"vehicles[{i}].driver.name": f"Nguyen Van Tai {i}",
                 f"vehicles[{i}].driver.document_type": "vn_citizen_id",
                 f"vehicles[{i}].driver.document_number": f"00108901234{i}",
                 f"vehicles[{i}].driver.phone": "0912345678"}
    return data | {"goods_count": str(goods), "vehicles_count": str(vehicles)}


def test_six_goods_lines_and_three_vehicles_are_declared_from_the_form(
    client: TestClient, auth: Any
) -> None:
    _login(client, "enterprise")
    token = _csrf(client, FORM)
    data = _many(6, 3)
    sent = client.post(FORM, data={**data, "csrf": token}, params={"lang": "vi"},
                       follow_redirects=False)
    assert sent.status_code == 303, visible(sent.text)
    reference = sent.headers["location"].split("created=")[1]
    decl = client.get(f"/api/v1/declarations/{reference}", headers=auth("enterprise")).json()
    assert len(decl["goods"]) == 6
    assert [g["description"] for g in decl["goods"]] == [f"Thanh long {i}" for i in range(6)]
    assert decl["goods"][5]["net_weight_kg"] == 2500  # "2.500" on a Vietnamese page
    assert decl["goods"][5]["value_usd"] == "3500.50"
    assert [v["plate"] for v in decl["vehicles"]] == ["29C-810.00", "29C-811.01", "29C-812.02"]
    trips = client.get("/api/v1/trips", params={"q": reference},
                       headers=auth("enterprise")).json()
    assert {t["reference"] for t in trips["items"]} >= {f"{reference}-{n}" for n in (1, 2, 3)}


def test_rows_are_added_and_removed_keeping_what_was_typed(client: TestClient) -> None:
    _login(client, "enterprise")
    token = _csrf(client, FORM)
    empty = client.get(FORM).text
    assert 'name="goods[2].hs_code"' in empty
    assert 'name="goods[3].hs_code"' not in empty
    assert 'name="vehicles[0].plate"' in empty
    assert 'name="vehicles[1].plate"' not in empty
    data = _many(3, 1)
    added = client.post(FORM, data={**data, "csrf": token, "add": "goods"})
    assert added.status_code == 200
    page = added.text
    assert 'name="goods[3].hs_code"' in page
    assert re.search(r'<input id="goods\[3\]\.hs_code"[^>]*autofocus', page)
    assert 'value="Thanh long 2"' in page  # what was typed is kept
    more = client.post(FORM, data={**data, "csrf": token, "add": "vehicles"}).text
    assert 'name="vehicles[1].plate"' in more
    assert 'value="29C-810.00"' in more
    # the second goods line marked for removal goes when a row is added; the rest move up
    removed = client.post(FORM, data={**data, "csrf": token, "goods[1].remove": "on",
                                      "add": "goods"}).text
    assert 'value="Thanh long 1"' not in removed
    assert re.search(r'id="goods\[1\]\.description"[^>]*value="Thanh long 2"', removed)
    assert 'value="1.200"' in removed  # numbers shown as typed, the Vietnamese way


def test_errors_name_the_row_and_the_field_in_the_pages_language(client: TestClient) -> None:
    _login(client, "enterprise")
    token = _csrf(client, FORM)
    data = _many(5, 2)
    data["goods[3].net_weight_kg"] = "-5"
    data["goods[4].quantity"] = "1,200"  # could be 1,2 or 1.200 on a Vietnamese page
    data["vehicles[1].plate"] = "not a plate"
    refused = client.post(FORM, data={**data, "csrf": token}, params={"lang": "vi"})
    assert refused.status_code == 422
    text = visible(refused.text)
    assert "Dòng hàng 4, Khối lượng tịnh (kg):" in text
    assert "Dòng hàng 5, Số lượng:" in text
    assert "Phương tiện 2, Biển số:" in text
    page = refused.text
    for name in ("goods[3].net_weight_kg", "goods[4].quantity", "vehicles[1].plate"):
        assert f'id="{name}-error"' in page, name
        assert f'href="#{name}"' in page, name
    assert 'value="not a plate"' in page
    assert 'value="1,200"' in page
    english = client.post(FORM, data={**data, "csrf": token}, params={"lang": "en"})
    assert "Goods line 4, Net weight (kg):" in visible(english.text)
    chinese = client.post(FORM, data={**data, "csrf": token}, params={"lang": "zh"})
    assert "货物行 4" in visible(chinese.text)
