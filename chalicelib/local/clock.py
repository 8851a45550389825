"""The local stack's clock: the system's, which the demo may set back while it writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class ShiftedClock:
    """The system clock, moved back by `offset` while the demo writes the past of its weeks
    (the stack's container runs on it; the offset is zero once the demo is loaded)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) - self.offset
