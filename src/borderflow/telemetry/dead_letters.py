"""Dead letters: messages of positions the processor could not store after its retries.

A batch that fails is not allowed to stop the pipeline. The processor tells failures apart
(:func:`transient`): the database or the network being away is waited out (the message is
delivered again, after a back-off, for as long as it takes); anything else (a value the store
refuses, a bug met by one message) is retried a bounded number of times and then set aside
here, with the reason, and acknowledged, so the messages behind it go on. Nothing is dropped:
the operator lists the dead letters (``borderflow telemetry dead-letters list``,
``GET /api/v1/telemetry/dead-letters``, the metric ``borderflow_telemetry_dead_letters_waiting``)
and, once the cause is fixed, sends them through again (``borderflow telemetry dead-letters
retry``). A message is kept as it travelled on the bus (:mod:`borderflow.telemetry.wire`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from borderflow.clock import Clock
from borderflow.store.models import TelemetryDeadLetter
from borderflow.telemetry import wire
from borderflow.telemetry.decoders import Fix, Rejection, storable

log = structlog.get_logger("borderflow.telemetry")

DEAD_LETTERS = Counter("borderflow_telemetry_dead_letters_total",
                       "Messages of positions set aside after their retries, by this process",
                       ["source"])
TRANSIENT_SQLSTATES = ("08", "40", "53", "57")
"""Connection lost, deadlock or serialisation failure, out of resources, server shutting
down: waited out, never a reason to set a message aside."""
LIST_MAX = 500


def transient(exc: BaseException) -> bool:
    """Whether a failure should be waited out (the database or the network away) rather than
    counted against the message."""
    if isinstance(exc, OperationalError | DisconnectionError | PoolTimeout | OSError
                  | TimeoutError | ConnectionError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return bool(state) and str(state)[:2] in TRANSIENT_SQLSTATES
    return False


def reason_of(exc: BaseException) -> str:
    """What went wrong, short and storable (a NUL in an error text would fail the insert)."""
    text = f"{type(exc).__name__}: {exc}"
    return storable(text.splitlines()[0] if text.strip() else type(exc).__name__)[:1000]


class DeadLetterStore:
    """Where a processor sets messages aside (its own short transaction each time)."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions, self.clock = sessions, clock

    def put(self, *, source: str, payload: bytes, positions: int, reason: str,
            deliveries: int, subject: str | None = None, sequence: int | None = None) -> int:
        with self.sessions() as session:
            row = TelemetryDeadLetter(at=self.clock.now(), source=source, subject=subject,
                                      sequence=sequence, deliveries=deliveries,
                                      positions=positions, reason=storable(reason)[:1000],
                                      payload=payload)
            session.add(row)
            session.commit()
            DEAD_LETTERS.labels(source).inc()
            log.error("telemetry message set aside as a dead letter", dead_letter=row.id,
                      source=source, subject=subject, sequence=sequence,
                      deliveries=deliveries, positions=positions, reason=row.reason)
            return row.id


def _out(row: TelemetryDeadLetter) -> dict[str, Any]:
    return {"id": row.id, "at": row.at, "source": row.source, "subject": row.subject,
            "sequence": row.sequence, "deliveries": row.deliveries,
            "positions": row.positions, "reason": row.reason, "retried_at": row.retried_at,
            "excerpt": row.payload[:300].decode("utf-8", "replace")}


def listing(session: Session, *, limit: int = 100, before: int | None = None
            ) -> list[dict[str, Any]]:
    """The latest dead letters first; ``before``: only those with a smaller id (the next
    page)."""
    q = select(TelemetryDeadLetter).order_by(TelemetryDeadLetter.id.desc()).limit(
        max(1, min(limit, LIST_MAX)))
    if before is not None:
        q = q.where(TelemetryDeadLetter.id < before)
    return [_out(r) for r in session.scalars(q)]


def counts(session: Session) -> dict[str, int]:
    """Dead letters waiting (not yet sent through again), by source."""
    rows = session.execute(select(TelemetryDeadLetter.source, func.count())
                           .where(TelemetryDeadLetter.retried_at.is_(None))
                           .group_by(TelemetryDeadLetter.source)).all()
    return {source: int(n) for source, n in rows}


def retry(sessions: sessionmaker[Session], process: Callable[..., Any], ids: Sequence[int],
          now: datetime) -> dict[int, str]:
    """Send dead letters through the processor again (after the cause is fixed); each that
    is stored now is marked retried. Returns, per id, ``stored`` or why it failed again."""
    out: dict[int, str] = {}
    for dead_id in ids:
        with sessions() as session:
            row = session.get(TelemetryDeadLetter, dead_id)
            if row is None:
                out[dead_id] = "no such dead letter"
                continue
            payload = row.payload
        try:
            items, received = wire.decode(payload)
            process(items, received)
        except Exception as exc:  # reported per dead letter; the others are still tried
            out[dead_id] = reason_of(exc)
            continue
        with sessions() as session:
            row = session.get(TelemetryDeadLetter, dead_id)
            if row is not None:
                row.retried_at = now
                session.commit()
        out[dead_id] = "stored"
    return out


def payload_of(items: list[Fix | Rejection], received: Sequence[datetime]) -> bytes:
    """Items of the in-process queue as a bus message, each with its reception time."""
    groups: list[tuple[list[Fix | Rejection], datetime]] = []
    for item, at in zip(items, received, strict=True):
        if groups and groups[-1][1] == at:
            groups[-1][0].append(item)
        else:
            groups.append(([item], at))
    return wire.encode_groups(groups)


class DeadLetterGauge(Collector):
    """``borderflow_telemetry_dead_letters_waiting``: dead letters waiting, by source, read
    from the database at each scrape (every processor's, whichever process serves the metrics)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("borderflow_telemetry_dead_letters_waiting",
                                   "Telemetry messages set aside and not yet sent through "
                                   "again", labels=["source"])
        try:
            with self.sessions() as session:
                found = counts(session)
        except Exception:  # a scrape must not fail because the database is away
            log.warning("dead letters not counted for the metrics", exc_info=True)
            return
        for source in sorted({"nats", "memory", *found}):
            family.add_metric([source], found.get(source, 0))
        yield family
