"""Through the real services and database: random sequences of requests keep the stored
projection equal to the replay of the stored events, and occupancy equal to where the trips
are (never negative)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from borderflow.declaration import service as declarations
from borderflow.declaration.schemas import DeclarationIn
from borderflow.domain.access import Principal, Role
from borderflow.errors import AppError
from borderflow.network import service as networks
from borderflow.network.holidays import around
from borderflow.store.models import Trip, TripEvent
from borderflow.store.session import make_engine, make_session_factory
from borderflow.trip import service as trips
from tests import factories
from tests.conftest import NOW, TODAY, Database
from tests.domain.test_trip_reducer import valid_action

EVERYONE = Principal(
    id=None, username="tester", kind="user",
    roles=frozenset({Role.YARD_OPERATOR, Role.CUSTOMS, Role.BORDER_GUARD, Role.QUARANTINE,
                     Role.HEALTH, Role.CASHIER, Role.REGULATOR, Role.ENTERPRISE}),
    enterprise_tax_code=factories.ENTERPRISE_TAX,
    yard_scope=frozenset({"viettel-logistics-park", "huu-nghi-import", "huu-nghi-export",
                          "tan-thanh-transshipment", "chi-ma-export"}),
)
GATE_OF = {"huu-nghi": "export", "chi-ma": "export", "tan-thanh-dedicated": "import"}
AREAS = ["staging:viettel-logistics-park", "gate_area:huu-nghi", "yard:huu-nghi-export",
         "gate_area:chi-ma", "yard:chi-ma-export", "gate_area:tan-thanh-dedicated",
         "yard:tan-thanh-transshipment"]
ACCEPTED: list[int] = []
STEPS = ["transport", "vehicle_control", "medical", "border_guard", "quarantine", "customs",
         "transshipment", "fee", "crossing", "exit"]

actions = st.one_of(
    st.tuples(st.just("step.passed"), st.sampled_from(STEPS)),
    st.tuples(st.just("step.held"), st.sampled_from(STEPS)),
    st.tuples(st.just("step.released"), st.sampled_from(STEPS)),
    st.tuples(st.just("step.rejected"), st.sampled_from(STEPS)),
    st.tuples(st.sampled_from(["area.entered", "area.left"]), st.sampled_from(AREAS)),
    st.tuples(st.sampled_from(["trip.called", "trip.returned"]), st.just("")),
)


def _payload(kind: str, arg: str) -> dict[str, Any]:
    if kind.startswith("area."):
        return {"area": arg}
    if kind == "step.passed":
        return {"step": arg, **({"channel": "green"} if arg == "customs" else {})}
    if kind == "step.held":
        return {"step": arg, "reason_code": "sampling"}
    if kind == "step.rejected":
        return {"step": arg, "reason_code": "goods-prohibited"}
    if kind == "step.released":
        return {"step": arg}
    return {}


def _declare(session: Any, gate: str, fruit: bool) -> str:
    body = factories.fruit_declaration() if fruit else factories.declaration()
    body["requested_gate"] = gate
    body["direction"] = GATE_OF[gate]
    body["vehicles"][0]["driver"]["crosses_border"] = True
    data = DeclarationIn.model_validate(body)
    _, network = networks.network_at(session, NOW)
    row = declarations.create(session, data, actor=EVERYONE, now=NOW, network=network,
                              holidays=around(TODAY))
    return row.id


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(gate=st.sampled_from(sorted(GATE_OF)), fruit=st.booleans(),
       plan=st.lists(actions, min_size=12, max_size=30), data=st.data())
def test_projection_equals_replay_and_occupancy_is_never_negative(
    database: Database, gate: str, fruit: bool, plan: list[tuple[str, str]],
    data: st.DataObject,
) -> None:
    engine = make_engine(database.url)
    sessions = make_session_factory(engine)
    with sessions() as s:
        decl_id = _declare(s, gate, fruit)
        s.commit()
        trip_id = s.scalars(select(Trip.id).where(Trip.declaration_id == decl_id)).one()
        _, network = networks.network_at(s, NOW)
    accepted = 0
    for i, (kind, arg) in enumerate(plan):
        when = NOW + timedelta(minutes=i + 1)
        with sessions() as s:
            payload = _payload(kind, arg)
            state = s.get(Trip, trip_id).state  # type: ignore[union-attr]
            forward = valid_action(state)
            if forward and data.draw(st.integers(0, 2), label="forward") > 0:
                kind, payload = data.draw(st.sampled_from(forward), label="forward action")
                payload = {k: v for k, v in payload.items() if v is not None}
            try:
                trips.record(s, trip_id, kind, payload,  # type: ignore[arg-type]
                             actor=EVERYONE, network=network, now=when, source="api",
                             idempotency_key=data.draw(st.sampled_from([None, f"k{i}", "k0"])))
                s.commit()
                accepted += 1
            except AppError:
                s.rollback()
    ACCEPTED.append(accepted)
    with sessions() as s:
        row = s.get(Trip, trip_id)
        assert row is not None
        events = s.scalars(select(TripEvent).where(TripEvent.trip_id == trip_id)
                           .order_by(TripEvent.seq)).all()
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert row.version == len(events)
        assert trips.replay(s, trip_id) == row.state
        areas = trips.occupancy(s, network)
        assert all(a["vehicles"] >= 0 for a in areas)
        located = Counter(t.location for t in s.scalars(select(Trip)).all() if t.location)
        for a in areas:
            if a["kind"] != "gate_area":
                assert a["vehicles"] == located[a["area"]]
    engine.dispose()


def test_the_random_requests_get_past_the_first_steps(database: Database) -> None:
    """Guards the property test above: most runs must record several events."""
    ACCEPTED.clear()
    test_projection_equals_replay_and_occupancy_is_never_negative(database=database)
    assert ACCEPTED
    assert sum(1 for n in ACCEPTED if n >= 5) >= len(ACCEPTED) // 2


def test_the_event_log_refuses_updates_and_deletes(database: Database) -> None:
    engine = make_engine(database.url)
    sessions = make_session_factory(engine)
    with sessions() as s:
        _declare(s, "huu-nghi", fruit=False)
        s.commit()
    for statement in ("UPDATE trip_events SET type = 'x'", "DELETE FROM trip_events"):
        with sessions() as s, pytest.raises(DBAPIError, match="append-only"):
            s.execute(text(statement))
    engine.dispose()
