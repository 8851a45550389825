"""Pledges over time: hour keys, the per-day series of a report in its time zone, and the
hours of several challenges added up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.series import HourCount, days_from_hours, hour_key, hour_start, merge_hours
from chalicelib.domain.sponsor_report import DayFigures

PARIS = ZoneInfo("Europe/Paris")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def hour(moment: datetime, made: int = 0, withdrawn: int = 0) -> HourCount:
    """The count of the UTC hour `moment` falls in, as the tallies store it."""
    return HourCount(hour_start(hour_key(moment)), made, withdrawn)


# --- hour keys ----------------------------------------------------------------------------------


def test_an_hour_key_is_the_utc_hour_whatever_the_moments_zone() -> None:
    assert hour_key(utc(2026, 1, 15, 23, 30)) == "2026-01-15T23"
    assert hour_key(datetime(2026, 1, 16, 0, 30, tzinfo=PARIS)) == "2026-01-15T23"
    assert hour_start("2026-01-15T23") == utc(2026, 1, 15, 23)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_an_hour_starts_at_most_an_hour_before_its_moments(naive: datetime) -> None:
    moment = naive.replace(tzinfo=UTC)
    start = hour_start(hour_key(moment))
    assert start <= moment < start + timedelta(hours=1)
    assert (start.minute, start.second, start.microsecond) == (0, 0, 0)


# --- days in a time zone ------------------------------------------------------------------------


def test_23_30_utc_is_the_next_day_in_paris() -> None:
    # Winter: Paris is UTC+1, so 23:30 UTC on 15 January is 00:30 on the 16th; 22:59 is not.
    days = days_from_hours(
        [hour(utc(2026, 1, 15, 22, 59), made=2), hour(utc(2026, 1, 15, 23, 30), made=3)], PARIS
    )
    assert days == (
        DayFigures(date(2026, 1, 15), 2, 0, 2),
        DayFigures(date(2026, 1, 16), 3, 0, 5),
    )
    # In UTC, both are the 15th.
    assert days_from_hours(
        [hour(utc(2026, 1, 15, 22, 59), made=2), hour(utc(2026, 1, 15, 23, 30), made=3)],
        ZoneInfo("UTC"),
    ) == (DayFigures(date(2026, 1, 15), 5, 0, 5),)


def test_summer_time_moves_the_day_boundary_to_22_00_utc() -> None:
    days = days_from_hours(
        [hour(utc(2026, 7, 1, 21, 59), made=1), hour(utc(2026, 7, 1, 22, 0), made=1)], PARIS
    )
    assert [d.day for d in days] == [date(2026, 7, 1), date(2026, 7, 2)]


def test_the_day_summer_time_starts_has_23_hours() -> None:
    # 29 March 2026 in Paris: from 23:00 UTC on the 28th to 22:00 UTC on the 29th.
    hours = [hour(utc(2026, 3, 28, 23) + timedelta(hours=n), made=1) for n in range(24)]
    days = days_from_hours(hours, PARIS)
    assert days == (
        DayFigures(date(2026, 3, 29), 23, 0, 23),
        DayFigures(date(2026, 3, 30), 1, 0, 24),
    )


def test_quiet_days_are_filled_with_zeros_and_carry_the_cumulative() -> None:
    days = days_from_hours(
        [
            hour(utc(2026, 6, 1, 8), made=4),
            hour(utc(2026, 6, 4, 12), made=1, withdrawn=2),
        ],
        PARIS,
    )
    assert days == (
        DayFigures(date(2026, 6, 1), 4, 0, 4),
        DayFigures(date(2026, 6, 2), 0, 0, 4),
        DayFigures(date(2026, 6, 3), 0, 0, 4),
        DayFigures(date(2026, 6, 4), 1, 2, 3),
    )


def test_withdrawals_lower_the_cumulative_and_a_day_may_only_withdraw() -> None:
    days = days_from_hours(
        [
            hour(utc(2026, 6, 2, 9), withdrawn=1),
            hour(utc(2026, 6, 1, 9), made=3),  # in any order
            hour(utc(2026, 6, 1, 15), made=2, withdrawn=1),
            hour(utc(2026, 6, 3, 9), withdrawn=4),
        ],
        PARIS,
    )
    assert days == (
        DayFigures(date(2026, 6, 1), 5, 1, 4),
        DayFigures(date(2026, 6, 2), 0, 1, 3),
        DayFigures(date(2026, 6, 3), 0, 4, -1),
    )


def test_no_hours_make_no_days() -> None:
    assert days_from_hours([], PARIS) == ()


@given(
    st.lists(st.tuples(st.integers(0, 24 * 60), st.integers(0, 5), st.integers(0, 5)), max_size=40)
)
def test_days_add_up_to_the_hours_with_no_day_missing(
    counts: list[tuple[int, int, int]],
) -> None:
    start = utc(2026, 3, 1)
    hours = [HourCount(start + timedelta(hours=h), made, gone) for h, made, gone in counts]
    days = days_from_hours(hours, PARIS)
    assert sum(d.new_pledges for d in days) == sum(h.made for h in hours)
    assert sum(d.withdrawals for d in days) == sum(h.withdrawn for h in hours)
    if days:
        assert [d.day for d in days] == [days[0].day + timedelta(days=n) for n in range(len(days))]
        assert days[-1].cumulative == sum(h.made - h.withdrawn for h in hours)
        running = 0
        for day in days:
            running += day.new_pledges - day.withdrawals
            assert day.cumulative == running


# --- several challenges -----------------------------------------------------------------------


def test_merge_hours_adds_up_each_hour_in_order() -> None:
    nine, ten, eleven = utc(2026, 6, 1, 9), utc(2026, 6, 1, 10), utc(2026, 6, 1, 11)
    cycling = [HourCount(nine, 2, 0), HourCount(eleven, 1, 1)]
    walking = [HourCount(ten, 0, 3), HourCount(nine, 1, 1)]
    assert merge_hours(cycling, walking, []) == [
        HourCount(nine, 3, 1),
        HourCount(ten, 0, 3),
        HourCount(eleven, 1, 1),
    ]
    assert merge_hours() == []
    assert merge_hours(cycling) == cycling


def test_merged_hours_make_the_same_days_as_all_hours_together() -> None:
    one = [HourCount(utc(2026, 1, 15, 23), 2, 0), HourCount(utc(2026, 1, 17, 8), 0, 1)]
    two = [HourCount(utc(2026, 1, 15, 23), 1, 0), HourCount(utc(2026, 1, 15, 12), 5, 0)]
    assert days_from_hours(merge_hours(one, two), PARIS) == days_from_hours([*one, *two], PARIS)
