"""What other features do when a trip changes.

The trip service appends events and knows none of the features that react to them (invoices,
statistics, notifications, bookings). Each of those declares a handler next to the code that
owns the reaction; one wiring module (:mod:`borderflow.handlers`) installs them, in order,
before the application, the CLI, the workers or the tests touch a trip.

Two phases, each run in the order the handlers were installed and inside the trip service's
transaction (a handler never commits; raising rolls the whole change back):

- **before**: run just before an event is appended to an existing trip, while ``row.state``
  is still the state the event applies to. A handler may append events of its own first
  (giving back a booked place appends ``trip.unbooked`` before ``trip.cancelled``).
- **after**: run once the event is stored, the projection updated and the audit row written
  — also after a trip is created (``before`` is then ``None``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from borderflow.domain.access import Principal
from borderflow.domain.network import BookingRules
from borderflow.domain.trip import Event
from borderflow.store.models import Trip


@dataclass(frozen=True)
class TripChange:
    """One event on one trip, as a handler sees it."""

    session: Session
    row: Trip
    """The trip: before the event in the *before* phase, after it in the *after* phase."""
    before: Mapping[str, Any] | None
    """The state the event applies to; ``None`` when the event creates the trip."""
    event: Event
    actor: Principal
    now: datetime
    late_rules: BookingRules | None = None
    """The booking rules under which giving back what the trip holds counts as a late
    cancellation (the holder cancels); ``None`` when it does not count (the regulator)."""


Handler = Callable[[TripChange], None]


@dataclass(frozen=True)
class Handlers:
    before: tuple[Handler, ...] = ()
    after: tuple[Handler, ...] = ()


_installed: Handlers | None = None


def install(*, before: Sequence[Handler] = (), after: Sequence[Handler] = ()) -> None:
    """Set the handlers (replacing any installed before: installing twice is harmless)."""
    global _installed
    _installed = Handlers(tuple(before), tuple(after))


def installed() -> Handlers:
    """The installed handlers; refusing to change trips without them, which would silently
    skip invoices, statistics and notifications."""
    if _installed is None:
        raise RuntimeError("no trip event handlers installed: call borderflow.handlers.install() "
                           "before changing trips")
    return _installed


def run_before(change: TripChange) -> None:
    for handler in installed().before:
        handler(change)


def run_after(change: TripChange) -> None:
    for handler in installed().after:
        handler(change)
