"""Purging records that have served their time: the stored responses of idempotency keys
past their replay period, browser sessions and password reset codes some days after they
expired, and the scenario lab's finished simulations (their results) some days after they
finished. They hold personal data (a stored response repeats a declaration's drivers; a
session its user's address and browser) and would otherwise grow without end.

Each call deletes one bounded batch of one kind, oldest first, in the caller's transaction:
the background work (:mod:`borderflow.privacy.loop`) commits after each batch and repeats
until a batch comes back short, so no purge holds many locks for long. On PostgreSQL the
batch's rows are taken ``FOR UPDATE SKIP LOCKED``: two workers purging at once split the
rows instead of waiting for each other. One audit row tells what a pass purged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.domain.access import Principal
from borderflow.store.models import IdempotencyRecord, PasswordResetCode, SimJob, WebSession

KINDS = ("idempotency_keys", "web_sessions", "password_reset_codes", "sim_jobs")


@dataclass(frozen=True)
class Expiry:
    """How long each kind is kept: idempotency keys from their first response, sessions and
    reset codes from the moment they expired (revoked or used ones expire no later),
    simulations from the moment they finished (queued and running ones are kept)."""

    idempotency_keys: timedelta
    expired_records: timedelta
    sim_jobs: timedelta = timedelta(days=30)

    def cutoffs(self, now: datetime) -> dict[str, datetime]:
        return {"idempotency_keys": now - self.idempotency_keys,
                "web_sessions": now - self.expired_records,
                "password_reset_codes": now - self.expired_records,
                "sim_jobs": now - self.sim_jobs}


def _columns(kind: str) -> tuple[Any, Any, Any]:
    """The model, its id and the time column a kind's rows are purged by."""
    if kind == "idempotency_keys":
        return IdempotencyRecord, IdempotencyRecord.id, IdempotencyRecord.created_at
    if kind == "web_sessions":
        return WebSession, WebSession.id, WebSession.expires_at
    if kind == "password_reset_codes":
        return PasswordResetCode, PasswordResetCode.id, PasswordResetCode.expires_at
    if kind == "sim_jobs":
        return SimJob, SimJob.id, SimJob.finished_at
    raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")


def delete_batch(session: Session, kind: str, cutoff: datetime, batch: int) -> int:
    """Delete at most ``batch`` rows of ``kind`` older than ``cutoff`` (oldest first); how
    many were deleted."""
    model, key, at = _columns(kind)
    chosen = (select(key).where(at < cutoff).order_by(at, key).limit(batch)
              .with_for_update(skip_locked=True))
    ids = list(session.scalars(chosen))
    if not ids:
        return 0
    result = session.execute(delete(model).where(key.in_(ids))
                             .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def record(session: Session, done: dict[str, int], cutoffs: dict[str, datetime], *,
           now: datetime, actor: Principal) -> None:
    """The audit row of a pass that purged anything."""
    if any(done.values()):
        audit.record(session, actor=actor, action="privacy.purge_expired",
                     target_type="retention", target_id=now.date().isoformat(), at=now,
                     after={"purged": done,
                            "before": {k: v.isoformat() for k, v in cutoffs.items()}})
