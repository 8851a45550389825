"""Meetups on fakes: exact capacity, the waitlist in arrival order, one promotion per freed
seat (also under concurrent cancellations), one seat e-mail each, past events, capacity."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import pytest

from chalicelib.domain.access import PLATFORM, AdminScope
from chalicelib.domain.errors import (
    CapacityBelowConfirmedError,
    ChallengeNotFoundError,
    EventNotFoundError,
    EventPastError,
    InvalidFieldsError,
)
from chalicelib.domain.events import Event, EventDraft, RsvpStatus, SeatNotice
from chalicelib.domain.model import Principal
from chalicelib.notify.calendar import event_calendar
from chalicelib.services.events import EventService
from chalicelib.services.ports import MailerError
from tests.unit.fake_events import FakeEventRepository
from tests.unit.support import Backend, build_backend


@dataclass
class Meetups:
    backend: Backend
    repository: FakeEventRepository
    service: EventService

    def event(self, capacity: int, challenge_id: str | None = None) -> Event:
        if challenge_id is None:
            challenge_id = self.backend.live_challenge().id
        starts = self.backend.clock.now() + timedelta(days=7)
        draft = EventDraft("Repair café", starts, "12 rue des Lilas, Lyon", capacity)
        return self.service.create(challenge_id, draft, PLATFORM)[0]

    def drain_mail(self) -> None:
        for notice in list(self.repository.outbox):
            self.service.send_seat_mail(notice)


def person(n: int) -> Principal:
    return Principal(sub=f"person-{n:04d}", email=f"p{n}@example.org", email_verified=True)


@pytest.fixture
def meetups() -> Meetups:
    backend = build_backend()
    repository = FakeEventRepository()
    service = EventService(repository, backend.challenges, backend.mailer, backend.clock)
    return Meetups(backend, repository, service)


def test_seats_then_waitlist_in_arrival_order(meetups: Meetups) -> None:
    event = meetups.event(capacity=2)
    views = [meetups.service.rsvp(event.id, person(n)) for n in range(5)]
    assert [v.rsvp.status for v in views] == [RsvpStatus.CONFIRMED] * 2 + [
        RsvpStatus.WAITLISTED
    ] * 3
    assert [v.position for v in views[2:]] == [1, 2, 3]
    again = meetups.service.rsvp(event.id, person(3))
    assert again.position == 2
    stored = meetups.repository.get(event.id)
    assert stored is not None
    assert (stored.confirmed, stored.waiting) == (2, 3)


def test_cancellation_promotes_the_first_waiting_once(meetups: Meetups) -> None:
    event = meetups.event(capacity=1)
    for n in range(3):
        meetups.service.rsvp(event.id, person(n))
    meetups.drain_mail()
    meetups.service.cancel(event.id, person(0))
    meetups.service.cancel(event.id, person(0))  # a retry changes nothing
    assert meetups.service.my_rsvp(event.id, person(1)).rsvp.status is RsvpStatus.CONFIRMED
    assert meetups.service.my_rsvp(event.id, person(2)).position == 1
    meetups.drain_mail()
    meetups.drain_mail()  # redelivered stream records send nothing more
    sent = Counter(m.to for m in meetups.backend.mailer.sent)
    assert sent == {"p0@example.org": 1, "p1@example.org": 1}
    promoted = meetups.backend.mailer.sent_to("p1@example.org")[0]
    assert "libérée" in promoted.subject


def test_concurrent_signups_never_exceed_capacity(meetups: Meetups) -> None:
    event = meetups.event(capacity=50)
    barrier = threading.Barrier(20)

    def sign_up(first: int) -> None:
        barrier.wait()
        for n in range(first, 500, 20):
            meetups.service.rsvp(event.id, person(n))

    threads = [threading.Thread(target=sign_up, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = Counter(r.status for r in meetups.repository.rsvps.values())
    assert statuses == {RsvpStatus.CONFIRMED: 50, RsvpStatus.WAITLISTED: 450}
    waiting = sorted(
        (r for r in meetups.repository.rsvps.values() if r.status is RsvpStatus.WAITLISTED),
        key=lambda r: r.seq,
    )
    confirmed = [r for r in meetups.repository.rsvps.values() if r.status is RsvpStatus.CONFIRMED]
    meetups.drain_mail()
    cancelled = confirmed[:10]
    cancel_threads = [
        threading.Thread(
            target=meetups.service.cancel,
            args=(event.id, Principal(sub=r.participant_id)),
        )
        for r in cancelled
        for _ in range(2)  # each cancellation twice, at once: a retry
    ]
    for thread in cancel_threads:
        thread.start()
    for thread in cancel_threads:
        thread.join()
    first_ten = {r.participant_id for r in waiting[:10]}
    now_confirmed = {
        r.participant_id
        for r in meetups.repository.rsvps.values()
        if r.status is RsvpStatus.CONFIRMED
    }
    assert first_ten <= now_confirmed
    assert len(now_confirmed) == 50
    stored = meetups.repository.get(event.id)
    assert stored is not None
    assert (stored.confirmed, stored.waiting) == (50, 440)
    meetups.drain_mail()
    # One per seat: the 50 first, then the 10 promoted; a seat cancelled before its e-mail
    # went out gets none.
    assert len(meetups.backend.mailer.sent) == 60


def test_past_event_refuses_signups(meetups: Meetups) -> None:
    event = meetups.event(capacity=5)
    meetups.backend.clock.advance(days=8)
    with pytest.raises(EventPastError):
        meetups.service.rsvp(event.id, person(1))


def test_capacity_changes(meetups: Meetups) -> None:
    event = meetups.event(capacity=2)
    for n in range(4):
        meetups.service.rsvp(event.id, person(n))
    with pytest.raises(CapacityBelowConfirmedError):
        meetups.service.set_capacity(event.id, 1, PLATFORM)
    raised = meetups.service.set_capacity(event.id, 3, PLATFORM)
    assert (raised.capacity, raised.confirmed, raised.waiting) == (3, 3, 1)
    assert meetups.service.my_rsvp(event.id, person(2)).rsvp.status is RsvpStatus.CONFIRMED
    with pytest.raises(InvalidFieldsError):
        meetups.service.set_capacity(event.id, 0, PLATFORM)


def test_org_admins_only_reach_their_own_challenges(meetups: Meetups) -> None:
    challenge = meetups.backend.live_challenge()
    other = AdminScope("org_other")
    draft = EventDraft("x", meetups.backend.clock.now() + timedelta(days=1), "here", 3)
    with pytest.raises(ChallengeNotFoundError):
        meetups.service.create(challenge.id, draft, other)
    event = meetups.event(capacity=3, challenge_id=challenge.id)
    with pytest.raises(EventNotFoundError):
        meetups.service.set_capacity(event.id, 4, other)


def test_start_in_the_past_is_refused(meetups: Meetups) -> None:
    challenge = meetups.backend.live_challenge()
    draft = EventDraft("x", meetups.backend.clock.now() - timedelta(days=1), "here", 3)
    with pytest.raises(InvalidFieldsError):
        meetups.service.create(challenge.id, draft, PLATFORM)


def test_seat_notice_keys_round_trip() -> None:
    notice = SeatNotice("ch_1", "evt_1", "google|a#b", 7, True)
    assert SeatNotice.from_key("ch_1", notice.key) == notice


def test_calendar_file(meetups: Meetups) -> None:
    event = meetups.event(capacity=3)
    text = event_calendar(event).decode()
    assert "BEGIN:VEVENT" in text
    assert "SUMMARY:Repair café" in text
    assert f"UID:{event.id}@crowdact.org" in text


def test_a_failed_send_is_retried_and_then_sent_once(meetups: Meetups) -> None:
    event = meetups.event(capacity=1)
    meetups.service.rsvp(event.id, person(1))
    notice = meetups.repository.outbox[0]
    meetups.backend.mailer.fail_next(1)
    with pytest.raises(MailerError):
        meetups.service.send_seat_mail(notice)
    assert meetups.service.send_seat_mail(notice) is True
    assert meetups.service.send_seat_mail(notice) is False
    assert len(meetups.backend.mailer.sent_to("p1@example.org")) == 1


def test_no_verified_address_no_mail(meetups: Meetups) -> None:
    event = meetups.event(capacity=1)
    view = meetups.service.rsvp(event.id, Principal(sub="anon", email="a@x.org"))
    assert view.rsvp.email is None
    assert meetups.service.send_seat_mail(meetups.repository.outbox[0]) is False
    assert meetups.backend.mailer.sent == []
