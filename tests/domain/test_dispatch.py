"""Dispatch policy: who is called first, and never more than a gate and its yards can take."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from borderflow.domain.dispatch import Policy, Room, Waiting, choose_calls, order_queue

T = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
SLOT_END = T + timedelta(minutes=30)


def w(trip: str, priority: str = "normal", minutes: int = 0,
      booked: datetime | None = None) -> Waiting:
    return Waiting(trip, "huu-nghi", "export", priority, T + timedelta(minutes=minutes), booked)


def test_strict_priority_calls_perishables_before_earlier_normal_trucks() -> None:
    queue = [w("n1", minutes=0), w("n2", minutes=1), w("p1", "perishable", minutes=30),
             w("u1", "urgent", minutes=60), w("a1", "aeo", minutes=5)]
    assert [x.trip_id for x in order_queue(queue, Policy("strict"), SLOT_END)] == [
        "u1", "p1", "a1", "n1", "n2"]


def test_the_echerha_cycle_never_starves_ordinary_trucks() -> None:
    queue = [w(f"n{i}", minutes=i) for i in range(6)] + [
        w(f"p{i}", "perishable", minutes=i) for i in range(3)]
    order = [x.trip_id for x in order_queue(queue, Policy("cycle"), SLOT_END)]
    assert order == ["p0", "n0", "n1", "n2", "n3", "n4", "p1", "n5", "p2"]


def test_a_booked_truck_goes_first_in_its_slot_and_waits_for_a_later_one() -> None:
    queue = [w("walk-in", minutes=0), w("booked-now", minutes=20, booked=T),
             w("booked-later", minutes=0, booked=T + timedelta(hours=2))]
    rooms = [Room("huu-nghi", "export", 5, (("huu-nghi-export", 10),))]
    orders = choose_calls(queue, rooms, now=T, slot_end=SLOT_END, policy=Policy())
    assert [o.trip_id for o in orders] == ["booked-now", "walk-in"]
    assert orders[0].arrive_by == T + timedelta(minutes=90)


@settings(max_examples=200, deadline=None)
@given(
    trucks=st.lists(st.sampled_from(["urgent", "perishable", "aeo", "normal"]), max_size=40),
    slot_places=st.integers(-2, 15),
    yard_free=st.lists(st.integers(-3, 8), min_size=1, max_size=3),
    policy=st.sampled_from([Policy("strict"), Policy("cycle")]),
)
def test_calls_never_exceed_the_slot_or_the_yards(
    trucks: list[str], slot_places: int, yard_free: list[int], policy: Policy
) -> None:
    queue = [w(f"t{i}", p, minutes=i) for i, p in enumerate(trucks)]
    yards = tuple((f"y{i}", free) for i, free in enumerate(yard_free))
    orders = choose_calls(queue, [Room("huu-nghi", "export", slot_places, yards)], now=T,
                          slot_end=SLOT_END, policy=policy)
    assert len(orders) <= max(0, min(slot_places, sum(f for f in yard_free)))
    assert len({o.trip_id for o in orders}) == len(orders)
    per_yard = {y: sum(1 for o in orders if o.yard == y) for y, _ in yards}
    for y, free in yards:
        assert per_yard[y] <= max(free, 0) or sum(max(f, 0) for _, f in yards) == 0
    # everyone is in the queue exactly once, whatever the policy
    assert sorted(x.trip_id for x in order_queue(queue, policy, SLOT_END)) == sorted(
        x.trip_id for x in queue)
