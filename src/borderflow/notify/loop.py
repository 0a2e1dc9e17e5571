"""The notification sender running in the background (``borderflow worker``, or next to the API
with ``BORDERFLOW_BACKGROUND=all``): every interval it sends the deliveries that are due,
``BORDERFLOW_NOTIFY_CONCURRENCY`` at once, each claim's lease
(``BORDERFLOW_NOTIFY_LEASE_SECONDS``) renewed while its message is in flight. Several senders
(one per worker) share the work safely: see :mod:`borderflow.notify.delivery`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta

import structlog
from fastapi import FastAPI

from borderflow.api import metrics
from borderflow.api.background import periodic
from borderflow.api.context import AppContext
from borderflow.notify.channels import Notifier
from borderflow.notify.delivery import BATCH, DeliveryReport, deliver_pending

log = structlog.get_logger("borderflow.notify")


def run_once(ctx: AppContext, channels: Mapping[str, Notifier]) -> DeliveryReport:
    """Send what is due, batch after batch, until nothing due is left."""
    total = DeliveryReport()
    settings = ctx.settings
    started = time.perf_counter()
    while True:
        report = deliver_pending(ctx.sessions, channels, ctx.clock.now(),
                                 concurrency=settings.notify_concurrency,
                                 lease=timedelta(seconds=settings.notify_lease_seconds))
        total.sent += report.sent
        total.retrying += report.retrying
        total.failed += report.failed
        if report.claimed < BATCH:
            break
    metrics.notifications_delivered(started, total)
    if total.claimed:
        log.info("notifications delivered", sent=len(total.sent), retrying=len(total.retrying),
                 failed=len(total.failed))
    return total


@asynccontextmanager
async def lifespan_with_notifier(app: FastAPI) -> AsyncIterator[None]:
    ctx: AppContext = app.state.ctx
    channels: Mapping[str, Notifier] = app.state.notifiers
    async with periodic(ctx.settings.notify_interval_seconds, lambda: run_once(ctx, channels),
                        "notifications"):
        yield
