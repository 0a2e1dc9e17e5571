"""Gate working-hours calendars (Calendar and its parts in borderflow.domain.network)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderflow.domain.network import (
    WEEKDAYS,
    Calendar,
    DatedException,
    DayHours,
    ExtendedHours,
    HolidayRule,
    TimeRange,
    WeeklyHours,
)

FAST = settings(max_examples=60, database=None, deadline=None)

HOLIDAYS = {"VN": {date(2026, 9, 2)}, "CN": {date(2026, 10, 1)}}
NONE: dict[str, set[date]] = {}

MONDAY = date(2026, 11, 23)
SATURDAY = date(2026, 11, 28)
SUNDAY = date(2026, 11, 29)
VN_HOLIDAY = date(2026, 9, 2)  # a Wednesday
CN_HOLIDAY = date(2026, 10, 1)  # a Thursday

LUNCH = TimeRange(time(11, 30), time(13, 30))
WEEKDAY_HOURS = WeeklyHours(
    days=("mon", "tue", "wed", "thu", "fri", "sat"), open=time(7), close=time(17), breaks=(LUNCH,)
)
REGULAR = (TimeRange(time(7), time(11, 30)), TimeRange(time(13, 30), time(17)))


def tr(a: tuple[int, int], b: tuple[int, int]) -> TimeRange:
    return TimeRange(time(*a), time(*b))


def make_calendar(**kwargs: object) -> Calendar:
    return Calendar(code="lang-son", regular=(WEEKDAY_HOURS,), **kwargs)  # type: ignore[arg-type]


def peak(**kwargs: object) -> ExtendedHours:
    args: dict[str, object] = {
        "start_date": date(2026, 11, 1),
        "end_date": date(2026, 11, 30),
        "open": time(6),
        "close": time(22),
        "reason": "fruit season",
    }
    args.update(kwargs)
    return ExtendedHours(**args)  # type: ignore[arg-type]


def test_dates_used_here_fall_on_the_expected_weekdays() -> None:
    assert [WEEKDAYS[d.weekday()] for d in (MONDAY, SATURDAY, SUNDAY)] == ["mon", "sat", "sun"]
    assert WEEKDAYS[VN_HOLIDAY.weekday()] == "wed"
    assert WEEKDAYS[CN_HOLIDAY.weekday()] == "thu"


# --- parts ------------------------------------------------------------------------------------


def test_time_range_is_half_open() -> None:
    r = tr((7, 0), (11, 30))
    assert r.contains(time(7))
    assert r.contains(time(11, 29, 59))
    assert not r.contains(time(11, 30))
    assert not r.contains(time(6, 59, 59))


@pytest.mark.parametrize("end", [time(7), time(6)])
def test_time_range_end_must_be_after_start(end: time) -> None:
    with pytest.raises(ValueError, match="end must be after start"):
        TimeRange(time(7), end)


def test_day_hours_open_and_closed() -> None:
    open_day = DayHours(MONDAY, "regular", REGULAR)
    assert not open_day.is_closed
    assert open_day.is_open_at(time(8))
    assert not open_day.is_open_at(time(12))
    assert not open_day.is_open_at(time(17))
    closed = DayHours(SUNDAY, "closed", (), "no regular hours on this weekday")
    assert closed.is_closed
    assert not closed.is_open_at(time(12))


def test_weekly_hours_valid() -> None:
    w = WeeklyHours(("mon",), time(7), time(17), (LUNCH,))
    assert w.breaks == (LUNCH,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": ()}, "at least one weekday"),
        ({"close": time(7)}, "close must be after open"),
        ({"close": time(6)}, "close must be after open"),
        ({"breaks": (tr((6, 30), (7, 30)),)}, "breaks must lie within opening hours"),
        ({"breaks": (tr((16, 30), (17, 30)),)}, "breaks must lie within opening hours"),
    ],
)
def test_weekly_hours_invalid(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"days": ("mon",), "open": time(7), "close": time(17)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        WeeklyHours(**args)  # type: ignore[arg-type]


def test_weekly_hours_break_may_touch_open_and_close() -> None:
    w = WeeklyHours(("mon",), time(7), time(17), (tr((7, 0), (7, 30)), tr((16, 30), (17, 0))))
    assert len(w.breaks) == 2


def test_holiday_rule_valid() -> None:
    assert HolidayRule().observe == ("VN", "CN")
    assert HolidayRule(open=time(8), close=time(12)).close == time(12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"open": time(8)}, "both open and close, or neither"),
        ({"close": time(12)}, "both open and close, or neither"),
        ({"open": time(12), "close": time(8)}, "close must be after open"),
    ],
)
def test_holiday_rule_invalid(kwargs: dict[str, time], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HolidayRule(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"end_date": date(2026, 10, 31)}, "end_date must not be before start_date"),
        ({"close": time(6)}, "close must be after open"),
        ({"reason": "  "}, "reason must not be empty"),
    ],
)
def test_extended_hours_invalid(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        peak(**kwargs)


def test_extended_hours_single_day_period_is_valid() -> None:
    one_day = peak(start_date=MONDAY, end_date=MONDAY)
    assert one_day.covers(MONDAY)
    assert not one_day.covers(MONDAY + timedelta(days=1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"open": time(8)}, "both open and close, or neither"),
        ({"close": time(8)}, "both open and close, or neither"),
        ({"open": time(9), "close": time(8)}, "close must be after open"),
        ({"reason": ""}, "reason must not be empty"),
    ],
)
def test_dated_exception_invalid(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"day": MONDAY, "reason": "state visit"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        DatedException(**args)  # type: ignore[arg-type]


# --- calendar construction --------------------------------------------------------------------


def test_calendar_weekday_with_regular_hours_twice_is_rejected() -> None:
    sat = WeeklyHours(("sat", "sun"), time(8), time(12))
    with pytest.raises(ValueError, match="weekday 'sat' has regular hours twice"):
        Calendar("c", (WEEKDAY_HOURS, sat))


def test_calendar_separate_weekday_groups_are_accepted() -> None:
    sun = WeeklyHours(("sun",), time(8), time(12))
    cal = Calendar("c", (WEEKDAY_HOURS, sun))
    assert cal.hours_on(SUNDAY, NONE).intervals == (tr((8, 0), (12, 0)),)


def test_calendar_duplicate_exception_date_is_rejected() -> None:
    with pytest.raises(ValueError, match="only one exception"):
        make_calendar(
            exceptions=(DatedException(MONDAY, "a"), DatedException(MONDAY, "b")),
        )


@pytest.mark.parametrize("tz", ["", "../etc/passwd"])
def test_calendar_malformed_timezone_is_rejected(tz: str) -> None:
    with pytest.raises(ValueError, match="unknown timezone"):
        make_calendar(timezone=tz)


def test_calendar_unknown_timezone_raises_value_error() -> None:
    with pytest.raises(ValueError, match="Mars/Olympus"):
        make_calendar(timezone="Mars/Olympus")


# --- hours on a date --------------------------------------------------------------------------


def test_regular_weekday_is_open_hours_minus_lunch() -> None:
    day = make_calendar().hours_on(MONDAY, HOLIDAYS)
    assert day == DayHours(MONDAY, "regular", REGULAR)


def test_weekday_without_regular_hours_is_closed() -> None:
    day = make_calendar().hours_on(SUNDAY, HOLIDAYS)
    assert day.kind == "closed"
    assert day.is_closed
    assert "no regular hours" in day.reason


@pytest.mark.parametrize("holiday", [VN_HOLIDAY, CN_HOLIDAY])
def test_public_holiday_of_either_country_closes(holiday: date) -> None:
    day = make_calendar().hours_on(holiday, HOLIDAYS)
    assert day == DayHours(holiday, "closed", (), "public holiday")


def test_same_weekday_without_holiday_is_regular() -> None:
    day = make_calendar().hours_on(VN_HOLIDAY + timedelta(days=7), HOLIDAYS)
    assert day.kind == "regular"
    assert day.intervals == REGULAR


@pytest.mark.parametrize("holiday", [VN_HOLIDAY, CN_HOLIDAY])
def test_public_holiday_with_holiday_hours(holiday: date) -> None:
    cal = make_calendar(holidays=HolidayRule(open=time(8), close=time(12)))
    day = cal.hours_on(holiday, HOLIDAYS)
    assert day == DayHours(holiday, "holiday", (tr((8, 0), (12, 0)),), "public holiday")


def test_holidays_of_unobserved_country_are_ignored() -> None:
    cal = make_calendar(holidays=HolidayRule(observe=("VN",)))
    assert cal.hours_on(CN_HOLIDAY, HOLIDAYS).kind == "regular"
    assert cal.hours_on(VN_HOLIDAY, HOLIDAYS).kind == "closed"


def test_holiday_hours_apply_on_a_holiday_sunday() -> None:
    cal = make_calendar(holidays=HolidayRule(open=time(8), close=time(12)))
    day = cal.hours_on(SUNDAY, {"CN": {SUNDAY}})
    assert day.kind == "holiday"
    assert day.intervals == (tr((8, 0), (12, 0)),)


def test_extended_hours_override_regular_and_work_through_lunch() -> None:
    day = make_calendar(extended=(peak(),)).hours_on(MONDAY, HOLIDAYS)
    assert day == DayHours(MONDAY, "extended", (tr((6, 0), (22, 0)),), "fruit season")
    assert day.is_open_at(time(12))


def test_extended_hours_without_lunch_through_keep_the_regular_break() -> None:
    day = make_calendar(extended=(peak(lunch_through=False),)).hours_on(MONDAY, HOLIDAYS)
    assert day.kind == "extended"
    assert day.intervals == (tr((6, 0), (11, 30)), tr((13, 30), (22, 0)))


def test_extended_hours_without_lunch_through_on_day_without_regular_hours() -> None:
    day = make_calendar(extended=(peak(lunch_through=False),)).hours_on(SUNDAY, HOLIDAYS)
    assert day.kind == "extended"
    assert day.intervals == (tr((6, 0), (22, 0)),)


def test_extended_hours_apply_only_on_listed_weekdays() -> None:
    cal = make_calendar(extended=(peak(days=("mon", "tue", "wed", "thu", "fri")),))
    assert cal.hours_on(MONDAY, HOLIDAYS).kind == "extended"
    assert cal.hours_on(SATURDAY, HOLIDAYS) == DayHours(SATURDAY, "regular", REGULAR)
    assert cal.hours_on(SUNDAY, HOLIDAYS).kind == "closed"


@pytest.mark.parametrize(
    ("day", "kind"),
    [
        (date(2026, 10, 31), "regular"),
        (date(2026, 11, 2), "extended"),
        (date(2026, 11, 30), "extended"),
        (date(2026, 12, 1), "regular"),
    ],
)
def test_extended_hours_apply_only_inside_their_dates(day: date, kind: str) -> None:
    assert make_calendar(extended=(peak(),)).hours_on(day, HOLIDAYS).kind == kind


def test_extended_hours_do_not_apply_on_holiday_by_default() -> None:
    cal = make_calendar(extended=(peak(start_date=date(2026, 9, 1), end_date=date(2026, 9, 30)),))
    day = cal.hours_on(VN_HOLIDAY, HOLIDAYS)
    assert day == DayHours(VN_HOLIDAY, "closed", (), "public holiday")


def test_extended_hours_with_include_holidays_apply_on_holiday() -> None:
    ext = peak(start_date=date(2026, 9, 1), end_date=date(2026, 9, 30), include_holidays=True)
    day = make_calendar(extended=(ext,)).hours_on(VN_HOLIDAY, HOLIDAYS)
    assert day == DayHours(VN_HOLIDAY, "extended", (tr((6, 0), (22, 0)),), "fruit season")


def test_dated_exception_closed_wins_over_everything() -> None:
    cal = make_calendar(
        holidays=HolidayRule(open=time(8), close=time(12)),
        extended=(peak(start_date=date(2026, 9, 1), include_holidays=True),),
        exceptions=(
            DatedException(MONDAY, "state visit"),
            DatedException(VN_HOLIDAY, "flooding"),
        ),
    )
    assert cal.hours_on(MONDAY, HOLIDAYS) == DayHours(MONDAY, "closed", (), "state visit")
    assert cal.hours_on(VN_HOLIDAY, HOLIDAYS) == DayHours(VN_HOLIDAY, "closed", (), "flooding")
    assert cal.hours_on(MONDAY + timedelta(days=1), HOLIDAYS).kind == "extended"


def test_dated_exception_with_own_hours_and_break_wins_over_everything() -> None:
    exc = DatedException(
        VN_HOLIDAY, "backlog clearance", time(5), time(23), (tr((12, 0), (13, 0)),)
    )
    cal = make_calendar(
        extended=(peak(start_date=date(2026, 9, 1), include_holidays=True),), exceptions=(exc,)
    )
    day = cal.hours_on(VN_HOLIDAY, HOLIDAYS)
    assert day == DayHours(
        VN_HOLIDAY, "exception", (tr((5, 0), (12, 0)), tr((13, 0), (23, 0))), "backlog clearance"
    )


def test_dated_exception_opens_a_day_without_regular_hours() -> None:
    cal = make_calendar(exceptions=(DatedException(SUNDAY, "catch-up", time(8), time(12)),))
    assert cal.hours_on(SUNDAY, HOLIDAYS).intervals == (tr((8, 0), (12, 0)),)


def test_extended_hours_ending_before_two_regular_breaks() -> None:
    regular = WeeklyHours(("mon",), time(7), time(17), (LUNCH, tr((15, 0), (15, 15))))
    early = peak(open=time(5), close=time(11), lunch_through=False)
    cal = Calendar("c", (regular,), extended=(early,))
    assert cal.hours_on(MONDAY, NONE).intervals == (tr((5, 0), (11, 0)),)


def test_dated_exception_with_breaks_after_close_is_refused() -> None:
    with pytest.raises(ValueError, match="breaks must lie within"):
        DatedException(
            MONDAY, "half day", time(8), time(10), (tr((12, 0), (13, 0)), tr((14, 0), (15, 0)))
        )


# --- is_open at an instant --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        (datetime(2026, 11, 23, 0, 30, tzinfo=UTC), True),  # Mon 07:30 local
        (datetime(2026, 11, 23, 0, 0, tzinfo=UTC), True),  # Mon 07:00 local, opening
        (datetime(2026, 11, 22, 23, 59, tzinfo=UTC), False),  # Mon 06:59 local
        (datetime(2026, 11, 23, 5, 0, tzinfo=UTC), False),  # Mon 12:00 local, lunch
        (datetime(2026, 11, 23, 6, 30, tzinfo=UTC), True),  # Mon 13:30 local, after lunch
        (datetime(2026, 11, 23, 10, 0, tzinfo=UTC), False),  # Mon 17:00 local, closing
        (datetime(2026, 11, 28, 9, 59, tzinfo=UTC), True),  # Sat 16:59 local
        (datetime(2026, 11, 29, 3, 0, tzinfo=UTC), False),  # Sun 10:00 local
        (datetime(2026, 9, 2, 3, 0, tzinfo=UTC), False),  # VN National Day, 10:00 local
    ],
)
def test_is_open_uses_local_time(utc: datetime, expected: bool) -> None:
    assert make_calendar().is_open(utc, HOLIDAYS) is expected


def test_is_open_accepts_any_aware_offset() -> None:
    beijing = timezone(timedelta(hours=8))
    at = datetime(2026, 11, 23, 8, 30, tzinfo=beijing)  # 07:30 in Lang Son
    assert make_calendar().is_open(at, HOLIDAYS)
    assert not make_calendar().is_open(at.replace(hour=7, minute=30), HOLIDAYS)


def test_is_open_uses_the_calendar_timezone() -> None:
    at = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)  # Mon 06:30 in Hanoi, 07:30 in Shanghai
    assert not make_calendar().is_open(at, NONE)
    assert make_calendar(timezone="Asia/Shanghai").is_open(at, NONE)


def test_is_open_rejects_naive_datetime() -> None:
    naive = datetime(2026, 11, 23, 0, 30, tzinfo=UTC).replace(tzinfo=None)
    with pytest.raises(ValueError, match="timezone-aware"):
        make_calendar().is_open(naive, HOLIDAYS)


# --- property: regular hours minus breaks -----------------------------------------------------


def _t(minute: int) -> time:
    return time(minute // 60, minute % 60)


@st.composite
def weekly_hours(draw: st.DrawFn) -> tuple[int, int, list[tuple[int, int]]]:
    """Opening and closing minute of the day and breaks inside them (may overlap or touch)."""
    open_ = draw(st.integers(0, 1438))
    close = draw(st.integers(open_ + 1, 1439))
    breaks = []
    for _ in range(draw(st.integers(0, 4))):
        start = draw(st.integers(open_, close - 1))
        breaks.append((start, draw(st.integers(start + 1, close))))
    return open_, close, breaks


@FAST
@given(hours=weekly_hours())
def test_hours_on_intervals_are_ordered_inside_hours_and_exclude_breaks(
    hours: tuple[int, int, list[tuple[int, int]]],
) -> None:
    open_, close, breaks = hours
    regular = WeeklyHours(
        WEEKDAYS, _t(open_), _t(close), tuple(TimeRange(_t(s), _t(e)) for s, e in breaks)
    )
    day = Calendar("c", (regular,)).hours_on(MONDAY, NONE)

    assert day.kind == "regular"
    for r in day.intervals:
        assert _t(open_) <= r.start < r.end <= _t(close)
    for a, b in zip(day.intervals, day.intervals[1:], strict=False):
        assert a.end < b.start  # ordered, not overlapping, not merely touching
    # open/closed only changes at a boundary, so checking each boundary and the minute before
    # it decides every minute of the day
    bounds = {open_, close, *(m for b in breaks for m in b)}
    for minute in {0, 24 * 60 - 1} | bounds | {m - 1 for m in bounds if m}:
        in_break = any(s <= minute < e for s, e in breaks)
        expected = open_ <= minute < close and not in_break
        assert day.is_open_at(_t(minute)) is expected, _t(minute)
