"""Personal data past its retention period, purged in the background of the API process every
``BORDERFLOW_RETENTION_INTERVAL_SECONDS`` (a purge is idempotent: concurrent workers only
repeat each other's work)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from borderflow.api.background import periodic
from borderflow.api.context import AppContext
from borderflow.config import Settings
from borderflow.domain.access import SYSTEM
from borderflow.domain.privacy import Retention
from borderflow.privacy import service

log = structlog.get_logger("borderflow.privacy")


def retention(settings: Settings) -> Retention:
    return Retention(positions_days=settings.position_retention_days,
                     driver_days=settings.driver_retention_days,
                     camera_images_days=settings.camera_image_retention_days,
                     notification_contacts_days=settings.notification_contact_retention_days)


def run_once(ctx: AppContext) -> dict[str, int]:
    with ctx.sessions() as session:
        done = service.purge(session, retention(ctx.settings), now=ctx.clock.now(),
                             actor=SYSTEM)
        session.commit()
    if any(done.values()):
        log.info("personal data purged", **done)
    return done


@asynccontextmanager
async def lifespan_with_retention(app: FastAPI) -> AsyncIterator[None]:
    ctx: AppContext = app.state.ctx
    async with periodic(ctx.settings.retention_interval_seconds, lambda: run_once(ctx),
                        "personal data retention"):
        yield
