"""The forecast of calls: taking each slot's calls from the heads of the class queues gives the
same slots as ordering every slot's waiting trucks again with ``order_queue``."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from borderflow.domain.dispatch import (
    Policy,
    Waiting,
    _forecast_by_order,
    forecast,
)

T = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)  # 05:00 in Hanoi
CLASSES = ["urgent", "aeo_perishable", "perishable", "aeo", "normal"]
POLICIES = [
    Policy("strict"),
    Policy("cycle"),
    Policy("cycle", cycle=("normal", "perishable", "normal")),
    Policy("cycle", cycle=()),
    Policy("green_channel", green_window=(time(6, 0), time(8, 0))),
    Policy("green_channel", green_window=(time(6, 0), time(8, 0)),
           green_classes=("aeo", "normal")),
    Policy("green_channel", green_window=(time(6, 0), time(8, 0)), share_green_window=False),
]


@settings(max_examples=300, deadline=None)
@given(
    trucks=st.lists(st.tuples(st.sampled_from(CLASSES), st.integers(0, 50),
                              st.one_of(st.none(), st.integers(-2, 10))), max_size=60),
    places=st.lists(st.integers(-1, 6), min_size=0, max_size=12),
    policy=st.sampled_from(POLICIES),
    bookings=st.booleans(),
)
def test_the_forecast_takes_the_trucks_order_queue_gives(
    trucks: list[tuple[str, int, int | None]], places: list[int], policy: Policy,
    bookings: bool,
) -> None:
    starts = [T + timedelta(minutes=30 * s) for s in range(len(places))]
    waiting = [Waiting(f"t{i % 7}-{i}", "huu-nghi", "export", cls,
                       T - timedelta(minutes=minutes),
                       None if slot is None or not bookings
                       else T + timedelta(minutes=30 * slot))
               for i, (cls, minutes, slot) in enumerate(trucks)]
    assert forecast(waiting, starts, places, policy, 30) == _forecast_by_order(
        waiting, starts, places, policy, 30)
