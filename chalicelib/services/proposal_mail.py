"""The proposal notifier: an outbox record of a proposal event becomes one message per
recipient, each claimed before it is sent, so that redeliveries and concurrent runs send
it once (as update e-mails, services/update_mail.py). A challenge's "live" news goes to the
supporters in chunks of the outbox, as participant e-mails do (services/participant_mail.py),
so no invocation sends more than `chunk_size` of them however many supporters there are."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from chalicelib.domain.proposals import Proposal, ProposalEvent, Support, SupporterChunk
from chalicelib.services.fanout import Entries, chunk_entries
from chalicelib.services.participant_mail import TIME_RESERVE, ChunkReport
from chalicelib.services.ports import (
    NO_METRICS,
    Clock,
    DeliveryProviderError,
    EmailMessage,
    Mailer,
    MetricName,
    MetricsRecorder,
)
from chalicelib.services.proposal_ports import (
    ProposalClaim,
    ProposalClaimRefused,
    ProposalDeliveryRepository,
    ProposalRecipient,
    ProposalRepository,
    ProposalWebhook,
)

logger = logging.getLogger(__name__)

# As participant and update e-mails: longer than one notifier invocation runs.
PROPOSAL_LEASE = timedelta(seconds=45)
EMAIL, WEBHOOK = "email", "webhook"


class ProposalMailRetryError(Exception):
    """Some messages are still owed; the stream delivers the record again."""


Renderer = Callable[..., EmailMessage]
ProposalLink = Callable[[str], str]
ChallengeLink = Callable[[str], str]


class ProposalMail:
    def __init__(
        self,
        proposals: ProposalRepository,
        deliveries: ProposalDeliveryRepository,
        contacts: Callable[[str], tuple[str, str | None, str | None] | None],
        mailer: Mailer,
        webhook: ProposalWebhook,
        renderer: Renderer,
        links: tuple[ProposalLink, ChallengeLink],
        clock: Clock,
        *,
        max_attempts: int,
        chunk_size: int,
        metrics: MetricsRecorder = NO_METRICS,
    ) -> None:
        """`contacts(organization_id)`: the proposal contact's (e-mail, webhook URL, secret);
        `chunk_size`: the supporters one chunk (one invocation) e-mails at most."""
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self._chunk_size = chunk_size
        self._proposals = proposals
        self._deliveries = deliveries
        self._contacts = contacts
        self._mailer = mailer
        self._webhook = webhook
        self._render = renderer
        self._proposal_link, self._challenge_link = links
        self._clock = clock
        self._max_attempts = max_attempts
        self._metrics = metrics

    def notify(self, proposal_id: str, event: ProposalEvent) -> None:
        """Send what is still owed for this event; raise if something must be retried. The
        supporters of CHALLENGE_LIVE are told by the chunks it writes (`run`)."""
        proposal = self._proposals.get(proposal_id)
        if proposal is None:
            return
        if event is ProposalEvent.CHALLENGE_LIVE:
            # Written first and once: the supporters are not kept waiting on the proposer's
            # mailbox, and a redelivered record writes nothing more.
            self._proposals.add_chunk(SupporterChunk(proposal.id, event, self._clock.now()))
        owed = [
            recipient.recipient
            for recipient in self.recipients(proposal, event)
            if not self._deliver(proposal, recipient)
        ]
        if owed:
            raise ProposalMailRetryError(f"will retry {len(owed)} message(s) of {proposal_id}")

    def recipients(self, proposal: Proposal, event: ProposalEvent) -> Iterator[ProposalRecipient]:
        """Who the event's own record tells: the organisation's contact, or the proposer."""
        if event is ProposalEvent.THRESHOLD_REACHED:
            contact = self._contacts(proposal.organization_id) if proposal.organization_id else None
            if contact is None:
                logger.info("proposal %s: no organisation contact to tell", proposal.id)
                return
            email, url, _secret = contact
            yield ProposalRecipient(event, EMAIL, "contact", email)
            if url:
                yield ProposalRecipient(event, WEBHOOK, "contact", url)
            return
        if proposal.proposer_email:
            yield ProposalRecipient(
                event,
                EMAIL,
                "proposer",
                proposal.proposer_email,
                participant_id=proposal.proposer_id,
                locale=proposal.proposer_locale,
            )

    # --- the supporters, chunk by chunk -----------------------------------------------------

    def run(self, chunk: SupporterChunk, *, time_left: timedelta | None = None) -> ChunkReport:
        """E-mail the chunk's supporters (its successor is written first); raise
        ProposalMailRetryError if some must be retried (the redelivery skips those sent).
        `time_left`: of this invocation."""
        proposal = self._proposals.get(chunk.proposal_id)
        if proposal is None:
            return ChunkReport()
        deadline = None if time_left is None else self._clock.now() + time_left - TIME_RESERVE
        report = self._send_chunk(proposal, chunk, self._supporters(chunk), deadline)
        if report.retry:
            raise ProposalMailRetryError(
                f"will retry {report.retry} supporter message(s) of {chunk.proposal_id} {chunk.key}"
            )
        return report

    def _supporters(self, chunk: SupporterChunk) -> list[Support]:
        def read(limit: int | None, until: str | None) -> Entries[Support]:
            page = self._proposals.supporters(
                chunk.proposal_id, after=chunk.after, limit=limit, until=until
            )
            return Entries(page.items, page.next_cursor)

        return chunk_entries(
            chunk,
            read,
            limit=self._chunk_size,
            add_chunk=self._proposals.add_chunk,
            stored=lambda successor: self._proposals.get_chunk(
                successor.proposal_id, successor.key
            ),
        )

    def _send_chunk(
        self,
        proposal: Proposal,
        chunk: SupporterChunk,
        supports: list[Support],
        deadline: datetime | None,
    ) -> ChunkReport:
        # A proposer who also supports it is told once, as the proposer; an unverified
        # address is never written to.
        owed = [
            ProposalRecipient(
                chunk.event,
                EMAIL,
                support.participant_id,
                support.email,
                participant_id=support.participant_id,
                locale=support.locale,
            )
            for support in supports
            if support.email and support.participant_id != proposal.proposer_id
        ]
        tried = settled = retry = 0
        for index, recipient in enumerate(owed):
            if deadline is not None and self._clock.now() >= deadline:
                retry += len(owed) - index  # the redelivery takes the rest
                break
            outcome = self._deliver_counted(proposal, recipient)
            if outcome is None:
                settled += 1
                continue
            tried += 1
            if not outcome:
                retry += 1
        return ChunkReport(tried=tried, settled=settled, retry=retry)

    # --- one message ------------------------------------------------------------------------

    def _deliver(self, proposal: Proposal, recipient: ProposalRecipient) -> bool:
        """Whether nothing more is owed for this recipient."""
        return self._deliver_counted(proposal, recipient) is not False

    def _deliver_counted(self, proposal: Proposal, recipient: ProposalRecipient) -> bool | None:
        """None: settled before (nothing tried); True: settled now; False: still owed."""
        claimed = self._deliveries.claim(
            proposal.id, recipient, now=self._clock.now(), lease=PROPOSAL_LEASE
        )
        if claimed is ProposalClaimRefused.SETTLED:
            return None
        if claimed is ProposalClaimRefused.HELD:
            return False
        try:
            self._send(proposal, recipient, claimed)
        except Exception as error:
            if not isinstance(error, DeliveryProviderError):
                logger.exception("sending %s failed unexpectedly", recipient.recipient)
            retryable = not isinstance(error, DeliveryProviderError) or error.retryable
            final = claimed.attempts >= self._max_attempts or not retryable
            self._deliveries.mark_failed(claimed, error=str(error) or repr(error), final=final)
            if final:
                self._metrics.count(MetricName.NOTIFICATIONS_FAILED)
            return final
        self._deliveries.mark_sent(claimed, now=self._clock.now())
        self._metrics.count(MetricName.NOTIFICATIONS_SENT)
        return True

    def _send(self, proposal: Proposal, recipient: ProposalRecipient, claim: ProposalClaim) -> None:
        event = recipient.event
        link = (
            self._challenge_link(proposal.challenge_id)
            if event is ProposalEvent.CHALLENGE_LIVE and proposal.challenge_id
            else self._proposal_link(proposal.id)
        )
        if recipient.channel == WEBHOOK:
            contact = self._contacts(proposal.organization_id or "")
            secret = contact[2] if contact else None
            delivery_id = f"{proposal.id}#{recipient.recipient}"
            body = {
                "id": delivery_id,
                "event": f"proposal.{event.value}",
                "occurred_at": self._clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "proposal": {
                    "id": proposal.id,
                    "title": proposal.title,
                    "action": proposal.action,
                    "supports": proposal.supports,
                    "support_threshold": proposal.support_threshold,
                    "organization_id": proposal.organization_id,
                    "url": link,
                },
            }
            self._webhook.post(
                recipient.to,
                secret or "",
                event=f"proposal.{event.value}",
                delivery_id=delivery_id,
                body=json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
            )
            return
        self._mailer.send(
            self._render(proposal, event, to=recipient.to, locale=recipient.locale, link=link)
        )
