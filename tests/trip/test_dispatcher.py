"""The dispatcher through the API: call-forward orders, acknowledgement, no-shows, the queue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from borderflow.clock import FixedClock
from tests import factories
from tests.conftest import NOW

STAGING = "staging:viettel-logistics-park"


def _at_staging(client: TestClient, auth: Any, plate: str, fruit: bool = False) -> str:
    body = factories.fruit_declaration() if fruit else factories.declaration()
    body["vehicles"][0]["plate"] = plate
    d = client.post("/api/v1/declarations", json=body, headers=auth("enterprise")).json()
    ref = f"{d['reference']}-1"
    r = client.post(f"/api/v1/trips/{ref}/movements", json={"action": "enter", "area": STAGING},
                    headers=auth("yard"))
    assert r.status_code == 200, r.text
    return ref


def test_waiting_trucks_are_called_acknowledged_and_no_shows_requeued(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    normal = _at_staging(client, auth, "29C-100.01")
    clock.set(NOW + timedelta(minutes=5))
    fruit = _at_staging(client, auth, "29C-100.02", fruit=True)
    queue = client.get("/api/v1/dispatch/queue", params={"gate": "huu-nghi"},
                       headers=auth("regulator")).json()
    assert [(q["trip"], q["position"]) for q in queue] == [(fruit, 1), (normal, 2)]
    assert client.post("/api/v1/dispatch/run", headers=auth("customs")).status_code == 403

    report = client.post("/api/v1/dispatch/run", headers=auth("regulator")).json()
    assert [c["trip"] for c in report["called"]] == [fruit, normal]
    trip = client.get(f"/api/v1/trips/{fruit}", headers=auth("driver")).json()
    assert trip["status"] == "called"
    order = trip["deadlines"]["call-grace"]
    assert order["met_at"] is None
    state = client.get(f"/api/v1/trips/{fruit}/timeline", headers=auth("driver")).json()
    called = next(e for e in state["entries"] if e["type"] == "trip.called")
    assert called["actor"] == "dispatcher"
    assert called["source"] == "regulator"
    assert called["payload"]["yard"] == "huu-nghi-export"

    ack = client.post(f"/api/v1/trips/{fruit}/acknowledge", headers=auth("driver"))
    assert ack.status_code == 200, ack.text
    again = client.post(f"/api/v1/trips/{fruit}/acknowledge", headers=auth("driver"))
    assert again.status_code == 409
    assert client.post(f"/api/v1/trips/{fruit}/acknowledge",
                       headers=auth("regulator")).status_code == 403

    # the fruit truck arrives in time; the other does not show up within the grace time
    client.post(f"/api/v1/trips/{fruit}/movements",
                json={"action": "enter", "area": "gate_area:huu-nghi"},
                headers=auth("borderguard"))
    clock.set(NOW + timedelta(hours=3))
    report = client.post("/api/v1/dispatch/run", headers=auth("regulator")).json()
    assert report["no_shows"] == [normal]
    assert [c["trip"] for c in report["called"]] == [normal]  # back in the queue, called again
    trip = client.get(f"/api/v1/trips/{normal}", headers=auth("regulator")).json()
    assert trip["status"] == "called"
    timeline = client.get(f"/api/v1/trips/{normal}/timeline",
                          headers=auth("regulator")).json()
    assert [e["type"] for e in timeline["entries"]][-2:] == ["trip.no_show", "trip.called"]


def test_nothing_is_called_while_the_gate_is_closed(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    _at_staging(client, auth, "29C-100.03")
    clock.set(NOW.replace(hour=15))  # 22:00 in Lang Son: Huu Nghi is closed
    report = client.post("/api/v1/dispatch/run", headers=auth("regulator")).json()
    assert report["called"] == []
    assert report["waiting"] == 1


def test_each_gate_uses_its_own_dispatch_policy() -> None:
    from borderflow.config import DEFAULT_NETWORK_FILE
    from borderflow.dispatch.service import policies
    from borderflow.network import service as networks

    network = networks.parse(networks.read_file(DEFAULT_NETWORK_FILE))
    by_gate = policies(network)
    assert by_gate["huu-nghi"].kind == "cycle"
    assert by_gate["huu-nghi"].grace_minutes == 60
    assert by_gate["chi-ma"].kind == "strict"
    assert by_gate["chi-ma"].grace_minutes == 90
