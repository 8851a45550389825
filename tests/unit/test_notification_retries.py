"""Provider errors retried on the spot with backoff and jitter, and every try in the log."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.model import Delivery, DeliveryStatus, Metric, Milestone, Target
from chalicelib.notify.email import JinjaEmailRenderer
from chalicelib.services.notifications import (
    DELIVERY_LEASE,
    RETRY_WINDOW,
    DeliveryRetryError,
    NotificationService,
    milestone_recipients,
)
from chalicelib.services.ports import EmailMessage, MailerError
from chalicelib.services.retry import RetryPolicy
from tests.unit.fakes import FakeClock
from tests.unit.support import BENEFICIARY, SPONSOR, Backend, build_backend

THROTTLED = MailerError("Throttling: Maximum sending rate exceeded.")
REJECTED = MailerError("MessageRejected: Email address is not verified.", retryable=False)


class RecordingRandom:
    """Draws the upper bound times `fraction`, and remembers each range it was asked for."""

    def __init__(self, fraction: float = 1.0) -> None:
        self.fraction = fraction
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return a + (b - a) * self.fraction


class FakeSleeper:
    """Sleeps by moving the fake clock, never for real; `during` runs inside a sleep."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.delays: list[float] = []
        self.during: Callable[[], None] | None = None

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.clock.advance(seconds=seconds)
        if self.during is not None:
            self.during()


class ScriptedMailer:
    """Fails each address with its scripted errors, in order, then sends."""

    def __init__(self, clock: FakeClock, **script: list[Exception]) -> None:
        self.clock = clock
        self.script = {address: list(errors) for address, errors in script.items()}
        self.tries: list[str] = []
        self.sent: list[EmailMessage] = []
        self.seconds_per_try = 0.0

    def fail(self, address: str, *errors: Exception) -> None:
        self.script.setdefault(address, []).extend(errors)

    def send(self, message: EmailMessage) -> str:
        self.tries.append(message.to)
        self.clock.advance(seconds=self.seconds_per_try)
        errors = self.script.get(message.to)
        if errors:
            raise errors.pop(0)
        self.sent.append(message)
        return f"msg-{len(self.sent)}"

    def sent_to(self, address: str) -> int:
        return sum(1 for message in self.sent if message.to == address)


class Notifier:
    """The notification service over the unit fakes, with a retry policy that never sleeps."""

    def __init__(self, *, max_attempts: int = 5, attempts: int = 3, fraction: float = 1.0) -> None:
        self.backend: Backend = build_backend(max_attempts=max_attempts)
        self.clock = self.backend.clock
        self.mailer = ScriptedMailer(self.clock)
        self.random = RecordingRandom(fraction)
        self.sleeper = FakeSleeper(self.clock)
        self.policy = RetryPolicy(attempts=attempts, rng=self.random, sleep=self.sleeper)
        self.service = NotificationService(
            self.backend.challenge_repository,
            self.backend.delivery_repository,
            self.mailer,
            JinjaEmailRenderer(),
            self.clock,
            max_attempts=max_attempts,
            retry=self.policy,
        )

    def reached(self) -> Milestone:
        challenge = self.backend.live_challenge(target=Target(Metric.PARTICIPANTS, 1))
        self.backend.pledge_many(challenge.id, 1)
        self.backend.progress.refresh(challenge.id)
        [milestone] = self.backend.db.milestones_for(challenge.id)
        return milestone

    def log(self, milestone: Milestone) -> dict[str, Delivery]:
        return {d.to: d for d in self.service.log(milestone.challenge_id)}


# --- the policy --------------------------------------------------------------------------------


def test_backoff_doubles_from_the_base_up_to_the_cap_with_full_jitter() -> None:
    drawn = RecordingRandom(fraction=0.5)
    policy = RetryPolicy(attempts=7, base=0.2, cap=2.0, rng=drawn)

    delays = list(policy.delays())

    assert drawn.ranges == [(0, 0.2), (0, 0.4), (0, 0.8), (0, 1.6), (0, 2.0), (0, 2.0)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert policy.worst_case_delay == pytest.approx(7.0)


@given(seed=st.integers(), attempts=st.integers(1, 8))
def test_every_delay_lies_between_zero_and_its_ceiling(seed: int, attempts: int) -> None:
    policy = RetryPolicy(attempts=attempts, rng=random.Random(seed))
    again = RetryPolicy(attempts=attempts, rng=random.Random(seed))

    delays = list(policy.delays())

    assert len(delays) == attempts - 1
    assert all(0 <= delay <= policy.ceiling(n) for n, delay in enumerate(delays))
    assert sum(delays) <= policy.worst_case_delay
    assert delays == list(again.delays())  # A seeded source makes the waits reproducible.


def test_the_default_policy_waits_well_inside_the_lease_and_the_retry_window() -> None:
    policy = RetryPolicy()

    assert policy.attempts == 3
    assert policy.worst_case_delay == pytest.approx(0.6)
    assert policy.worst_case_delay < DELIVERY_LEASE.total_seconds() / 4
    assert policy.worst_case_delay < RETRY_WINDOW.total_seconds() < DELIVERY_LEASE.total_seconds()


@pytest.mark.parametrize(
    "settings",
    [{"attempts": 0}, {"base": -0.1}, {"base": 1.0, "cap": 0.5}],
)
def test_a_policy_that_makes_no_sense_is_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="invalid retry policy"):
        RetryPolicy(**settings)


# --- the notifier ------------------------------------------------------------------------------


def test_ses_failing_then_succeeding_within_one_invocation_sends_once() -> None:
    notifier = Notifier(attempts=3, fraction=0.75)
    milestone = notifier.reached()
    notifier.mailer.fail(SPONSOR.email, THROTTLED, THROTTLED)

    notifier.service.notify(milestone)  # No retry asked of the stream.

    assert notifier.mailer.sent_to(SPONSOR.email) == 1
    assert notifier.mailer.sent_to(BENEFICIARY.email) == 1
    assert notifier.mailer.tries.count(SPONSOR.email) == 3
    # Full jitter below a ceiling that doubles: 0.2 s, then 0.4 s.
    assert notifier.random.ranges == [(0, 0.2), (0, 0.4)]
    assert notifier.sleeper.delays == pytest.approx([0.15, 0.3])
    log = notifier.log(milestone)
    assert (log[SPONSOR.email].status, log[SPONSOR.email].attempts) == (DeliveryStatus.SENT, 3)
    assert log[SPONSOR.email].last_error is None
    assert log[SPONSOR.email].sent_at == notifier.clock.now()
    assert (log[BENEFICIARY.email].status, log[BENEFICIARY.email].attempts) == (
        DeliveryStatus.SENT,
        1,
    )


def test_each_failed_try_is_in_the_log_as_it_happens() -> None:
    notifier = Notifier(attempts=3)
    milestone = notifier.reached()
    notifier.mailer.fail(SPONSOR.email, THROTTLED, THROTTLED)
    seen: list[tuple[DeliveryStatus, int, str | None]] = []

    def look_at_the_log() -> None:
        sponsor = notifier.log(milestone)[SPONSOR.email]
        assert notifier.backend.delivery_repository.lease_until(sponsor) is None
        seen.append((sponsor.status, sponsor.attempts, sponsor.last_error))

    notifier.sleeper.during = look_at_the_log

    notifier.service.notify(milestone)

    # While waiting, the delivery is pending, unleased, with the last error and try count.
    assert seen == [
        (DeliveryStatus.PENDING, 1, str(THROTTLED)),
        (DeliveryStatus.PENDING, 2, str(THROTTLED)),
    ]


def test_failing_every_try_leaves_the_delivery_to_the_stream_which_sends_it_later() -> None:
    notifier = Notifier(attempts=3)
    milestone = notifier.reached()
    notifier.mailer.fail(SPONSOR.email, *[THROTTLED] * 4)

    with pytest.raises(DeliveryRetryError, match="sponsor"):
        notifier.service.notify(milestone)

    log = notifier.log(milestone)
    assert (log[SPONSOR.email].status, log[SPONSOR.email].attempts) == (DeliveryStatus.PENDING, 3)
    assert log[SPONSOR.email].last_error == str(THROTTLED)
    assert notifier.backend.delivery_repository.lease_until(log[SPONSOR.email]) is None
    assert len(notifier.sleeper.delays) == 2
    assert notifier.mailer.sent_to(SPONSOR.email) == 0

    notifier.clock.advance(seconds=1)
    notifier.service.notify(milestone)  # The stream's redelivery: one failure left, then sent.

    log = notifier.log(milestone)
    assert (log[SPONSOR.email].status, log[SPONSOR.email].attempts) == (DeliveryStatus.SENT, 5)
    assert notifier.mailer.sent_to(SPONSOR.email) == 1
    assert notifier.mailer.sent_to(BENEFICIARY.email) == 1
    notifier.service.notify(milestone)
    assert len(notifier.mailer.sent) == 2


def test_max_attempts_counts_every_try_and_ends_in_failed() -> None:
    notifier = Notifier(max_attempts=4, attempts=3)
    milestone = notifier.reached()
    notifier.mailer.fail(SPONSOR.email, *[THROTTLED] * 100)

    with pytest.raises(DeliveryRetryError):
        notifier.service.notify(milestone)
    notifier.service.notify(milestone)  # The 4th try is the last one: no retry asked for.

    log = notifier.log(milestone)
    assert (log[SPONSOR.email].status, log[SPONSOR.email].attempts) == (DeliveryStatus.FAILED, 4)
    assert notifier.mailer.tries.count(SPONSOR.email) == 4
    assert len(notifier.sleeper.delays) == 2  # None after the try that gave up.
    notifier.service.notify(milestone)
    assert notifier.mailer.tries.count(SPONSOR.email) == 4


def test_a_permanent_error_fails_the_delivery_for_good_at_once() -> None:
    notifier = Notifier(attempts=3)
    milestone = notifier.reached()
    notifier.mailer.fail(SPONSOR.email, REJECTED)

    notifier.service.notify(milestone)  # Nothing left to retry: the stream is not asked to.

    log = notifier.log(milestone)
    assert (log[SPONSOR.email].status, log[SPONSOR.email].attempts) == (DeliveryStatus.FAILED, 1)
    assert log[SPONSOR.email].last_error == str(REJECTED)
    assert notifier.sleeper.delays == []
    assert notifier.random.ranges == []
    assert log[BENEFICIARY.email].status is DeliveryStatus.SENT
    notifier.service.notify(milestone)
    assert notifier.mailer.tries.count(SPONSOR.email) == 1


def test_an_unexpected_error_is_not_retried_on_the_spot() -> None:
    notifier = Notifier(attempts=3)
    milestone = notifier.reached()
    notifier.mailer.fail(SPONSOR.email, TimeoutError("read timed out"))

    with pytest.raises(DeliveryRetryError):
        notifier.service.notify(milestone)

    assert notifier.mailer.tries.count(SPONSOR.email) == 1
    assert notifier.sleeper.delays == []
    log = notifier.log(milestone)
    assert (log[SPONSOR.email].status, log[SPONSOR.email].attempts) == (DeliveryStatus.PENDING, 1)
    assert log[SPONSOR.email].last_error == "read timed out"

    notifier.service.notify(milestone)  # The stream's redelivery.
    assert notifier.mailer.sent_to(SPONSOR.email) == 1


def test_a_provider_slow_to_fail_is_left_to_the_stream_after_the_retry_window() -> None:
    notifier = Notifier(attempts=5)
    milestone = notifier.reached()
    notifier.mailer.fail(SPONSOR.email, *[THROTTLED] * 5)
    notifier.mailer.seconds_per_try = RETRY_WINDOW.total_seconds() * 0.9

    with pytest.raises(DeliveryRetryError):
        notifier.service.notify(milestone)

    # The second try started inside the window; a third would have started after it.
    assert notifier.mailer.tries.count(SPONSOR.email) == 2
    assert len(notifier.sleeper.delays) == 1
    assert notifier.log(milestone)[SPONSOR.email].attempts == 2


def test_a_sender_that_takes_the_delivery_during_the_backoff_keeps_it() -> None:
    notifier = Notifier(attempts=3)
    milestone = notifier.reached()
    notifier.mailer.fail(SPONSOR.email, THROTTLED)
    sponsor, _ = milestone_recipients(milestone, notifier.backend.stored(milestone.challenge_id))
    taken: list[Delivery] = []

    def another_notifier_claims() -> None:
        claimed = notifier.backend.delivery_repository.claim(
            sponsor, now=notifier.clock.now(), lease=DELIVERY_LEASE
        )
        assert isinstance(claimed, Delivery)
        taken.append(claimed)

    notifier.sleeper.during = another_notifier_claims

    with pytest.raises(DeliveryRetryError):
        notifier.service.notify(milestone)

    # This notifier stepped back: only the other one may send now.
    assert notifier.mailer.tries.count(SPONSOR.email) == 1
    assert [d.attempts for d in taken] == [2]
    assert notifier.backend.delivery_repository.lease_until(sponsor) == taken[0].lease_until


def test_without_a_policy_each_stream_delivery_tries_once() -> None:
    backend = build_backend()
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 1))
    backend.pledge_many(challenge.id, 1)
    backend.progress.refresh(challenge.id)
    [milestone] = backend.db.milestones_for(challenge.id)
    backend.mailer.fail_next(1)

    with pytest.raises(DeliveryRetryError):
        backend.notifications.notify(milestone)

    assert backend.mailer.failures == 1
    assert len(backend.mailer.sent) == 1
