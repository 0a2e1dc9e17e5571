"""The dispatcher running in the background of the API process.

Every interval it runs one cycle in its own transaction. With several API workers on
PostgreSQL each cycle takes an advisory lock, so exactly one worker dispatches at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from borderflow.api.background import periodic
from borderflow.api.context import AppContext
from borderflow.dispatch import service
from borderflow.errors import AppError
from borderflow.network import service as networks

log = structlog.get_logger("borderflow.dispatch")


def run_once(ctx: AppContext) -> service.CycleReport | None:
    now = ctx.clock.now()
    with ctx.sessions() as session:
        try:
            _, network = networks.network_at(session, now)
            report = service.run_cycle(session, network, now)
            session.commit()
        except AppError as exc:
            session.rollback()
            log.warning("dispatch cycle skipped", reason=exc.message)
            return None
    if report.called or report.no_shows:
        log.info("dispatch cycle", called=len(report.called), no_shows=len(report.no_shows),
                 waiting=report.waiting)
    return report


@asynccontextmanager
async def lifespan_with_dispatcher(app: FastAPI) -> AsyncIterator[None]:
    ctx: AppContext = app.state.ctx
    async with periodic(ctx.settings.dispatch_interval_seconds, lambda: run_once(ctx),
                        "dispatch"):
        yield
