"""Participant e-mail on success: a reached challenge's pledgers, mailed once each, in chunks.

A milestone's notifier run writes one chunk per pledge-index bucket into the outbox; each
chunk, delivered by the outbox stream, e-mails at most `chunk_size` participants of its bucket
and writes the next chunk before sending, so no invocation sends more than `chunk_size`
e-mails however many participants there are, and the delivery log's claims make each
participant's e-mail go out once whatever the retries and redeliveries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain.fanout import FanoutChunk
from chalicelib.domain.model import (
    Challenge,
    Channel,
    Delivery,
    EventType,
    Milestone,
    Pledge,
    RecipientRole,
)
from chalicelib.services.fanout import Entries, chunk_entries
from chalicelib.services.notifications import (
    Addressee,
    Delivered,
    DeliveryRetryError,
    NotificationService,
)
from chalicelib.services.ports import ChallengeRepository, Clock, FanoutRepository

logger = logging.getLogger(__name__)

# No participant's e-mail is begun with less than this left of the invocation: one SES call
# may take ~11 s before it times out (chalicelib.notify.email.LazySesClient).
TIME_RESERVE = timedelta(seconds=12)


def owed_reached_email(pledge: Pledge, milestone: Milestone) -> bool:
    """Who is told a challenge was reached: a pledger who had pledged by then (one who
    pledges later did not make it happen), did not opt out, and gave a verified address."""
    return pledge.notify and bool(pledge.email) and pledge.created_at <= milestone.occurred_at


def participant_delivery(milestone: Milestone, pledge: Pledge) -> Delivery:
    # Keyed by the participant, not the address: one e-mail per person and event.
    return Delivery(
        challenge_id=milestone.challenge_id,
        event=milestone.event,
        recipient_role=RecipientRole.PARTICIPANT,
        channel=Channel.EMAIL,
        recipient_key=pledge.participant_id,
        to=pledge.email or "",
    )


@dataclass(frozen=True)
class ChunkReport:
    """What one chunk did: participants tried now (sent, or failed), found already settled,
    and left to retry."""

    tried: int = 0
    settled: int = 0
    retry: int = 0


class ParticipantMail:
    def __init__(
        self,
        challenges: ChallengeRepository,
        fanout: FanoutRepository,
        notifications: NotificationService,
        clock: Clock,
        *,
        chunk_size: int,
        buckets: int,
    ) -> None:
        if chunk_size < 1 or buckets < 1:
            raise ValueError("chunk_size and buckets must be positive")
        self._challenges = challenges
        self._fanout = fanout
        self._notifications = notifications
        self._clock = clock
        self._chunk_size = chunk_size
        self._buckets = buckets

    def start(self, milestone: Milestone) -> int:
        """Write each bucket's first chunk of a `challenge.reached` milestone (once, however
        often the milestone is delivered); returns how many were written now."""
        if milestone.event is not EventType.REACHED:
            return 0
        return sum(
            self._fanout.add_chunk(FanoutChunk(milestone, bucket))
            for bucket in range(self._buckets)
        )

    def run(self, chunk: FanoutChunk, *, time_left: timedelta | None = None) -> ChunkReport:
        """E-mail the chunk's participants; raise DeliveryRetryError if some must be retried
        (its redelivery skips those already sent). `time_left`: of this invocation."""
        challenge = self._challenges.get(chunk.challenge_id)
        if challenge is None:
            return ChunkReport()  # Nothing to tell anyone about a challenge that is gone.
        choice = challenge.beneficiary_choice
        if choice is not None and not choice.closed:
            # The notifier closes the vote before it starts the fan-out; had it failed to, the
            # e-mail would name no beneficiary: wait for it (the stream brings the chunk back).
            raise DeliveryRetryError(f"the beneficiary vote of {challenge.id} is not closed yet")
        deadline = None if time_left is None else self._clock.now() + time_left - TIME_RESERVE
        report = self._send(chunk, challenge, self._participants(chunk), deadline)
        if report.retry:
            raise DeliveryRetryError(
                f"{report.retry} participant e-mail(s) of {chunk.challenge_id} {chunk.key} "
                "will be retried"
            )
        return report

    def _participants(self, chunk: FanoutChunk) -> list[Pledge]:
        """The chunk's pledges (services/fanout.py: its successor is written first)."""

        def read(limit: int | None, until: str | None) -> Entries[Pledge]:
            page = self._fanout.participants(
                chunk.challenge_id, chunk.bucket, after=chunk.after, limit=limit, until=until
            )
            return Entries(page.pledges, page.last)

        return chunk_entries(
            chunk,
            read,
            limit=self._chunk_size,
            add_chunk=self._fanout.add_chunk,
            stored=lambda successor: self._fanout.get_chunk(successor.challenge_id, successor.key),
        )

    def _send(
        self,
        chunk: FanoutChunk,
        challenge: Challenge,
        pledges: list[Pledge],
        deadline: datetime | None,
    ) -> ChunkReport:
        tried = settled = retry = 0
        owed = [pledge for pledge in pledges if owed_reached_email(pledge, chunk.milestone)]
        for index, pledge in enumerate(owed):
            if tried >= self._chunk_size or (
                deadline is not None and self._clock.now() >= deadline
            ):
                # Out of budget: the redelivery takes the rest (and skips what was sent).
                retry += len(owed) - index
                break
            outcome = self._notifications.deliver(
                chunk.milestone,
                challenge,
                participant_delivery(chunk.milestone, pledge),
                Addressee(name=pledge.display_name, locale=pledge.locale),
                retry_until=deadline,
                # The index page may be older than an erasure or a withdrawal: the claim
                # holds only while the pledge is still held (docs/privacy.md).
                pledged=True,
            )
            if outcome is Delivered.SETTLED:
                settled += 1
                continue
            tried += 1
            if outcome is Delivered.RETRY:
                retry += 1
        return ChunkReport(tried=tried, settled=settled, retry=retry)
