"""The one place that wires the features' reactions to trip events into the trip service.

The trip service knows none of the features (:mod:`borderflow.trip.events`); each feature
declares its handler next to the code it belongs to, and :func:`install` registers them in the
order below. :func:`borderflow.app.create_app`, the CLI and the test suite call it before any
trip changes; the workers run inside one of those.

Order, for every event appended to a trip (all in the trip service's transaction):

before the event
  1. bookings — a cancelled trip, or one amended to another gate or direction, gives its
     booked place back (``trip.unbooked`` is appended before the event).

after the event (and after a trip is created)
  1. notifications — the outbox rows the event gives rise to (none for a creation);
  2. fees — a new trip's invoice; the invoice kept in step (voided, finalised, re-estimated),
     which may append ``fee.*`` events, themselves handled in full before this one goes on;
  3. statistics — the trip's summary row, last, so it sees the trip as the others left it.
"""

from __future__ import annotations

from borderflow.booking import service as bookings
from borderflow.fees import invoices
from borderflow.notify import outbox
from borderflow.report import facts
from borderflow.trip import events

BEFORE: tuple[events.Handler, ...] = (bookings.give_back_before_trip_change,)
AFTER: tuple[events.Handler, ...] = (
    outbox.after_trip_change,
    invoices.after_trip_change,
    facts.after_trip_change,
)


def install() -> None:
    """Register the handlers above with the trip service (idempotent)."""
    events.install(before=BEFORE, after=AFTER)
