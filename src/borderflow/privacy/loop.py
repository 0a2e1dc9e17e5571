"""The purges, run by the background work (``borderflow worker``, or next to the API with
``BORDERFLOW_BACKGROUND=all``) every ``BORDERFLOW_RETENTION_INTERVAL_SECONDS``: personal data
past its retention period (:mod:`borderflow.privacy.service`), then expired idempotency keys,
browser sessions, password reset codes and finished simulations in bounded batches
(:mod:`borderflow.privacy.expired`). At start and before each purge it creates the day
partitions of positions for the week ahead (PostgreSQL), so that ingestion never runs DDL. A
purge is idempotent: workers purging at once only share or repeat each other's work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import anyio
import structlog
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from borderflow.api.background import periodic
from borderflow.api.context import AppContext
from borderflow.config import Settings
from borderflow.domain.access import SYSTEM
from borderflow.domain.privacy import Retention
from borderflow.privacy import expired, service
from borderflow.telemetry import service as telemetry

log = structlog.get_logger("borderflow.privacy")


def retention(settings: Settings) -> Retention:
    return Retention(positions_days=settings.position_retention_days,
                     driver_days=settings.driver_retention_days,
                     camera_images_days=settings.camera_image_retention_days,
                     notification_contacts_days=settings.notification_contact_retention_days)


def expiry(settings: Settings) -> expired.Expiry:
    return expired.Expiry(
        idempotency_keys=timedelta(hours=settings.idempotency_key_retention_hours),
        expired_records=timedelta(days=settings.expired_record_retention_days),
        sim_jobs=timedelta(days=settings.sim_job_retention_days))


def purge_expired(sessions: sessionmaker[Session], settings: Settings, now: datetime
                  ) -> dict[str, int]:
    """Every expired record of each kind, a batch of ``BORDERFLOW_PURGE_BATCH_SIZE`` per
    transaction; one audit row when anything was purged. The counts of each kind."""
    cutoffs = expiry(settings).cutoffs(now)
    batch = settings.purge_batch_size
    done = dict.fromkeys(expired.KINDS, 0)
    for kind in expired.KINDS:
        while True:
            with sessions() as session:
                deleted = expired.delete_batch(session, kind, cutoffs[kind], batch)
                session.commit()
            done[kind] += deleted
            if deleted < batch:
                break
    if any(done.values()):
        with sessions() as session:
            expired.record(session, done, cutoffs, now=now, actor=SYSTEM)
            session.commit()
    return done


def prepare_partitions(ctx: AppContext) -> list[str]:
    """The day partitions of positions for the week ahead, ahead of ingestion (which never
    runs DDL)."""
    with ctx.sessions() as session:
        made = telemetry.prepare_partitions(session, ctx.clock.now().astimezone(UTC).date())
        session.commit()
    if made:
        log.info("day partitions of positions created", partitions=made)
    return made


def run_once(ctx: AppContext) -> dict[str, int]:
    now = ctx.clock.now()
    prepare_partitions(ctx)
    with ctx.sessions() as session:
        done = service.purge(session, retention(ctx.settings), now=now, actor=SYSTEM)
        session.commit()
    if any(done.values()):
        log.info("personal data purged", **done)
    gone = purge_expired(ctx.sessions, ctx.settings, now)
    if any(gone.values()):
        log.info("expired records purged", **gone)
    return done | gone


@asynccontextmanager
async def lifespan_with_retention(app: FastAPI) -> AsyncIterator[None]:
    ctx: AppContext = app.state.ctx
    if ctx.settings.retention_interval_seconds > 0:
        try:  # today's partition before the first position of the day, not an hour later
            await anyio.to_thread.run_sync(prepare_partitions, ctx)
        except Exception:  # the purges' first run tries again; the process must start
            log.exception("day partitions not prepared at start")
    async with periodic(ctx.settings.retention_interval_seconds, lambda: run_once(ctx),
                        "personal data retention"):
        yield
