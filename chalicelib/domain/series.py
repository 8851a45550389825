"""Pledges over time: pledges made and withdrawn per hour, counted from the pledges stream,
and the per-day series of a report built from them (never from the pledges themselves)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib.domain.sponsor_report import DayFigures

HOUR_FORMAT = "%Y-%m-%dT%H"


def hour_key(moment: datetime) -> str:
    """The UTC hour a moment falls in, as stored ("2026-12-02T17"): hours, not days, so a
    report can show days in any time zone."""
    return moment.astimezone(UTC).strftime(HOUR_FORMAT)


def hour_start(key: str) -> datetime:
    # fromisoformat rather than strptime: cheaper, and no module to load on a first report.
    return datetime.fromisoformat(f"{key}:00+00:00")


@dataclass(frozen=True)
class HourCount:
    """Pledges made and withdrawn on one challenge in one UTC hour."""

    hour: datetime
    made: int
    withdrawn: int


def days_from_hours(hours: Iterable[HourCount], time_zone: ZoneInfo) -> tuple[DayFigures, ...]:
    """Per calendar day in `time_zone`: pledges made and withdrawn, and live pledges at the
    day's end; every day from the first to the last with any change, quiet days included."""
    made: dict[date, int] = defaultdict(int)
    withdrawn: dict[date, int] = defaultdict(int)
    for count in hours:
        day = count.hour.astimezone(time_zone).date()
        made[day] += count.made
        withdrawn[day] += count.withdrawn
    if not made and not withdrawn:
        return ()
    days = sorted({*made, *withdrawn})
    figures: list[DayFigures] = []
    cumulative = 0
    day = days[0]
    while day <= days[-1]:
        cumulative += made.get(day, 0) - withdrawn.get(day, 0)
        figures.append(DayFigures(day, made.get(day, 0), withdrawn.get(day, 0), cumulative))
        day += timedelta(days=1)
    return tuple(figures)


def merge_hours(*series: Iterable[HourCount]) -> list[HourCount]:
    """Several challenges' hours added up (a campaign's pledges over time)."""
    made: dict[datetime, int] = defaultdict(int)
    withdrawn: dict[datetime, int] = defaultdict(int)
    for counts in series:
        for count in counts:
            made[count.hour] += count.made
            withdrawn[count.hour] += count.withdrawn
    return [HourCount(hour, made[hour], withdrawn[hour]) for hour in sorted(made)]
