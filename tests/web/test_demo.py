"""The live demo: simulated actors drive the real API over HTTP, so trucks are declared, wait
in the park, are called, pass their checkpoints, pay and cross; the board shows them."""

from __future__ import annotations

import asyncio
import random
import re
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from structlog.testing import capture_logs

from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.demo import traffic as actors
from borderflow.demo.traffic import (
    EXPORT_SHARE,
    GATE_SHARES,
    HOURLY,
    Traffic,
    arrivals,
    poisson,
)
from borderflow.store.models import PaymentAttempt, PlateRead, Position, TripEvent
from tests.conftest import Peek, _free_port, served


def _crossed(client: httpx.Client) -> int:
    panel = client.get("/board/panel").text
    return sum(int(n) for n in re.findall(r'data-figure="crossed-(?:export|import)">(\d+)<',
                                          panel))


# On PostgreSQL, tests/robustness/test_topology.py drives the same actors through it all.
@pytest.mark.slow
@pytest.mark.any_database
def test_the_demo_traffic_moves_trucks_through_the_whole_procedure(
    settings: Settings, clock: FixedClock, auth: Any, db: Peek
) -> None:
    with served(settings, clock, demo_traffic=True, demo_speed=3600, demo_trucks_per_day=6000,
                dispatch_interval_seconds=1) as client:

        def paid() -> dict[str, Any]:
            revenue = client.get("/api/v1/revenue/daily", params={"date": "2026-11-23"},
                                 headers=auth("regulator")).json()
            return dict(revenue["by_method"])

        def read_statuses() -> set[str]:
            return set(db.scalars(select(PlateRead.status).distinct()))

        def drivers_paid() -> int:
            return int(db.scalar(select(func.count()).select_from(PaymentAttempt).where(
                PaymentAttempt.created_by.like("demo-driver-%"))) or 0)

        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and (
                _crossed(client) == 0 or not {"online", "cash"} <= set(paid())
                or "matched" not in read_statuses()
                or not read_statuses() & {"review", "confirmed"}
                or not drivers_paid()):
            time.sleep(1.0)
        assert _crossed(client) > 0  # trucks went through every step and crossed
        methods = paid()
        assert methods["online"]["payments"] > 0  # through the sandbox gateway
        assert methods["cash"]["payments"] > 0  # and at the counter
        trips = client.get("/api/v1/trips", params={"limit": 200},
                           headers=auth("regulator")).json()
        assert trips["total"] > 5
        statuses = {t["status"] for t in trips["items"]}
        assert statuses & {"at_staging", "called"}  # exports wait in the park, are called
        assert "in_gate_area" in statuses
        # phones on the road from the park to the gate, bound to their drivers' trips
        assert db.scalar(select(func.count()).select_from(Position).where(
            Position.device_id.like("demo-phone-%"), Position.trip_id.is_not(None))) > 0
        # the gates' cameras read plates: most recorded the movement by themselves, unsure
        # ones waited for a border guard (the console's review queue)
        reads = read_statuses()
        assert "matched" in reads
        assert reads & {"review", "confirmed"}
        by_camera = db.scalar(select(func.count()).select_from(TripEvent).where(
            TripEvent.source == "camera"))
        assert by_camera > 0
        assert drivers_paid() > 0  # some fees are paid by the drivers on their phones


def test_the_calibration_follows_the_lang_son_figures() -> None:
    day = sum(arrivals(1400, h) * 60 for h in range(24))
    assert abs(day - 1400) < 1  # the hourly profile keeps the daily total
    assert arrivals(1400, 7) > 2 * arrivals(1400, 2)  # the morning peak
    assert EXPORT_SHARE == 0.27
    shares = {g: n / sum(GATE_SHARES.values()) for g, n in GATE_SHARES.items()}
    assert max(shares, key=lambda g: shares[g]) == "huu-nghi"
    rng = random.Random(1)
    draws = [poisson(rng, 2.5) for _ in range(20000)]
    assert abs(sum(draws) / len(draws) - 2.5) < 0.05
    assert len(HOURLY) == 24


# --- reaching the server ------------------------------------------------------------------

HEALTHY = b'{"status": "ok", "version": "0.1.0"}'


async def _server(port: int, status: int = 200, body: bytes = HEALTHY) -> asyncio.Server:
    """A stand-in for the platform on 127.0.0.1:``port``: every request gets ``status`` and
    ``body``, and the connection is closed after each answer."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                         % (status, len(body), body))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", port)


def _traffic(port: int, **change: Any) -> Traffic:
    return Traffic(**{"base_url": f"http://127.0.0.1:{port}", "enterprise_key": "k",
                      "officers_key": "k", "tax_code": "0100109106",
                      "staged_gates": frozenset(), "permitted": {}, "speed": 3600.0,
                      "connect_wait": 0.6, **change})


def _errors(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["log_level"] == "error"]


def test_the_demo_traffic_stops_with_an_error_naming_the_url_when_nothing_answers() -> None:
    port = _free_port()  # nothing listens there
    traffic = _traffic(port)
    with capture_logs() as logs:
        started = time.monotonic()
        asyncio.run(asyncio.wait_for(traffic.run(asyncio.Event()), timeout=10))
        took = time.monotonic() - started
    assert took >= 0.6  # it tried again for a while (the server may be starting)
    assert took < 5  # then gave up instead of trying forever
    [error] = _errors(logs)
    assert f"http://127.0.0.1:{port}" in error["event"]
    assert "BORDERFLOW_PUBLIC_BASE_URL" in error["event"]
    assert error["url"] == f"http://127.0.0.1:{port}"
    assert traffic.failure is not None
    assert f"cannot reach the server at http://127.0.0.1:{port}" in traffic.failure
    assert traffic.declared == 0


def test_the_demo_traffic_waits_for_a_server_that_is_still_starting() -> None:
    port = _free_port()

    async def scenario() -> tuple[Traffic, int]:
        traffic = _traffic(port, connect_wait=10)
        stop = asyncio.Event()
        task = asyncio.create_task(traffic.run(stop))
        await asyncio.sleep(0.7)  # refused meanwhile
        assert not task.done()
        server = await _server(port)
        async with server:
            for _ in range(100):  # the actors start ticking
                await asyncio.sleep(0.05)
                if traffic.minute > 0:
                    break
            stop.set()
            await asyncio.wait_for(task, timeout=5)
        return traffic, int(traffic.minute)

    with capture_logs() as logs:
        traffic, minutes = asyncio.run(scenario())
    assert minutes > 0
    assert traffic.failure is None
    assert _errors(logs) == []


def test_the_demo_traffic_refuses_a_url_where_something_else_answers() -> None:
    port = _free_port()

    async def scenario() -> Traffic:
        traffic = _traffic(port)
        async with await _server(port, status=404, body=b'{"detail": "Not Found"}'):
            await asyncio.wait_for(traffic.run(asyncio.Event()), timeout=10)
        return traffic

    with capture_logs() as logs:
        traffic = asyncio.run(scenario())
    assert traffic.failure is not None
    assert "answered HTTP 404" in traffic.failure
    [error] = _errors(logs)
    assert f"http://127.0.0.1:{port}" in error["event"]


def test_the_demo_traffic_gives_up_when_the_server_stops_answering_for_good() -> None:
    port = _free_port()

    async def scenario() -> Traffic:
        traffic = _traffic(port, permitted={("chi-ma", "import"): ["machinery"]},
                           trucks_per_day=20000)  # a declaration every simulated minute
        server = await _server(port)  # reachable at start ...
        task = asyncio.create_task(traffic.run(asyncio.Event()))
        for _ in range(100):
            await asyncio.sleep(0.02)
            if traffic.minute > 0:
                break
        server.close()  # ... then gone
        await server.wait_closed()
        await asyncio.wait_for(task, timeout=10)
        return traffic

    with capture_logs() as logs:
        traffic = asyncio.run(scenario())
    assert traffic.minute > 0
    assert traffic.failure is not None
    assert "no answer any more" in traffic.failure
    assert len(_errors(logs)) == 1


def test_the_server_keeps_serving_when_its_demo_traffic_cannot_reach_it(
    settings: Settings, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(actors, "CONNECT_WAIT", 0.5)
    nowhere = f"http://127.0.0.1:{_free_port()}"
    app = create_app(settings.model_copy(update={"demo_traffic": True,
                                                 "public_base_url": nowhere}), clock=clock)
    with capture_logs() as logs, TestClient(app) as client:
        traffic: Traffic = app.state.demo
        deadline = time.monotonic() + 10
        while traffic.failure is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/healthz").status_code == 200
    app.state.ctx.engine.dispose()
    assert traffic.failure is not None
    assert nowhere in traffic.failure
    [error] = _errors(logs)
    assert nowhere in error["event"]
    assert "BORDERFLOW_PUBLIC_BASE_URL" in error["event"]
