"""The daily refresh of the demand forecasts, in the background work: checked every minute,
made once the Lang Son time reaches ``BORDERFLOW_FORECAST_REFRESH_TIME`` (default 02:00), or at
the first check after a start-up when no forecasts were made in the last day. One daily run per
day across every worker (whichever gets there first); a fit that fails is logged and tried
again an hour later."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta

import structlog
from fastapi import FastAPI

from borderflow.api.background import periodic
from borderflow.api.context import AppContext
from borderflow.demand import advice, service
from borderflow.domain.access import SYSTEM
from borderflow.network import service as networks

log = structlog.get_logger("borderflow.demand")

CHECK_SECONDS = 60
RETRY_AFTER = timedelta(hours=1)
"""A fit that failed is tried again this much later, not at every check."""


class DailyRefresh:
    """One process's daily refresh: remembers the day it last said there was no history, so
    a new installation logs it once a day, not every minute."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.told_no_history: date | None = None
        self.failed_at: datetime | None = None

    def run_once(self) -> int | None:
        """The run's id when one was made now, else None. The fit runs in a read
        transaction (holding, on PostgreSQL, the lock that keeps other workers from fitting
        the same run); only storing it takes the write lock."""
        at = self.ctx.settings.forecast_refresh_at
        if at is None:
            return None
        now = self.ctx.clock.now()
        if self.failed_at is not None and now < self.failed_at + RETRY_AFTER:
            return None
        with self.ctx.read_sessions() as read:
            network = networks.in_force_or_none(read, now)
            if network is None or not service.daily_lock(read):
                return None
            if not service.daily_due(read, now=now, at=at):
                return None
            try:
                prepared = service.prepare(read, network, now=now)
                computed = advice.compute_advice(network, prepared.rows,
                                                 origin=prepared.origin, now=now)
            except service.NoHistory:
                today = service.local_today(now)
                if self.told_no_history != today:
                    self.told_no_history = today
                    log.info("no demand forecasts: no trucks recorded or imported yet")
                return None
            except Exception:
                self.failed_at = now  # logged by the loop; tried again an hour later
                raise
            self.failed_at = None
            with self.ctx.sessions() as session:
                if not service.daily_due(session, now=now, at=at):
                    return None
                try:
                    run = service.save(session, prepared, now=now, actor=SYSTEM,
                                       trigger="daily")
                except service.AlreadyRefreshed:
                    return None
                advice.save_advice(session, run.id, computed)
                session.commit()
        log.info("demand forecasts refreshed", run=run.id, origin=run.origin.isoformat(),
                 series=run.series, seconds=run.seconds, model_version=run.model_version)
        return run.id


@asynccontextmanager
async def lifespan_with_forecasts(app: FastAPI) -> AsyncIterator[None]:
    ctx: AppContext = app.state.ctx
    interval = CHECK_SECONDS if ctx.settings.forecast_refresh_at is not None else 0
    daily = DailyRefresh(ctx)
    async with periodic(interval, daily.run_once, "demand forecasts"):
        yield
