"""An event as an iCalendar (RFC 5545) file, made with the `icalendar` library."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar
from icalendar import Event as CalendarEvent

from chalicelib.domain.events import Event

PRODUCT_ID = "-//crowdact//meetups//EN"
# The API knows when a meetup starts, not when it ends: calendars get a two-hour slot.
DEFAULT_DURATION = timedelta(hours=2)


def event_calendar(event: Event) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    entry = CalendarEvent()
    entry.add("uid", f"{event.id}@crowdact.org")
    entry.add("dtstamp", event.created_at)
    entry.add("dtstart", event.starts_at)
    entry.add("dtend", event.starts_at + DEFAULT_DURATION)
    entry.add("summary", event.title)
    entry.add("location", event.place)
    calendar.add_component(entry)
    return bytes(calendar.to_ical())


def prepare() -> None:
    """Render one calendar, so that icalendar's own lazy imports happen now (local warm-up)."""
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    event_calendar(Event("evt_warm", "ch_warm", None, "Warm", moment, "Here", 1, moment))
