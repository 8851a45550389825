"""Turn a milestone into one message per recipient, each logged and sent at most once."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Protocol

from chalicelib.domain.model import (
    Challenge,
    Channel,
    Delivery,
    Milestone,
    RecipientRole,
)
from chalicelib.services.ports import (
    ChallengeRepository,
    ClaimRefused,
    Clock,
    DeliveryRepository,
    EmailMessage,
    Mailer,
    MailerError,
)

logger = logging.getLogger(__name__)

# Longer than one notifier invocation may run (its Lambda timeout is 30 s, and SES calls
# time out well before), so a live sender never loses its claim to a retry.
DELIVERY_LEASE = timedelta(seconds=45)


class DeliveryRetryError(Exception):
    """Some deliveries failed and will be retried when the event is delivered again."""


class EmailRenderer(Protocol):
    def render(
        self, milestone: Milestone, challenge: Challenge, delivery: Delivery
    ) -> EmailMessage: ...


def milestone_recipients(milestone: Milestone, challenge: Challenge) -> list[Delivery]:
    """The sponsor and the beneficiary, each by e-mail."""
    return [
        Delivery(
            challenge_id=challenge.id,
            event=milestone.event,
            recipient_role=role,
            channel=Channel.EMAIL,
            recipient_key=role.value,
            to=party.email,
        )
        for role, party in (
            (RecipientRole.SPONSOR, challenge.sponsor),
            (RecipientRole.BENEFICIARY, challenge.beneficiary),
        )
    ]


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
    ) -> None:
        self._challenges = challenges
        self._deliveries = deliveries
        self._mailer = mailer
        self._renderer = renderer
        self._clock = clock
        self._max_attempts = max_attempts

    def notify(self, milestone: Milestone) -> None:
        """Send what is still owed for this milestone; raise if something must be retried."""
        challenge = self._challenges.get(milestone.challenge_id)
        if challenge is None:
            return  # Nothing to tell anyone about a challenge that no longer exists.
        retry = [
            delivery.key
            for delivery in milestone_recipients(milestone, challenge)
            if not self._deliver(milestone, challenge, delivery)
        ]
        if retry:
            raise DeliveryRetryError(f"will retry {', '.join(retry)}")

    def _deliver(self, milestone: Milestone, challenge: Challenge, delivery: Delivery) -> bool:
        """True when nothing more is owed for this delivery (sent, or given up for good)."""
        claimed = self._deliveries.claim(delivery, now=self._clock.now(), lease=DELIVERY_LEASE)
        if claimed is ClaimRefused.SETTLED:
            return True
        if claimed is ClaimRefused.HELD:
            # Maybe a sender that died before recording its outcome: retry once its lease ends.
            return False
        try:
            self._mailer.send(self._renderer.render(milestone, challenge, claimed))
        except Exception as error:
            # Whatever went wrong, record it and release the lease so a retry can send.
            if not isinstance(error, MailerError):
                logger.exception("sending %s failed unexpectedly", claimed.id)
            final = claimed.attempts >= self._max_attempts
            self._deliveries.mark_failed(claimed, error=str(error) or repr(error), final=final)
            return final
        self._deliveries.mark_sent(claimed, now=self._clock.now())
        return True

    def log(self, challenge_id: str) -> list[Delivery]:
        return sorted(
            self._deliveries.list_for_challenge(challenge_id),
            key=lambda delivery: (delivery.created_at is None, delivery.created_at, delivery.key),
        )
