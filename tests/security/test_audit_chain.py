"""The audit log is a hash chain: it verifies after many writes (concurrent ones too), any
single-row tamper is found at exactly that row, and the database refuses UPDATE and DELETE."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from borderflow import audit
from borderflow.cli.main import app
from borderflow.config import get_settings
from borderflow.domain.access import SYSTEM
from borderflow.store.models import AuditChainHead, AuditEntry
from borderflow.store.session import make_engine, make_session_factory
from tests.conftest import NOW, Database


@pytest.fixture
def sessions(database: Database) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database.url)
    yield make_session_factory(engine)
    engine.dispose()


def _write(sessions: sessionmaker[Session], n: int, *, tag: str = "t", per_tx: int = 1) -> None:
    for start in range(0, n, per_tx):
        with sessions() as s:
            for i in range(start, min(n, start + per_tx)):
                audit.record(s, actor=SYSTEM, action="test.write", target_type="thing",
                             target_id=f"{tag}{i}", at=NOW + timedelta(seconds=i),
                             before={"n": i, "ž": "Lạng Sơn 谅山"}, after={"n": i + 1,
                                                                        "list": (1, 2.5)})
            s.commit()


def _rows(sessions: sessionmaker[Session]) -> list[dict[str, Any]]:
    table = AuditEntry.__table__
    with sessions() as s:
        q = select(table.c.id, table.c.hash, *(table.c[c] for c in audit.CHAINED))
        return [dict(r) for r in s.execute(q.order_by(table.c.seq)).mappings()]


def test_the_chain_verifies_after_many_writes(sessions: sessionmaker[Session]) -> None:
    _write(sessions, 40, per_tx=3)
    with sessions() as s:
        result = audit.verify(s)
        head = s.get(AuditChainHead, audit.HEAD_ID)
        last = s.scalar(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))
    assert result.broken is None
    assert result.rows == result.last_seq >= 40
    assert head is not None
    assert last is not None
    assert (head.seq, head.hash) == (last.seq, last.hash)
    rows = _rows(sessions)
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))


def test_concurrent_writers_form_one_chain(sessions: sessionmaker[Session]) -> None:
    errors: list[BaseException] = []

    def worker(tag: str) -> None:
        try:
            _write(sessions, 15, tag=tag, per_tx=2)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{k}-",)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sessions() as s:
        result = audit.verify(s)
        written = s.scalar(select(AuditEntry.id).where(AuditEntry.target_id == "w5-14"))
    assert result.broken is None, result.broken
    assert written is not None
    assert sum(1 for r in _rows(sessions) if r["target_id"].startswith("w")) == 90


def test_a_rolled_back_write_leaves_no_gap(sessions: sessionmaker[Session]) -> None:
    _write(sessions, 2)
    with sessions() as s:
        audit.record(s, actor=SYSTEM, action="test.write", target_type="thing", target_id="x",
                     at=NOW)
        s.flush()
        s.rollback()
    _write(sessions, 2, tag="after")
    with sessions() as s:
        assert audit.verify(s).broken is None


def _targets(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as s:
        return list(s.scalars(select(AuditEntry.target_id).order_by(AuditEntry.seq)))


def _note(s: Session, target: str) -> None:
    audit.record(s, actor=SYSTEM, action="test.write", target_type="thing", target_id=target,
                 at=NOW)


def test_a_savepoint_rolled_back_takes_its_audit_rows_with_it(
        sessions: sessionmaker[Session]) -> None:
    """What a savepoint recorded goes with it when it is rolled back (a position that could
    not move its trip); what a released savepoint recorded commits with the transaction."""
    def refused(s: Session, *targets: str) -> None:
        with s.begin_nested():
            for target in targets:
                with s.begin_nested():  # released into the savepoint refused below
                    _note(s, target)
            raise RuntimeError("the event was refused")

    with sessions() as s:
        _note(s, "before")
        with pytest.raises(RuntimeError):
            refused(s, "undone", "undone-inner")
        with s.begin_nested():
            _note(s, "kept")
            with pytest.raises(RuntimeError):
                refused(s, "undone-too")
        _note(s, "after")
        s.commit()
    with sessions() as s:
        _note(s, "rolled-back")
        s.rollback()
        _note(s, "next-transaction")
        s.commit()
    with sessions() as s:
        _note(s, "closed-without-commit")
    assert _targets(sessions)[-4:] == ["before", "kept", "after", "next-transaction"]
    with sessions() as s:
        assert audit.verify(s).broken is None


def test_what_is_audited_is_the_value_when_recorded(sessions: sessionmaker[Session]) -> None:
    after = {"status": "open"}
    with sessions() as s:
        audit.record(s, actor=SYSTEM, action="test.write", target_type="thing", target_id="v",
                     at=NOW, after=after)
        after["status"] = "changed later by the caller"
        s.commit()
    with sessions() as s:
        row = s.scalar(select(AuditEntry).where(AuditEntry.target_id == "v"))
        assert row is not None
        assert row.after == {"status": "open"}


@pytest.mark.postgres
def test_an_open_transaction_does_not_hold_other_writers(
        sessions: sessionmaker[Session]) -> None:
    """A write that has recorded its audit row but not committed yet (an officer's step still
    updating the invoice and the statistics) does not keep another writer from committing: the
    chain's head is taken only at the commit, for a few statements."""
    _write(sessions, 1)
    slow = sessions()
    try:
        _note(slow, "slow")
        slow.flush()
        with sessions() as other:
            other.execute(text("SET LOCAL lock_timeout = '2s'"))
            _note(other, "quick")
            other.commit()  # before: waited for the head the slow one held, then timed out
        slow.commit()
    finally:
        slow.close()
    assert _targets(sessions)[-2:] == ["quick", "slow"]
    with sessions() as s:
        assert audit.verify(s).broken is None


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET actor_name = 'someone else'",
    "UPDATE audit_log SET hash = prev_hash",
    "DELETE FROM audit_log",
    "DELETE FROM audit_chain_head",
    "UPDATE audit_chain_head SET seq = 0",
])
def test_the_database_refuses_to_change_or_remove_audit_rows(
    sessions: sessionmaker[Session], statement: str
) -> None:
    _write(sessions, 3)
    with sessions() as s, pytest.raises(DBAPIError, match=r"append-only|only moves forward"):
        s.execute(text(statement))
    count = len(_rows(sessions))
    with sessions() as s:
        assert audit.verify(s).broken is None
        assert s.scalar(select(AuditChainHead.seq)) == count


# --- tampering (the triggers dropped first, as someone with the database's owner could) -------


def _drop_triggers(database: Database, sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        if database.backend == "postgresql":
            s.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            s.execute(text("DROP TRIGGER audit_log_no_update"))
            s.execute(text("DROP TRIGGER audit_log_no_delete"))
        s.commit()


def _enable_triggers(database: Database, sessions: sessionmaker[Session]) -> None:
    if database.backend == "postgresql":  # the schema is shared by the next test
        with sessions() as s:
            s.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
            s.commit()


@pytest.fixture
def env(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BORDERFLOW_DATABASE_URL", database.url)
    monkeypatch.setenv("BORDERFLOW_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("tamper", ["field", "delete", "delete_last", "reorder"])
def test_verify_command_names_the_first_broken_row(
    database: Database, sessions: sessionmaker[Session], env: None, tamper: str
) -> None:
    _write(sessions, 8)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output
    rows = _rows(sessions)
    victim = rows[4]
    _drop_triggers(database, sessions)
    try:
        with sessions() as s:
            if tamper == "field":
                s.execute(text("UPDATE audit_log SET target_id = 'forged' WHERE id = :i"),
                          {"i": victim["id"]})
            elif tamper == "delete":
                s.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": victim["id"]})
            elif tamper == "delete_last":
                victim = rows[-1]
                s.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": victim["id"]})
            else:  # two rows' contents swapped, their places in the chain kept
                other = rows[5]
                for a, b in ((victim, other), (other, victim)):
                    s.execute(text("UPDATE audit_log SET target_id = :t, at = :at, before = "
                                   "NULL WHERE id = :i"),
                              {"t": b["target_id"], "at": b["at"], "i": a["id"]})
            s.commit()
        result = runner.invoke(app, ["audit", "verify"])
    finally:
        _enable_triggers(database, sessions)
    assert result.exit_code == 1
    assert f"seq {victim['seq']}" in result.output
    if tamper != "delete_last":
        assert "row id" in result.output
    assert ("missing" if tamper.startswith("delete") else "does not match its hash"
            ) in result.output


def test_a_fresh_database_starts_the_chain_and_the_migration_chains_old_rows(
    tmp_path: Path
) -> None:
    from borderflow.store import migrate

    url = f"sqlite:///{tmp_path}/old.db"
    migrate.upgrade(url, "e1a0b7c3d401")
    engine = make_engine(url)
    with engine.begin() as conn:
        for i in range(5):
            conn.execute(text(
                "INSERT INTO audit_log (at, actor_id, actor_name, action, target_type, "
                "target_id, before, after, request_id) VALUES (:at, NULL, 'system', 'x', 't', "
                ":id, NULL, :after, NULL)"), {"at": (NOW + timedelta(minutes=i)).replace(
                    tzinfo=None), "id": str(i), "after": '{"b": 1, "a": [1, "Hữu Nghị"]}'})
    engine.dispose()
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    _write(sessions, 3, tag="new")
    with sessions() as s:
        result = audit.verify(s)
    engine.dispose()
    assert result.broken is None
    assert result.rows == 8


# --- the property, on the chain's rows in memory ---------------------------------------------


def _chain(n: int) -> list[dict[str, Any]]:
    rows, prev = [], audit.GENESIS
    for i in range(n):
        row: dict[str, Any] = {
            "id": 100 + i, "seq": i + 1, "at": NOW + timedelta(seconds=i),
            "actor_id": i % 3 or None,
            "actor_name": "cán bộ", "action": "a.b", "target_type": "trip",
            "target_id": f"T{i}", "before": {"k": [i, None]}, "after": None,
            "request_id": None, "prev_hash": prev,
        }
        row["hash"] = prev = audit.row_hash(row)
        rows.append(row)
    return rows


CHAIN = _chain(12)
HEAD = (CHAIN[-1]["seq"], CHAIN[-1]["hash"])


def test_an_untouched_chain_verifies() -> None:
    assert audit.check(CHAIN, HEAD).broken is None
    assert audit.check([], (0, audit.GENESIS)).broken is None


@given(
    index=st.integers(0, len(CHAIN) - 1),
    kind=st.sampled_from(["field", "delete", "swap_next", "hash", "prev_hash", "seq"]),
    field=st.sampled_from(["at", "actor_id", "actor_name", "action", "target_type",
                           "target_id", "before", "after", "request_id"]),
    value=st.one_of(st.none(), st.text(max_size=5), st.integers(), st.dictionaries(
        st.text(max_size=3), st.integers(), max_size=2)),
)
@settings(max_examples=300, deadline=None)
def test_any_single_row_tamper_is_found_at_that_row(index: int, kind: str, field: str,
                                                    value: Any) -> None:
    rows = [dict(r) for r in CHAIN]
    victim = rows[index]
    if kind == "field":
        if field == "at":
            value = victim["at"] + timedelta(microseconds=1)
        if victim[field] == value:
            return
        victim[field] = value
    elif kind == "delete":
        del rows[index]
    elif kind == "swap_next":
        if index == len(rows) - 1:
            return
        rows[index], rows[index + 1] = rows[index + 1], rows[index]
    elif kind == "hash":
        victim["hash"] = "f" * 64
    elif kind == "prev_hash":
        victim["prev_hash"] = "e" * 64
    else:
        victim["seq"] += 1
    broken = audit.check(rows, HEAD).broken
    assert broken is not None
    assert broken.seq == index + 1
