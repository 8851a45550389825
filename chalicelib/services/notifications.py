"""Turn a milestone into one message per recipient, each logged and sent at most once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Protocol

from chalicelib.domain.model import (
    Challenge,
    Channel,
    Delivery,
    EventType,
    Milestone,
    RecipientRole,
)
from chalicelib.services.ports import (
    NO_METRICS,
    ChallengeRepository,
    ClaimRefused,
    Clock,
    DeliveryProviderError,
    DeliveryRepository,
    EmailMessage,
    Mailer,
    MetricName,
    MetricsRecorder,
    Page,
    WebhookError,
    WebhookSender,
)
from chalicelib.services.retry import SINGLE_TRY, RetryPolicy

logger = logging.getLogger(__name__)

# Longer than one notifier invocation may run (its Lambda timeout is 30 s, and SES calls
# time out well before), so a live sender never loses its claim to a retry.
DELIVERY_LEASE = timedelta(seconds=45)
# In-handler retries start only this soon after a delivery's first try: a provider that is
# slow to fail (an SES call may take ~20 s with botocore's own retry) is left to the stream's
# redelivery rather than pushing the batch past the notifier's 30 s Lambda timeout.
RETRY_WINDOW = timedelta(seconds=10)


class DeliveryRetryError(Exception):
    """Some deliveries failed and will be retried when the event is delivered again."""


class Delivered(Enum):
    """What `NotificationService.deliver` found or did."""

    SETTLED = "settled"  # the log already had it sent or given up: nothing was tried
    DONE = "done"  # sent now, or given up for good now
    RETRY = "retry"  # still owed: to be tried again later


class _Try(Enum):
    """How one try at sending a claimed delivery ended, once recorded in the delivery log."""

    SENT = "sent"
    GIVEN_UP = "given up"  # failed for good
    TRANSIENT = "transient"  # may succeed if tried again soon
    FAILED = "failed"  # unexpected: left to the stream's redelivery


@dataclass(frozen=True)
class Addressee:
    """Whom a participant e-mail greets, and in which language (None: the default)."""

    name: str | None = None
    locale: str | None = None


class EmailRenderer(Protocol):
    def render(
        self,
        milestone: Milestone,
        challenge: Challenge,
        delivery: Delivery,
        locale: str | None = None,
        recipient_name: str | None = None,
    ) -> EmailMessage: ...

    def prepare(self) -> None:
        """Load every template now rather than at the first e-mail."""
        ...


def milestone_recipients(milestone: Milestone, challenge: Challenge) -> list[Delivery]:
    """The sponsor and the beneficiary (for `vote.closed`: every candidate instead), each
    by e-mail, and the sponsor's webhook if any."""

    def email(role: RecipientRole, key: str, to: str) -> Delivery:
        return Delivery(
            challenge_id=challenge.id,
            event=milestone.event,
            recipient_role=role,
            channel=Channel.EMAIL,
            recipient_key=key,
            to=to,
        )

    deliveries = [
        email(RecipientRole.SPONSOR, RecipientRole.SPONSOR.value, challenge.sponsor.email)
    ]
    choice = challenge.beneficiary_choice
    if milestone.event is EventType.VOTE_CLOSED:
        candidates = choice.candidates if choice is not None else ()
        deliveries.extend(email(RecipientRole.CANDIDATE, c.id, c.email) for c in candidates)
    else:
        beneficiary = challenge.beneficiary.email
        deliveries.append(
            email(RecipientRole.BENEFICIARY, RecipientRole.BENEFICIARY.value, beneficiary)
        )
    if challenge.sponsor.webhook_url:
        deliveries.append(
            Delivery(
                challenge_id=challenge.id,
                event=milestone.event,
                recipient_role=RecipientRole.SPONSOR,
                channel=Channel.WEBHOOK,
                recipient_key=RecipientRole.SPONSOR.value,
                to=challenge.sponsor.webhook_url,
            )
        )
    return deliveries


class VoteCloser(Protocol):
    def close(self, challenge_id: str) -> Challenge | None:
        """Close the challenge's beneficiary vote if it is open; the challenge after."""
        ...


class _NoWebhooks:
    def send(self, delivery: Delivery, milestone: Milestone, challenge: Challenge) -> None:
        raise WebhookError("webhooks are not configured here", retryable=False)


class NotificationService:
    def __init__(
        self,
        challenges: ChallengeRepository,
        deliveries: DeliveryRepository,
        mailer: Mailer,
        renderer: EmailRenderer,
        clock: Clock,
        *,
        max_attempts: int,
        retry: RetryPolicy = SINGLE_TRY,
        webhooks: WebhookSender | None = None,
        metrics: MetricsRecorder = NO_METRICS,
        votes: VoteCloser | None = None,
    ) -> None:
        self._challenges = challenges
        self._votes = votes
        self._deliveries = deliveries
        self._mailer = mailer
        self._renderer = renderer
        self._clock = clock
        self._max_attempts = max_attempts
        self._retry = retry
        self._webhooks = webhooks or _NoWebhooks()
        self._metrics = metrics

    def prepare(self) -> None:
        """Have the first e-mail sent as fast as the next (the local stack, before ready)."""
        self._renderer.prepare()

    def notify(self, milestone: Milestone) -> None:
        """Send what is still owed for this milestone; raise if something must be retried."""
        challenge = self._challenges.get(milestone.challenge_id)
        if challenge is None:
            return  # Nothing to tell anyone about a challenge that no longer exists.
        challenge = self._with_vote_closed(milestone, challenge)
        retry = [
            delivery.key
            for delivery in milestone_recipients(milestone, challenge)
            if self.deliver(milestone, challenge, delivery) is Delivered.RETRY
        ]
        if retry:
            raise DeliveryRetryError(f"will retry {', '.join(retry)}")

    def _with_vote_closed(self, milestone: Milestone, challenge: Challenge) -> Challenge:
        """Reaching the target or ending closes a beneficiary vote: first, so that the
        winner is the beneficiary everyone is told of."""
        choice = challenge.beneficiary_choice
        if choice is None or choice.closed or milestone.event is EventType.VOTE_CLOSED:
            return challenge
        if self._votes is None:
            raise RuntimeError("a challenge with a beneficiary vote needs a vote closer")
        return self._votes.close(challenge.id) or challenge

    def deliver(
        self,
        milestone: Milestone,
        challenge: Challenge,
        delivery: Delivery,
        addressee: Addressee | None = None,
        *,
        retry_until: datetime | None = None,
        pledged: bool = False,
    ) -> Delivered:
        """Send one delivery unless the log says it is settled: whether anything more is
        owed for it (RETRY) or not (`retry_until`: no in-handler retry begins after this;
        `pledged`: a participant's e-mail, owed only while their pledge is held).

        Each try claims the delivery anew, so `attempts` counts every call to the provider,
        the log shows each failure as it happens, and no lease is held while waiting.
        """
        started = self._clock.now()
        window_ends = started + RETRY_WINDOW
        if retry_until is not None:
            window_ends = min(window_ends, retry_until)
        delays = self._retry.delays()
        tried = False
        while True:
            claimed = self._deliveries.claim(
                delivery, now=self._clock.now(), lease=DELIVERY_LEASE, pledged=pledged
            )
            if claimed is ClaimRefused.SETTLED:
                return Delivered.DONE if tried else Delivered.SETTLED
            if claimed is ClaimRefused.HELD:
                # Maybe a sender that died before recording its outcome: retry once its lease ends.
                return Delivered.RETRY
            tried = True
            outcome = self._try_send(milestone, challenge, claimed, addressee)
            if outcome is not _Try.TRANSIENT:
                return Delivered.RETRY if outcome is _Try.FAILED else Delivered.DONE
            delay = next(delays, None)
            if delay is None or self._clock.now() + timedelta(seconds=delay) > window_ends:
                return Delivered.RETRY  # The stream brings the record back.
            self._metrics.count(MetricName.NOTIFICATION_RETRIES)
            self._retry.sleep(delay)

    def _try_send(
        self,
        milestone: Milestone,
        challenge: Challenge,
        claimed: Delivery,
        addressee: Addressee | None = None,
    ) -> _Try:
        try:
            if claimed.channel is Channel.WEBHOOK:
                self._webhooks.send(claimed, milestone, challenge)
            else:
                addressee = addressee or Addressee()
                message = self._renderer.render(
                    milestone,
                    challenge,
                    claimed,
                    locale=addressee.locale,
                    recipient_name=addressee.name,
                )
                self._mailer.send(message)
        except Exception as error:
            # Whatever went wrong, record it and release the lease so a retry can send.
            return self._record_failure(claimed, error)
        self._deliveries.mark_sent(claimed, now=self._clock.now())
        self._metrics.count(MetricName.NOTIFICATIONS_SENT)
        return _Try.SENT

    def _record_failure(self, claimed: Delivery, error: Exception) -> _Try:
        if isinstance(error, DeliveryProviderError):
            logger.warning(
                "sending %s failed (attempt %d): %s", claimed.id, claimed.attempts, error
            )
            retryable = error.retryable
        else:
            logger.exception("sending %s failed unexpectedly", claimed.id)
            retryable = True
        # No point in trying a message the provider will never take again.
        final = claimed.attempts >= self._max_attempts or not retryable
        self._deliveries.mark_failed(claimed, error=str(error) or repr(error), final=final)
        if final:
            self._metrics.count(MetricName.NOTIFICATIONS_FAILED)
            return _Try.GIVEN_UP
        return _Try.TRANSIENT if isinstance(error, DeliveryProviderError) else _Try.FAILED

    def log_page(
        self,
        challenge_id: str,
        *,
        role: RecipientRole | None = None,
        limit: int,
        cursor: str | None = None,
    ) -> Page[Delivery]:
        """The log a page at a time (a reached challenge logs one entry per participant)."""
        return self._deliveries.list_page(challenge_id, role=role, limit=limit, cursor=cursor)

    def log(self, challenge_id: str) -> list[Delivery]:
        return sorted(
            self._deliveries.list_for_challenge(challenge_id),
            key=lambda delivery: (delivery.created_at is None, delivery.created_at, delivery.key),
        )
