"""Meetup routes: admins create events on a challenge or a proposal and change their
capacity; people sign up and cancel; anyone who may see the challenge or proposal sees its
events and their calendar file.

The calendar is `/events/{event_id}/calendar.ics`, not `/events/{event_id}.ics`: API Gateway
(and Chalice's router) only take a path parameter that is a whole segment, so `{id}.ics`
could never be matched (docs/decisions.md 134–144)."""

from __future__ import annotations

from typing import Any

from chalice.app import Response

from chalicelib.api.routing import ApiRequest, endpoint
from chalicelib.api.schemas.events import CapacityIn, EventIn, EventList, EventOut, RsvpOut
from chalicelib.domain.events import EventDraft

EVENT_CREATE = "event.create"
EVENT_CAPACITY = "event.set_capacity"
CALENDAR = "text/calendar"


@endpoint(
    "/admin/challenges/{challenge_id}/events",
    "POST",
    summary="Create a meetup on a challenge (org-admins: their organisation's challenges)",
    auth="admin",
    tag="admin",
    response=EventOut,
    status=201,
    body=EventIn,
    errors=(404,),
    audit=EVENT_CREATE,
)
def create_event(request: ApiRequest[EventIn, Any], challenge_id: str) -> EventOut:
    body = request.body
    event, challenge = request.container.events.create(
        challenge_id,
        EventDraft(body.title, body.starts_at, body.place, body.capacity),
        request.scope,
    )
    request.audit_note.organization_id = challenge.organization_id
    return EventOut.from_event(event)


@endpoint(
    "/admin/proposals/{proposal_id}/events",
    "POST",
    summary="Create a meetup on an open or adopted proposal (409 for a pending or rejected "
    "one; org-admins: proposals addressed to their organisation)",
    auth="admin",
    tag="admin",
    response=EventOut,
    status=201,
    body=EventIn,
    errors=(404, 409),
    audit=EVENT_CREATE,
)
def create_proposal_event(request: ApiRequest[EventIn, Any], proposal_id: str) -> EventOut:
    body = request.body
    event = request.container.events.create_on_proposal(
        proposal_id,
        EventDraft(body.title, body.starts_at, body.place, body.capacity),
        request.scope,
    )
    request.audit_note.organization_id = event.organization_id
    return EventOut.from_event(event)


@endpoint(
    "/admin/events/{event_id}",
    "PATCH",
    summary="Change a meetup's capacity: not below the people confirmed (409); a raise "
    "gives the new seats to the first people waiting",
    auth="admin",
    tag="admin",
    response=EventOut,
    body=CapacityIn,
    errors=(404, 409),
    audit=EVENT_CAPACITY,
)
def set_capacity(request: ApiRequest[CapacityIn, Any], event_id: str) -> EventOut:
    event = request.container.events.set_capacity(event_id, request.body.capacity, request.scope)
    request.audit_note.organization_id = event.organization_id
    return EventOut.from_event(event)


@endpoint(
    "/challenges/{challenge_id}/events",
    "GET",
    summary="A challenge's meetups, soonest first, with their counts",
    auth="optional",
    response=EventList,
    errors=(404,),
)
def list_events(request: ApiRequest[Any, Any], challenge_id: str) -> EventList:
    events = request.container.events.list_for_challenge(challenge_id, request.principal)
    return EventList(items=[EventOut.from_event(e) for e in events])


@endpoint(
    "/proposals/{proposal_id}/events",
    "GET",
    summary="A proposal's meetups, soonest first, with their counts",
    auth="optional",
    response=EventList,
    errors=(404,),
)
def list_proposal_events(request: ApiRequest[Any, Any], proposal_id: str) -> EventList:
    events = request.container.events.list_for_proposal(proposal_id, request.principal)
    return EventList(items=[EventOut.from_event(e) for e in events])


@endpoint(
    "/events/{event_id}",
    "GET",
    summary="A meetup, with how many people have a seat and how many wait",
    auth="optional",
    response=EventOut,
    errors=(404,),
)
def get_event(request: ApiRequest[Any, Any], event_id: str) -> EventOut:
    return EventOut.from_event(request.container.events.get_visible(event_id, request.principal))


@endpoint(
    "/events/{event_id}/calendar.ics",
    "GET",
    summary="A meetup as an iCalendar file",
    auth="optional",
    response=None,
    errors=(404,),
    files=(CALENDAR,),
)
def event_calendar(request: ApiRequest[Any, Any], event_id: str) -> Response:
    body = request.container.events.calendar(event_id, request.principal)
    return Response(
        body=body.decode(),
        status_code=200,
        headers={
            "Content-Type": f"{CALENDAR}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{event_id}.ics"',
        },
    )


@endpoint(
    "/events/{event_id}/rsvp",
    "PUT",
    summary="Sign up for a meetup: a seat if one is free, else the waitlist in arrival "
    "order (again: the same answer); the seat is e-mailed to the token's verified e-mail",
    auth="participant",
    response=RsvpOut,
    errors=(404, 409),
    tag="participant",
)
def rsvp(request: ApiRequest[Any, Any], event_id: str) -> RsvpOut:
    return RsvpOut.from_view(request.container.events.rsvp(event_id, request.caller))


@endpoint(
    "/events/{event_id}/rsvp",
    "GET",
    summary="My sign-up for a meetup, with my place on the waitlist (404: none)",
    auth="participant",
    response=RsvpOut,
    errors=(404,),
    tag="participant",
)
def my_rsvp(request: ApiRequest[Any, Any], event_id: str) -> RsvpOut:
    return RsvpOut.from_view(request.container.events.my_rsvp(event_id, request.caller))


@endpoint(
    "/events/{event_id}/rsvp",
    "DELETE",
    summary="Cancel my sign-up (204 also when I had none); a freed seat goes to the first "
    "person waiting, who is e-mailed",
    auth="participant",
    response=None,
    status=204,
    errors=(404, 409),
    tag="participant",
)
def cancel_rsvp(request: ApiRequest[Any, Any], event_id: str) -> None:
    request.container.events.cancel(event_id, request.caller)
