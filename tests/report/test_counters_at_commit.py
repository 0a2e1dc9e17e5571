"""The statistics' counters are rows every writer shares (one per day, gate and kind): a
transaction's changes to them are written at its commit, summed, so writers do not queue
behind each other's open transactions, and a savepoint rolled back takes its changes with it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from borderflow.domain import report as stats
from borderflow.report import facts
from borderflow.store.models import StatCount
from borderflow.store.session import make_engine, make_session_factory
from tests.conftest import Database

KEY = ("d", date(2026, 11, 23), "arrived", "huu-nghi", "export", "fruit")


def _change(vehicles: int) -> stats.Contributions:
    return {(stats.COUNTS, KEY): (vehicles, 0, 0, 0, 0, 0)}


@pytest.fixture
def sessions(database: Database) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database.url)
    yield make_session_factory(engine)
    engine.dispose()


def _vehicles(sessions: sessionmaker[Session]) -> int | None:
    with sessions() as s:
        return s.scalar(select(StatCount.vehicles).where(
            StatCount.period == KEY[1], StatCount.kind == KEY[2], StatCount.gate == KEY[3],
            StatCount.goods_group == KEY[5]))


def _refused(s: Session, change: stats.Contributions) -> None:
    with s.begin_nested():
        facts.add_at_commit(s, change)
        raise RuntimeError("the event was refused")


def test_changes_are_summed_and_written_at_the_commit(
        sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        facts.add_at_commit(s, _change(2))
        facts.add_at_commit(s, _change(3))
        with pytest.raises(RuntimeError):
            _refused(s, _change(100))
        with s.begin_nested():
            facts.add_at_commit(s, _change(1))
        assert _vehicles(sessions) is None  # nothing written before the commit
        s.commit()
    assert _vehicles(sessions) == 6
    with sessions() as s:
        facts.add_at_commit(s, _change(50))
        s.rollback()
        s.commit()
    assert _vehicles(sessions) == 6


@pytest.mark.postgres
def test_an_open_transaction_does_not_hold_the_counters(
        sessions: sessionmaker[Session]) -> None:
    """A trip event still being written (its transaction open) does not keep another one on
    the same day, gate and kind from committing."""
    with sessions() as s:
        facts.add_at_commit(s, _change(1))
        s.commit()
    slow = sessions()
    try:
        facts.add_at_commit(slow, _change(1))
        slow.flush()
        with sessions() as other:
            other.execute(text("SET LOCAL lock_timeout = '2s'"))
            facts.add_at_commit(other, _change(1))
            other.commit()  # before: waited for the counter row the slow one held
        assert _vehicles(sessions) == 2
        slow.commit()
    finally:
        slow.close()
    assert _vehicles(sessions) == 3
