"""The roles of the platform's processes.

``borderflow serve`` answers HTTP; the **background work** (:func:`background`: the dispatcher,
the notification sender, the MQTT subscriber when configured, the daily situation reports, the
purges and the pool that runs the scenario lab's simulations) runs next to it with
``BORDERFLOW_BACKGROUND=all`` (the default: one process does everything, as ``make run``
starts it), or in ``borderflow worker`` processes
(:func:`create_worker`, :func:`run_worker`) with ``BORDERFLOW_BACKGROUND=none`` on the API.
Both build the same context (:func:`build_context`) and state (:func:`install_state`), and
run the same lifespans: the background work is written once.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from borderflow import handlers, production
from borderflow.account import security
from borderflow.account.remembered import Remembered
from borderflow.api.admission import Admission
from borderflow.api.context import AppContext
from borderflow.clock import Clock, SystemClock
from borderflow.config import Settings, get_settings
from borderflow.demand.loop import lifespan_with_forecasts
from borderflow.dispatch.loop import lifespan_with_dispatcher
from borderflow.logging import configure_logging
from borderflow.notify import outbox
from borderflow.notify.channels import build_channels
from borderflow.notify.loop import lifespan_with_notifier
from borderflow.ops import metrics
from borderflow.privacy.loop import lifespan_with_retention
from borderflow.report.loop import lifespan_with_situation_reports
from borderflow.sim_jobs.loop import lifespan_with_sim_jobs
from borderflow.store.session import make_engine, make_session_factory
from borderflow.telemetry.bus import FenceCache, build_bus, lifespan_with_mqtt

log = structlog.get_logger("borderflow.worker")


@asynccontextmanager
async def background(app: FastAPI) -> AsyncIterator[None]:
    """The background work, on ``app.state`` (see :func:`install_state`): the dispatcher (one
    leader across processes), the notification sender, the MQTT subscriber when configured,
    the daily situation reports, the daily demand forecast, the purges and the pool of the
    scenario lab's simulations
    (``BORDERFLOW_SIM_WORKERS`` at once; the pages only queue them). Run next to the API by
    ``borderflow serve`` with ``BORDERFLOW_BACKGROUND=all`` (the default), or alone by
    ``borderflow worker``."""
    async with lifespan_with_dispatcher(app), lifespan_with_notifier(app), \
            lifespan_with_mqtt(app), lifespan_with_situation_reports(app), \
            lifespan_with_retention(app), lifespan_with_sim_jobs(app), \
            lifespan_with_forecasts(app):
        yield


def build_context(settings: Settings, clock: Clock | None = None) -> AppContext:
    """The database, sessions, clock and limits every process of the platform works with,
    after the production check (which refuses any unsafe setting)."""
    admission = Admission.from_settings(settings)
    pool = Admission.pool_limits(settings)
    engine = make_engine(settings.database_url, lock_timeout_seconds=settings.db_wait_seconds,
                         pool_size=pool.pool_size, max_overflow=pool.max_overflow,
                         pool_timeout=pool.pool_timeout)
    production.check(settings, engine)  # production mode: refuse any unsafe setting
    security.use_settings(settings)  # the Argon2id cost of new hashes
    return AppContext(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        read_sessions=make_session_factory(engine, write=False),
        clock=clock or SystemClock(),
        secret_key=settings.resolved_secret_key(),
        admission=admission,
        callers=Remembered(settings.caller_memory_seconds),
    )


def install_state(app: FastAPI, ctx: AppContext) -> None:
    """What the background work reads from ``app.state``: the context, the telemetry bus and
    its geofence cache, the notification channels (the outbox's on the sessions)."""
    settings = ctx.settings
    app.state.ctx = ctx
    app.state.fences = FenceCache(settings.geofence_margin_m)
    app.state.telemetry = build_bus(settings, ctx.sessions, ctx.clock, app.state.fences)
    outbox.bind_channels(ctx.sessions, settings.notify_channel_list)
    app.state.notifiers = metrics.timed(build_channels(settings))  # send time per channel


def create_worker(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """The state ``borderflow worker`` runs :func:`background` on: the same context and
    channels as the API's, without routes, middleware or HTTP."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    handlers.install()
    worker = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    install_state(worker, build_context(settings, clock))
    return worker


async def run_worker(worker: FastAPI, stop: asyncio.Event) -> None:
    """Run the background work until ``stop`` is set, then stop each part cleanly: the loops
    finish or cancel their run, the dispatcher gives its leadership up, queued positions are
    written, the database connections closed."""
    ctx: AppContext = worker.state.ctx
    try:
        async with background(worker):
            log.info("worker started", pid=os.getpid(),
                     dispatch_interval_seconds=ctx.settings.dispatch_interval_seconds,
                     notify_interval_seconds=ctx.settings.notify_interval_seconds,
                     sim_workers=ctx.settings.sim_workers,
                     mqtt=bool(ctx.settings.mqtt_url))
            await stop.wait()
    finally:
        await worker.state.telemetry.aclose()
        ctx.engine.dispose()
        log.info("worker stopped", pid=os.getpid())
