"""The audit log: every write records who did what to which record, when, before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
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
