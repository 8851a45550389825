"""The fakes keep the DynamoDB repositories' promises, or the service tests would prove nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.errors import ChallengeExistsError
from chalicelib.domain.model import (
    Channel,
    Delivery,
    DeliveryStatus,
    EventType,
    Metric,
    Milestone,
    Pledge,
    RecipientRole,
    Target,
    Totals,
)
from chalicelib.services.pledges import PledgeRequest
from chalicelib.services.ports import ClaimRefused, EmailMessage, MailerError
from tests.unit.fakes import FakeClock, FakeMailer
from tests.unit.support import Backend, participant

LEASE = timedelta(seconds=90)


def test_save_totals_only_stores_a_higher_version(backend: Backend) -> None:
    challenge = backend.live_challenge()
    repository = backend.challenge_repository

    assert repository.save_totals(challenge.id, Totals(5, 0, 7))
    assert not repository.save_totals(challenge.id, Totals(3, 0, 6))
    assert not repository.save_totals(challenge.id, Totals(9, 0, 7))
    assert not repository.save_totals("ch_missing", Totals(1, 0, 1))
    assert backend.stored(challenge.id).totals == Totals(5, 0, 7)


def test_adding_an_existing_challenge_fails(backend: Backend) -> None:
    challenge = backend.live_challenge()

    with pytest.raises(ChallengeExistsError):
        backend.challenge_repository.add(challenge.with_changes(title="Other"))
    assert backend.stored(challenge.id).title == challenge.title


def test_record_milestone_needs_the_stored_target_met_and_writes_once(backend: Backend) -> None:
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 10))
    now = backend.clock.now()
    short = Milestone(challenge.id, EventType.REACHED, now, Totals(9, 0, 9), reached=True)
    met = Milestone(challenge.id, EventType.REACHED, now, Totals(10, 0, 10), reached=True)
    repository = backend.challenge_repository

    assert not repository.record_milestone(challenge, short)
    assert not backend.stored(challenge.id).reached
    # A caller holding an older, lower target is still judged on the stored one.
    assert not repository.record_milestone(
        challenge.with_changes(target=Target(Metric.PARTICIPANTS, 9)), short
    )
    assert repository.record_milestone(challenge, met)
    assert not repository.record_milestone(challenge, met)
    assert backend.stored(challenge.id).reached_at == now
    assert backend.db.milestones_for(challenge.id) == [met]


def test_pledges_are_counted_in_their_shard_with_the_insert(backend: Backend) -> None:
    challenge = backend.live_challenge()
    pledge_repository = backend.pledge_repository

    lea = participant("lea")
    outcome = backend.pledges.pledge(lea, challenge.id, PledgeRequest())
    assert outcome.created
    assert not pledge_repository.add(outcome.pledge, 0)
    assert len(backend.db.pledges) == 1
    assert backend.counted(challenge.id) == 1
    assert pledge_repository.remove(challenge.id, lea.sub)
    assert not pledge_repository.remove(challenge.id, lea.sub)
    assert backend.counter_repository.totals(challenge.id, 4).version == 2


def test_a_request_token_applies_its_write_once_like_dynamodb(backend: Backend) -> None:
    challenge = backend.live_challenge()
    repository = backend.pledge_repository
    pledge = Pledge(challenge.id, "lea", backend.clock.now())

    assert repository.add(pledge, 1, request_token="t-add")
    # The same write under the same token: success, nothing applied again.
    assert repository.add(pledge, 1, request_token="t-add")
    assert backend.counted(challenge.id) == 1
    # The same token with other parameters is not a replay: applied (here: refused, since
    # the pledge exists), as the DynamoDB repository does after IdempotentParameterMismatch.
    assert not repository.add(replace(pledge, area="u09tv"), 1, request_token="t-add")
    assert repository.remove(challenge.id, "lea", request_token="t-remove")
    assert repository.remove(challenge.id, "lea", request_token="t-remove")
    assert not repository.remove(challenge.id, "lea", request_token="t-other")
    assert backend.counted(challenge.id) == 0
    tokens = ["t-add", "t-add", "t-add", "t-remove", "t-remove", "t-other"]
    assert repository.request_tokens == tokens


def test_a_request_token_whose_write_failed_applies_it_when_retried(backend: Backend) -> None:
    challenge = backend.live_challenge()
    repository = backend.pledge_repository
    pledge = Pledge(challenge.id, "lea", backend.clock.now())

    assert not repository.remove(challenge.id, "lea", request_token="t-1")  # nothing yet
    assert repository.add(pledge, 1)
    assert repository.remove(challenge.id, "lea", request_token="t-1")

    assert backend.counted(challenge.id) == 0


def delivery(challenge_id: str = "ch_1") -> Delivery:
    return Delivery(
        challenge_id=challenge_id,
        event=EventType.REACHED,
        recipient_role=RecipientRole.SPONSOR,
        channel=Channel.EMAIL,
        recipient_key="sponsor",
        to="sponsor@example.org",
    )


def test_a_delivery_is_claimable_when_new_pending_and_unleased(backend: Backend) -> None:
    deliveries = backend.delivery_repository
    now = backend.clock.now()

    first = deliveries.claim(delivery(), now=now, lease=LEASE)
    assert isinstance(first, Delivery)
    assert (first.attempts, first.status, first.created_at) == (1, DeliveryStatus.PENDING, now)
    held = deliveries.claim(delivery(), now=now + LEASE, lease=LEASE)
    assert held is ClaimRefused.HELD

    retaken = deliveries.claim(delivery(), now=now + LEASE + timedelta(seconds=1), lease=LEASE)
    assert isinstance(retaken, Delivery)
    assert (retaken.attempts, retaken.created_at) == (2, now)
    # The first sender lost its lease: what it records now is ignored (fencing).
    deliveries.mark_sent(first, now=now)
    assert deliveries.list_for_challenge("ch_1")[0].status is DeliveryStatus.PENDING

    deliveries.mark_failed(retaken, error="boom", final=False)
    again = deliveries.claim(delivery(), now=now + LEASE, lease=LEASE)
    assert isinstance(again, Delivery)
    assert (again.attempts, again.last_error) == (3, "boom")

    deliveries.mark_sent(again, now=now)
    settled = deliveries.claim(delivery(), now=now + 10 * LEASE, lease=LEASE)
    assert settled is ClaimRefused.SETTLED
    [stored] = deliveries.list_for_challenge("ch_1")
    assert (stored.status, stored.attempts, stored.sent_at) == (DeliveryStatus.SENT, 3, now)


def test_a_failed_delivery_is_never_claimed_again(backend: Backend) -> None:
    deliveries = backend.delivery_repository
    now = backend.clock.now()
    claimed = deliveries.claim(delivery(), now=now, lease=LEASE)
    assert isinstance(claimed, Delivery)

    deliveries.mark_failed(claimed, error="x" * 600, final=True)

    settled = deliveries.claim(delivery(), now=now + 10 * LEASE, lease=LEASE)
    assert settled is ClaimRefused.SETTLED
    [stored] = deliveries.list_for_challenge("ch_1")
    assert stored.status is DeliveryStatus.FAILED
    assert stored.last_error == "x" * 500
    assert deliveries.list_for_challenge("ch_2") == []


def test_the_clock_moves_only_when_told_and_stays_utc() -> None:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))

    assert clock.now() == clock.now() == datetime(2026, 1, 1, tzinfo=UTC)
    assert clock.advance(minutes=90) == datetime(2026, 1, 1, 1, 30, tzinfo=UTC)
    assert clock.now().tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2026, 1, 1))  # a naive datetime: the point of the test


def test_the_mailer_fails_exactly_the_next_n_sends() -> None:
    mailer = FakeMailer()
    message = EmailMessage(to="a@example.org", subject="s", text="t", html="h")
    mailer.fail_next(2)

    for _ in range(2):
        with pytest.raises(MailerError):
            mailer.send(message)
    assert mailer.send(message) == "msg-1"
    assert mailer.sent == [message]
    assert mailer.failures == 2
