"""``Idempotency-Key`` on writes: the first response is stored and replayed on retries.

The record is written in the same transaction as the write it describes, so a write and its
record commit together or not at all. A retry with the same key and a different request is a
409. Concurrent retries are serialised (SQLite's write lock, PostgreSQL advisory lock).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from borderflow.api.deps import Caller, Ctx, Db
from borderflow.domain.access import Principal
from borderflow.errors import Conflict, FieldError, ValidationFailed, msg
from borderflow.store.models import IdempotencyRecord

MAX_KEY_LENGTH = 200


class Idempotency:
    def __init__(self, session: Session, principal: Principal, key: str | None, method: str,
                 path: str, body: bytes, now: datetime) -> None:
        self.session = session
        self.principal = principal
        self.key = key
        self.method = method
        self.path = path
        self.request_sha = _request_digest(method, path, body)
        self._now = now

    def replay(self) -> JSONResponse | None:
        """The stored response for this key, or ``None`` if this is the first attempt."""
        if self.key is None or self.principal.id is None:
            return None
        if self.session.get_bind().dialect.name == "postgresql":
            lock = int.from_bytes(
                hashlib.sha256(f"{self.principal.id}:{self.key}".encode()).digest()[:8],
                "big", signed=True,
            )
            self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock})
        row = self.session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.account_id == self.principal.id,
                IdempotencyRecord.key == self.key,
            )
        )
        if row is None:
            return None
        if row.request_sha256 != self.request_sha:
            raise Conflict(
                msg("this Idempotency-Key was used for a different request"),
                field="Idempotency-Key",
                code="idempotency_key_reused",
            )
        return JSONResponse(row.response, status_code=row.status_code,
                            headers={"Idempotent-Replayed": "true"})

    def respond(self, payload: Any, status_code: int = 200) -> JSONResponse:
        """Store (when a key was given) and return the response for this write."""
        if self.key is not None and self.principal.id is not None:
            self.session.add(
                IdempotencyRecord(
                    account_id=self.principal.id,
                    key=self.key,
                    method=self.method,
                    path=self.path,
                    request_sha256=self.request_sha,
                    status_code=status_code,
                    response=payload,
                    created_at=self._now,
                )
            )
            try:
                self.session.flush()
            except IntegrityError:
                raise Conflict(
                    msg("a request with this Idempotency-Key is still being processed; retry"),
                    field="Idempotency-Key",
                    code="idempotency_in_progress",
                ) from None
        return JSONResponse(payload, status_code=status_code)


def _request_digest(method: str, path: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = body.decode("utf-8", "replace")
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


async def get_idempotency(
    request: Request,
    ctx: Ctx,
    db: Db,
    principal: Caller,
    idempotency_key: Annotated[
        str | None,
        Header(description="Any unique string; a retry with the same key has exactly one effect."),
    ] = None,
) -> Idempotency:
    key = idempotency_key.strip() if idempotency_key is not None else None
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise ValidationFailed(
            [FieldError("Idempotency-Key", msg("must be 1 to {count} characters",
                                               count=MAX_KEY_LENGTH))]
        )
    body = await request.body()
    return Idempotency(db, principal, key, request.method, request.url.path, body,
                       ctx.clock.now())


Idem = Annotated[Idempotency, Depends(get_idempotency)]
