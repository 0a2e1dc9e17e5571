"""The projection's ``next_due_at`` names exactly the trips the deadline alerts list: a trip
has a deadline past due and not met when, and only when, its earliest unmet deadline has
passed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from borderflow.domain.trip import STATUSES, iso, next_due, overdue

START = datetime(2026, 11, 23, tzinfo=UTC)
minutes = st.integers(min_value=0, max_value=4 * 24 * 60)
deadline = st.fixed_dictionaries({"name": st.just("d"), "due": minutes,
                                   "met": st.none() | minutes})


def _state(status: str, deadlines: dict[str, dict[str, object]]) -> dict[str, object]:
    def at(m: object) -> str | None:
        return None if m is None else iso(START + timedelta(minutes=int(str(m))))

    return {"status": status, "deadlines": {
        code: {"name": d["name"], "due_at": at(d["due"]), "met_at": at(d["met"])}
        for code, d in deadlines.items()}}


@given(status=st.sampled_from(STATUSES),
       deadlines=st.dictionaries(st.sampled_from(["call-grace", "return", "dwell"]), deadline,
                                 max_size=3),
       now=minutes)
def test_next_due_has_passed_exactly_when_a_deadline_is_overdue(
    status: str, deadlines: dict[str, dict[str, object]], now: int
) -> None:
    state = _state(status, deadlines)
    at = START + timedelta(minutes=now)
    unmet_late = [d for d in overdue(state, at) if not d["met"]]
    due = next_due(state)
    assert bool(unmet_late) == (due is not None and due < at)
    if due is not None:
        assert due == min(START + timedelta(minutes=int(str(d["due"])))
                          for d in deadlines.values() if d["met"] is None)
