"""Migrations create exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text, true

from borderflow.store import migrate
from borderflow.store.base import Base, include_object
from borderflow.store.models import Trip
from borderflow.store.session import make_engine
from tests.conftest import Database


def test_upgrade_head_on_an_empty_database_matches_the_models(
    database: Database, tmp_path: Path
) -> None:
    url = database.url if database.backend == "postgresql" else f"sqlite:///{tmp_path}/empty.db"
    migrate.upgrade(url)  # no-op on the already migrated PostgreSQL schema
    engine = make_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                        "include_object": include_object})
        diff = compare_metadata(ctx, Base.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == migrate.current_head(url)
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/wal.db"
    migrate.upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert "declarations" in inspect(engine).get_table_names()
    engine.dispose()


def test_per_enterprise_statistics_move_to_their_own_table(tmp_path: Path) -> None:
    """Figures kept before the split stay: the all-enterprise rows in stat_counts, the
    per-enterprise ones in stat_enterprise_counts."""
    url = f"sqlite:///{tmp_path}/split.db"
    migrate.upgrade(url, "48e6d4b00f86")
    engine = make_engine(url)
    row = ("INSERT INTO stat_counts (grain, period, kind, gate, direction, goods_group, "
           "enterprise, vehicles, declarations, weight_kg, value_usd_cents, fee_vnd, seconds) "
           "VALUES ('m', '2026-11-01', 'crossed', 'huu-nghi', 'export', 'fresh-fruit', :e, "
           ":n, 0, 0, 0, 0, 0)")
    with engine.begin() as conn:
        conn.execute(text(row), {"e": "*", "n": 7})
        conn.execute(text(row), {"e": "0100109106", "n": 7})
    engine.dispose()
    migrate.upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT vehicles FROM stat_counts WHERE grain = 'm'")
                            ).all() == [(7,)]
        assert conn.execute(text("SELECT enterprise, vehicles FROM stat_enterprise_counts "
                                 "WHERE grain = 'm' AND gate <> '*'")).all() == [("0100109106", 7)]
    engine.dispose()


def test_yearly_statistics_are_filled_from_the_months(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/years.db"
    migrate.upgrade(url, "a3f35288a369")
    engine = make_engine(url)
    row = ("INSERT INTO stat_counts (grain, period, kind, gate, direction, goods_group, "
           "vehicles, declarations, weight_kg, value_usd_cents, fee_vnd, seconds) "
           "VALUES ('m', :p, 'crossed', 'huu-nghi', 'export', 'fresh-fruit', :n, 0, 0, 0, 0, 0)")
    with engine.begin() as conn:
        for period, n in (("2025-11-01", 7), ("2025-12-01", 5), ("2026-01-01", 2)):
            conn.execute(text(row), {"p": period, "n": n})
    engine.dispose()
    migrate.upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        years = conn.execute(text("SELECT period, vehicles FROM stat_counts WHERE grain = 'y' "
                                  "ORDER BY period")).all()
    assert [(str(p)[:10], n) for p, n in years] == [("2025-01-01", 12), ("2026-01-01", 2)]
    engine.dispose()


@pytest.mark.postgres
def test_device_rows_leave_room_for_in_place_updates_on_postgresql(database: Database) -> None:
    """Every batch of positions updates its devices: on PostgreSQL half of each page of
    ``devices`` stays free so that those updates stay on their page (HOT)."""
    assert database.backend == "postgresql"
    engine = make_engine(database.url)
    with engine.connect() as conn:
        options = conn.execute(text(
            "SELECT reloptions FROM pg_class WHERE oid = 'devices'::regclass")).scalar()
    engine.dispose()
    assert "fillfactor=50" in (options or [])


def test_an_enterprises_rows_and_the_held_trips_are_found_through_their_indexes(
    database: Database, tmp_path: Path
) -> None:
    """The expression and partial indexes autogenerate cannot compare exist after the
    migrations, and the query planner takes them for an enterprise's trips and for the trips
    on hold."""
    url = database.url if database.backend == "postgresql" else f"sqlite:///{tmp_path}/ix.db"
    migrate.upgrade(url)
    engine = make_engine(url)
    expected = {"ix_trips_enterprise_head", "ix_trips_agent_head",
                "ix_declarations_enterprise_head", "ix_declarations_agent_head"}
    query = ("SELECT id FROM trips WHERE substr(enterprise_tax_code, 1, 10) IN ('0100109106') "
             "OR substr(customs_agent_tax_code, 1, 10) IN ('0100109106')")
    # the control room's trips on hold, as the query of its alerts writes it for the database
    held = str(select(Trip.id).where(Trip.on_hold == true()).order_by(Trip.updated_at)
               .compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if database.backend == "postgresql":
            names = set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE "
                                          "schemaname = current_schema()")).scalars())
            conn.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(conn.execute(text("EXPLAIN " + query)).scalars())
            held_plan = "\n".join(conn.execute(text("EXPLAIN " + held)).scalars())
        else:
            names = set(conn.execute(text("SELECT name FROM sqlite_master "
                                          "WHERE type = 'index'")).scalars())
            plan, held_plan = ("\n".join(str(r[-1]) for r in conn.execute(
                text("EXPLAIN QUERY PLAN " + q))) for q in (query, held))
    engine.dispose()
    assert expected <= names
    assert "ix_trips_enterprise_head" in plan, plan
    assert "ix_trips_agent_head" in plan, plan
    assert "ix_trips_on_hold" in held_plan, held_plan
