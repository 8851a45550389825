"""The proposal notifier: an outbox record of a proposal event becomes one message per
recipient, each claimed before it is sent, so that redeliveries and concurrent runs send
it once (as update e-mails, services/update_mail.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta

from chalicelib.domain.proposals import Proposal, ProposalEvent
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
SUPPORTERS_PAGE = 100
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
        metrics: MetricsRecorder = NO_METRICS,
    ) -> None:
        """`contacts(organization_id)`: the proposal contact's (e-mail, webhook URL, secret)."""
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
        """Send what is still owed for this event; raise if something must be retried."""
        proposal = self._proposals.get(proposal_id)
        if proposal is None:
            return
        owed = [
            recipient.recipient
            for recipient in self.recipients(proposal, event)
            if not self._deliver(proposal, recipient)
        ]
        if owed:
            raise ProposalMailRetryError(f"will retry {len(owed)} message(s) of {proposal_id}")

    def recipients(self, proposal: Proposal, event: ProposalEvent) -> Iterator[ProposalRecipient]:
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
        if event is not ProposalEvent.CHALLENGE_LIVE:
            return
        after: str | None = None
        while True:
            page = self._proposals.supporters(proposal.id, after=after, limit=SUPPORTERS_PAGE)
            for support in page.items:
                # A proposer who also supports it is told once, as the proposer.
                if support.email and support.participant_id != proposal.proposer_id:
                    yield ProposalRecipient(
                        event,
                        EMAIL,
                        support.participant_id,
                        support.email,
                        participant_id=support.participant_id,
                        locale=support.locale,
                    )
            if page.next_cursor is None:
                return
            after = page.next_cursor

    def _deliver(self, proposal: Proposal, recipient: ProposalRecipient) -> bool:
        """Whether nothing more is owed for this recipient."""
        claimed = self._deliveries.claim(
            proposal.id, recipient, now=self._clock.now(), lease=PROPOSAL_LEASE
        )
        if claimed is ProposalClaimRefused.SETTLED:
            return True
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
