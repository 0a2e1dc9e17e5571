"""The figures of the public board, per gate: trucks waiting in the staging area and in the
virtual queue, in each yard, crossed today by direction, the estimated wait, today's hours,
closures in force and the partner side's reported yard counts. Nothing personal."""

from __future__ import annotations

import hashlib
import threading
import time as clocks
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from borderflow.clock import LOCAL_TZ
from borderflow.dispatch import controls, partner
from borderflow.dispatch import service as dispatch
from borderflow.domain.network import Gate, Names, Network
from borderflow.network.holidays import around
from borderflow.store.models import PartnerYardCount, Trip, TripEvent
from borderflow.trip import service as trips


def fill_percent(vehicles: int, capacity: int) -> int:
    """Percent full (may pass 100 when an area is over capacity)."""
    return round(100 * vehicles / capacity) if capacity else 0


@dataclass
class AreaFigure:
    """A yard or a staging park: vehicles in it and how many it holds."""

    code: str
    name: Names
    vehicles: int
    capacity: int

    @property
    def fill(self) -> int:
        return fill_percent(self.vehicles, self.capacity)


@dataclass(frozen=True)
class Closure:
    """A closure or a pause in force at a gate, as the public reads it: the regulator's
    reason (free text), the direction it stops (None: both) and when it ends."""

    kind: str
    direction: str | None
    reason: str
    ends_at: datetime

    def stops(self, direction: str) -> bool:
        return self.direction is None or self.direction == direction


STOPS = ("closure", "pause")
"""The controls that stop trucks being called to a gate: the board gives no wait for a
direction they stop, and says until when instead."""
DIRECTIONS = ("export", "import")


@dataclass
class GateFigures:
    code: str
    name: Names
    partner: Names
    queue: dict[str, int]
    """Trucks waiting in the staging area for this gate, by direction."""
    declared: dict[str, int]
    """Trucks declared for today that have not reached the park, by direction."""
    called: int
    yards: list[AreaFigure]
    crossed_today: dict[str, int]
    wait_minutes: int | None
    """A truck joining the queue now waits about this long (None: not within a day)."""
    hours_today: list[tuple[time, time]]
    day_kind: str
    closures: list[Closure] = field(default_factory=list)
    partner_counts: dict[str, int] = field(default_factory=dict)
    regulated: bool = True
    """Trucks for this gate wait in a staging area and are called (else they come straight)."""

    @property
    def stopped(self) -> list[str]:
        """The directions a closure or pause in force stops."""
        return [d for d in DIRECTIONS if any(c.stops(d) for c in self.closures)]

    @property
    def closed(self) -> bool:
        """No truck is called in either direction: the board shows no estimated wait."""
        return len(self.stopped) == len(DIRECTIONS)

    @property
    def reopens_at(self) -> datetime | None:
        """When trucks are called again in some direction (the earliest end among the
        stops of the direction that reopens first)."""
        ends = [max(c.ends_at for c in self.closures if c.stops(d)) for d in self.stopped]
        return min(ends) if ends else None


@dataclass
class Board:
    at: datetime
    parks: list[AreaFigure]
    gates: list[GateFigures]


def _crossed_today(session: Session, now: datetime) -> Counter[tuple[str, str]]:
    """Trucks that crossed since local midnight, by gate and direction: exports when they
    leave for the partner side, imports when they enter our gate area."""
    start = datetime.combine(now.astimezone(LOCAL_TZ).date(), time(0), tzinfo=LOCAL_TZ)
    rows = session.execute(
        select(Trip.gate, Trip.flow, func.count(func.distinct(TripEvent.trip_id)))
        .join(TripEvent, TripEvent.trip_id == Trip.id)
        .where(TripEvent.occurred_at >= start, TripEvent.type == "step.passed",
               TripEvent.payload["step"].as_string() == "crossing")
        .group_by(Trip.gate, Trip.flow)).all()
    return Counter({(g, f): int(n) for g, f, n in rows})


def build(session: Session, network: Network, now: datetime) -> Board:
    located = trips.located(session, network)
    rows = list(session.scalars(select(Trip).where(Trip.status.in_(
        ("declared", "at_staging", "called")))))
    today = now.astimezone(LOCAL_TZ).date()
    waiting: Counter[tuple[str, str]] = Counter()
    declared: Counter[tuple[str, str]] = Counter()
    called: Counter[str] = Counter()
    for r in rows:
        if r.status == "at_staging":
            waiting[(r.gate, r.flow)] += 1
        elif r.status == "called":
            called[r.gate] += 1
        elif r.state["facts"].get("requested_date") == today.isoformat():
            declared[(r.gate, r.flow)] += 1
    crossed = _crossed_today(session, now)
    views = dispatch.outlooks(session, network, [r for r in rows if r.status != "declared"],
                              now)
    closures: dict[str, list[Closure]] = {}
    for c in controls.active(session, now):
        if c.kind in STOPS and c.starts_at <= now:
            closures.setdefault(c.gate, []).append(
                Closure(c.kind, c.direction, c.reason, c.ends_at))
    counts = partner.latest(session, network, now)
    gates = []
    for g in network.gates:
        gates.append(_gate(g, network, now, waiting, declared, called, crossed, views,
                           closures, counts, located))
    parks = [AreaFigure(s.code, s.name, located[f"staging:{s.code}"], s.capacity)
             for s in network.staging_areas]
    return Board(now, parks, gates)


def _gate(g: Gate, network: Network, now: datetime,
          waiting: Counter[tuple[str, str]], declared: Counter[tuple[str, str]],
          called: Counter[str], crossed: Counter[tuple[str, str]],
          views: dict[tuple[str, str], dispatch.Outlook], closures: dict[str, list[Closure]],
          counts: dict[tuple[str, str], PartnerYardCount], located: Counter[str]
          ) -> GateFigures:
    calendar = network.calendar(g.calendar)
    hours = calendar.hours_on(now.astimezone(LOCAL_TZ).date(),
                              around(now.astimezone(LOCAL_TZ).date())) if calendar else None
    wait = None
    estimates: list[timedelta] = []
    regulated = any((g.code, d) in views for d in DIRECTIONS)
    stops = closures.get(g.code, [])
    for direction in DIRECTIONS:
        view = views.get((g.code, direction))
        if view is None or any(c.stops(direction) for c in stops):
            continue
        last = max(view.forecast.values(), default=None)
        if last is not None:
            estimates.append(max(timedelta(0), view.slot_starts[last] - now))
        elif not view.waiting:
            estimates.append(timedelta(0))
    if estimates:
        wait = int(max(estimates).total_seconds() // 60)
    partner_counts = {d: row.vehicles for (gate, d), row in counts.items() if gate == g.code}
    return GateFigures(
        code=g.code, name=g.name, partner=g.partner.name,
        queue={d: waiting[(g.code, d)] for d in ("export", "import")},
        declared={d: declared[(g.code, d)] for d in ("export", "import")},
        called=called[g.code],
        yards=[AreaFigure(y.code, y.name, located[f"yard:{y.code}"], y.capacity)
               for y in g.yards],
        crossed_today={d: crossed[(g.code, d)] for d in ("export", "import")},
        wait_minutes=wait, regulated=regulated,
        hours_today=[(r.start, r.end) for r in hours.intervals] if hours else [],
        day_kind=hours.kind if hours else "closed",
        closures=closures.get(g.code, []),
        partner_counts=partner_counts)


def fingerprint(figures: Board) -> str:
    """What the pages show of ``figures``, as a digest: the same figures (their time to the
    minute, as the pages print it) give the same digest in every process, so a browser holding
    them is answered 304 by any API process, and never when they differ."""
    shown = replace(figures, at=figures.at.replace(second=0, microsecond=0))
    return hashlib.sha256(repr(shown).encode()).hexdigest()[:24]


class Shared:
    """The board's figures computed at most once per ``seconds`` and shared by every viewer
    of the process: a thousand screens refreshing cost the database what one does. The first
    viewer to find them due computes them; viewers arriving meanwhile get the previous
    figures at once (a few seconds older) rather than queueing behind the computation, and
    wait for it only when there are none yet. Each computation comes with its
    :func:`fingerprint` (the pages' ETag). With ``seconds`` 0 every viewer computes its own."""

    def __init__(self, seconds: float, monotonic: Callable[[], float] = clocks.monotonic
                 ) -> None:
        self.seconds, self._monotonic = seconds, monotonic
        self._lock = threading.Lock()
        self._current: tuple[Board, str, float] | None = None
        """The figures, their fingerprint and when they are due (one value, read without
        the lock)."""

    def get(self, compute: Callable[[], Board]) -> tuple[Board, str]:
        """The shared figures and their fingerprint, computed with ``compute`` when none
        are younger than ``seconds`` (the previous ones while another viewer computes)."""
        if self.seconds <= 0:
            figures = compute()
            return figures, fingerprint(figures)
        current = self._current
        if current is not None and self._monotonic() < current[2]:
            return current[0], current[1]
        if current is not None and not self._lock.acquire(blocking=False):
            return current[0], current[1]  # another viewer is computing them
        if current is None:
            self._lock.acquire()  # the first figures: wait for them
        try:
            current = self._current
            if current is None or self._monotonic() >= current[2]:
                figures = compute()
                current = self._current = (figures, fingerprint(figures),
                                           self._monotonic() + self.seconds)
            return current[0], current[1]
        finally:
            self._lock.release()

    def fresh(self) -> tuple[Board, str] | None:
        """The figures :meth:`get` would give without computing (fresh ones, or the previous
        ones while a viewer computes), else ``None``; never waits (for a viewer answered on
        the event loop, without a thread)."""
        current = self._current
        if current is None or self.seconds <= 0 or (
                self._monotonic() >= current[2] and not self._lock.locked()):
            return None
        return current[0], current[1]
