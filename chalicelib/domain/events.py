"""Meetups: an event on a challenge or a proposal with a capacity, its sign-ups (RSVPs) and
its waitlist."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

EVENT_ID_PREFIX = "evt_"
MAX_CAPACITY = 100_000


class RsvpStatus(Enum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"


@dataclass(frozen=True)
class Event:
    """A meetup; `confirmed` and `waiting` are the counts the seat counter holds.

    Invariant kept by every write: `confirmed <= capacity`, and people wait only while every
    seat is taken (`waiting > 0` implies `confirmed == capacity`)."""

    id: str
    challenge_id: str | None  # the challenge it is on; None: it is on `proposal_id`
    organization_id: str | None
    title: str
    starts_at: datetime
    place: str
    capacity: int
    created_at: datetime
    confirmed: int = 0
    waiting: int = 0
    proposal_id: str | None = None  # the proposal it is on, when not on a challenge

    def __post_init__(self) -> None:
        if (self.challenge_id is None) == (self.proposal_id is None):
            raise ValueError(f"event {self.id} must be on a challenge or on a proposal")

    @property
    def owner_id(self) -> str:
        """The challenge's or proposal's id: where its seat notices sit in the outbox."""
        return self.challenge_id or self.proposal_id or ""

    def has_started(self, now: datetime) -> bool:
        return now >= self.starts_at


@dataclass(frozen=True)
class Rsvp:
    """One person's sign-up: a seat, or a place in the queue (`seq`: arrival order)."""

    event_id: str
    participant_id: str
    status: RsvpStatus
    seq: int
    created_at: datetime
    email: str | None = None  # private: where the confirmation goes
    locale: str | None = None
    confirmed_at: datetime | None = None


@dataclass(frozen=True)
class RsvpView:
    """A person's sign-up as they see it: waitlisted ones with their position (1 = next)."""

    rsvp: Rsvp
    position: int | None = None


@dataclass(frozen=True)
class EventDraft:
    title: str
    starts_at: datetime
    place: str
    capacity: int


SEAT_NOTICE_PREFIX = "seat#"


@dataclass(frozen=True)
class SeatNotice:
    """An outbox entry written in the same transaction that gave someone a seat: its stream
    record is what makes the seat e-mail go out (once: see `EventService.send_seat_mail`)."""

    challenge_id: str
    event_id: str
    participant_id: str
    seq: int
    promoted: bool

    @property
    def key(self) -> str:
        kind = "promoted" if self.promoted else "confirmed"
        return f"{SEAT_NOTICE_PREFIX}{self.event_id}#{self.participant_id}#{self.seq}#{kind}"

    @classmethod
    def from_key(cls, challenge_id: str, key: str) -> SeatNotice:
        if not is_seat_notice_key(key):
            raise ValueError(f"{key!r} is not a seat notice")
        # Event ids never hold a '#'; a participant id (a token's sub) might.
        event_id, rest = key[len(SEAT_NOTICE_PREFIX) :].split("#", 1)
        participant_id, seq, kind = rest.rsplit("#", 2)
        return cls(challenge_id, event_id, participant_id, int(seq), kind == "promoted")


def is_seat_notice_key(key: str) -> bool:
    return key.startswith(SEAT_NOTICE_PREFIX) and key.count("#") >= 4
