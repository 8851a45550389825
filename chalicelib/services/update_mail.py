"""Update e-mails: each update of a challenge, mailed once to every follower and pledger who
did not opt out, chunk by chunk of each source (challenge followers, campaign followers, each
pledge-index bucket), like the participant e-mail (services/participant_mail.py).

A chunk writes its successor before sending, so no invocation sends more than `chunk_size`
e-mails; a claim per update and person (not per source) makes a person found by several
sources, or by a redelivered chunk, get one e-mail.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from chalicelib.domain.follows import (
    ChallengeUpdate,
    FollowKind,
    FollowTarget,
    Recipient,
    UpdateChunk,
    UpdateSource,
    owed_update,
    sign_unsubscribe,
)
from chalicelib.domain.model import Challenge
from chalicelib.services.fanout import Entries, chunk_entries
from chalicelib.services.follow_ports import (
    FollowRepository,
    UnsubscribeSecret,
    UpdateClaim,
    UpdateClaimRefused,
    UpdateDeliveryRepository,
    UpdateRepository,
)
from chalicelib.services.notifications import DELIVERY_LEASE, DeliveryRetryError
from chalicelib.services.participant_mail import TIME_RESERVE, ChunkReport
from chalicelib.services.ports import (
    NO_METRICS,
    ChallengeRepository,
    Clock,
    DeliveryProviderError,
    EmailMessage,
    FanoutRepository,
    Mailer,
    MetricName,
    MetricsRecorder,
    PledgeRepository,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpdateLinks:
    challenge: str  # the challenge's page
    unsubscribe: str  # opts out with no sign-in


class UpdateRenderer(Protocol):
    def render(
        self,
        update: ChallengeUpdate,
        challenge: Challenge,
        to: str,
        links: UpdateLinks,
        locale: str | None,
    ) -> EmailMessage: ...


class LinkBuilder(Protocol):
    def challenge(self, challenge_id: str) -> str: ...

    def unsubscribe(self, token: str) -> str: ...


@dataclass(frozen=True)
class _Page:
    recipients: list[Recipient]
    last: str | None  # where the next chunk goes on (None: the source ends here)


class UpdateMail:
    def __init__(
        self,
        challenges: ChallengeRepository,
        updates: UpdateRepository,
        follows: FollowRepository,
        fanout: FanoutRepository,
        pledges: PledgeRepository,
        deliveries: UpdateDeliveryRepository,
        secret: UnsubscribeSecret,
        mailer: Mailer,
        renderer: UpdateRenderer,
        links: LinkBuilder,
        clock: Clock,
        *,
        chunk_size: int,
        max_attempts: int,
        metrics: MetricsRecorder = NO_METRICS,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self._challenges = challenges
        self._updates = updates
        self._follows = follows
        self._fanout = fanout
        self._pledges = pledges
        self._deliveries = deliveries
        self._secret = secret
        self._mailer = mailer
        self._renderer = renderer
        self._links = links
        self._clock = clock
        self._chunk_size = chunk_size
        self._max_attempts = max_attempts
        self._metrics = metrics

    def run(self, chunk: UpdateChunk, *, time_left: timedelta | None = None) -> ChunkReport:
        """E-mail the chunk's recipients; raise DeliveryRetryError if some must be retried
        (its redelivery skips those already sent)."""
        challenge = self._challenges.get(chunk.challenge_id)
        update = self._updates.get(chunk.challenge_id, chunk.update_key)
        if challenge is None or update is None:
            return ChunkReport()
        deadline = None if time_left is None else self._clock.now() + time_left - TIME_RESERVE
        report = self._send(update, challenge, self._recipients(chunk, challenge), deadline)
        if report.retry:
            raise DeliveryRetryError(
                f"{report.retry} update e-mail(s) of {chunk.challenge_id} {chunk.key} "
                "will be retried"
            )
        return report

    # --- who -------------------------------------------------------------------------------

    def _read(
        self,
        chunk: UpdateChunk,
        challenge: Challenge,
        *,
        limit: int | None,
        until: str | None = None,
    ) -> _Page:
        if chunk.source is UpdateSource.PLEDGERS:
            page = self._fanout.participants(
                chunk.challenge_id, chunk.bucket, after=chunk.after, limit=limit, until=until
            )
            return _Page(
                [
                    Recipient(p.participant_id, p.email, p.locale, pledged=p.notify)
                    for p in page.pledges
                ],
                page.last,
            )
        if chunk.source is UpdateSource.CAMPAIGN_FOLLOWERS:
            if challenge.campaign_id is None:
                return _Page([], None)
            target = FollowTarget(FollowKind.CAMPAIGN, challenge.campaign_id)
        else:
            target = FollowTarget(FollowKind.CHALLENGE, challenge.id)
        follows = self._follows.followers(target, after=chunk.after, limit=limit, until=until)
        return _Page(
            [Recipient(f.participant_id, f.email, f.locale) for f in follows.items if f.following],
            follows.next_cursor,
        )

    def _recipients(self, chunk: UpdateChunk, challenge: Challenge) -> list[Recipient]:
        """The chunk's recipients (services/fanout.py: its successor is written first)."""

        def read(limit: int | None, until: str | None) -> Entries[Recipient]:
            page = self._read(chunk, challenge, limit=limit, until=until)
            return Entries(page.recipients, page.last)

        return chunk_entries(
            chunk,
            read,
            limit=self._chunk_size,
            add_chunk=self._updates.add_chunk,
            stored=lambda successor: self._updates.get_chunk(successor.challenge_id, successor.key),
        )

    def _owed(self, recipient: Recipient, challenge: Challenge) -> str | None:
        """The address a recipient is owed this update at, or None; read at send time so
        that an opt-out made since the chunk was written is honoured."""
        challenge_target = FollowTarget(FollowKind.CHALLENGE, challenge.id)
        campaign_target = (
            FollowTarget(FollowKind.CAMPAIGN, challenge.campaign_id)
            if challenge.campaign_id
            else None
        )
        targets = [challenge_target] + ([campaign_target] if campaign_target else [])
        choices = self._follows.get_many(recipient.participant_id, targets)
        on_challenge = choices.get(challenge_target)
        on_campaign = choices.get(campaign_target) if campaign_target else None
        if recipient.pledged:
            # The pledge index may be older than a withdrawal or an erasure.
            pledge = self._pledges.get(challenge.id, recipient.participant_id)
            recipient = Recipient(
                recipient.participant_id,
                pledge.email if pledge else None,
                pledge.locale if pledge else None,
                pledged=pledge is not None and pledge.notify,
            )
        if not owed_update(recipient, on_challenge, on_campaign):
            return None
        return recipient.email

    # --- sending ---------------------------------------------------------------------------

    def _send(
        self,
        update: ChallengeUpdate,
        challenge: Challenge,
        recipients: list[Recipient],
        deadline: datetime | None,
    ) -> ChunkReport:
        tried = settled = retry = 0
        for index, recipient in enumerate(recipients):
            if deadline is not None and self._clock.now() >= deadline:
                retry += len(recipients) - index  # the redelivery takes the rest
                break
            address = self._owed(recipient, challenge) if recipient.email else None
            if address is None:
                settled += 1
                continue
            claim = self._deliveries.claim(
                update, recipient.participant_id, now=self._clock.now(), lease=DELIVERY_LEASE
            )
            if claim is UpdateClaimRefused.SETTLED:
                settled += 1
                continue
            if claim is UpdateClaimRefused.HELD:
                retry += 1
                continue
            tried += 1
            if not self._try(update, challenge, claim, address, recipient):
                retry += 1
        return ChunkReport(tried=tried, settled=settled, retry=retry)

    def _try(
        self,
        update: ChallengeUpdate,
        challenge: Challenge,
        claim: UpdateClaim,
        address: str,
        recipient: Recipient,
    ) -> bool:
        """Send one claimed e-mail; False when it is still owed (to retry)."""
        # The link opts out of the challenge the e-mail is about, whatever brought it.
        target = FollowTarget(FollowKind.CHALLENGE, challenge.id)
        token = sign_unsubscribe(self._secret.get(), recipient.participant_id, target)
        links = UpdateLinks(
            challenge=self._links.challenge(challenge.id),
            unsubscribe=self._links.unsubscribe(token),
        )
        try:
            message = self._renderer.render(update, challenge, address, links, recipient.locale)
            self._mailer.send(message)
        except Exception as error:
            retryable = not isinstance(error, DeliveryProviderError) or error.retryable
            final = claim.attempts >= self._max_attempts or not retryable
            if isinstance(error, DeliveryProviderError):
                logger.warning("update e-mail %s failed: %s", update.id, error)
            else:
                logger.exception("update e-mail %s failed unexpectedly", update.id)
            self._deliveries.mark_failed(claim, error=str(error) or repr(error), final=final)
            if final:
                self._metrics.count(MetricName.NOTIFICATIONS_FAILED)
            return final
        self._deliveries.mark_sent(claim, now=self._clock.now())
        self._metrics.count(MetricName.NOTIFICATIONS_SENT)
        return True
