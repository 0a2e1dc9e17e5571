"""The cashier's till: the day's takings per method are the counter payments the cashier
recorded and did not void, whatever the order of payments and voids (a property); closing the
till stores expected, counted and the difference once a day, audited; the till API states its
roles and answers the house's error shape."""

from __future__ import annotations

import itertools
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from borderflow.clock import FixedClock
from borderflow.fees import tills
from borderflow.store.models import AuditEntry, TillClosing
from tests import factories
from tests.conftest import NOW, TODAY, Peek
from tests.fees.test_counter_and_invoices import Desk, add_cashier, with_plate

PLATES = itertools.count(100)


@pytest.fixture
def desk(client: TestClient, auth: Any) -> Desk:
    return Desk(client, auth)


def _trip(desk: Desk) -> tuple[str, dict[str, Any]]:
    n = next(PLATES)
    body = factories.fruit_declaration() if n % 2 else factories.declaration()
    ref = desk.declare(with_plate(body, f"29C-{800 + n // 100}.{n % 100:02d}"))[1]
    return ref, desk.invoice(ref)


def _takings(desk: Desk, who: str = "cashier") -> dict[str, dict[str, int]]:
    [mine] = desk.get("/tills", who)
    return dict(mine["takings"])


# --- the pure tally ------------------------------------------------------------------------------

payment = st.builds(SimpleNamespace, method=st.sampled_from(["cash", "bank_transfer", "online"]),
                    amount=st.integers(1, 10**9),
                    status=st.sampled_from(["completed", "voided", "refunded"]))


@given(st.lists(payment, max_size=40))
def test_the_tally_counts_and_sums_each_counter_method_without_voided_entries(
    rows: list[Any]
) -> None:
    got = tills.tally(rows)
    for method in ("cash", "bank_transfer"):
        kept = [p.amount for p in rows if p.method == method and p.status != "voided"]
        assert got[method] == {"count": len(kept), "total": sum(kept)}
    assert set(got) == {"cash", "bank_transfer"}  # online payments are not the till's


# --- the property, through the API ------------------------------------------------------------

operation = st.tuples(st.sampled_from(["pay", "void"]), st.integers(0, 2),
                      st.sampled_from(["cash", "bank_transfer"]))


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(operation, min_size=1, max_size=7))
def test_takings_equal_the_payments_not_voided_whatever_the_sequence(
    desk: Desk, ops: list[tuple[str, int, str]]
) -> None:
    before = _takings(desk)
    trips = [_trip(desk) for _ in range(3)]
    ledger: list[dict[str, Any]] = []  # what we did: method, amount, voided
    for action, i, method in ops:
        ref, inv = trips[i]
        current = desk.invoice(ref)
        if action == "pay" and current["due"]:
            extra = {"reference": "VCB-1"} if method == "bank_transfer" else {}
            paid = desk.pay(inv["number"], current["due"], method=method, **extra)
            ledger.append({"receipt": paid["receipt_number"], "method": method,
                           "amount": paid["amount"], "voided": False})
        elif action == "void":
            live = [e for e in ledger if not e["voided"]
                    and e["receipt"] in {p["receipt_number"] for p in current["payments"]}]
            if live:
                desk.void(live[-1]["receipt"])
                live[-1]["voided"] = True
    after = _takings(desk)
    for method in ("cash", "bank_transfer"):
        kept = [e["amount"] for e in ledger if e["method"] == method and not e["voided"]]
        assert after[method]["count"] - before[method]["count"] == len(kept)
        assert after[method]["total"] - before[method]["total"] == sum(kept)


# --- closing the till ----------------------------------------------------------------------------


def test_closing_stores_expected_counted_and_the_difference_once_and_audits_it(
    desk: Desk, db: Peek
) -> None:
    _ref, inv = _trip(desk)
    desk.pay(inv["number"], inv["due"])
    closed = desk.post("/tills/close", "cashier", {"counted_cash": inv["due"] + 20_000,
                                                   "note": "khách để lại tiền thừa"}, 201)
    assert closed["closed"] is True
    assert closed["closing"]["expected_cash"] == inv["due"]
    assert closed["closing"]["difference"] == 20_000
    assert closed["closing"]["takings"]["cash"] == {"count": 1, "total": inv["due"]}
    again = desk.post("/tills/close", "cashier", {"counted_cash": 0}, 409)
    assert again["error"]["code"] == "till_closed"
    [row] = db.scalars(select(TillClosing))
    assert (row.cashier, row.day, row.counted_cash) == ("cashier", TODAY, inv["due"] + 20_000)
    [entry] = db.scalars(select(AuditEntry).where(AuditEntry.action == "till.closed"))
    assert entry.target_id == f"cashier:{TODAY.isoformat()}"
    assert entry.after["difference"] == 20_000
    [mine] = desk.get("/tills", "cashier")
    assert mine["closed"] is True
    assert mine["closing"]["counted_cash"] == inv["due"] + 20_000


def test_a_closing_is_refused_for_a_future_day_a_negative_count_and_other_roles(
    desk: Desk
) -> None:
    future = desk.post("/tills/close", "cashier",
                       {"date": (TODAY + timedelta(days=1)).isoformat(), "counted_cash": 0},
                       422)
    assert [f["field"] for f in future["error"]["fields"]] == ["date"]
    negative = desk.post("/tills/close", "cashier", {"counted_cash": -1}, 422)
    assert negative["error"]["code"] == "validation_failed"
    for who in ("regulator", "enterprise"):
        assert desk.post("/tills/close", who, {"counted_cash": 0}, 403)["error"]["code"] == (
            "forbidden")
    assert desk.get("/tills", "enterprise", 403)["error"]["code"] == "forbidden"


def test_officials_read_every_cashiers_till_and_a_cashier_only_their_own(
    desk: Desk, clock: FixedClock
) -> None:
    add_cashier(desk, "cashier-2", "huu-nghi")
    _ref, inv = _trip(desk)
    desk.pay(inv["number"], inv["due"], who="cashier-2")
    everyone = {t["cashier"]: t for t in desk.get("/tills", "regulator")}
    assert everyone["cashier-2"]["takings"]["cash"]["count"] == 1
    assert [t["cashier"] for t in desk.get("/tills", "cashier")] == ["cashier"]
    assert desk.get("/tills", "cashier")[0]["takings"]["cash"]["count"] == 0
    clock.set(NOW + timedelta(days=1))  # the next day starts empty
    tomorrow = {t["cashier"]: t for t in desk.get("/tills", "regulator")}
    assert "cashier-2" not in tomorrow
    yesterday = desk.get(f"/tills?date={TODAY.isoformat()}", "regulator")
    assert any(t["cashier"] == "cashier-2" for t in yesterday)


def test_the_till_api_states_its_roles(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "**Roles:**" in paths["/api/v1/tills"]["get"]["description"]
    assert "`cashier`" in paths["/api/v1/tills/close"]["post"]["description"]
