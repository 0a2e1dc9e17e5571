"""The daily situation reports, generated in the background of the API process at the time
set by ``BORDERFLOW_SITUATION_REPORT_TIME`` (checked every minute; each gate's report of a day
is generated once, whichever worker gets there first)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from borderflow.api.background import periodic
from borderflow.api.context import AppContext
from borderflow.network import service as networks
from borderflow.report import situation

log = structlog.get_logger("borderflow.report")

CHECK_SECONDS = 60


def run_once(ctx: AppContext) -> int:
    at = ctx.settings.situation_report_at
    if at is None:
        return 0
    now = ctx.clock.now()
    with ctx.sessions() as session:
        network = networks.in_force_or_none(session, now)
        if network is None:
            return 0
        made = situation.generate_due(session, network, at=at, now=now)
        session.commit()
    if made:
        log.info("situation reports generated", gates=[r.gate for r in made],
                 day=made[0].day.isoformat())
    return len(made)


@asynccontextmanager
async def lifespan_with_situation_reports(app: FastAPI) -> AsyncIterator[None]:
    ctx: AppContext = app.state.ctx
    interval = CHECK_SECONDS if ctx.settings.situation_report_at is not None else 0
    async with periodic(interval, lambda: run_once(ctx), "situation reports"):
        yield
