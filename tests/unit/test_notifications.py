"""NotificationService: one sent e-mail per recipient and event, whatever retries and races."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.domain.model import (
    Channel,
    Delivery,
    DeliveryStatus,
    EventType,
    Metric,
    Milestone,
    RecipientRole,
    Target,
)
from chalicelib.services.notifications import (
    DELIVERY_LEASE,
    DeliveryRetryError,
    milestone_recipients,
)
from chalicelib.services.ports import EmailMessage
from tests.unit.support import BENEFICIARY, SPONSOR, Backend, build_backend

FOREVER = 10**6


def reached(backend: Backend) -> Milestone:
    """A challenge that has just reached its target, and the milestone the outbox holds."""
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 3))
    backend.pledge_many(challenge.id, 3)
    backend.progress.refresh(challenge.id)
    [milestone] = backend.db.milestones_for(challenge.id)
    return milestone


def log_by_role(backend: Backend, milestone: Milestone) -> dict[RecipientRole, Delivery]:
    return {
        delivery.recipient_role: delivery
        for delivery in backend.notifications.log(milestone.challenge_id)
    }


def test_reaching_sends_one_email_to_the_sponsor_and_one_to_the_beneficiary(
    backend: Backend,
) -> None:
    milestone = reached(backend)

    backend.notifications.notify(milestone)

    assert sorted(message.to for message in backend.mailer.sent) == sorted(
        [SPONSOR.email, BENEFICIARY.email]
    )
    log = backend.notifications.log(milestone.challenge_id)
    assert len(log) == 2
    for delivery in log:
        assert delivery.status is DeliveryStatus.SENT
        assert delivery.event is EventType.REACHED
        assert delivery.channel is Channel.EMAIL
        assert delivery.attempts == 1
        assert delivery.sent_at == backend.clock.now()
        assert delivery.created_at == backend.clock.now()
    assert {d.recipient_role: d.to for d in log} == {
        RecipientRole.SPONSOR: SPONSOR.email,
        RecipientRole.BENEFICIARY: BENEFICIARY.email,
    }


def test_a_redelivered_milestone_sends_nothing_more(backend: Backend) -> None:
    milestone = reached(backend)
    backend.notifications.notify(milestone)
    backend.later(minutes=10)

    backend.notifications.notify(milestone)
    backend.notifications.notify(milestone)

    assert len(backend.mailer.sent) == 2
    assert all(d.attempts == 1 for d in backend.notifications.log(milestone.challenge_id))


def test_a_milestone_of_a_deleted_challenge_is_dropped(backend: Backend) -> None:
    milestone = reached(backend)
    del backend.db.challenges[milestone.challenge_id]

    backend.notifications.notify(milestone)

    assert backend.mailer.sent == []


def test_failed_sends_are_retried_until_each_recipient_has_one_email(backend: Backend) -> None:
    milestone = reached(backend)
    backend.mailer.fail_next(2)

    with pytest.raises(DeliveryRetryError):
        backend.notifications.notify(milestone)

    log = log_by_role(backend, milestone)
    for delivery in log.values():
        assert delivery.status is DeliveryStatus.PENDING
        assert delivery.attempts == 1
        assert delivery.last_error is not None
        assert delivery.sent_at is None
    assert backend.mailer.sent == []

    backend.later(seconds=30)
    backend.notifications.notify(milestone)
    backend.notifications.notify(milestone)

    log = log_by_role(backend, milestone)
    assert all(d.status is DeliveryStatus.SENT for d in log.values())
    assert all(d.attempts == 2 for d in log.values())
    assert all(d.last_error is None for d in log.values())
    assert len(backend.mailer.sent_to(SPONSOR.email)) == 1
    assert len(backend.mailer.sent_to(BENEFICIARY.email)) == 1


def test_a_retry_only_sends_what_is_still_owed(backend: Backend) -> None:
    milestone = reached(backend)
    backend.mailer.fail_next(1)  # Only the first recipient's e-mail fails.

    with pytest.raises(DeliveryRetryError):
        backend.notifications.notify(milestone)
    assert len(backend.mailer.sent) == 1
    backend.notifications.notify(milestone)

    assert len(backend.mailer.sent_to(SPONSOR.email)) == 1
    assert len(backend.mailer.sent_to(BENEFICIARY.email)) == 1
    attempts = sorted(d.attempts for d in backend.notifications.log(milestone.challenge_id))
    assert attempts == [1, 2]


def test_a_delivery_that_keeps_failing_is_given_up_after_max_attempts() -> None:
    backend = build_backend(max_attempts=3)
    milestone = reached(backend)
    backend.mailer.fail_next(FOREVER)

    for _ in range(2):
        with pytest.raises(DeliveryRetryError):
            backend.notifications.notify(milestone)
        assert all(
            d.status is DeliveryStatus.PENDING
            for d in backend.notifications.log(milestone.challenge_id)
        )
    backend.notifications.notify(milestone)  # The last attempt: no more retries asked for.

    log = backend.notifications.log(milestone.challenge_id)
    assert [d.status for d in log] == [DeliveryStatus.FAILED] * 2
    assert [d.attempts for d in log] == [3, 3]
    assert backend.mailer.failures == 6

    backend.notifications.notify(milestone)
    assert backend.mailer.failures == 6
    assert backend.mailer.sent == []


def test_a_delivery_leased_by_another_sender_is_retried_later(backend: Backend) -> None:
    milestone = reached(backend)
    challenge = backend.stored(milestone.challenge_id)
    sponsor, beneficiary = milestone_recipients(milestone, challenge)
    # Another notifier took the sponsor's delivery and is still within its lease.
    taken = backend.delivery_repository.claim(
        sponsor, now=backend.clock.now(), lease=DELIVERY_LEASE
    )
    assert isinstance(taken, Delivery)

    backend.later(seconds=DELIVERY_LEASE.total_seconds() - 1)
    # Not "done": the holder may have died, so the stream must bring the event back.
    with pytest.raises(DeliveryRetryError):
        backend.notifications.notify(milestone)

    assert [message.to for message in backend.mailer.sent] == [beneficiary.to]
    log = log_by_role(backend, milestone)
    assert log[RecipientRole.SPONSOR].status is DeliveryStatus.PENDING
    assert log[RecipientRole.SPONSOR].attempts == 1

    # The other sender vanished: once its lease has expired the delivery is taken over.
    backend.later(seconds=2)
    backend.notifications.notify(milestone)

    assert len(backend.mailer.sent_to(SPONSOR.email)) == 1
    log = log_by_role(backend, milestone)
    assert log[RecipientRole.SPONSOR].status is DeliveryStatus.SENT
    assert log[RecipientRole.SPONSOR].attempts == 2


def test_concurrent_notifiers_send_one_email_per_recipient(backend: Backend) -> None:
    milestone = reached(backend)
    threads = 8
    start = threading.Barrier(threads)

    def slow_send(_: EmailMessage) -> None:
        # Keep a sender busy so the other notifiers meet a held lease, not a sent delivery.
        time.sleep(0.005)

    backend.mailer.on_send = slow_send

    def notify() -> None:
        start.wait()
        # A notifier that meets a held lease asks for a retry; that is expected here.
        with contextlib.suppress(DeliveryRetryError):
            backend.notifications.notify(milestone)

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(notify) for _ in range(threads)]:
            future.result()
    # Once the holders are done, a redelivery finds nothing left to send.
    backend.notifications.notify(milestone)

    assert len(backend.mailer.sent_to(SPONSOR.email)) == 1
    assert len(backend.mailer.sent_to(BENEFICIARY.email)) == 1
    assert len(backend.mailer.sent) == 2
    log = backend.notifications.log(milestone.challenge_id)
    assert [(d.status, d.attempts) for d in log] == [(DeliveryStatus.SENT, 1)] * 2


def test_delivery_ids_are_stable_across_redeliveries(backend: Backend) -> None:
    milestone = reached(backend)
    challenge = backend.stored(milestone.challenge_id)
    first = [d.id for d in milestone_recipients(milestone, challenge)]
    backend.later(hours=1)
    again = [
        d.id
        for d in milestone_recipients(
            Milestone(
                milestone.challenge_id,
                milestone.event,
                backend.clock.now(),
                milestone.totals,
                reached=True,
            ),
            challenge,
        )
    ]

    assert first == again
    assert len(set(first)) == 2
    assert all(delivery_id.startswith("ntf_") for delivery_id in first)


def test_the_lease_is_released_after_a_failed_send(backend: Backend) -> None:
    milestone = reached(backend)
    backend.mailer.fail_next(2)

    with pytest.raises(DeliveryRetryError):
        backend.notifications.notify(milestone)

    for delivery in backend.notifications.log(milestone.challenge_id):
        assert backend.delivery_repository.lease_until(delivery) is None
    # No waiting for the lease: the stream's immediate retry can send at once.
    backend.notifications.notify(milestone)
    assert len(backend.mailer.sent) == 2
