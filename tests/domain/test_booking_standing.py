"""The bar from booking after repeated no-shows or late cancellations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from borderflow.domain.booking import barred_until, is_late_cancellation
from borderflow.domain.network import BookingRules

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
RULES = BookingRules(bar_after=3, window_days=30, bar_days=14)


def days_ago(*days: float) -> list[datetime]:
    return [NOW - timedelta(days=d) for d in days]


def test_three_offences_within_the_window_bar_for_fourteen_days_after_the_last() -> None:
    assert barred_until(days_ago(20, 10, 2), RULES, NOW) == NOW + timedelta(days=12)
    assert barred_until(days_ago(10, 2), RULES, NOW) is None  # only two
    assert barred_until(days_ago(45, 20, 2), RULES, NOW) is None  # not within 30 days
    assert barred_until(days_ago(40, 35, 20), RULES, NOW) is None  # bar served
    assert barred_until(days_ago(20, 10, 2), BookingRules(bar_after=0), NOW) is None  # off


def test_a_cancellation_close_to_the_slot_is_late() -> None:
    slot = NOW + timedelta(hours=3)
    assert not is_late_cancellation(slot, NOW, RULES)  # 3 h before, rule is 2 h
    assert is_late_cancellation(slot, NOW + timedelta(hours=1, minutes=1), RULES)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 120, allow_nan=False), max_size=12), st.integers(1, 5),
       st.integers(1, 40), st.integers(1, 30))
def test_a_bar_needs_enough_offences_in_one_window_and_ends_in_time(
    ages: list[float], bar_after: int, window: int, bar: int
) -> None:
    rules = BookingRules(bar_after=bar_after, window_days=window, bar_days=bar)
    times = days_ago(*ages)
    until = barred_until(times, rules, NOW)
    if until is None:
        return
    assert NOW < until <= max(times) + timedelta(days=bar)
    trigger = until - timedelta(days=bar)
    in_window = [t for t in times if trigger - timedelta(days=window) < t <= trigger]
    assert len(in_window) >= bar_after
    assert barred_until(list(reversed(times)), rules, NOW) == until  # order does not matter
    assert barred_until(times, rules, until) is None  # over when it ends
