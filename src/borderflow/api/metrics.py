"""The metrics the background work records as it runs: how long a dispatcher cycle takes and
when the last one ended, how long a notification pass takes and what it delivered.

They live here, beside :mod:`borderflow.api.background` (which runs that work), because the
background loops (``dispatch/loop.py``, ``notify/loop.py``) may import the HTTP glue and no
higher: each records with one call to a function below. Every gauge names its
multi-process mode, so ``/metrics`` adds them up correctly across the processes of a
machine (:mod:`borderflow.ops.metrics`); the figures read from the database at scrape time
are there too. docs/monitoring.md lists every metric and the alerts to set.
"""

from __future__ import annotations

import time
from collections.abc import Sized
from typing import Protocol

from prometheus_client import Counter, Gauge, Histogram

CYCLE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

DISPATCH_CYCLE = Histogram("borderflow_dispatcher_cycle_seconds",
                           "Time one dispatcher cycle took (no-shows, re-routing, calls), "
                           "in the leader", buckets=CYCLE_BUCKETS)
DISPATCH_LAST = Gauge("borderflow_dispatcher_last_cycle_timestamp_seconds",
                      "Unix time the last dispatcher cycle ended, in any process "
                      "(the latest of them)", multiprocess_mode="max")
DISPATCH_WAITING = Gauge("borderflow_dispatcher_waiting_trucks",
                         "Trucks the last dispatcher cycle found waiting to be called",
                         multiprocess_mode="mostrecent")
NOTIFY_PASS = Histogram("borderflow_notifier_pass_seconds",
                        "Time one pass of the notification sender took (everything due sent)",
                        buckets=CYCLE_BUCKETS)
NOTIFY_LAST = Gauge("borderflow_notifier_last_pass_timestamp_seconds",
                    "Unix time the last pass of the notification sender ended, in any process",
                    multiprocess_mode="max")
NOTIFY_OUTCOMES = Counter("borderflow_notifications_delivered_total",
                          "Delivery attempts of notifications by outcome: sent, retrying "
                          "(failed, tried again later), failed (given up)", ["outcome"])


class CycleFigures(Protocol):
    """What a dispatcher cycle reports (``dispatch.service.CycleReport``)."""

    @property
    def waiting(self) -> int: ...


class PassFigures(Protocol):
    """What a notification pass reports (``notify.delivery.DeliveryReport``)."""

    @property
    def sent(self) -> Sized: ...

    @property
    def retrying(self) -> Sized: ...

    @property
    def failed(self) -> Sized: ...


def dispatch_cycle_ran(started: float, report: CycleFigures | None) -> None:
    """A dispatcher cycle that began at ``started`` (``time.perf_counter()``) is over;
    ``report`` is ``None`` when it was skipped (no network, another process dispatching)."""
    if report is None or getattr(report, "skipped", False):
        return
    DISPATCH_CYCLE.observe(time.perf_counter() - started)
    DISPATCH_LAST.set(time.time())
    DISPATCH_WAITING.set(report.waiting)


def notifications_delivered(started: float, report: PassFigures) -> None:
    """A pass of the notification sender that began at ``started`` (``time.perf_counter()``)
    is over, with what it delivered."""
    NOTIFY_PASS.observe(time.perf_counter() - started)
    NOTIFY_LAST.set(time.time())
    for outcome, ids in (("sent", report.sent), ("retrying", report.retrying),
                         ("failed", report.failed)):
        if len(ids):
            NOTIFY_OUTCOMES.labels(outcome).inc(len(ids))
