"""One contract for the event repository, run on the in-memory fake and on DynamoDB (moto):
seats, the queue in arrival order, promotion once, capacity changes, the seat e-mail claim;
and, on the embedded (serialising) moto server, 500 concurrent sign-ups for 50 places."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from moto import mock_aws

from chalicelib.domain.events import Event, Rsvp, RsvpStatus, SeatNotice
from chalicelib.local import moto_fixes
from chalicelib.local.embedded_aws import EmbeddedAws
from chalicelib.services.event_ports import EventRepository
from chalicelib.settings import Settings
from chalicelib.storage.events import DynamoEventRepository, seat_notice_from_stream_image
from chalicelib.storage.tables import ChallengeEventItem, create_tables
from chalicelib.wiring import build_container
from tests.functional.conftest import served_container
from tests.unit.fake_events import FakeEventRepository

NOW = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
LEASE = timedelta(minutes=5)


@pytest.fixture(params=["fakes", "dynamodb"])
def repository(request: pytest.FixtureRequest) -> Iterator[EventRepository]:
    if request.param == "fakes":
        yield FakeEventRepository()
        return
    settings: Settings = request.getfixturevalue("env")
    moto_fixes.apply()
    with mock_aws():
        build_container(settings)
        create_tables()
        yield DynamoEventRepository()


def event(capacity: int, n: int = 1) -> Event:
    return Event(
        id=f"evt_{n:04d}",
        challenge_id="ch_1",
        organization_id=None,
        title="Repair café",
        starts_at=NOW + timedelta(days=3),
        place="Lyon",
        capacity=capacity,
        created_at=NOW,
    )


def signup(event_id: str, n: int) -> Rsvp:
    return Rsvp(
        event_id=event_id,
        participant_id=f"person-{n:04d}",
        status=RsvpStatus.CONFIRMED,
        seq=0,
        created_at=NOW,
        email=f"p{n}@example.org",
        locale="en",
    )


def statuses(repository: EventRepository, event_id: str, people: range) -> list[str]:
    found = [repository.get_rsvp(event_id, f"person-{n:04d}") for n in people]
    return [r.status.value if r else "-" for r in found]


def test_seats_then_queue_then_promotion(repository: EventRepository) -> None:
    repository.add(event(2))
    first = event(2)
    stored = [repository.rsvp(first, signup(first.id, n)) for n in range(5)]
    assert [r.status for r in stored] == [RsvpStatus.CONFIRMED] * 2 + [RsvpStatus.WAITLISTED] * 3
    assert repository.rsvp(first, signup(first.id, 3)) == stored[3]  # again: the same
    assert [repository.position(r) for r in stored[2:]] == [1, 2, 3]
    promotion = repository.cancel(first, "person-0000", NOW)
    assert promotion is not None
    assert promotion.promoted is not None
    assert promotion.promoted.participant_id == "person-0002"
    assert repository.cancel(first, "person-0000", NOW) is None
    leaving = repository.cancel(first, "person-0003", NOW)  # a waiting person leaves
    assert leaving is not None
    assert leaving.promoted is None
    assert statuses(repository, first.id, range(5)) == [
        "-",
        "confirmed",
        "confirmed",
        "-",
        "waitlisted",
    ]
    current = repository.get(first.id)
    assert current is not None
    assert (current.confirmed, current.waiting) == (2, 1)
    assert repository.position(stored[4]) == 1


def test_events_are_listed_by_what_they_are_on(repository: EventRepository) -> None:
    on_challenge = event(5, 1)
    later = replace(event(5, 2), challenge_id=None, proposal_id="prop_1")
    sooner = replace(later, id="evt_0003", starts_at=later.starts_at - timedelta(days=1))
    for made in (on_challenge, later, sooner):
        repository.add(made)
    assert [e.id for e in repository.list_for_challenge("ch_1")] == ["evt_0001"]
    assert [e.id for e in repository.list_for_proposal("prop_1")] == ["evt_0003", "evt_0002"]
    assert repository.get("evt_0002") == later
    # A sign-up works as on a challenge's event.
    repository.rsvp(later, signup(later.id, 1))
    assert repository.get_rsvp(later.id, "person-0001") is not None
    assert repository.list_for_proposal("prop_missing") == []


def test_capacity_changes_promote_into_new_seats(repository: EventRepository) -> None:
    repository.add(event(1))
    first = event(1)
    for n in range(4):
        repository.rsvp(first, signup(first.id, n))
    assert repository.set_capacity(first, 0, NOW) is None
    promoted = repository.set_capacity(first, 3, NOW)
    assert promoted is not None
    assert [r.participant_id for r in promoted] == ["person-0001", "person-0002"]
    current = repository.get(first.id)
    assert current is not None
    assert (current.capacity, current.confirmed, current.waiting) == (
        3,
        3,
        1,
    )
    assert repository.set_capacity(first, 3, NOW) == []


def test_the_seat_mail_is_claimed_once(repository: EventRepository) -> None:
    repository.add(event(1))
    first = event(1)
    seat = repository.rsvp(first, signup(first.id, 1))
    notice = SeatNotice("ch_1", first.id, seat.participant_id, seat.seq, False)
    claimed = repository.claim_seat_mail(notice, NOW, LEASE)
    assert claimed is not None
    assert claimed.email == "p1@example.org"
    assert repository.claim_seat_mail(notice, NOW, LEASE) is None  # leased
    repository.finish_seat_mail(notice, NOW, sent=False)
    assert repository.claim_seat_mail(notice, NOW, LEASE) is not None  # released
    repository.finish_seat_mail(notice, NOW, sent=True)
    assert repository.claim_seat_mail(notice, NOW + 2 * LEASE, LEASE) is None  # sent
    waiting = repository.rsvp(first, signup(first.id, 2))
    queued = SeatNotice("ch_1", first.id, waiting.participant_id, waiting.seq, True)
    assert repository.claim_seat_mail(queued, NOW, LEASE) is None  # no seat yet


def test_personal_data_is_found_and_erased(repository: EventRepository) -> None:
    for n in (1, 2):
        repository.add(event(1, n))
        repository.rsvp(event(1, n), signup(event(1, n).id, 7))
        repository.rsvp(event(1, n), signup(event(1, n).id, 8))
    assert {r.event_id for r in repository.of_participant("person-0007")} == {
        "evt_0001",
        "evt_0002",
    }
    assert repository.erase("person-0007", NOW) == 2
    assert repository.of_participant("person-0007") == []
    assert statuses(repository, "evt_0001", range(7, 9)) == ["-", "confirmed"]


# --- 500 sign-ups at once on the embedded moto server ----------------------------------------


@pytest.fixture
def container_on_moto(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    yield from served_container(aws, monkeypatch)


def test_concurrent_signups_and_cancellations_on_moto(container_on_moto: object) -> None:
    repository = DynamoEventRepository()
    meetup = event(50)
    repository.add(meetup)
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(lambda n: repository.rsvp(meetup, signup(meetup.id, n)), range(500)))
    people = range(500)
    counted = Counter(statuses(repository, meetup.id, people))
    assert counted == {"confirmed": 50, "waitlisted": 450}
    found = [repository.get_rsvp(meetup.id, f"person-{n:04d}") for n in people]
    rsvps = [r for r in found if r is not None]
    waiting = sorted((r for r in rsvps if r.status is RsvpStatus.WAITLISTED), key=lambda r: r.seq)
    confirmed = [r.participant_id for r in rsvps if r.status is RsvpStatus.CONFIRMED]
    leaving = confirmed[:10]
    # Each cancellation twice at once (a client retry): still one promotion each.
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(lambda p: repository.cancel(meetup, p, NOW), leaving * 2))
    after = Counter(statuses(repository, meetup.id, people))
    assert after == {"confirmed": 50, "waitlisted": 440, "-": 10}
    promoted = {r.participant_id for r in waiting[:10]}
    assert all(
        (r := repository.get_rsvp(meetup.id, p)) is not None and r.status is RsvpStatus.CONFIRMED
        for p in promoted
    )
    current = repository.get(meetup.id)
    assert current is not None
    assert (current.confirmed, current.waiting) == (50, 440)
    notices = [
        seat_notice_from_stream_image(item.serialize())
        for item in ChallengeEventItem.query("ch_1", consistent_read=True)
    ]
    assert Counter(n.promoted for n in notices) == {False: 50, True: 10}
    assert len({(n.participant_id, n.seq) for n in notices}) == 60
