"""The live demo: simulated actors drive the real API over HTTP, so trucks are declared, wait
in the park, are called, pass their checkpoints, pay and cross; the board shows them."""

from __future__ import annotations

import random
import re
import time
from typing import Any

import httpx
from sqlalchemy import func, select

from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.demo.traffic import EXPORT_SHARE, GATE_SHARES, HOURLY, arrivals, poisson
from borderflow.store.models import PaymentAttempt, PlateRead, Position, TripEvent
from tests.conftest import Peek, served


def _crossed(client: httpx.Client) -> int:
    panel = client.get("/board/panel").text
    return sum(int(n) for n in re.findall(r'data-figure="crossed-(?:export|import)">(\d+)<',
                                          panel))


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
