"""Reconciliation of a gateway statement with our payments (each kind of discrepancy), and the
daily revenue summary by gate, vehicle category and payment method."""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from borderflow.domain.fees import Entry, reconcile
from tests.fees.conftest import pay, start, trip


def _paid_online(live: httpx.Client, auth: Any) -> dict[str, Any]:
    _, inv = trip(live, auth)
    started = start(live, auth, inv["number"])
    assert pay(live, started["payment_url"])["ipn_answers"] == ["00"]
    return {"txn_ref": started["txn_ref"], "amount": inv["total"]}


def _upload(live: httpx.Client, auth: Any, text: str, first: str = "2026-11-23",
            last: str = "2026-11-23") -> httpx.Response:
    return live.post("/api/v1/reconciliations", headers=auth("regulator"),
                     data={"from": first, "to": last},
                     files={"file": ("statement.csv", text.encode(), "text/csv")})


def test_a_statement_is_matched_with_every_kind_of_discrepancy_reported(
    live: httpx.Client, auth: Any
) -> None:
    a, b, c = (_paid_online(live, auth) for _ in range(3))
    lines = live.get("/sandbox/vnpay/merchant_webapi/statement.csv",
                     params={"from": "2026-11-23", "to": "2026-11-23"}).text.splitlines()
    header, rows = lines[0], {line.split(",")[0]: line for line in lines[1:]}
    assert set(rows) == {a["txn_ref"], b["txn_ref"], c["txn_ref"]}
    wrong = rows[c["txn_ref"]].replace(f",{c['amount']},", f",{c['amount'] - 1000},")
    stranger = "INVSTRANGER01,14999999,250000,20261123091500,NCB,success,0"
    yesterday = "INVYESTERDAY1,14999998,250000,20261122091500,NCB,success,0"
    statement = "\n".join([header, rows[a["txn_ref"]], rows[a["txn_ref"]], wrong, stranger,
                           yesterday])  # b is missing from their side
    r = _upload(live, auth, statement)
    assert r.status_code == 201, r.text
    report = r.json()["report"]
    assert [m["txn_ref"] for m in report["matched"]] == [a["txn_ref"]]
    assert report["missing_theirs"] == [{"txn_ref": b["txn_ref"], "amount": b["amount"],
                                         "transaction_no": report["missing_theirs"][0][
                                             "transaction_no"]}]
    assert [m["txn_ref"] for m in report["missing_ours"]] == ["INVSTRANGER01"]
    assert report["amount_mismatch"] == [{"txn_ref": c["txn_ref"], "ours": c["amount"],
                                          "theirs": c["amount"] - 1000, "refunded_ours": 0,
                                          "refunded_theirs": 0}]
    assert [d["txn_ref"] for d in report["duplicates"]] == [a["txn_ref"]]
    assert report["summary"]["outside_period"] == 1
    again = live.get(f"/api/v1/reconciliations/{r.json()['id']}", headers=auth("regulator"))
    assert again.json()["report"] == report

    revenue = live.get("/api/v1/revenue/daily", params={"date": "2026-11-23"},
                       headers=auth("regulator")).json()
    total = a["amount"] + b["amount"] + c["amount"]
    assert revenue["total"] == {"payments": 3, "amount": total, "refunded": 0}
    assert revenue["by_method"] == {"online": {"payments": 3, "amount": total}}
    assert revenue["by_gate"] == {"huu-nghi": {"payments": 3, "amount": total}}
    assert sum(v["amount"] for v in revenue["by_vehicle_category"].values()) == total
    empty = live.get("/api/v1/revenue/daily", params={"date": "2026-11-22"},
                     headers=auth("regulator")).json()
    assert empty["total"]["amount"] == 0


def test_a_statement_with_bad_lines_is_refused_whole(live: httpx.Client, auth: Any) -> None:
    header = "txn_ref,transaction_no,amount,pay_date,bank_code,status,refunded"
    bad = "\n".join([header, "A1,1,1000,20261123080000,NCB,success,0",
                     "A2,2,12.5,20261123080000,NCB,success,0", "A3,3,1000,yesterday,NCB,success,0"])
    r = _upload(live, auth, bad)
    assert r.status_code == 422
    fields = {f["field"]: f["reason"] for f in r.json()["error"]["fields"]}
    assert set(fields) == {"file.line3", "file.line4"}
    assert "whole number of VND" in fields["file.line3"]
    assert _upload(live, auth, "a,b\n1,2").json()["error"]["fields"][0]["field"] == "file"
    assert _upload(live, auth, header, first="2026-11-24").status_code == 422  # to < from
    assert live.post("/api/v1/reconciliations", headers=auth("cashier"), data={
        "from": "2026-11-23", "to": "2026-11-23"},
        files={"file": ("s.csv", b"x", "text/csv")}).status_code == 403


entries = st.lists(st.builds(Entry, st.sampled_from(["a", "b", "c", "d", "e"]),
                             st.integers(0, 3), st.integers(0, 1)), max_size=8)


@given(entries, entries)
def test_every_order_lands_in_exactly_one_list(theirs: list[Entry], ours: list[Entry]) -> None:
    ours = list({e.txn_ref: e for e in ours}.values())  # our books hold an order once
    report = reconcile(theirs, ours)
    placed = [m["txn_ref"] for k in ("matched", "missing_ours", "missing_theirs",
                                     "amount_mismatch") for m in report[k]]
    assert sorted(placed) == sorted({e.txn_ref for e in theirs} | {e.txn_ref for e in ours})
    mine = {e.txn_ref: e for e in ours}
    for m in report["matched"]:
        assert any(t.txn_ref == m["txn_ref"] and (t.amount, t.refunded) == (
            mine[t.txn_ref].amount, mine[t.txn_ref].refunded) for t in theirs)
    assert reconcile(list(reversed(theirs)), list(reversed(ours))) == report
