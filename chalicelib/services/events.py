"""Meetups: create events on a challenge or a proposal, sign up and cancel with an exact
capacity and a waitlist in arrival order, the calendar file, and the seat e-mails (once per
seat)."""

from __future__ import annotations

import html
import logging
import secrets
from datetime import timedelta
from typing import Protocol

from chalicelib.domain.access import AdminScope
from chalicelib.domain.errors import (
    CapacityBelowConfirmedError,
    ChallengeNotFoundError,
    EventNotFoundError,
    EventPastError,
    InvalidFieldsError,
)
from chalicelib.domain.events import (
    EVENT_ID_PREFIX,
    MAX_CAPACITY,
    Event,
    EventDraft,
    Rsvp,
    RsvpStatus,
    RsvpView,
    SeatNotice,
)
from chalicelib.domain.model import Challenge, Principal
from chalicelib.domain.proposals import (
    Proposal,
    ProposalNotFoundError,
    ProposalNotPublicError,
    ProposalStatus,
)
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.event_ports import EventRepository
from chalicelib.services.ports import Clock, EmailMessage, Mailer

logger = logging.getLogger(__name__)

# How long a sender holds a seat e-mail before a redelivered stream record may try again.
SEAT_MAIL_LEASE = timedelta(minutes=5)

_SUBJECTS = {
    ("fr", False): "Votre place est confirmée : {title}",
    ("fr", True): "Une place s'est libérée pour vous : {title}",
    ("en", False): "Your place is confirmed: {title}",
    ("en", True): "A place opened up for you: {title}",
}
_BODIES = {
    "fr": "Rendez-vous le {when} (UTC), {place}.",
    "en": "See you on {when} (UTC), {place}.",
}


def _check_capacity(capacity: int) -> None:
    if not 1 <= capacity <= MAX_CAPACITY:
        raise InvalidFieldsError(
            "capacity out of range", {"capacity": f"must be between 1 and {MAX_CAPACITY}"}
        )


def seat_message(event: Event, rsvp: Rsvp, *, promoted: bool) -> EmailMessage:
    """The seat e-mail, in the person's language (French by default)."""
    if rsvp.email is None:
        raise ValueError("a seat e-mail needs an address")
    locale = rsvp.locale if rsvp.locale in ("fr", "en") else "fr"
    subject = _SUBJECTS[(locale, promoted)].format(title=event.title)
    text = _BODIES[locale].format(
        when=event.starts_at.strftime("%Y-%m-%d %H:%M"), place=event.place
    )
    return EmailMessage(
        to=rsvp.email,
        subject=subject,
        text=text,
        html=f"<p>{html.escape(text)}</p>",
    )


# A proposal takes meetups while everyone may see it.
_PUBLIC_PROPOSAL = (ProposalStatus.OPEN, ProposalStatus.ADOPTED)


class Proposals(Protocol):
    """What meetups need of proposals (services/proposals.ProposalService)."""

    def get_for_admin(self, proposal_id: str, scope: AdminScope) -> Proposal: ...

    def get_visible(self, proposal_id: str, principal: Principal | None) -> Proposal: ...


class EventService:
    def __init__(
        self,
        events: EventRepository,
        challenges: ChallengeService,
        mailer: Mailer,
        clock: Clock,
        proposals: Proposals | None = None,
    ) -> None:
        """`proposals`: for meetups on proposals (None: only on challenges)."""
        self._events = events
        self._challenges = challenges
        self._proposals = proposals
        self._mailer = mailer
        self._clock = clock

    # Admins

    def create(
        self, challenge_id: str, draft: EventDraft, scope: AdminScope
    ) -> tuple[Event, Challenge]:
        """The event, and its challenge (whose organisation the audit entry names)."""
        challenge = self._challenges.get_for_admin(challenge_id, scope)
        event = self._new_event(draft, challenge.organization_id, challenge_id=challenge.id)
        self._events.add(event)
        return event, challenge

    def create_on_proposal(self, proposal_id: str, draft: EventDraft, scope: AdminScope) -> Event:
        """An event on an open or adopted proposal: an org-admin's own organisation's only
        (another's, or one addressed to none, is not found), as approving it."""
        proposal = self._proposal_service().get_for_admin(proposal_id, scope)
        if proposal.status not in _PUBLIC_PROPOSAL:
            raise ProposalNotPublicError(proposal.id, proposal.status)
        event = self._new_event(draft, proposal.organization_id, proposal_id=proposal.id)
        self._events.add(event)
        return event

    def _new_event(
        self,
        draft: EventDraft,
        organization_id: str | None,
        *,
        challenge_id: str | None = None,
        proposal_id: str | None = None,
    ) -> Event:
        _check_capacity(draft.capacity)
        now = self._clock.now()
        if draft.starts_at <= now:
            raise InvalidFieldsError("the event must start in the future", {"starts_at": "past"})
        return Event(
            id=EVENT_ID_PREFIX + secrets.token_hex(8),
            challenge_id=challenge_id,
            proposal_id=proposal_id,
            organization_id=organization_id,
            title=draft.title,
            starts_at=draft.starts_at,
            place=draft.place,
            capacity=draft.capacity,
            created_at=now,
        )

    def _proposal_service(self) -> Proposals:
        if self._proposals is None:
            raise RuntimeError("this EventService was built without proposals")
        return self._proposals

    def set_capacity(self, event_id: str, capacity: int, scope: AdminScope) -> Event:
        _check_capacity(capacity)
        event = self._events.get(event_id)
        if event is None or not scope.covers(event.organization_id):
            raise EventNotFoundError(event_id)
        if self._events.set_capacity(event, capacity, self._clock.now()) is None:
            raise CapacityBelowConfirmedError(
                f"{capacity} places is fewer than the people already confirmed"
            )
        return self._get(event_id)

    # Everyone

    def _get(self, event_id: str) -> Event:
        event = self._events.get(event_id)
        if event is None:
            raise EventNotFoundError(event_id)
        return event

    def get_visible(self, event_id: str, principal: Principal | None) -> Event:
        """The event, if its challenge or proposal may be seen (else it is not found either)."""
        event = self._get(event_id)
        try:
            if event.challenge_id is not None:
                self._challenges.get_visible(event.challenge_id, principal, cached=True)
            elif event.proposal_id is not None:
                self._proposal_service().get_visible(event.proposal_id, principal)
        except (ChallengeNotFoundError, ProposalNotFoundError) as error:
            raise EventNotFoundError(event_id) from error
        return event

    def list_for_challenge(self, challenge_id: str, principal: Principal | None) -> list[Event]:
        challenge = self._challenges.get_visible(challenge_id, principal)
        return self._events.list_for_challenge(challenge.id)

    def list_for_proposal(self, proposal_id: str, principal: Principal | None) -> list[Event]:
        """A proposal's meetups, to whoever may see it (a pending one: its proposer and the
        admins who may decide it, and it has none)."""
        proposal = self._proposal_service().get_visible(proposal_id, principal)
        return self._events.list_for_proposal(proposal.id)

    # Participants

    def rsvp(self, event_id: str, principal: Principal) -> RsvpView:
        """Sign up (again: the same answer): a seat, or a place on the waitlist."""
        event = self.get_visible(event_id, principal)
        existing = self._events.get_rsvp(event.id, principal.sub)
        if existing is not None:
            return self._view(existing)
        now = self._clock.now()
        if event.has_started(now):
            raise EventPastError(f"event {event_id!r} has already started")
        email = principal.email if principal.email_verified else None
        stored = self._events.rsvp(
            event,
            Rsvp(
                event_id=event.id,
                participant_id=principal.sub,
                status=RsvpStatus.CONFIRMED,  # the repository decides: seat or queue
                seq=0,
                created_at=now,
                email=email,
                locale=principal.locale,
            ),
        )
        return self._view(stored)

    def my_rsvp(self, event_id: str, principal: Principal) -> RsvpView:
        event = self.get_visible(event_id, principal)
        rsvp = self._events.get_rsvp(event.id, principal.sub)
        if rsvp is None:
            raise EventNotFoundError(f"{event_id}/rsvp")
        return self._view(rsvp)

    def cancel(self, event_id: str, principal: Principal) -> None:
        """Cancel my sign-up (none: nothing happens); a freed seat goes to the first waiting."""
        event = self.get_visible(event_id, principal)
        if self._events.get_rsvp(event.id, principal.sub) is None:
            return
        if event.has_started(self._clock.now()):
            raise EventPastError(f"event {event_id!r} has already started")
        self._events.cancel(event, principal.sub, self._clock.now())

    def _view(self, rsvp: Rsvp) -> RsvpView:
        if rsvp.status is RsvpStatus.WAITLISTED:
            return RsvpView(rsvp, self._events.position(rsvp))
        return RsvpView(rsvp)

    def calendar(self, event_id: str, principal: Principal | None) -> bytes:
        from chalicelib.notify.calendar import event_calendar  # icalendar: only here

        return event_calendar(self.get_visible(event_id, principal))

    # Personal data

    def records(self, participant_id: str) -> list[Rsvp]:
        """The person's sign-ups, with the address each seat e-mail goes to."""
        return self._events.of_participant(participant_id)

    def erase(self, participant_id: str) -> int:
        """Cancel every sign-up of the person (started events too: the item holds their
        address); a freed seat goes to the first person waiting. How many there were."""
        return self._events.erase(participant_id, self._clock.now())

    # The outbox's stream

    def send_seat_mail(self, notice: SeatNotice) -> bool:
        """E-mail the seat this notice records, unless it was sent, given up, or has no
        address; True if it was sent now. A failure releases the claim and propagates, so
        the stream record is delivered again."""
        now = self._clock.now()
        rsvp = self._events.claim_seat_mail(notice, now, SEAT_MAIL_LEASE)
        if rsvp is None:
            return False
        event = self._events.get(notice.event_id)
        if event is None or rsvp.email is None:
            self._events.finish_seat_mail(notice, now, sent=True)  # nothing to send, ever
            return False
        try:
            self._mailer.send(seat_message(event, rsvp, promoted=notice.promoted))
        except Exception:
            self._events.finish_seat_mail(notice, now, sent=False)
            raise
        self._events.finish_seat_mail(notice, now, sent=True)
        return True
