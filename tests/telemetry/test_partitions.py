"""Day partitions of positions (PostgreSQL): the background work creates them a week ahead;
ingestion never runs DDL on the table every writer uses, and a day without its partition is
stored in the default partition, not refused."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.store.session import make_engine, make_session_factory
from borderflow.telemetry import service as telemetry
from tests.conftest import NOW, Database, Peek

pytestmark = pytest.mark.postgres


def _exists(db: Peek, name: str) -> bool:
    return db.scalar(text("SELECT to_regclass(:n) IS NOT NULL").bindparams(n=name)) is True


def test_the_background_work_creates_the_week_ahead_once(database: Database) -> None:
    engine = make_engine(database.url)
    with make_session_factory(engine)() as session:
        made = telemetry.prepare_partitions(session, date(2030, 1, 1), days_ahead=7)
        session.commit()
        again = telemetry.prepare_partitions(session, date(2030, 1, 1), days_ahead=7)
        later = telemetry.prepare_partitions(session, date(2030, 1, 3), days_ahead=7)
        session.commit()
        bounds = session.scalar(text(
            "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c "
            "WHERE c.oid = to_regclass('positions_20300108')"))
    engine.dispose()
    assert made == [f"positions_203001{d:02d}" for d in range(1, 9)]
    assert again == []  # nothing twice
    assert later == ["positions_20300109", "positions_20300110"]
    assert "2030-01-08" in bounds
    assert "2030-01-09" in bounds


def _drop(database: Database, name: str) -> None:
    engine = make_engine(database.url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    engine.dispose()


def test_ingestion_stores_a_day_without_its_partition_in_the_default_one_and_creates_none(
    client: TestClient, db: Peek, database: Database
) -> None:
    name = telemetry.partition_name(NOW.date())
    _drop(database, name)
    telemetry._PARTITIONS.clear()
    telemetry._MISSING.clear()
    r = client.get("/api/v1/telemetry/osmand", params={
        "id": "phone-without-partition", "lat": "21.85", "lon": "106.76",
        "timestamp": str(int(NOW.timestamp())), "speed": "10"})
    # a device nobody bound: answered Traccar's 400, its position stored all the same
    assert (r.status_code, r.json()["error"]["code"]) == (400, "device_unknown"), r.text
    where = db.scalar(text("SELECT tableoid::regclass::text FROM positions "
                           "WHERE device_id = 'phone-without-partition'"))
    assert where == "positions_default"
    assert not _exists(db, name)  # ingestion ran no DDL


def test_the_background_work_prepares_the_week_when_it_starts(
    settings: Settings, clock: FixedClock, db: Peek, database: Database
) -> None:
    week = [telemetry.partition_name(NOW.date() + timedelta(days=i)) for i in range(8)]
    for name in week:
        _drop(database, name)
    with TestClient(create_app(settings, clock=clock)):  # its start, before any purge
        assert all(_exists(db, name) for name in week)
