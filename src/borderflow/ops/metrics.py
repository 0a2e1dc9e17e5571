"""What ``/metrics`` shows: the metrics every process records, summed over the processes of
the machine in multi-process mode, and the figures read from the database at scrape time.

**Multi-process mode.** ``borderflow serve --workers N`` starts N processes, and a scrape is
answered by whichever of them the kernel hands it to. With ``PROMETHEUS_MULTIPROC_DIR`` set
(``borderflow serve`` sets it to ``BORDERFLOW_METRICS_DIR``, or to ``VAR_DIR/metrics`` when
``--workers`` is over 1), each process writes its counters, gauges and histograms to files
of its own there and the process answering a scrape adds them all up: a counter is the sum
over every process that ever ran since ``serve`` started, dead ones included (so it never
goes backwards when a worker is replaced); a gauge is combined as its own
``multiprocess_mode`` says. ``borderflow worker`` and ``borderflow telemetry process`` on
the same machine, given the same directory, are counted in as well. The directory is for
the processes of one machine (one PID namespace): the gauges of a process that is no longer
running are left out of the answer (:class:`ProcessFiles`).

**Read at scrape time.** The outbox (notifications waiting, the oldest one's age), the trucks
per gate (waiting in the staging area, called, inside the gate area), the yards' and parks'
fill, the telemetry's dead letters and, on PostgreSQL, whether a dispatcher leader holds its
lock: a few indexed queries in one read session, run by the one process answering the
scrape (so never counted once per process), at most every ``BORDERFLOW_METRICS_DATABASE_SECONDS``
(about 10 ms with 200,000 trips and notifications). With the NATS bus, each partition's lag is
asked of the NATS server at the same time, with a short timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from borderflow.api.context import AppContext
from borderflow.dispatch.loop import LEADER_KEY
from borderflow.errors import AppError
from borderflow.network import service as networks
from borderflow.notify.channels import Message, Notifier
from borderflow.ops.multiprocess import directory, pid_of, running
from borderflow.store.models import AccountMessage, NotificationDelivery, Trip
from borderflow.telemetry.bus import count_dead_letters
from borderflow.telemetry.dead_letters import DeadLetterGauge
from borderflow.trip import service as trips

log = structlog.get_logger("borderflow.metrics")

AGGREGATE_GAUGES = frozenset({"max", "min", "sum", "mostrecent"})
"""Gauge modes that keep a process's value after it ends; the others (``all``, ``liveall``,
``livesum``, ``livemax``, ``livemin``, ``livemostrecent``) count running processes only."""
STATEMENT_TIMEOUT_MS = 2000
"""On PostgreSQL a scrape's queries give up after this long: a scrape never holds the
database."""
QUEUE_STATUSES = ("at_staging", "called")
"""The board's rule for a gate's queue (``dispatch/board.py::build``): trucks ``at_staging``
wait in the staging area for their gate, by direction; ``called`` trucks are on their way."""

SEND_SECONDS = Histogram("borderflow_notification_send_seconds",
                         "Time one notification took to send on its channel, by outcome "
                         "(ok, error)", ["channel", "outcome"],
                         buckets=(0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))


# --- multi-process mode -------------------------------------------------------------------


def mark_dead_at_exit() -> None:
    """When this process ends normally, its live gauges leave the sums at once (without it,
    they leave at the first scrape after it ends, see :class:`ProcessFiles`)."""
    path, pid = directory(), os.getpid()
    if path is not None and pid not in _MARKED:
        _MARKED.add(pid)
        import atexit

        atexit.register(_mark_dead, pid, path)


_MARKED: set[int] = set()


def _mark_dead(pid: int, path: Path) -> None:
    if os.getpid() == pid:
        with contextlib.suppress(OSError):
            mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]


class ProcessFiles(Collector):
    """The metrics every process of the machine wrote to ``path``, added up: counters and
    histograms over every process (ended ones included), gauges as their mode says, leaving
    out the gauges of processes no longer running whose mode is about running ones (a process
    killed before it could say so itself)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def collect(self) -> Iterable[object]:  # type: ignore[override]
        files = [str(f) for f in sorted(self.path.glob("*.db")) if _counts(f)]
        return MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-any-return,no-untyped-call]


def _counts(file: Path) -> bool:
    parts = file.stem.split("_")
    if parts[0] != "gauge" or len(parts) < 3 or parts[1] in AGGREGATE_GAUGES:
        return True
    pid = pid_of(file)
    return pid is None or running(pid)


# --- figures read from the database -------------------------------------------------------


class DatabaseFigures(Collector):
    """The outbox, the trucks per gate, the areas' fill and the dispatcher's leadership, read
    in one read session at scrape time and remembered ``BORDERFLOW_METRICS_DATABASE_SECONDS``
    (several Prometheus servers scraping cost the database what one does)."""

    def __init__(self, ctx: AppContext, monotonic: Callable[[], float] = time.monotonic
                 ) -> None:
        self.ctx, self._monotonic = ctx, monotonic
        self._lock = threading.Lock()
        self._families: list[GaugeMetricFamily] = []
        self._until = 0.0

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            if self._monotonic() >= self._until:
                self._families = self._read()
                self._until = self._monotonic() + self.ctx.settings.metrics_database_seconds
            families = list(self._families)
        yield from families

    def _read(self) -> list[GaugeMetricFamily]:
        ctx = self.ctx
        now = ctx.clock.now()
        started = time.perf_counter()
        families = [_gauge("borderflow_dispatcher_interval_seconds",
                           "How often the dispatcher runs (BORDERFLOW_DISPATCH_INTERVAL_"
                           "SECONDS; 0: off)", [], [((), ctx.settings.dispatch_interval_seconds)])]
        try:
            with ctx.read_sessions() as session:
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
                    families.append(_leader(session))
                families += _outbox(session, now)
                families += _gates(session, now)
        except Exception:  # a scrape must not fail because the database is away or slow
            log.warning("database figures not read for the metrics", exc_info=True)
            families.append(_gauge("borderflow_metrics_database_up",
                                   "1 when the scrape read the database figures", [],
                                   [((), 0)]))
            return families
        families.append(_gauge("borderflow_metrics_database_up",
                               "1 when the scrape read the database figures", [], [((), 1)]))
        families.append(_gauge("borderflow_metrics_database_seconds",
                               "Time the scrape took to read the database figures", [],
                               [((), time.perf_counter() - started)]))
        if ctx.settings.telemetry_bus == "nats":
            families += bus_lag(ctx.settings.nats_url, ctx.settings.nats_stream)
        return families


def _gauge(name: str, documentation: str, labels: list[str],
           samples: Iterable[tuple[tuple[str, ...], float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for label_values, value in samples:
        family.add_metric(list(label_values), value)
    return family


def _leader(session: Session) -> GaugeMetricFamily:
    """Whether a process holds the dispatcher leader's lock (``dispatch/loop.py``) in this
    database and schema: a session advisory lock on (LEADER_KEY, hashtext(schema))."""
    held = session.execute(text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND classid = CAST(:k AS oid) AND objsubid = 2"
        " AND objid = CAST(CAST(hashtext(current_schema()) AS bigint) & 4294967295 AS oid)"),
        {"k": LEADER_KEY}).scalar_one()
    return _gauge("borderflow_dispatcher_leader_elected",
                  "1 when a process holds the dispatcher leader's lock in this database "
                  "(PostgreSQL), wherever it runs", [], [((), min(int(held), 1))])


def _outbox(session: Session, now: datetime) -> list[GaugeMetricFamily]:
    """Messages waiting to be sent and the age of the oldest, per outbox and channel; pending
    rows are few and found through the index on status."""
    found = session.execute(
        select(NotificationDelivery.channel, func.count(),
               func.min(NotificationDelivery.created_at))
        .where(NotificationDelivery.status == "pending")
        .group_by(NotificationDelivery.channel)).all()
    rows = [("notifications", channel, int(n), oldest) for channel, n, oldest in found]
    n, oldest = session.execute(select(func.count(), func.min(AccountMessage.created_at))
                                .where(AccountMessage.status == "pending")).one()
    rows.append(("account_messages", "sms", int(n), oldest))
    pending = _gauge("borderflow_outbox_pending",
                     "Messages waiting to be sent (first try or retry), per outbox and channel",
                     ["outbox", "channel"], [((o, c), n) for o, c, n, _ in rows])
    age = _gauge("borderflow_outbox_oldest_pending_seconds",
                 "Age of the oldest message waiting to be sent (0: none waiting)",
                 ["outbox", "channel"],
                 [((o, c), max(0.0, (now - at).total_seconds()) if at else 0.0)
                  for o, c, _, at in rows])
    return [pending, age]


def queue_counts(session: Session) -> dict[tuple[str, str, str], int]:
    """Trucks waiting in the staging area and called, by (gate, flow, status): the board's
    rule (:data:`QUEUE_STATUSES`) counted by the database through the index on status."""
    rows = session.execute(select(Trip.gate, Trip.flow, Trip.status, func.count())
                           .where(Trip.status.in_(QUEUE_STATUSES))
                           .group_by(Trip.gate, Trip.flow, Trip.status)).all()
    return {(g, f, s): int(n) for g, f, s, n in rows}


def _gates(session: Session, now: datetime) -> list[GaugeMetricFamily]:
    try:
        _, network = networks.network_at(session, now)
    except AppError:  # no network loaded yet: no gates to count
        return []
    counts = queue_counts(session)
    gates = [g.code for g in network.gates]
    queue = _gauge("borderflow_gate_queue_trucks",
                   "Trucks waiting in the staging area to be called to the gate, by direction "
                   "(the public board's queue)", ["gate", "direction"],
                   [((g, d), counts.get((g, d, "at_staging"), 0))
                    for g in gates for d in ("export", "import")])
    called = _gauge("borderflow_gate_called_trucks",
                    "Trucks called to the gate and on their way (the public board's called)",
                    ["gate"], [((g,), sum(n for (gate, _, s), n in counts.items()
                                          if gate == g and s == "called")) for g in gates])
    areas = trips.occupancy(session, network)
    inside = _gauge("borderflow_gate_area_trucks",
                    "Trucks inside the gate area, its yards included", ["gate"],
                    [((a["gate"],), a["vehicles"]) for a in areas if a["kind"] == "gate_area"])
    fill = _gauge("borderflow_area_trucks", "Trucks in each staging area and yard",
                  ["area", "kind"], [((a["area"], a["kind"]), a["vehicles"]) for a in areas
                                     if a["kind"] != "gate_area"])
    capacity = _gauge("borderflow_area_capacity_trucks",
                      "How many trucks each staging area and yard holds", ["area", "kind"],
                      [((a["area"], a["kind"]), a["capacity"]) for a in areas
                       if a["kind"] != "gate_area"])
    return [queue, called, inside, fill, capacity]


BUS_TIMEOUT_SECONDS = 1.0
"""The longest a scrape waits for the NATS server (to connect, then to answer)."""


def bus_lag(url: str, stream: str) -> list[GaugeMetricFamily]:
    """Messages of positions not yet taken (``num_pending``) and taken but not yet
    acknowledged (``num_ack_pending``) by each processor's consumer of the stream (one per
    partition: ``processor-<n>``), asked of the NATS server with a short timeout."""
    up = "borderflow_bus_up", "1 when the scrape read the consumers of the positions stream"
    try:
        consumers = asyncio.run(asyncio.wait_for(_consumers(url, stream),
                                                 3 * BUS_TIMEOUT_SECONDS))
    except Exception as exc:  # a scrape must not fail because the bus is away
        log.warning("bus lag not read for the metrics", error=type(exc).__name__)
        return [_gauge(*up, [], [((), 0)])]
    pending = _gauge("borderflow_bus_pending_messages",
                     "Positions on the stream not yet delivered to the consumer", ["consumer"],
                     [((name,), n) for name, n, _ in consumers])
    in_flight = _gauge("borderflow_bus_ack_pending_messages",
                       "Positions delivered to the consumer and not yet acknowledged",
                       ["consumer"], [((name,), n) for name, _, n in consumers])
    return [_gauge(*up, [], [((), 1)]), pending, in_flight]


async def _consumers(url: str, stream: str) -> list[tuple[str, int, int]]:
    import nats

    async def quiet(exc: Exception) -> None:  # reported once, by bus_lag
        return None

    nc = await nats.connect(url, connect_timeout=BUS_TIMEOUT_SECONDS, allow_reconnect=False,
                            max_reconnect_attempts=0, error_cb=quiet)
    try:
        found = await nc.jetstream(timeout=BUS_TIMEOUT_SECONDS).consumers_info(stream)
        return sorted((str(c.name), int(c.num_pending or 0), int(c.num_ack_pending or 0))
                      for c in found)
    finally:
        await nc.close()


# --- the answer to a scrape ---------------------------------------------------------------


_FIGURES: list[DatabaseFigures] = []
_FIGURES_LOCK = threading.Lock()


def _figures(ctx: AppContext) -> DatabaseFigures:
    """The database figures of ``ctx`` (one application per process, but tests build many)."""
    with _FIGURES_LOCK:
        if not _FIGURES or _FIGURES[0].ctx is not ctx:
            _FIGURES[:] = [DatabaseFigures(ctx)]
        return _FIGURES[0]


def render(ctx: AppContext) -> bytes:
    """The Prometheus text of a scrape answered by this process: every process's metrics
    (this one's alone outside multi-process mode) and, once, the database figures."""
    figures = CollectorRegistry(auto_describe=False)
    figures.register(_figures(ctx))
    path = directory()
    if path is None:
        count_dead_letters(ctx.read_sessions)  # once, in the process's own registry
        return generate_latest(REGISTRY) + generate_latest(figures)
    figures.register(DeadLetterGauge(ctx.read_sessions))
    merged = CollectorRegistry(auto_describe=False)
    merged.register(ProcessFiles(path))
    return generate_latest(merged) + generate_latest(figures)


# --- notification channels, timed ---------------------------------------------------------


class TimedChannel:
    """A notification channel whose sends are timed (``borderflow_notification_send_seconds``)."""

    def __init__(self, inner: Notifier) -> None:
        self.inner, self.name = inner, inner.name

    def __getattr__(self, name: str) -> Any:
        """Everything else is the channel's own (e.g. the SMS channel's ``gateway``, which
        account messages are sent through)."""
        return getattr(self.inner, name)

    def send(self, message: Message) -> None:
        started, outcome = time.perf_counter(), "error"
        try:
            self.inner.send(message)
            outcome = "ok"
        finally:
            SEND_SECONDS.labels(self.name, outcome).observe(time.perf_counter() - started)


def timed(channels: Mapping[str, Notifier]) -> dict[str, Notifier]:
    """``channels`` with each send timed, by channel and outcome."""
    return {name: TimedChannel(channel) for name, channel in channels.items()}
