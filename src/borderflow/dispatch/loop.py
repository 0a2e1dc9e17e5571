"""The dispatcher running in the background of the API process.

Every interval it runs one cycle in its own transaction, and at once after a committed change
it acts on (a truck arrived at the park or left a yard, a hold was released, a booking or class
changed: see :data:`borderflow.trip.service.DISPATCH_DUE`). With several API workers on
PostgreSQL each cycle takes an advisory lock, so exactly one worker dispatches at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.orm import Session

from borderflow.api.background import periodic
from borderflow.api.context import AppContext
from borderflow.dispatch import service
from borderflow.errors import AppError
from borderflow.network import service as networks
from borderflow.trip.service import DISPATCH_DUE

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
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()

    def after_commit(session: Session) -> None:
        if session.info.pop(DISPATCH_DUE, False):
            with contextlib.suppress(RuntimeError):  # the server is shutting down
                loop.call_soon_threadsafe(wake.set)

    def after_rollback(session: Session) -> None:
        session.info.pop(DISPATCH_DUE, None)

    event.listen(ctx.sessions, "after_commit", after_commit)
    event.listen(ctx.sessions, "after_rollback", after_rollback)
    try:
        async with periodic(ctx.settings.dispatch_interval_seconds, lambda: run_once(ctx),
                            "dispatch", wake):
            yield
    finally:
        event.remove(ctx.sessions, "after_commit", after_commit)
        event.remove(ctx.sessions, "after_rollback", after_rollback)
