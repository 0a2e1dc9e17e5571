"""Pre-arrival declarations through the API: validation, idempotency, scoping, amendments."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from borderflow.config import DEFAULT_NETWORK_FILE
from borderflow.network import service as networks
from borderflow.store.models import AuditEntry, Declaration
from tests import factories
from tests.conftest import Peek
from tests.factories import ENTERPRISE_TAX, OTHER_TAX

URL = "/api/v1/declarations"


def fields_of(response: Any) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    return {f["field"]: f["reason"] for f in body["error"]["fields"]}


def create(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(URL, json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_enterprise_submits_a_declaration(client: TestClient, auth: Any, db: Peek) -> None:
    r = client.post(URL, json=factories.declaration(), headers=auth("enterprise"))
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["reference"].startswith("BF-")
    assert len(d["reference"]) == 12
    assert d["status"] == "submitted"
    assert d["revision"] == 1
    assert d["flow"] == "export"
    assert d["perishable"] is False
    assert d["quarantine_kind"] == "none"
    assert d["goods"][0]["hs_code"] == "847130"
    assert d["vehicles"][0]["plate"] == "29C-123.45"
    assert d["vehicles"][0]["driver"]["phone"] == "+84912345678"
    assert d["total_net_weight_kg"] == 6000
    assert d["total_value_usd"] == "180000.00"
    assert r.headers["Location"] == f"{URL}/{d['id']}"
    assert r.headers["ETag"] == '"1"'
    audit = db.scalars(select(AuditEntry).where(AuditEntry.target_id == d["id"]))
    assert [(a.action, a.actor_name) for a in audit] == [("declaration.create", "enterprise")]
    assert audit[0].after["reference"] == d["reference"]


def test_perishable_and_quarantine_are_derived_from_the_catalogue(
    client: TestClient, auth: Any
) -> None:
    d = create(client, auth("enterprise"), factories.fruit_declaration())
    assert d["perishable"] is True
    assert d["quarantine_kind"] == "plant"
    assert d["goods"][0]["group"]


def test_quarantine_certificate_is_required_when_goods_need_it(
    client: TestClient, auth: Any
) -> None:
    body = factories.fruit_declaration(quarantine=[])
    r = client.post(URL, json=body, headers=auth("enterprise"))
    assert r.status_code == 422
    assert "plant quarantine certificate is required" in fields_of(r)["quarantine"]


def test_every_bad_field_is_named_at_once(client: TestClient, auth: Any) -> None:
    body = factories.declaration()
    body["enterprise"]["tax_code"] = "0100109107"  # wrong check digit
    body["goods"][0]["hs_code"] = "7701"  # chapter 77 does not exist
    body["vehicles"][0]["plate"] = "not a plate"
    body["vehicles"][0]["driver"]["phone"] = "12"
    r = client.post(URL, json=body, headers=auth("enterprise"))
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_failed"
    errors = fields_of(r)
    assert "check digit" in errors["enterprise.tax_code"]
    assert "chapter 77" in errors["goods[0].hs_code"]
    assert "not a recognised plate" in errors["vehicles[0].plate"]
    assert "phone" in errors["vehicles[0].driver.phone"]


@pytest.mark.parametrize(
    ("path", "value", "field", "reason"),
    [
        (("direction",), "smuggling", "direction", "Input should be"),
        (("requested_gate",), "", "requested_gate", "at least 1"),
        (("goods",), [], "goods", "at least 1"),
        (("vehicles",), [], "vehicles", "at least 1"),
        (("goods", 0, "net_weight_kg"), 0, "goods[0].net_weight_kg", "greater than 0"),
        (("goods", 0, "value_usd"), "12.345", "goods[0].value_usd", "decimal places"),
        (("goods", 0, "unit"), "bucket", "goods[0].unit", "Input should be"),
        (("vehicles", 0, "payload_tonnes"), "0", "vehicles[0].payload_tonnes", "greater than"),
        (("vehicles", 0, "container"), "45ft", "vehicles[0].container", "Input should be"),
        (("vehicles", 0, "trailer_plate"), "XX", "vehicles[0].trailer_plate", "plate"),
        (("vehicles", 0, "driver", "document_number"), "12345",
         "vehicles[0].driver.document_number", "12 digits"),
        (("customs_agent_tax_code",), "123", "customs_agent_tax_code", "10 digits"),
        (("requested_date",), "tomorrow", "requested_date", "valid date"),
        (("surprise",), "field", "surprise", "Extra inputs"),
    ],
)
def test_each_field_rule_rejects_a_bad_value(
    client: TestClient, auth: Any, path: tuple[Any, ...], value: Any, field: str, reason: str
) -> None:
    body = factories.declaration()
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    r = client.post(URL, json=body, headers=auth("enterprise"))
    assert r.status_code == 422, r.text
    errors = fields_of(r)
    assert field in errors, errors
    assert reason in errors[field]


def test_unknown_gate_lists_the_gates(client: TestClient, auth: Any) -> None:
    r = client.post(URL, json=factories.declaration(requested_gate="nowhere"),
                    headers=auth("enterprise"))
    assert r.status_code == 422
    reason = fields_of(r)["requested_gate"]
    assert "unknown gate 'nowhere'" in reason
    assert "huu-nghi" in reason


def _excluded_goods() -> tuple[str, str, list[str]]:
    """A gate, an HS heading it does not permit, and the gates that do permit it."""
    network = networks.parse(networks.read_file(DEFAULT_NETWORK_FILE))
    for gate in network.gates:
        if "export" not in gate.directions:
            continue
        for group in network.goods:
            if not gate.permits_group(group.code):
                hs = group.hs[0].ljust(4, "0")
                if network.group_for_hs(hs) is group:
                    allowed = [g.code for g in network.gates_permitting(group.code, "export")]
                    return gate.code, hs, allowed
    raise AssertionError("the reference network permits every group at every gate")


def test_goods_not_permitted_at_the_gate_list_the_gates_that_permit_them(
    client: TestClient, auth: Any
) -> None:
    gate, hs, allowed = _excluded_goods()
    body = factories.declaration(requested_gate=gate)
    body["goods"][0]["hs_code"] = hs
    body["quarantine"] = [{"kind": "plant", "certificate_number": "KDTV-1"},
                          {"kind": "animal", "certificate_number": "KDDV-1"}]
    r = client.post(URL, json=body, headers=auth("enterprise"))
    assert r.status_code == 422
    reason = fields_of(r)["goods[0].hs_code"]
    assert f"may not pass gate '{gate}'" in reason
    for code in allowed:
        assert code in reason


def test_regimes_without_a_fixed_direction_must_state_the_flow(
    client: TestClient, auth: Any
) -> None:
    r = client.post(URL, json=factories.declaration(direction="transit"),
                    headers=auth("enterprise"))
    assert r.status_code == 422
    assert "required for direction 'transit'" in fields_of(r)["flow"]
    ok = create(client, auth("enterprise"), factories.declaration(direction="transit",
                                                                   flow="export"))
    assert ok["flow"] == "export"


def test_requested_date_must_be_today_or_later_and_not_too_far(
    client: TestClient, auth: Any
) -> None:
    past = client.post(URL, json=factories.declaration(requested_date=factories.day(-1)),
                       headers=auth("enterprise"))
    assert "today" in fields_of(past)["requested_date"]
    far = client.post(URL, json=factories.declaration(requested_date=factories.day(90)),
                      headers=auth("enterprise"))
    assert "days ahead" in fields_of(far)["requested_date"]


def test_weight_beyond_payload_and_duplicate_vehicles_are_refused(
    client: TestClient, auth: Any
) -> None:
    body = factories.declaration()
    body["goods"][0]["net_weight_kg"] = 30_000  # payload is 18 t
    body["vehicles"].append(dict(body["vehicles"][0]))
    body["vehicles"][1]["plate"] = "29c12345"  # same truck, other spelling
    r = client.post(URL, json=body, headers=auth("enterprise"))
    errors = fields_of(r)
    assert "listed twice" in errors["vehicles[1].plate"]
    body["vehicles"] = body["vehicles"][:1]
    r = client.post(URL, json=body, headers=auth("enterprise"))
    assert "exceeds the vehicles' payload" in fields_of(r)["goods"]


def test_a_retry_with_the_same_idempotency_key_has_one_effect(
    client: TestClient, auth: Any, db: Peek
) -> None:
    headers = auth("enterprise", **{"Idempotency-Key": "decl-42"})
    first = client.post(URL, json=factories.declaration(), headers=headers)
    second = client.post(URL, json=factories.declaration(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert db.scalar(select(func.count()).select_from(Declaration)) == 1
    other = client.post(URL, json=factories.fruit_declaration(), headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert db.scalar(select(func.count()).select_from(Declaration)) == 1


def test_a_failed_write_stores_nothing_and_its_key_stays_usable(
    client: TestClient, auth: Any, db: Peek
) -> None:
    headers = auth("enterprise", **{"Idempotency-Key": "k1"})
    bad = client.post(URL, json=factories.declaration(requested_gate="nowhere"), headers=headers)
    assert bad.status_code == 422
    assert db.scalar(select(func.count()).select_from(Declaration)) == 0
    assert db.scalar(select(func.count()).select_from(AuditEntry)
                     .where(AuditEntry.action == "declaration.create")) == 0
    good = client.post(URL, json=factories.declaration(), headers=headers)
    assert good.status_code == 201
    assert db.scalar(select(func.count()).select_from(Declaration)) == 1


def test_enterprise_cannot_declare_for_another_enterprise(client: TestClient, auth: Any) -> None:
    body = factories.declaration()
    body["enterprise"]["tax_code"] = OTHER_TAX
    r = client.post(URL, json=body, headers=auth("enterprise"))
    assert r.status_code == 403
    assert fields_of(r) == {"enterprise.tax_code": r.json()["error"]["message"]}


def test_customs_agent_declares_for_a_client_and_both_see_it(
    client: TestClient, auth: Any
) -> None:
    body = factories.declaration(customs_agent_tax_code=OTHER_TAX)
    d = create(client, auth("enterprise2"), body)
    for who in ("enterprise", "enterprise2"):
        assert client.get(f"{URL}/{d['id']}", headers=auth(who)).status_code == 200


def test_enterprise_b_cannot_read_list_amend_or_cancel_enterprise_a(
    client: TestClient, auth: Any
) -> None:
    d = create(client, auth("enterprise"), factories.declaration())
    b = auth("enterprise2")
    assert client.get(f"{URL}/{d['id']}", headers=b).status_code == 404
    assert client.get(f"{URL}/{d['reference']}", headers=b).status_code == 404
    assert client.get(f"{URL}/{d['id']}/qr.png", headers=b).status_code == 404
    listed = client.get(URL, headers=b).json()
    assert listed["total"] == 0
    assert listed["items"] == []
    assert client.patch(f"{URL}/{d['id']}", json={"note": "x"}, headers=b).status_code == 404
    assert client.post(f"{URL}/{d['id']}/cancel", json={"reason": "mine now"},
                       headers=b).status_code == 404
    assert client.get(f"{URL}/{d['id']}", headers=auth("enterprise")).json()["revision"] == 1


def test_driver_sees_own_declarations_but_cannot_change_them(
    client: TestClient, auth: Any
) -> None:
    mine = create(client, auth("enterprise"), factories.declaration())
    other = factories.declaration()
    other["vehicles"][0]["driver"]["document_number"] = "001089099999"
    other["vehicles"][0]["plate"] = "29C-555.55"
    create(client, auth("enterprise"), other)
    listed = client.get(URL, headers=auth("driver")).json()
    assert [i["id"] for i in listed["items"]] == [mine["id"]]
    r = client.patch(f"{URL}/{mine['id']}", json={"note": "x"}, headers=auth("driver"))
    assert r.status_code == 403


def test_cashier_sees_only_declarations_for_its_gates(client: TestClient, auth: Any) -> None:
    me = client.get("/api/v1/me", headers=auth("cashier")).json()
    scoped_gate = me["gate_scope"][0]
    network = networks.parse(networks.read_file(DEFAULT_NETWORK_FILE))
    laptops = network.group_for_hs("847130")
    assert laptops is not None
    other_gate = next(g.code for g in network.gates_permitting(laptops.code, "export")
                      if g.code != scoped_gate)
    a = create(client, auth("enterprise"), factories.declaration(requested_gate=scoped_gate))
    b = create(client, auth("enterprise"), factories.declaration(requested_gate=other_gate))
    ids = {i["id"] for i in client.get(URL, headers=auth("cashier")).json()["items"]}
    assert a["id"] in ids
    assert b["id"] not in ids
    assert client.get(f"{URL}/{b['id']}", headers=auth("cashier")).status_code == 404


@pytest.mark.parametrize("role", ["regulator", "customs", "borderguard", "quarantine", "health",
                                  "police", "admin"])
def test_officials_read_every_declaration(client: TestClient, auth: Any, role: str) -> None:
    d = create(client, auth("enterprise"), factories.declaration())
    assert client.get(f"{URL}/{d['id']}", headers=auth(role)).status_code == 200


@pytest.mark.parametrize("role", ["regulator", "customs", "borderguard", "quarantine", "health",
                                  "police", "cashier", "yard", "driver", "liaison"])
def test_only_enterprises_and_admins_declare(client: TestClient, auth: Any, role: str) -> None:
    r = client.post(URL, json=factories.declaration(), headers=auth(role))
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"


def test_partner_liaison_and_the_public_cannot_read_declarations(
    client: TestClient, auth: Any
) -> None:
    d = create(client, auth("enterprise"), factories.declaration())
    assert client.get(f"{URL}/{d['id']}", headers=auth("liaison")).status_code == 403
    anonymous = client.get(URL)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"


def test_amending_one_field_keeps_the_rest_and_is_audited(
    client: TestClient, auth: Any, db: Peek
) -> None:
    d = create(client, auth("enterprise"), factories.declaration())
    r = client.patch(f"{URL}/{d['id']}", json={"requested_date": factories.day(3)},
                     headers=auth("enterprise", **{"If-Match": '"1"'}))
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["requested_date"] == factories.day(3)
    assert a["revision"] == 2
    assert r.headers["ETag"] == '"2"'
    assert a["vehicles"] == d["vehicles"]
    assert a["goods"] == d["goods"]
    row = db.one(select(AuditEntry).where(AuditEntry.action == "declaration.amend"))
    assert row.before["requested_date"] == d["requested_date"]
    assert row.after["requested_date"] == factories.day(3)
    assert row.actor_name == "enterprise"


def test_one_vehicle_is_fixed_without_redoing_the_declaration(
    client: TestClient, auth: Any
) -> None:
    d = create(client, auth("enterprise"), factories.declaration())
    r = client.patch(f"{URL}/{d['id']}/vehicles/1", json={"plate": "29C-123.46"},
                     headers=auth("enterprise"))
    assert r.status_code == 200, r.text
    assert r.json()["vehicles"][0]["plate"] == "29C-123.46"
    assert r.json()["vehicles"][0]["driver"] == d["vehicles"][0]["driver"]
    found = client.get(URL, params={"plate": "29c12346"}, headers=auth("enterprise")).json()
    assert [i["id"] for i in found["items"]] == [d["id"]]
    bad = client.patch(f"{URL}/{d['id']}/vehicles/1", json={"plate": "??"},
                       headers=auth("enterprise"))
    assert bad.status_code == 422
    assert "vehicles[0].plate" in fields_of(bad)
    missing = client.patch(f"{URL}/{d['id']}/vehicles/2", json={"plate": "29C-123.47"},
                           headers=auth("enterprise"))
    assert missing.status_code == 404


def test_amendments_are_checked_like_new_declarations(client: TestClient, auth: Any) -> None:
    d = create(client, auth("enterprise"), factories.declaration())
    r = client.patch(f"{URL}/{d['id']}/goods/1", json={"hs_code": "08109000"},
                     headers=auth("enterprise"))
    assert r.status_code == 422
    assert "quarantine" in fields_of(r)
    assert client.get(f"{URL}/{d['id']}", headers=auth("enterprise")).json()["revision"] == 1


def test_stale_revision_is_refused(client: TestClient, auth: Any) -> None:
    d = create(client, auth("enterprise"), factories.declaration())
    client.patch(f"{URL}/{d['id']}", json={"note": "first"}, headers=auth("enterprise"))
    r = client.patch(f"{URL}/{d['id']}", json={"note": "second"},
                     headers=auth("enterprise", **{"If-Match": '"1"'}))
    assert r.status_code == 412
    assert r.json()["error"]["code"] == "revision_mismatch"


def test_cancelled_declarations_cannot_be_amended(client: TestClient, auth: Any) -> None:
    d = create(client, auth("enterprise"), factories.declaration())
    r = client.post(f"{URL}/{d['id']}/cancel", json={"reason": "order withdrawn"},
                    headers=auth("enterprise"))
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    assert r.json()["cancel_reason"] == "order withdrawn"
    again = client.post(f"{URL}/{d['id']}/cancel", json={"reason": "order withdrawn"},
                        headers=auth("enterprise"))
    assert again.status_code == 200
    assert again.json()["revision"] == r.json()["revision"]
    amend = client.patch(f"{URL}/{d['id']}", json={"note": "x"}, headers=auth("enterprise"))
    assert amend.status_code == 409
    assert amend.json()["error"]["code"] == "not_amendable"


def test_list_filters_and_paginates(client: TestClient, auth: Any) -> None:
    h = auth("enterprise")
    for i in range(3):
        body = factories.declaration()
        body["vehicles"][0]["plate"] = f"29C-123.4{i}"
        create(client, h, body)
    create(client, h, factories.fruit_declaration())
    page = client.get(URL, params={"page_size": 2}, headers=h).json()
    assert page["total"] == 4
    assert len(page["items"]) == 2
    page2 = client.get(URL, params={"page_size": 2, "page": 2}, headers=h).json()
    assert {i["id"] for i in page["items"]}.isdisjoint({i["id"] for i in page2["items"]})
    assert client.get(URL, params={"perishable": True}, headers=h).json()["total"] == 1
    assert client.get(URL, params={"plate": "29C 123 41"}, headers=h).json()["total"] == 1
    assert client.get(URL, params={"tax_code": ENTERPRISE_TAX}, headers=h).json()["total"] == 4
    bad = client.get(URL, params={"date_from": factories.day(5), "date_to": factories.day(1)},
                     headers=h)
    assert bad.status_code == 422
    assert "date_to" in fields_of(bad)


def test_qr_codes_are_served_as_png_and_svg(client: TestClient, auth: Any) -> None:
    d = create(client, auth("enterprise"), factories.declaration())
    png = client.get(d["qr_png"], headers=auth("driver"))
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    svg = client.get(d["qr_svg"], headers=auth("enterprise"))
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content
    link = client.get(f"/d/{d['reference']}", follow_redirects=False)
    assert link.status_code == 307
    assert link.headers["location"] == f"{URL}/{d['reference']}"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[]", "application/json"),
        (b'"text"', "application/json"),
        (b'{"goods": 5}', "application/json"),
        (b"", "application/json"),
        (b"direction=export", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_bodies_get_422_never_500(
    client: TestClient, auth: Any, content: bytes, content_type: str
) -> None:
    r = client.post(URL, content=content,
                    headers=auth("enterprise", **{"Content-Type": content_type}))
    assert r.status_code == 422, r.text
    assert fields_of(r)


def test_implausible_figures_are_answered_as_warnings_and_do_not_block(
    client: TestClient, auth: Any
) -> None:
    """A machine client's declaration is stored as sent; what looks wrong comes back in
    `warnings` (15 kg of dragon fruit on an 18-tonne truck, at 1,400 USD per kg)."""
    ok = create(client, auth("enterprise"), factories.fruit_declaration())
    assert ok["warnings"] == []
    body = factories.fruit_declaration()
    body["goods"][0]["net_weight_kg"] = 15
    body["vehicles"][0]["plate"] = "29C-123.46"
    light = create(client, auth("enterprise"), body)
    assert light["total_net_weight_kg"] == 15
    assert [(w["field"], w["code"]) for w in light["warnings"]] == [
        ("goods[0].net_weight_kg", "light_load"), ("goods[0].value_usd", "value_per_kg_high")]
    assert "under 5% of the vehicles' payload (18,000 kg)" in light["warnings"][0]["message"]
    # amended back to a plausible weight: no warning left
    fixed = client.patch(f"{URL}/{light['id']}", headers=auth("enterprise"), json={
        "goods": [{**body["goods"][0], "net_weight_kg": 15_000}]})
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["warnings"] == []
    # one goods line amended to 21 USD for 15 t: stored, and said to be implausible
    cheap = client.patch(f"{URL}/{light['id']}/goods/1", headers=auth("enterprise"),
                         json={"value_usd": "21"})
    assert cheap.status_code == 200, cheap.text
    assert cheap.json()["goods"][0]["value_usd"] == "21.00"
    assert [(w["field"], w["code"]) for w in cheap.json()["warnings"]] == [
        ("goods[0].value_usd", "value_per_kg_low")]


def test_warnings_are_described_in_the_openapi_document(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    out = spec["components"]["schemas"]["DeclarationOut"]["properties"]["warnings"]
    assert "never block" in out["description"]
    warning = spec["components"]["schemas"]["DeclarationWarningOut"]
    assert set(warning["properties"]) == {"field", "code", "message"}
    post = spec["paths"][URL]["post"]["description"]
    assert "`warnings`" in post


def test_an_amendment_reports_a_bad_field_and_the_network_rules_together(
    client: TestClient, auth: Any
) -> None:
    d = create(client, auth("enterprise"), factories.fruit_declaration())
    body = factories.fruit_declaration()
    r = client.patch(f"{URL}/{d['id']}", headers=auth("enterprise"), json={
        "requested_date": factories.day(-1),  # a network rule
        "quarantine": [],  # another: the fruit needs its certificate
        "vehicles": [{**body["vehicles"][0], "plate": "not a plate"}]})  # a field error
    assert r.status_code == 422
    errors = fields_of(r)
    assert "not a recognised plate" in errors["vehicles[0].plate"]
    assert "today" in errors["requested_date"]
    assert "plant quarantine certificate is required" in errors["quarantine"]
