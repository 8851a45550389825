"""What the meetup service needs from storage: events with their seat counter, and RSVPs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from chalicelib.domain.events import Event, Rsvp, SeatNotice


@dataclass(frozen=True)
class Promotion:
    """Who left and who, first in the queue, took the seat (None: nobody was waiting)."""

    cancelled: Rsvp
    promoted: Rsvp | None = None


class EventRepository(Protocol):
    def add(self, event: Event) -> None: ...

    def get(self, event_id: str) -> Event | None:
        """The event with its current counts (a consistent read)."""
        ...

    def list_for_challenge(self, challenge_id: str) -> list[Event]:
        """A challenge's events, soonest first."""
        ...

    def list_for_proposal(self, proposal_id: str) -> list[Event]:
        """A proposal's events, soonest first."""
        ...

    def set_capacity(self, event: Event, capacity: int, now: datetime) -> list[Rsvp] | None:
        """Change the capacity; None (nothing changed) if it is below the confirmed count.
        A raise promotes the first people waiting into the new seats; they are returned."""
        ...

    def rsvp(self, event: Event, rsvp: Rsvp) -> Rsvp:
        """Sign up: a seat if one is free and nobody waits, else the end of the queue. Returns
        the stored sign-up (the existing one if the person had signed up already)."""
        ...

    def get_rsvp(self, event_id: str, participant_id: str) -> Rsvp | None: ...

    def position(self, rsvp: Rsvp) -> int:
        """A waitlisted sign-up's place in the queue (1: next to be promoted)."""
        ...

    def cancel(self, event: Event, participant_id: str, now: datetime) -> Promotion | None:
        """Cancel a sign-up; a freed seat goes to the first person waiting, in the same
        write. None if the person had no sign-up (a retry after success)."""
        ...

    def of_participant(self, participant_id: str) -> list[Rsvp]:
        """One person's sign-ups, for their export and erasure."""
        ...

    def erase(self, participant_id: str, now: datetime) -> int:
        """Cancel every sign-up of this person (promoting whoever waits); how many."""
        ...

    def claim_seat_mail(self, notice: SeatNotice, now: datetime, lease: timedelta) -> Rsvp | None:
        """Take the right to send this seat's e-mail: the sign-up (with its address) if it is
        still this confirmed seat, unmailed and not leased to another sender; else None."""
        ...

    def finish_seat_mail(self, notice: SeatNotice, now: datetime, *, sent: bool) -> None:
        """Record the e-mail as sent, or release the lease so a redelivery tries again."""
        ...
