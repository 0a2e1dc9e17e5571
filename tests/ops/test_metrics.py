"""What /metrics tells an operator, read in one process: the trucks per gate as the board
shows them, the outbox's oldest message growing older while nothing sends it, and request
latency labelled by route template, never by the raw path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.dispatch import board
from borderflow.network import service as networks
from borderflow.store.session import make_engine, make_session_factory
from tests.conftest import NOW
from tests.trip.test_rerouting import staged


@pytest.fixture
def app_client(settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    """The platform with its database figures read at every scrape."""
    app = create_app(settings.model_copy(update={"metrics_database_seconds": 0}), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.ctx.engine.dispose()


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text)
            for s in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_the_trucks_per_gate_are_what_the_board_shows(
    app_client: TestClient, auth: Any, settings: Settings
) -> None:
    for i in range(4):
        staged(app_client, auth, f"29C-500.{i:02d}")
    staged(app_client, auth, "29C-501.00", "fruit")
    called = app_client.post("/api/v1/dispatch/run", headers=auth("regulator")).json()["called"]
    assert called, "the situation needs trucks called"
    inside = called[0]["trip"]
    moved = app_client.post(f"/api/v1/trips/{inside}/movements", headers=auth("borderguard"),
                            json={"action": "enter", "area": "gate_area:huu-nghi"})
    assert moved.status_code == 200, moved.text
    for i in range(2):
        staged(app_client, auth, f"29C-502.{i:02d}")

    samples = scrape(app_client)
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine, write=False)() as session:
            _, network = networks.network_at(session, NOW)
            figures = board.build(session, network, NOW)
    finally:
        engine.dispose()
    occupancy = {a["area"]: a["vehicles"] for a in
                 app_client.get("/api/v1/occupancy", headers=auth("regulator")).json()}
    assert sum(g.queue["export"] for g in figures.gates) == 2 + 4 + 1 - len(called)
    for gate in figures.gates:
        for direction, waiting in gate.queue.items():
            assert value(samples, "borderflow_gate_queue_trucks", gate=gate.code,
                         direction=direction) == waiting
        assert value(samples, "borderflow_gate_called_trucks", gate=gate.code) == gate.called
        for yard in gate.yards:
            assert value(samples, "borderflow_area_trucks", area=f"yard:{yard.code}",
                         kind="yard") == yard.vehicles
            assert value(samples, "borderflow_area_capacity_trucks", area=f"yard:{yard.code}",
                         kind="yard") == yard.capacity
        assert value(samples, "borderflow_gate_area_trucks", gate=gate.code) == \
            occupancy[f"gate_area:{gate.code}"]
    assert value(samples, "borderflow_gate_area_trucks", gate="huu-nghi") >= 1
    for park in figures.parks:
        assert value(samples, "borderflow_area_trucks", area=f"staging:{park.code}",
                     kind="staging") == park.vehicles


def test_the_oldest_pending_notification_grows_older_until_it_is_sent(
    app_client: TestClient, auth: Any, clock: FixedClock
) -> None:
    staged(app_client, auth, "29C-510.00")
    called = app_client.post("/api/v1/dispatch/run", headers=auth("regulator")).json()["called"]
    assert called  # the driver is told: a notification waits in the outbox (no sender runs)
    samples = scrape(app_client)
    pending = {dict(labels)["channel"]: n for (name, labels), n in samples.items()
               if name == "borderflow_outbox_pending" and dict(labels)["outbox"] ==
               "notifications"}
    assert sum(pending.values()) > 0, samples
    channel = next(c for c, n in pending.items() if n)
    age = value(samples, "borderflow_outbox_oldest_pending_seconds",
                outbox="notifications", channel=channel)
    clock.set(NOW + timedelta(minutes=7))
    later = value(scrape(app_client), "borderflow_outbox_oldest_pending_seconds",
                  outbox="notifications", channel=channel)
    assert later == pytest.approx(age + 420)
    assert value(samples, "borderflow_outbox_oldest_pending_seconds",
                 outbox="account_messages", channel="sms") == 0


def test_latency_is_labelled_by_route_template_not_by_path(
    app_client: TestClient, auth: Any
) -> None:
    ref = staged(app_client, auth, "29C-520.00")
    assert app_client.get(f"/api/v1/trips/{ref}", headers=auth("regulator")).status_code == 200
    assert app_client.get("/static/app.css").status_code == 200
    assert app_client.get("/no/such/page/123").status_code == 404
    text = app_client.get("/metrics").text
    routes = {s.labels["route"] for family in text_string_to_metric_families(text)
              if family.name == "borderflow_http_request_seconds" for s in family.samples}
    assert "/api/v1/trips/{trip_id}" in routes
    assert "/static/{path}" in routes
    assert "unmatched" in routes
    assert not any(ref in r or "app.css" in r or "123" in r for r in routes), routes


def test_the_database_figures_are_read_once_per_interval(
    settings: Settings, clock: FixedClock, auth: Any
) -> None:
    app = create_app(settings.model_copy(update={"metrics_database_seconds": 300}), clock=clock)
    with TestClient(app) as client:
        first = scrape(client)
        staged(client, auth, "29C-530.00")
        again = scrape(client)
    app.state.ctx.engine.dispose()
    queue = {"gate": "huu-nghi", "direction": "export"}
    assert value(first, "borderflow_gate_queue_trucks", **queue) == \
        value(again, "borderflow_gate_queue_trucks", **queue) == 0
