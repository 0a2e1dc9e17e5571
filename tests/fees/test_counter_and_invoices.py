"""The border-gate fee at the counter: the tariff, invoices and counter payments.

Covers, in this order:

1. the pure assessment (``borderflow.domain.fees.assess``) under the seeded Lang Son tariff: the
   resolution's two anchor figures, band edges, mixed loads, the 130% and 30% multipliers,
   whole VND, and a property test;
2. tariff documents (problems reported by field) and the tariff API: publishing (admin only,
   never in the past, one row per version), the schedule in force (public) and quotes;
3. invoices: the estimate at declaration, the final amount with the tariff in force at gate
   entry, void on cancellation;
4. the fee step and counter payments: wrong amounts, bank references, idempotent retries,
   gate scope and roles;
5. voids, 6. waivers, 7. refunds, 8. who sees which invoice, 9. the audit trail;

and, last, regression tests for bugs found while writing them.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from borderflow.clock import FixedClock
from borderflow.config import DEFAULT_TARIFF_FILE
from borderflow.domain.fees import Assessment, Tariff, assess
from borderflow.errors import ValidationFailed
from borderflow.fees import tariffs
from borderflow.store.models import AuditEntry, Payment
from tests import factories
from tests.conftest import NOW, Peek

SEED = "lang-son-2025"
STAGING = "staging:viettel-logistics-park"
GATE_AREA = "gate_area:huu-nghi"
ELECTRONICS_40FT_EXPORT = 1_500_000  # factories.declaration(): laptops, 40ft, export
FRUIT_40FT_EXPORT = 900_000  # factories.fruit_declaration()
ELECTRONICS_40FT_IMPORT = 1_950_000  # the same load imported for domestic delivery (130%)
REGIMES = ("export", "import", "transit", "temporary_import_reexport",
           "temporary_export_reimport", "transshipment")


# --- helpers: the seeded tariff ------------------------------------------------------------------


def seed_document() -> dict[str, Any]:
    """A fresh copy of the seeded tariff file, to change one thing at a time."""
    return tariffs.read_file(DEFAULT_TARIFF_FILE)


@functools.cache
def seed_tariff() -> Tariff:
    return tariffs.parse(seed_document())


def fee(payload: str, *, container: str = "none", groups: tuple[str, ...] = (),
        regime: str = "export", flow: str = "export", tariff: Tariff | None = None
        ) -> Assessment:
    return assess(tariff or seed_tariff(), payload_tonnes=Decimal(payload), container=container,
                  goods_groups=groups, regime=regime, flow=flow, procedure="")


def amounts(a: Assessment) -> list[tuple[str, int]]:
    return [(line.code, line.amount) for line in a.lines]


def new_version(version: str, *, starts: datetime, factor: int = 2) -> dict[str, Any]:
    """The seed document as a new version starting at ``starts``, every rate ``factor`` times."""
    doc = seed_document()
    doc["version"] = version
    doc["effective_from"] = starts.isoformat()
    doc["rates"] = {cls: {cat: amount * factor for cat, amount in row.items()}
                    for cls, row in doc["rates"].items()}
    return doc


# --- helpers: HTTP -------------------------------------------------------------------------------


def with_plate(body: dict[str, Any], plate: str) -> dict[str, Any]:
    """A declaration body for another truck (one plate, one trip at a time)."""
    body["vehicles"][0]["plate"] = plate
    return body


def expect(r: httpx.Response, status: int) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def fields(body: Any) -> dict[str, str]:
    """The error body's bad fields: field -> reason."""
    return {f["field"]: f["reason"] for f in body["error"]["fields"]}


@dataclass
class Desk:
    """The counter, the gate and the control room, through the API."""

    client: TestClient
    auth: Any

    def post(self, path: str, who: str, body: Any, expect_status: int, **headers: str) -> Any:
        r = self.client.post(f"/api/v1{path}", json=body, headers=self.auth(who, **headers))
        return expect(r, expect_status)

    def get(self, path: str, who: str, expect_status: int = 200) -> Any:
        return expect(self.client.get(f"/api/v1{path}", headers=self.auth(who)), expect_status)

    # trips

    def declare(self, body: dict[str, Any] | None = None, who: str = "enterprise"
                ) -> tuple[str, str]:
        """A new declaration with one vehicle: (declaration id, trip reference)."""
        d = self.post("/declarations", who, body or factories.declaration(), 201)
        return d["id"], f"{d['reference']}-1"

    def declare_import(self, plate: str = "桂A12345") -> str:
        body = factories.declaration(direction="import", requested_gate="huu-nghi")
        return self.declare(with_plate(body, plate))[1]

    def move(self, ref: str, action: str, area: str, who: str) -> Any:
        return self.post(f"/trips/{ref}/movements", who, {"action": action, "area": area}, 200)

    def into_gate_area(self, ref: str) -> None:
        """An export trip: staging park, called forward, admitted to the gate area."""
        self.move(ref, "enter", STAGING, "yard")
        self.post(f"/trips/{ref}/call", "regulator", {}, 200)
        self.move(ref, "enter", GATE_AREA, "borderguard")

    def export_in_gate_area(self) -> str:
        ref = self.declare()[1]
        self.into_gate_area(ref)
        return ref

    def step(self, ref: str, code: str, who: str, expect_status: int = 200, **body: Any) -> Any:
        return self.post(f"/trips/{ref}/steps/{code}", who, {"outcome": "pass", **body},
                         expect_status)

    def fee_step(self, ref: str) -> dict[str, Any]:
        trip = self.get(f"/trips/{ref}", "regulator")
        return dict(next(s for s in trip["steps"] if s["code"] == "fee"))

    # invoices and payments

    def invoice(self, ref: str, who: str = "cashier") -> dict[str, Any]:
        return dict(self.get(f"/trips/{ref}/invoice", who))

    def pay(self, number: str, amount: int, expect_status: int = 201, who: str = "cashier",
            method: str = "cash", **extra: Any) -> Any:
        return self.post(f"/invoices/{number}/payments", who,
                         {"method": method, "amount": amount, **extra}, expect_status)

    def pay_due(self, ref: str) -> dict[str, Any]:
        inv = self.invoice(ref)
        return dict(self.pay(inv["number"], inv["due"]))

    def void(self, receipt: str, expect_status: int = 200, who: str = "cashier",
             reason: str = "recorded on the wrong truck") -> Any:
        return self.post(f"/payments/{receipt}/void", who, {"reason": reason}, expect_status)

    def refund(self, receipt: str, expect_status: int = 200, who: str = "regulator",
               **body: Any) -> Any:
        body.setdefault("reason", "trip cancelled")
        return self.post(f"/payments/{receipt}/refund", who, body, expect_status)

    def waive(self, number: str, expect_status: int = 200, who: str = "regulator",
              reason: str = "humanitarian convoy") -> Any:
        return self.post(f"/invoices/{number}/waive", who, {"reason": reason}, expect_status)


@pytest.fixture
def desk(client: TestClient, auth: Any) -> Desk:
    return Desk(client, auth)


def add_cashier(desk: Desk, username: str, gate: str) -> None:
    desk.post("/accounts", "admin", {"username": username, "password": "a long enough password",
                                     "roles": ["cashier"], "gate_scope": [gate]}, 201)


def audit_rows(db: Peek, action: str, target: str) -> list[AuditEntry]:
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action,
                                                    AuditEntry.target_id == target)
                           .order_by(AuditEntry.id)))


# --- 1. the pure assessment ----------------------------------------------------------------------


def test_a_truck_under_2_t_of_fresh_vegetables_pays_100_000_vnd() -> None:
    a = fee("1.5", groups=("fresh-vegetables",))
    assert (a.tariff_version, a.vehicle_category, a.goods_class) == (SEED, "under-2t",
                                                                     "fresh-produce")
    assert amounts(a) == [("base", 100_000)]
    assert a.total == 100_000


def test_a_40ft_container_temporarily_imported_for_reexport_pays_4_000_000_vnd() -> None:
    a = fee("25", container="40ft", groups=("machinery",), regime="temporary_import_reexport",
            flow="import")
    assert (a.vehicle_category, a.goods_class) == ("container-40ft", "temporary-import")
    assert amounts(a) == [("base", 4_000_000)]
    assert a.total == 4_000_000


@pytest.mark.parametrize(("payload", "container", "category", "general_rate"), [
    ("0.5", "none", "under-2t", 150_000),
    ("1.99", "none", "under-2t", 150_000),
    ("2", "none", "2t-4t", 250_000),  # exactly 2 t is in the 2-4 t band
    ("3.99", "none", "2t-4t", 250_000),
    ("4", "none", "4t-10t", 400_000),
    ("10", "none", "10t-18t", 600_000),
    ("17.99", "none", "10t-18t", 600_000),
    ("18", "none", "18t-plus", 800_000),
    ("60", "none", "18t-plus", 800_000),
    ("30", "20ft", "container-20ft", 1_000_000),  # a container's size decides, not its load
    ("5", "40ft", "container-40ft", 1_500_000),
])
def test_payload_bands_include_their_lower_edge(payload: str, container: str, category: str,
                                                general_rate: int) -> None:
    a = fee(payload, container=container, groups=("machinery",))
    assert (a.vehicle_category, a.goods_class, a.total) == (category, "general", general_rate)


@pytest.mark.parametrize(("groups", "regime", "goods_class", "total"), [
    (("fresh-fruit", "fresh-vegetables"), "export", "fresh-produce", 900_000),
    (("fresh-vegetables", "machinery"), "export", "general", 1_500_000),
    (("machinery", "fresh-fruit"), "export", "general", 1_500_000),  # order does not matter
    (("fresh-fruit",), "temporary_import_reexport", "temporary-import", 4_000_000),
    (("fresh-fruit",), "transit", "temporary-import", 4_000_000),
])
def test_a_mixed_load_pays_the_highest_applicable_rate(groups: tuple[str, ...], regime: str,
                                                       goods_class: str, total: int) -> None:
    a = fee("20", container="40ft", groups=groups, regime=regime)
    assert (a.goods_class, a.total) == (goods_class, total)


def test_imports_for_domestic_delivery_pay_130_percent() -> None:
    a = fee("1.5", groups=("fresh-vegetables",), regime="import", flow="import")
    assert amounts(a) == [("base", 100_000), ("domestic-import", 30_000)]
    assert a.total == sum(amount for _, amount in amounts(a)) == 130_000
    assert "130%" in a.lines[1].description
    # not for exports, nor for imports under another regime
    assert fee("1.5", groups=("fresh-vegetables",)).total == 100_000
    assert fee("1.5", groups=("machinery",), regime="temporary_import_reexport",
               flow="import").total == 500_000


def test_transshipment_only_pays_30_percent() -> None:
    a = fee("12", groups=("machinery",), regime="transshipment", flow="import")
    assert amounts(a) == [("base", 600_000), ("transshipment-only", -420_000)]
    assert a.total == sum(amount for _, amount in amounts(a)) == 180_000


def test_money_is_whole_vnd_rounded_down() -> None:
    doc = seed_document()
    doc["rates"]["general"]["under-2t"] = 150_001
    tariff = tariffs.parse(doc)
    a = fee("1", groups=("machinery",), regime="import", flow="import", tariff=tariff)
    assert amounts(a) == [("base", 150_001), ("domestic-import", 45_000)]  # 195,001.3 -> down
    assert a.total == 195_001
    assert all(type(line.amount) is int for line in a.lines)
    assert type(a.total) is int
    assert all(type(v) is int for row in seed_tariff().rates.values() for v in row.values())


GROUPS = st.sampled_from(["fresh-vegetables", "fresh-fruit", "frozen-fruit", "meat", "cereals",
                          "machinery", "electronics", "wood"])


@settings(max_examples=200, deadline=None)
@given(payload=st.decimals(min_value=Decimal("0.01"), max_value=Decimal(100), places=2,
                           allow_nan=False, allow_infinity=False),
       container=st.sampled_from(["none", "20ft", "40ft"]),
       load=st.lists(GROUPS, min_size=1, max_size=4), more=GROUPS,
       regime=st.sampled_from(REGIMES), flow=st.sampled_from(["export", "import"]))
def test_fee_properties(payload: Decimal, container: str, load: list[str], more: str,
                        regime: str, flow: str) -> None:
    """Whole, non-negative VND; the lines add up; the base is a rate of the table; adding a
    goods group to a load never lowers the fee. (The load is never empty here: an empty list
    means goods not classified, which pays the catch-all rate, so naming them as fresh produce
    rightly costs less.)"""
    tariff = seed_tariff()

    def run(groups: list[str]) -> Assessment:
        return assess(tariff, payload_tonnes=payload, container=container, goods_groups=groups,
                      regime=regime, flow=flow, procedure="")

    a = run(load)
    assert type(a.total) is int
    assert a.total >= 0
    assert a.total == sum(line.amount for line in a.lines)
    assert all(type(line.amount) is int for line in a.lines)
    assert a.lines[0].amount == tariff.rates[a.goods_class][a.vehicle_category]
    assert run([*load, more]).total >= a.total


# --- 2. tariff documents and the tariff API ------------------------------------------------------


def _drop_rate(doc: dict[str, Any]) -> None:
    del doc["rates"]["general"]["under-2t"]


def _duplicate_category(doc: dict[str, Any]) -> None:
    doc["vehicle_categories"].append(copy.deepcopy(doc["vehicle_categories"][2]))


def _ends_before_it_starts(doc: dict[str, Any]) -> None:
    doc["effective_to"] = "2025-06-30T00:00:00+07:00"


def _fractional_rate(doc: dict[str, Any]) -> None:
    doc["rates"]["general"]["under-2t"] = 150_000.5


def _unknown_category_rate(doc: dict[str, Any]) -> None:
    doc["rates"]["general"]["container-53ft"] = 2_000_000


def _no_catch_all_class(doc: dict[str, Any]) -> None:
    doc["goods_classes"] = [c for c in doc["goods_classes"] if c["code"] != "general"]
    del doc["rates"]["general"]


def _inverted_band(doc: dict[str, Any]) -> None:
    doc["vehicle_categories"][1]["max_payload_tonnes"] = "1"


def _percent_out_of_range(doc: dict[str, Any]) -> None:
    doc["multipliers"][0]["percent"] = 5000


def _dollars(doc: dict[str, Any]) -> None:
    doc["currency"] = "USD"


@pytest.mark.parametrize(("change", "field", "says"), [
    (_drop_rate, "rates.general", "no rate for under-2t"),
    (_duplicate_category, "vehicle_categories", "duplicate codes: 4t-10t"),
    (_ends_before_it_starts, "effective_to", "must be after effective_from"),
    (_fractional_rate, "rates.general.under-2t", "integer"),
    (_unknown_category_rate, "rates.general.container-53ft", "not a vehicle category"),
    (_no_catch_all_class, "goods_classes", "one class must cover any goods"),
    (_inverted_band, "vehicle_categories[1]", "max_payload_tonnes must be above"),
    (_percent_out_of_range, "multipliers[0]", "between 0 and 1000"),
    (_dollars, "currency", "VND"),
])
def test_tariff_problems_are_reported_by_field(change: Any, field: str, says: str) -> None:
    doc = seed_document()
    change(doc)
    with pytest.raises(ValidationFailed) as caught:
        tariffs.parse(doc)
    reported = {f.field: f.reason for f in caught.value.fields}
    assert field in reported, reported
    assert says in reported[field]


def test_a_tariff_document_must_be_a_mapping() -> None:
    with pytest.raises(ValidationFailed) as caught:
        tariffs.parse(["lang-son-2025"])
    assert [f.field for f in caught.value.fields] == ["document"]


def test_only_admins_publish_tariff_versions(desk: Desk, client: TestClient) -> None:
    doc = new_version("lang-son-2027", starts=NOW + timedelta(days=1))
    refused = desk.post("/tariffs", "enterprise", {"document": doc}, 403)
    assert refused["error"]["code"] == "forbidden"
    assert client.post("/api/v1/tariffs", json={"document": doc}).status_code == 401
    published = desk.post("/tariffs", "admin", {"document": doc, "note": "2027 rates"}, 201)
    assert published["version"] == "lang-son-2027"
    assert published["created_by"] == "admin"
    listed = desk.get("/tariffs", "enterprise")
    assert [v["version"] for v in listed] == [SEED, "lang-son-2027"]
    stored = desk.get("/tariffs/lang-son-2027", "driver")
    assert stored["document"]["rates"]["general"]["under-2t"] == 300_000


def test_a_tariff_version_cannot_start_in_the_past(desk: Desk) -> None:
    doc = new_version("lang-son-2026b", starts=NOW - timedelta(days=1))
    body = desk.post("/tariffs", "admin", {"document": doc}, 422)
    assert "must not be in the past" in fields(body)["effective_from"]
    assert [v["version"] for v in desk.get("/tariffs", "admin")] == [SEED]


def test_a_tariff_version_is_published_once(desk: Desk) -> None:
    doc = new_version(SEED, starts=NOW + timedelta(days=1))
    body = desk.post("/tariffs", "admin", {"document": doc}, 409)
    assert body["error"]["code"] == "version_exists"
    assert SEED in body["error"]["message"]


def test_an_invalid_tariff_is_refused_with_its_fields(desk: Desk) -> None:
    doc = new_version("lang-son-2027", starts=NOW + timedelta(days=1))
    _drop_rate(doc)
    _ends_before_it_starts(doc)
    body = desk.post("/tariffs", "admin", {"document": doc}, 422)
    assert {"rates.general", "effective_to"} <= set(fields(body))


def test_the_tariff_in_force_is_public(client: TestClient) -> None:
    r = client.get("/api/v1/tariffs/current")
    current = expect(r, 200)
    assert current["version"] == SEED
    assert current["document"]["rates"]["fresh-produce"]["under-2t"] == 100_000
    assert current["document"]["rates"]["temporary-import"]["container-40ft"] == 4_000_000
    assert len(current["sha256"]) == 64


def test_a_quote_answers_the_fee(client: TestClient) -> None:
    body = {"payload_tonnes": "1.5", "goods_groups": ["fresh-vegetables"], "regime": "import",
            "flow": "import"}
    quote = expect(client.post("/api/v1/tariffs/quote", json=body), 200)
    assert quote["tariff_version"] == SEED
    assert (quote["vehicle_category"], quote["goods_class"]) == ("under-2t", "fresh-produce")
    assert [(x["code"], x["amount"]) for x in quote["lines"]] == [("base", 100_000),
                                                                 ("domestic-import", 30_000)]
    assert quote["total"] == 130_000
    body = {"payload_tonnes": "25", "container": "40ft", "regime": "temporary_import_reexport",
            "flow": "import"}
    assert expect(client.post("/api/v1/tariffs/quote", json=body), 200)["total"] == 4_000_000


@pytest.mark.parametrize(("change", "field"), [
    ({"payload_tonnes": "0"}, "payload_tonnes"),
    ({"payload_tonnes": "heavy"}, "payload_tonnes"),
    ({"container": "53ft"}, "container"),
    ({"regime": "smuggling"}, "regime"),
    ({"flow": "sideways"}, "flow"),
    ({"axles": 5}, "axles"),
])
def test_a_bad_quote_request_names_the_field(client: TestClient, change: dict[str, Any],
                                             field: str) -> None:
    body = {"payload_tonnes": "5", "regime": "export", "flow": "export", **change}
    error = expect(client.post("/api/v1/tariffs/quote", json=body), 422)
    assert error["error"]["code"] == "validation_failed"
    assert list(fields(error)) == [field]


# --- 3. invoices ---------------------------------------------------------------------------------


def test_a_declared_trip_gets_an_estimate(desk: Desk) -> None:
    _, ref = desk.declare()
    inv = desk.invoice(ref, "enterprise")
    assert re.fullmatch(r"INV-2026-\d{7}", inv["number"])
    assert (inv["trip"], inv["gate"], inv["direction"]) == (ref, "huu-nghi", "export")
    assert (inv["stage"], inv["status"], inv["currency"]) == ("estimate", "open", "VND")
    assert inv["total"] == inv["due"] == ELECTRONICS_40FT_EXPORT
    assert type(inv["total"]) is int
    assert sum(line["amount"] for line in inv["lines"]) == inv["total"]
    assert (inv["tariff_version"], inv["vehicle_category"], inv["goods_class"]) == (
        SEED, "container-40ft", "general")
    assert inv["finalised_at"] is None
    assert inv["payments"] == []
    fruit = desk.invoice(desk.declare(with_plate(factories.fruit_declaration(), "29C-555.55"))[1])
    assert (fruit["goods_class"], fruit["total"]) == ("fresh-produce", FRUIT_40FT_EXPORT)
    assert desk.get(f"/trips/{ref}", "enterprise")["fee"] == {
        "invoice": inv["number"], "stage": "estimate", "total": ELECTRONICS_40FT_EXPORT,
        "status": "open"}


def test_gate_entry_makes_the_invoice_final_with_the_tariff_then_in_force(
    desk: Desk, clock: FixedClock
) -> None:
    _, ref = desk.declare()
    starts = NOW + timedelta(days=1)
    desk.post("/tariffs", "admin", {"document": new_version("lang-son-2027", starts=starts)}, 201)
    assert desk.get("/tariffs/current", "enterprise")["version"] == SEED  # not yet

    clock.set(starts + timedelta(hours=1))
    assert desk.get("/tariffs/current", "enterprise")["version"] == "lang-son-2027"
    estimate = desk.invoice(ref)
    assert (estimate["stage"], estimate["total"], estimate["tariff_version"]) == (
        "estimate", ELECTRONICS_40FT_EXPORT, SEED)  # the estimate does not move by itself

    desk.into_gate_area(ref)
    final = desk.invoice(ref)
    assert final["number"] == estimate["number"]  # one invoice per trip
    assert (final["stage"], final["status"]) == ("final", "open")
    assert final["tariff_version"] == "lang-son-2027"
    assert final["total"] == final["due"] == 2 * ELECTRONICS_40FT_EXPORT
    assert [(x["code"], x["amount"]) for x in final["lines"]] == [("base", 3_000_000)]
    assert datetime.fromisoformat(final["finalised_at"]) == clock.now()
    assert desk.fee_step(ref)["status"] == "pending"


def test_cancelling_a_declaration_voids_its_unpaid_invoice(desk: Desk, db: Peek) -> None:
    decl, ref = desk.declare()
    number = desk.invoice(ref)["number"]
    desk.post(f"/declarations/{decl}/cancel", "enterprise", {"reason": "buyer withdrew"}, 200)
    inv = desk.invoice(ref, "enterprise")
    assert (inv["status"], inv["due"]) == ("void", 0)
    refused = desk.pay(number, ELECTRONICS_40FT_EXPORT, 409)
    assert refused["error"]["code"] == "nothing_owed"
    [row] = audit_rows(db, "invoice.voided", number)
    assert "buyer withdrew" in row.after["reason"]


# --- 4. the fee step and counter payments --------------------------------------------------------


def test_the_fee_step_passes_only_once_the_amount_owed_is_paid(desk: Desk) -> None:
    ref = desk.export_in_gate_area()
    inv = desk.invoice(ref)
    number, owed = inv["number"], inv["due"]
    assert desk.fee_step(ref)["ready"] is True

    by_hand = desk.step(ref, "fee", "cashier", 409)
    assert by_hand["error"]["code"] == "invalid_transition"
    assert f"the fee is not paid: invoice {number} is open" in by_hand["error"]["message"]

    wrong = desk.pay(number, owed - 1, 422)
    assert list(fields(wrong)) == ["amount"]
    assert f"the amount owed: {owed:,} VND" in fields(wrong)["amount"]
    no_reference = desk.pay(number, owed, 422, method="bank_transfer")
    assert list(fields(no_reference)) == ["reference"]
    assert desk.invoice(ref)["payments"] == []

    receipt = desk.pay(number, owed)
    assert re.fullmatch(r"BL-2026-\d{7}", receipt["receipt_number"])
    assert (receipt["method"], receipt["amount"], receipt["status"]) == ("cash", owed,
                                                                         "completed")
    assert (receipt["gate"], receipt["recorded_by"]) == ("huu-nghi", "cashier")
    step = desk.fee_step(ref)
    assert (step["status"], step["by"]) == ("passed", "fee settled")
    paid = desk.invoice(ref, "enterprise")
    assert (paid["status"], paid["due"]) == ("paid", 0)
    assert paid["settled_at"] is not None
    assert desk.pay(number, owed, 409)["error"]["code"] == "nothing_owed"


def test_a_bank_transfer_records_its_reference(desk: Desk) -> None:
    ref = desk.export_in_gate_area()
    inv = desk.invoice(ref)
    receipt = desk.pay(inv["number"], inv["due"], method="bank_transfer",
                       reference="  VCB-20261123-000417 ")
    assert (receipt["method"], receipt["reference"]) == ("bank_transfer", "VCB-20261123-000417")
    assert desk.fee_step(ref)["status"] == "passed"


def test_a_retried_payment_gives_the_same_receipt_and_takes_the_money_once(
    desk: Desk, client: TestClient, auth: Any, db: Peek
) -> None:
    ref = desk.export_in_gate_area()
    inv = desk.invoice(ref)
    path = f"/api/v1/invoices/{inv['number']}/payments"
    headers = auth("cashier", **{"Idempotency-Key": "counter-2-0417"})
    body = {"method": "cash", "amount": inv["due"]}
    first = client.post(path, json=body, headers=headers)
    again = client.post(path, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    rows = db.scalars(select(Payment).where(Payment.receipt_number.like("BL-%")))
    assert [p.receipt_number for p in rows] == [first.json()["receipt_number"]]
    other = client.post(path, json={**body, "amount": 1}, headers=headers)
    assert other.status_code == 409  # the same key for another request
    assert len(desk.invoice(ref)["payments"]) == 1


def test_only_a_cashier_at_the_trips_gate_takes_the_payment(desk: Desk) -> None:
    ref = desk.export_in_gate_area()
    inv = desk.invoice(ref)
    add_cashier(desk, "tt-cashier", "tan-thanh-dedicated")
    elsewhere = desk.pay(inv["number"], inv["due"], 404, who="tt-cashier")
    assert elsewhere["error"]["code"] == "not_found"
    assert desk.pay(inv["number"], inv["due"], 403, who="enterprise")["error"]["code"] == (
        "forbidden")
    assert desk.pay(inv["number"], inv["due"], 403, who="regulator")["error"]["code"] == (
        "forbidden")
    assert desk.invoice(ref)["status"] == "open"
    assert desk.fee_step(ref)["status"] == "pending"


# --- 5. voids ------------------------------------------------------------------------------------


def test_voiding_a_counter_payment_reopens_the_invoice_and_the_fee_step(desk: Desk) -> None:
    ref = desk.export_in_gate_area()
    wrong = desk.pay_due(ref)
    assert desk.fee_step(ref)["status"] == "passed"

    no_reason = desk.void(wrong["receipt_number"], 422, reason="")
    assert "reason" in fields(no_reason)
    voided = desk.void(wrong["receipt_number"])
    assert (voided["status"], voided["void_reason"]) == ("voided", "recorded on the wrong truck")
    inv = desk.invoice(ref)
    assert (inv["status"], inv["due"], inv["settled_at"]) == ("open", inv["total"], None)
    assert desk.fee_step(ref)["status"] == "pending"
    assert desk.get(f"/trips/{ref}", "regulator")["fee"]["status"] == "open"

    right = desk.pay(inv["number"], inv["due"])
    assert desk.fee_step(ref)["status"] == "passed"
    inv = desk.invoice(ref)
    assert (inv["status"], inv["due"]) == ("paid", 0)
    assert [(p["receipt_number"], p["status"]) for p in inv["payments"]] == [
        (wrong["receipt_number"], "voided"), (right["receipt_number"], "completed")]

    twice = desk.void(wrong["receipt_number"], 409, who="regulator")
    assert twice["error"]["code"] == "payment_not_completed"
    assert desk.invoice(ref)["status"] == "paid"


def test_a_void_is_for_cashiers_and_regulators(desk: Desk) -> None:
    ref = desk.export_in_gate_area()
    receipt = desk.pay_due(ref)["receipt_number"]
    desk.void(receipt, 403, who="enterprise")
    add_cashier(desk, "tt-cashier", "tan-thanh-dedicated")
    desk.void(receipt, 404, who="tt-cashier")
    assert desk.invoice(ref)["status"] == "paid"


# --- 6. waivers ----------------------------------------------------------------------------------


def test_a_regulator_waives_the_fee_with_a_reason(desk: Desk) -> None:
    ref = desk.export_in_gate_area()
    number = desk.invoice(ref)["number"]
    assert desk.waive(number, 403, who="cashier")["error"]["code"] == "forbidden"
    assert "reason" in fields(desk.waive(number, 422, reason="-"))
    assert desk.fee_step(ref)["status"] == "pending"

    waived = desk.waive(number, reason="relief goods for the flood area")
    assert (waived["status"], waived["due"]) == ("waived", 0)
    assert (waived["waived_by"], waived["waiver_reason"]) == (
        "regulator", "relief goods for the flood area")
    assert waived["payments"] == []
    assert desk.fee_step(ref)["status"] == "passed"
    assert desk.waive(number, 409)["error"]["code"] == "invoice_not_open"
    assert desk.pay(number, waived["total"], 409)["error"]["code"] == "nothing_owed"


def test_a_paid_invoice_cannot_be_waived(desk: Desk) -> None:
    ref = desk.export_in_gate_area()
    desk.pay_due(ref)
    inv = desk.invoice(ref)
    refused = desk.waive(inv["number"], 409)
    assert refused["error"]["code"] == "invoice_not_open"
    assert "is paid" in refused["error"]["message"]
    assert desk.invoice(ref)["status"] == "paid"


# --- 7. refunds ----------------------------------------------------------------------------------


def test_a_cancelled_trips_payment_is_refunded_in_full(desk: Desk) -> None:
    decl, ref = desk.declare()
    receipt = desk.pay_due(ref)
    desk.post(f"/declarations/{decl}/cancel", "enterprise", {"reason": "buyer withdrew"}, 200)
    assert desk.invoice(ref)["status"] == "paid"  # money received stays until refunded

    assert desk.refund(receipt["receipt_number"], 403, who="cashier")["error"]["code"] == (
        "forbidden")
    refunded = desk.refund(receipt["receipt_number"], reason="trip cancelled")
    assert (refunded["status"], refunded["refunded_amount"], refunded["refund_reason"]) == (
        "refunded", ELECTRONICS_40FT_EXPORT, "trip cancelled")
    assert desk.invoice(ref, "enterprise")["status"] == "refunded"
    again = desk.refund(receipt["receipt_number"], 409)
    assert again["error"]["code"] == "payment_not_refundable"


def test_a_partial_refund_cannot_exceed_the_payment(desk: Desk) -> None:
    ref = desk.export_in_gate_area()
    receipt = desk.pay_due(ref)["receipt_number"]
    too_much = desk.refund(receipt, 422, amount=ELECTRONICS_40FT_EXPORT + 1,
                           reason="overpaid at the counter")
    assert list(fields(too_much)) == ["amount"]
    assert f"between 1 and {ELECTRONICS_40FT_EXPORT:,} VND" in fields(too_much)["amount"]
    payment = desk.invoice(ref)["payments"][0]
    assert (payment["status"], payment["refunded_amount"]) == ("completed", None)
    assert desk.invoice(ref)["status"] == "paid"


# --- 8. who sees which invoice -------------------------------------------------------------------


def test_an_invoice_is_seen_within_the_trips_scope(desk: Desk) -> None:
    _, ref = desk.declare()
    number = desk.invoice(ref)["number"]
    desk.get(f"/trips/{ref}/invoice", "enterprise2", 404)
    desk.get(f"/invoices/{number}", "enterprise2", 404)
    assert desk.get(f"/trips/{ref}/invoice", "driver")["number"] == number
    assert desk.get(f"/invoices/{number.lower()}", "driver")["trip"] == ref
    desk.get(f"/invoices/{number}", "liaison", 403)


def test_an_enterprise_lists_only_its_own_invoices(desk: Desk) -> None:
    _, mine = desk.declare()
    other = factories.declaration(
        enterprise={"tax_code": factories.OTHER_TAX, "name": "Cong ty Khac"})
    _, theirs = desk.declare(with_plate(other, "29C-777.77"), who="enterprise2")

    def listed(who: str) -> list[str]:
        return [inv["trip"] for inv in desk.get("/invoices", who)]

    assert listed("enterprise") == [mine]
    assert listed("enterprise2") == [theirs]
    assert listed("regulator") == [theirs, mine]  # newest first


# --- 9. the audit trail --------------------------------------------------------------------------


def test_payments_voids_waivers_and_refunds_are_audited(desk: Desk, db: Peek) -> None:
    ref = desk.export_in_gate_area()
    number = desk.invoice(ref)["number"]
    first = desk.pay_due(ref)["receipt_number"]
    desk.void(first, reason="typed on the wrong invoice")
    second = desk.pay_due(ref)["receipt_number"]
    desk.refund(second, amount=100_000, reason="counted twice")
    other = desk.invoice(desk.declare_import())["number"]
    desk.waive(other, reason="relief goods for the flood area")

    [recorded] = audit_rows(db, "payment.recorded", first)
    assert (recorded.actor_name, recorded.target_type) == ("cashier", "payment")
    assert recorded.after["invoice"] == number
    assert (recorded.after["method"], recorded.after["amount"]) == (
        "cash", ELECTRONICS_40FT_EXPORT)
    assert len(audit_rows(db, "payment.recorded", second)) == 1
    [voided] = audit_rows(db, "payment.voided", first)
    assert voided.actor_name == "cashier"
    assert (voided.before, voided.after) == ({"status": "completed"}, {
        "status": "voided", "reason": "typed on the wrong invoice"})
    [waived] = audit_rows(db, "invoice.waived", other)
    assert (waived.actor_name, waived.target_type) == ("regulator", "invoice")
    assert waived.after == {"status": "waived", "reason": "relief goods for the flood area"}
    [refunded] = audit_rows(db, "payment.refunded", second)
    assert refunded.actor_name == "regulator"
    assert (refunded.after["refunded"], refunded.after["reason"]) == (100_000, "counted twice")


# --- bugs found and fixed: each stays as a regression test ---------------------------------------


def test_a_tariff_starting_without_a_timezone_is_refused_by_field(desk: Desk) -> None:
    doc = new_version("lang-son-2027", starts=NOW + timedelta(days=1))
    doc["effective_from"] = "2026-12-01T00:00:00"
    body = desk.post("/tariffs", "admin", {"document": doc}, 422)
    assert "effective_from" in fields(body)


def test_voiding_an_import_payment_reopens_the_fee_step(desk: Desk) -> None:
    ref = desk.declare_import()
    desk.step(ref, "crossing", "borderguard")
    desk.step(ref, "border_guard", "borderguard")
    desk.step(ref, "customs", "customs", channel="green")
    receipt = desk.pay_due(ref)
    assert receipt["amount"] == ELECTRONICS_40FT_IMPORT
    desk.void(receipt["receipt_number"])
    assert desk.invoice(ref)["status"] == "open"
    assert desk.fee_step(ref)["status"] == "pending"
    desk.step(ref, "exit", "borderguard", 409)


def test_a_paid_estimate_does_not_pass_the_fee_step_when_the_final_amount_is_higher(
    desk: Desk, clock: FixedClock
) -> None:
    _, ref = desk.declare()
    desk.move(ref, "enter", STAGING, "yard")
    desk.pay_due(ref)  # the estimate, paid at the staging park
    starts = NOW + timedelta(days=1)
    desk.post("/tariffs", "admin", {"document": new_version("lang-son-2027", starts=starts)}, 201)
    clock.set(starts + timedelta(hours=1))
    desk.post(f"/trips/{ref}/call", "regulator", {}, 200)
    desk.move(ref, "enter", GATE_AREA, "borderguard")
    inv = desk.invoice(ref)
    assert (inv["stage"], inv["status"], inv["due"]) == ("final", "open",
                                                         ELECTRONICS_40FT_EXPORT)
    assert desk.fee_step(ref)["status"] == "pending"


def test_a_refunded_invoice_of_a_trip_under_way_can_be_paid_again(desk: Desk) -> None:
    ref = desk.export_in_gate_area()
    receipt = desk.pay_due(ref)["receipt_number"]
    desk.refund(receipt, reason="refunded by mistake")
    inv = desk.invoice(ref)
    assert desk.fee_step(ref)["status"] == "pending"
    assert inv["due"] == ELECTRONICS_40FT_EXPORT
    desk.pay(inv["number"], inv["due"], 201)
    assert desk.fee_step(ref)["status"] == "passed"


def test_a_cancelled_trip_with_its_payment_refunded_owes_nothing(desk: Desk) -> None:
    decl, ref = desk.declare()
    receipt = desk.pay_due(ref)["receipt_number"]
    desk.post(f"/declarations/{decl}/cancel", "enterprise", {"reason": "buyer withdrew"}, 200)
    desk.refund(receipt)
    inv = desk.invoice(ref, "enterprise")
    assert inv["status"] == "refunded"
    assert inv["due"] == 0
