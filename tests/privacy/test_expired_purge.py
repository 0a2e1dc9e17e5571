"""The purge of expired records: idempotency keys past their replay period (a retry after that
is a new request, before it the first response is replayed), browser sessions and password
reset codes some days after they expired; in bounded batches, audited, idempotent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from borderflow.account import security
from borderflow.account.sessions import open_session
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.privacy.loop import purge_expired, run_once
from borderflow.store.models import (
    Account,
    AuditEntry,
    IdempotencyRecord,
    PasswordResetCode,
    WebSession,
)
from tests import factories
from tests.conftest import NOW, Peek


def _count(db: Peek, model: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model)))


def test_an_idempotency_key_replays_within_its_period_and_is_new_after_the_purge(
    client: TestClient, auth: Any, clock: FixedClock, db: Peek
) -> None:
    key = {"Idempotency-Key": "decl-2026-11-23-001"}
    first = client.post("/api/v1/declarations", json=factories.declaration(),
                        headers=auth("enterprise", **key))
    assert first.status_code == 201, first.text
    ctx = client.app.state.ctx  # type: ignore[attr-defined]

    clock.set(NOW + timedelta(hours=23))  # within BORDERFLOW_IDEMPOTENCY_KEY_RETENTION_HOURS
    assert run_once(ctx)["idempotency_keys"] == 0
    again = client.post("/api/v1/declarations", json=factories.declaration(),
                        headers=auth("enterprise", **key))
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["reference"] == first.json()["reference"]

    clock.set(NOW + timedelta(hours=25))
    assert run_once(ctx)["idempotency_keys"] == 1
    other = factories.declaration()
    other["vehicles"][0]["plate"] = "29C-777.01"
    new = client.post("/api/v1/declarations", json=other, headers=auth("enterprise", **key))
    assert new.status_code == 201, new.text  # a new request: no 409 for another body
    assert new.json()["reference"] != first.json()["reference"]


def test_expired_records_are_purged_in_batches_and_audited_once_per_pass(
    client: TestClient, settings: Settings, db: Peek
) -> None:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    old, recent = NOW - timedelta(days=31), NOW - timedelta(days=29)
    with ctx.sessions() as session:
        account = session.scalars(select(Account).where(Account.username == "enterprise")).one()
        for n in range(5):
            session.add(IdempotencyRecord(account_id=account.id, key=f"old-{n}", method="POST",
                                          path="/api/v1/declarations", request_sha256="0" * 64,
                                          status_code=201, response={},
                                          created_at=NOW - timedelta(hours=25 + n)))
        session.add(IdempotencyRecord(account_id=account.id, key="fresh", method="POST",
                                      path="/api/v1/declarations", request_sha256="0" * 64,
                                      status_code=201, response={},
                                      created_at=NOW - timedelta(hours=1)))
        for start in (old, old, recent):
            open_session(session, account, now=start - timedelta(hours=12), hours=12,
                         idle_minutes=30)
        for start in (old, recent):
            session.add(PasswordResetCode(account_id=account.id,
                                          code_hash=security.hash_password("123456"),
                                          created_at=start - timedelta(minutes=10),
                                          expires_at=start, used_at=None, attempts=0))
        session.commit()
    before = {m: _count(db, m) for m in (IdempotencyRecord, WebSession, PasswordResetCode)}
    audits = _count(db, AuditEntry)

    small = settings.model_copy(update={"purge_batch_size": 2})  # 5 keys: three batches
    done = purge_expired(ctx.sessions, small, NOW)
    assert done == {"idempotency_keys": 5, "web_sessions": 2, "password_reset_codes": 1,
                    "sim_jobs": 0}  # finished simulations: tests/sim/test_jobs.py
    assert _count(db, IdempotencyRecord) == before[IdempotencyRecord] - 5
    assert db.scalar(select(IdempotencyRecord.key).where(IdempotencyRecord.key == "fresh"))
    assert _count(db, WebSession) == before[WebSession] - 2
    assert _count(db, PasswordResetCode) == before[PasswordResetCode] - 1
    [entry] = db.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))
    assert _count(db, AuditEntry) == audits + 1
    assert (entry.action, entry.actor_name) == ("privacy.purge_expired", "system")
    assert entry.after["purged"] == done

    assert purge_expired(ctx.sessions, small, NOW) == dict.fromkeys(done, 0)  # idempotent
    assert _count(db, AuditEntry) == audits + 1  # nothing purged, nothing audited
