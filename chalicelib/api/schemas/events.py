"""Meetups: an event, its counts, and a person's sign-up (no one else's personal data)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chalicelib.api.schemas.common import Instant, Text, Timestamp, _Body
from chalicelib.domain.events import MAX_CAPACITY, Event, Rsvp, RsvpStatus, RsvpView

MAX_EVENT_TITLE = 200
MAX_PLACE = 300
Capacity = Annotated[int, Field(ge=1, le=MAX_CAPACITY)]


class EventIn(_Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Repair café: the first evening",
                    "starts_at": "2099-05-14T18:30:00+02:00",
                    "place": "Bibliothèque, 1 rue de la Liberté, Clichy",
                    "capacity": 40,
                }
            ]
        }
    )

    title: Annotated[Text, StringConstraints(max_length=MAX_EVENT_TITLE)]
    starts_at: Instant = Field(description="when it starts, with its UTC offset; in the future")
    place: Annotated[Text, StringConstraints(max_length=MAX_PLACE)]
    capacity: Capacity


class CapacityIn(_Body):
    capacity: Capacity = Field(
        description="not below the people already confirmed (409); a raise gives the new "
        "seats to the first people waiting"
    )


class EventOut(BaseModel):
    id: str
    challenge_id: str | None = Field(
        default=None, description="the challenge it is on (null: it is on a proposal)"
    )
    proposal_id: str | None = Field(
        default=None, description="the proposal it is on (null: it is on a challenge)"
    )
    title: str
    starts_at: Timestamp
    place: str
    capacity: int
    confirmed: int = Field(description="people with a seat")
    waitlisted: int = Field(description="people waiting for a seat")
    calendar_url: str = Field(description="the event as an iCalendar file")

    @classmethod
    def from_event(cls, event: Event) -> EventOut:
        return cls(
            id=event.id,
            challenge_id=event.challenge_id,
            proposal_id=event.proposal_id,
            title=event.title,
            starts_at=event.starts_at,
            place=event.place,
            capacity=event.capacity,
            confirmed=event.confirmed,
            waitlisted=event.waiting,
            calendar_url=f"/events/{event.id}/calendar.ics",
        )


class EventList(BaseModel):
    items: list[EventOut]


class RsvpOut(BaseModel):
    event_id: str
    status: Literal["confirmed", "waitlisted"]
    position: int | None = Field(
        default=None, description="waitlisted: the place in the queue (1: next to get a seat)"
    )
    signed_up_at: Timestamp
    email_confirmation: bool = Field(
        description="whether a seat is e-mailed (to the token's verified e-mail)"
    )

    @classmethod
    def from_view(cls, view: RsvpView) -> RsvpOut:
        rsvp = view.rsvp
        status: Literal["confirmed", "waitlisted"] = (
            "confirmed" if rsvp.status.value == "confirmed" else "waitlisted"
        )
        return cls(
            event_id=rsvp.event_id,
            status=status,
            position=view.position,
            signed_up_at=rsvp.created_at,
            email_confirmation=rsvp.email is not None,
        )


class RsvpExport(BaseModel):
    """A sign-up as held for the participant (GET /me/export)."""

    event_id: str
    status: Literal["confirmed", "waitlisted"]
    signed_up_at: Timestamp
    confirmed_at: Timestamp | None
    email: str | None = Field(description="the verified address the seat e-mail goes to")
    locale: str | None

    @classmethod
    def from_rsvp(cls, rsvp: Rsvp) -> RsvpExport:
        status: Literal["confirmed", "waitlisted"] = (
            "confirmed" if rsvp.status is RsvpStatus.CONFIRMED else "waitlisted"
        )
        return cls(
            event_id=rsvp.event_id,
            status=status,
            signed_up_at=rsvp.created_at,
            confirmed_at=rsvp.confirmed_at,
            email=rsvp.email,
            locale=rsvp.locale,
        )
