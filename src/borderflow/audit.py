"""The audit log: every write records who did what to which record, when, before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from borderflow.domain.access import Principal
from borderflow.store.models import AuditEntry


def record(
    session: Session,
    *,
    actor: Principal,
    action: str,
    target_type: str,
    target_id: str,
    at: datetime,
    before: Any = None,
    after: Any = None,
) -> AuditEntry:
    """Add an audit row to the current transaction (it commits or rolls back with the write)."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    entry = AuditEntry(
        at=at,
        actor_id=actor.id,
        actor_name=actor.username,
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
        request_id=request_id,
    )
    session.add(entry)
    return entry


def search(
    session: Session,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    size: int = 100,
) -> tuple[list[AuditEntry], int]:
    """Audit rows, newest first, with the total matching the filters."""
    q = select(AuditEntry)
    if target_type:
        q = q.where(AuditEntry.target_type == target_type)
    if target_id:
        q = q.where(AuditEntry.target_id == target_id)
    if actor:
        q = q.where(AuditEntry.actor_name == actor)
    if action:
        q = q.where(AuditEntry.action == action)
    if since:
        q = q.where(AuditEntry.at >= since)
    if until:
        q = q.where(AuditEntry.at < until)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(
        q.order_by(AuditEntry.id.desc()).offset((page - 1) * size).limit(size)
    ).all()
    return list(rows), total
