"""A trip recorded through the API shows in the reports at once (the summary tables move with
its events), and the daily situation report of its gate, on demand and at the set time."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

from fastapi.testclient import TestClient

from borderflow.clock import FixedClock
from borderflow.report import loop
from tests import factories
from tests.conftest import NOW
from tests.trip.test_walkthrough import STAGING, Walk

TODAY = NOW.date().isoformat()  # NOW is 08:00 in Lang Son, the same date


def run_trip(client: TestClient, auth: Any, clock: FixedClock | None = None) -> str:
    """An export of fruit at Huu Nghi: staging, call, gate area, a quarantine hold released,
    paid, crossed an hour after arrival."""
    w = Walk(client, auth)
    body = factories.fruit_declaration()
    body["vehicles"][0]["driver"]["crosses_border"] = True  # so the medical check applies
    d = client.post("/api/v1/declarations", json=body, headers=auth("enterprise")).json()
    ref = f"{d['reference']}-1"
    w.move(ref, "enter", STAGING, "yard")
    if clock is not None:
        clock.set(NOW + timedelta(minutes=20))
    assert client.post(f"/api/v1/trips/{ref}/call", json={},
                       headers=auth("regulator")).status_code == 200
    w.move(ref, "enter", "gate_area:huu-nghi", "borderguard")
    for step, who in (("medical", "health"), ("border_guard", "borderguard")):
        w.step(ref, step, who)
    w.step(ref, "quarantine", "quarantine", outcome="hold", reason_code="sampling")
    client.post(f"/api/v1/trips/{ref}/steps/quarantine/release", json={"note": "ok"},
                headers=auth("quarantine"))
    w.step(ref, "quarantine", "quarantine")
    w.step(ref, "customs", "customs", channel="green")
    w.pay(ref, "cashier")
    if clock is not None:
        clock.set(NOW + timedelta(hours=1))
    w.step(ref, "crossing", "borderguard")
    return ref


def test_a_trip_shows_in_the_reports_as_it_happens(client: TestClient, auth: Any,
                                                   clock: FixedClock) -> None:
    span = {"from": TODAY, "to": TODAY}
    before = client.get("/api/v1/reports/traffic", params=span,
                        headers=auth("regulator")).json()["total"]
    assert before["vehicles_crossed"]["value"] == 0
    run_trip(client, auth, clock)
    total = client.get("/api/v1/reports/traffic", params={**span, "by": "gate"},
                       headers=auth("regulator")).json()["total"]
    assert total["vehicles_declared"]["value"] == 1
    assert total["declarations"]["value"] == 1
    assert total["vehicles_called"]["value"] == 1
    assert total["vehicles_crossed"]["value"] == total["export_crossed"]["value"] == 1
    assert total["fees_vnd"]["value"] == 900_000
    assert total["active_enterprises"]["value"] == 1
    assert total["tonnage_kg"]["value"] > 0
    times = client.get("/api/v1/reports/times", params=span,
                       headers=auth("regulator")).json()["total"]
    assert times["system"]["mean_minutes"] == 60.0  # staging at 08:00, crossed at 09:00
    assert times["wait"]["mean_minutes"] == 20.0  # called at 08:20
    holds = client.get("/api/v1/reports/holds", params=span, headers=auth("regulator")).json()
    assert holds["holds"] == [{"step": "quarantine", "reason_code": "sampling", "count": 1}]
    peaks = client.get("/api/v1/reports/peaks", params=span, headers=auth("regulator")).json()
    assert peaks["peak_hour"] == {"date": TODAY, "hour": 9, "vehicles": 1}
    # the enterprise sees its own crossing, with its time in the system
    mine = client.get("/api/v1/reports/times", params=span,
                      headers=auth("enterprise")).json()["total"]
    assert mine["system"]["n"] == 1


def test_situation_report_on_demand_and_at_the_set_time(client: TestClient, auth: Any,
                                                        clock: FixedClock) -> None:
    run_trip(client, auth, clock)
    w = Walk(client, auth)
    d = client.post("/api/v1/declarations", json=factories.fruit_declaration(
        vehicles=[{**factories.fruit_declaration()["vehicles"][0], "plate": "29C-55555"}]),
        headers=auth("enterprise"))
    assert d.status_code == 201, d.text
    w.move(f"{d.json()['reference']}-1", "enter", STAGING, "yard")
    doc = client.get("/api/v1/reports/situation", params={"gate": "huu-nghi"},
                     headers=auth("regulator")).json()
    assert doc["cleared"] == {"export": 1, "import": 0}
    assert doc["remaining"]["staging"] == {"export": 1, "import": 0}
    assert doc["remaining"]["gate_area"] == {"export": 0, "import": 0}
    assert doc["working_hours"]["intervals"]
    assert client.get("/api/v1/reports/situation", params={"gate": "huu-nghi"},
                      headers=auth("enterprise")).status_code == 403
    assert client.get("/api/v1/reports/situation", params={"gate": "huu-nghi", "date":
                                                           "2030-01-01"},
                      headers=auth("regulator")).status_code == 422

    # at the set time, one report per gate is kept, once
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    ctx.settings.situation_report_time = "17:30"
    assert ctx.settings.situation_report_at == time(17, 30)
    clock.set(NOW + timedelta(hours=9))  # 17:00 local
    assert loop.run_once(ctx) == 0
    clock.set(NOW + timedelta(hours=10))  # 18:00 local
    gates = len(client.get("/api/v1/network").json()["document"]["gates"])
    assert loop.run_once(ctx) == gates
    assert loop.run_once(ctx) == 0
    kept = client.get("/api/v1/reports/situation", params={"gate": "huu-nghi", "kept": "true"},
                      headers=auth("regulator")).json()
    assert kept["cleared"] == {"export": 1, "import": 0}
    pdf = client.get("/api/v1/reports/situation", params={"gate": "huu-nghi", "kept": "true",
                                                          "format": "pdf"},
                     headers=auth("regulator"))
    assert pdf.content.startswith(b"%PDF")
