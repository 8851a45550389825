"""The demo's dates that move with today: the repair session is always in the coming week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.local.demo import next_saturday_morning


def test_the_repair_session_is_on_the_coming_saturday_morning() -> None:
    # Every weekday, at the last minute of the day: Friday night gives the next morning.
    for day in range(14):
        now = datetime(2026, 12, 1, 23, 59, tzinfo=UTC) + timedelta(days=day)
        starts = next_saturday_morning(now)
        assert starts.weekday() == 5
        assert (starts.hour, starts.minute) == (9, 0)
        assert now < starts <= now + timedelta(days=7)
