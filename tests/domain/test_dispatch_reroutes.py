"""The green-channel policy, the call forecast of one gate, and the choice of trucks to move to
another gate: pure rules, checked on examples and on random snapshots."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from borderflow.domain.dispatch import (
    GateRoom,
    Policy,
    Room,
    Waiting,
    cap_places,
    choose_calls,
    forecast,
    order_queue,
    partner_room,
    plan_reroutes,
)

T = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)  # 07:00 in Lang Son
STEP = timedelta(minutes=30)
GREEN = Policy("green_channel", green_window=(time(7), time(9)))
RESERVED = Policy("green_channel", green_window=(time(7), time(9)), share_green_window=False)
PRIORITIES = ("urgent", "aeo_perishable", "perishable", "aeo", "normal")


def w(trip: str, priority: str = "normal", minutes: int = 0, gate: str = "g1",
      booked: datetime | None = None) -> Waiting:
    return Waiting(trip, gate, "export", priority, T - timedelta(hours=2, minutes=-minutes),
                   booked)


def ids(queue: list[Waiting]) -> list[str]:
    return [x.trip_id for x in queue]


def test_the_green_window_puts_fresh_goods_first_in_the_morning_only() -> None:
    queue = [w("n1", minutes=0), w("a1", "aeo", minutes=1), w("p1", "perishable", minutes=9),
             w("u1", "urgent", minutes=30)]
    assert ids(order_queue(queue, GREEN, T + STEP, T)) == ["u1", "p1", "a1", "n1"]
    afternoon = T + timedelta(hours=6)  # 13:00: outside the window, strict order
    assert ids(order_queue(queue, GREEN, afternoon + STEP, afternoon)) == [
        "u1", "p1", "a1", "n1"]
    assert GREEN.in_green_window(T)
    assert not GREEN.in_green_window(T + timedelta(hours=2))


def test_a_reserved_green_window_calls_no_ordinary_truck_before_nine() -> None:
    queue = [w("n1"), w("p1", "perishable", minutes=5)]
    rooms = [Room("g1", "export", 5, (("y1", 10),))]
    morning = choose_calls(queue, rooms, now=T, slot_end=T + STEP, policy=RESERVED)
    assert [o.trip_id for o in morning] == ["p1"]
    nine = T + timedelta(hours=2)
    later = choose_calls(queue, rooms, now=nine, slot_end=nine + STEP, policy=RESERVED)
    assert [o.trip_id for o in later] == ["p1", "n1"]
    shared = choose_calls(queue, rooms, now=T, slot_end=T + STEP, policy=GREEN)
    assert [o.trip_id for o in shared] == ["p1", "n1"]


def test_the_forecast_follows_the_policy_and_the_places_of_each_slot() -> None:
    queue = [w("n1"), w("n2", minutes=1), w("p1", "perishable", minutes=5),
             w("later", minutes=2, booked=T + 3 * STEP)]
    starts = [T + i * STEP for i in range(6)]
    called, left = forecast(queue, starts, [1, 0, 2, 0, 1, 5], Policy(), 30)
    assert called == {"p1": 0, "n1": 2, "n2": 2, "later": 4}
    assert left == [0, 0, 0, 0, 0, 5]
    reserved, _ = forecast([w("n1")], starts, [3, 3, 3, 3, 3, 3], RESERVED, 30)
    assert reserved == {"n1": 4}  # 09:00, when the reserved window ends


snapshot = st.lists(
    st.tuples(st.sampled_from(PRIORITIES), st.integers(0, 120),
              st.one_of(st.none(), st.integers(0, 7))),
    max_size=40)
places_strategy = st.lists(st.integers(0, 4), min_size=8, max_size=8)


@settings(max_examples=150, deadline=None)
@given(snapshot, places_strategy, st.sampled_from([Policy(), Policy("cycle"), GREEN, RESERVED]))
def test_the_forecast_never_overfills_a_slot_and_calls_no_one_early(
    trucks: list[tuple[str, int, int | None]], places: list[int], policy: Policy
) -> None:
    starts = [T + i * STEP for i in range(8)]
    queue = [w(f"t{i}", p, m, booked=None if b is None else starts[b])
             for i, (p, m, b) in enumerate(trucks)]
    called, left = forecast(queue, starts, places, policy, 30)
    for s, start in enumerate(starts):
        in_slot = [q for q in queue if called.get(q.trip_id) == s]
        assert len(in_slot) + left[s] == places[s]
        assert all(q.booked_slot is None or q.booked_slot < start + STEP for q in in_slot)
        assert all(policy.may_call(q.priority, start) for q in in_slot)
    # nobody who could have been called is left out while places stayed free
    for q in queue:
        if q.trip_id not in called:
            assert all(left[s] == 0 or not policy.may_call(q.priority, starts[s])
                       or (q.booked_slot is not None and q.booked_slot >= starts[s] + STEP)
                       for s in range(8))
    assert forecast(queue, starts, places, policy, 30) == (called, left)  # deterministic


def test_a_closed_gate_sends_its_trucks_where_their_goods_may_go() -> None:
    stuck = [(w("fruit", "perishable", gate="closed"), None, ("closed", "open")),
             (w("steel", gate="closed"), None, ("closed", "open")),
             (w("chemicals", gate="closed"), None, ("closed",))]
    left = {"closed": GateRoom([0] * 6), "open": GateRoom([1, 1, 0, 0, 0, 0])}
    moves = plan_reroutes(stuck, ["closed", "open"], left, {"closed": 4, "open": 4})
    assert [(m.trip_id, m.gate, m.slot) for m in moves] == [("fruit", "open", 0),
                                                            ("steel", "open", 1)]


def test_no_move_without_a_clear_gain() -> None:
    waiting = [(w("a", gate="busy"), 3, ("busy", "other"))]
    left = {"busy": GateRoom([0, 0, 0, 1, 0, 0]), "other": GateRoom([0, 1, 0, 0, 0, 0])}
    assert plan_reroutes(waiting, ["busy", "other"], left, {"busy": 4, "other": 4}) == []
    moved = plan_reroutes(waiting, ["busy", "other"], left, {"busy": 2, "other": 2})
    assert [(m.trip_id, m.from_gate, m.gate, m.slot) for m in moved] == [
        ("a", "busy", "other", 1)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PRIORITIES), st.sampled_from("abc"),
                          st.one_of(st.none(), st.integers(0, 5)),
                          st.sets(st.sampled_from("abc"), min_size=1)), max_size=30),
       st.dictionaries(st.sampled_from("abc"), st.lists(st.integers(0, 3), min_size=6,
                                                        max_size=6), min_size=3),
       st.integers(1, 4),
       st.dictionaries(st.sampled_from("abc"), st.tuples(st.one_of(st.none(), st.integers(0, 4)),
                                                         st.one_of(st.none(), st.integers(0, 6)))),
       st.randoms(use_true_random=False))
def test_moves_go_only_to_permitted_gates_with_room_and_a_gain(
    trucks: list[tuple[str, str, int | None, set[str]]], places: dict[str, list[int]], gain: int,
    downstream: dict[str, tuple[int | None, int | None]], rnd: random.Random
) -> None:
    candidates = [(w(f"t{i}", p, i, gate=own), slot, tuple(sorted(alt | {own})))
                  for i, (p, own, slot, alt) in enumerate(trucks)]
    gates = ["a", "b", "c"]
    left = {g: GateRoom(row, *downstream.get(g, (None, None))) for g, row in places.items()}
    moves = plan_reroutes(candidates, gates, left, dict.fromkeys(gates, gain))
    by_id = {c[0].trip_id: c for c in candidates}
    used: dict[tuple[str, int], int] = {}
    for m in moves:
        truck, own_slot, alt = by_id[m.trip_id]
        assert m.gate in alt
        assert m.gate != truck.gate
        assert own_slot is None or m.slot + gain <= own_slot
        used[(m.gate, m.slot)] = used.get((m.gate, m.slot), 0) + 1
    # never beyond a slot's places, the yards' room now, or the partner side's room
    assert all(n <= places[g][s] for (g, s), n in used.items())
    for g, (yard_now, partner_left) in downstream.items():
        if yard_now is not None:
            assert used.get((g, 0), 0) <= yard_now
        if partner_left is not None:
            assert sum(n for (gate, _), n in used.items() if gate == g) <= partner_left
    assert plan_reroutes(candidates, gates, left, dict.fromkeys(gates, gain)) == moves
    # the same moves, in the order the trucks came, whatever order the database gave them in
    shuffled = rnd.sample(candidates, len(candidates))
    assert plan_reroutes(shuffled, gates, left, dict.fromkeys(gates, gain)) == moves
    assert [m.trip_id for m in moves] == sorted((m.trip_id for m in moves),
                                                key=lambda t: by_id[t][0].arrived_at)


@given(st.lists(st.integers(-2, 6), min_size=1, max_size=10),
       st.one_of(st.none(), st.integers(-1, 8)), st.one_of(st.none(), st.integers(-1, 30)))
def test_yards_and_the_partner_yard_cap_a_gates_places(
    places: list[int], room_now: int | None, budget: int | None
) -> None:
    capped = cap_places(places, room_now, budget)
    assert all(0 <= c <= max(0, p) for c, p in zip(capped, places, strict=True))
    if room_now is not None:
        assert capped[0] <= max(0, room_now)
    if budget is not None:
        assert sum(capped) <= max(0, budget)
    # the budget goes to the earliest slots: a slot is cut only once the budget is spent
    for s, (c, p) in enumerate(zip(capped, places, strict=True)):
        limit = max(0, p) if s or room_now is None else min(max(0, p), max(0, room_now))
        if c < limit:
            assert budget is not None
            assert sum(capped[:s + 1]) == max(0, budget)


def test_the_partner_yard_room_counts_trucks_sent_since_its_count() -> None:
    assert partner_room(vehicles=40, capacity=50, sent_since=3) == 7
    assert partner_room(vehicles=49, capacity=50, sent_since=3) == 0
    assert partner_room(vehicles=10, capacity=None, sent_since=0) is None
