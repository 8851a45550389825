"""The small interfaces services depend on; DynamoDB, SES and in-memory fakes implement them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Generic, Protocol, TypeVar

from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.fanout import FanoutChunk
from chalicelib.domain.idempotency import KeyedAnswer
from chalicelib.domain.model import (
    Challenge,
    ChallengeStatus,
    Delivery,
    Milestone,
    Organization,
    Party,
    Pledge,
    RecipientRole,
    Report,
    Target,
    Totals,
    Visibility,
)
from chalicelib.domain.votes import HeldVote

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class Unset(Enum):
    """A change not asked for (unlike None, which clears an optional field)."""

    UNSET = "unset"


UNSET = Unset.UNSET


@dataclass(frozen=True)
class ChallengeChanges:
    """What an admin's PATCH changes: a field left UNSET is kept, None clears it."""

    title: str | Unset = UNSET
    action: str | Unset = UNSET
    description: str | Unset = UNSET
    reward: str | Unset = UNSET
    organization_id: str | Unset | None = UNSET
    campaign_id: str | Unset | None = UNSET
    visibility: Visibility | Unset = UNSET
    report_cap: int | float | Unset | None = UNSET
    starts_at: datetime | Unset | None = UNSET
    ends_at: datetime | Unset | None = UNSET
    target: Target | Unset = UNSET
    sponsor: Party | Unset = UNSET
    beneficiary: Party | Unset = UNSET

    @property
    def fields(self) -> dict[str, object]:
        """The changes asked for, by field name."""
        return {
            change.name: getattr(self, change.name)
            for change in dataclasses.fields(self)
            if getattr(self, change.name) is not UNSET
        }

    @property
    def changes_target(self) -> bool:
        return self.target is not UNSET


# The changes stored as plain attributes of the challenge item (the rest are maps).
PLAIN_CHANGES = frozenset(
    change.name
    for change in dataclasses.fields(ChallengeChanges)
    if change.name not in ("target", "sponsor", "beneficiary")
)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ChallengeRepository(Protocol):
    def add(self, challenge: Challenge) -> None: ...

    def get(self, challenge_id: str, *, consistent: bool = False) -> Challenge | None:
        """`consistent` reads see every write acknowledged before them (twice the cost)."""
        ...

    def list(
        self,
        statuses: Sequence[ChallengeStatus],
        *,
        limit: int,
        cursor: str | None,
        campaign_id: str | None = None,
        organization_id: str | None = None,
    ) -> Page[Challenge]:
        """Newest first in each status; only one campaign's, or one organisation's, when
        given (not both)."""
        ...

    def update(
        self,
        challenge: Challenge,
        changes: ChallengeChanges,
        *,
        allowed_statuses: Sequence[ChallengeStatus],
        now: datetime,
    ) -> Challenge | None:
        """Apply `changes` if the status is still allowed and, for a target change,
        the challenge is still unreached; None when that condition failed."""
        ...

    def transition(
        self,
        challenge_id: str,
        source: ChallengeStatus,
        target: ChallengeStatus,
        now: datetime,
        *,
        proposal_live: str | None = None,
    ) -> Challenge | None:
        """Move from `source` to `target`; None if the challenge was not in `source`.

        `proposal_live`: the adopted proposal whose `challenge_live` outbox record is put in
        the same transaction, so the status and the news of it are written together or not
        at all."""
        ...

    def save_totals(self, challenge_id: str, totals: Totals) -> bool:
        """Store totals unless newer ones (a higher version) are already stored."""
        ...

    def record_milestone(self, challenge: Challenge, milestone: Milestone) -> bool:
        """Write a milestone once; for `challenge.reached` also set `reached_at` once,
        only while the target is still met; for `challenge.ended` also turn the challenge
        from `live` to `ended`, only while it is live with the same `ends_at`. False (nothing
        written) if it was already recorded or that condition failed."""
        ...

    def list_due(self, now: datetime) -> Sequence[Challenge]:
        """Every `live` challenge whose `ends_at` is at or before `now`."""
        ...


class PledgeRepository(Protocol):
    def add(
        self,
        pledge: Pledge,
        shard: int,
        *,
        request_token: str | None = None,
        answer: KeyedAnswer | None = None,
    ) -> bool:
        """Store the pledge, with `shard` (the participant's counter shard, where the pledges
        stream counts it); False if it already existed.

        `request_token` names the logical request: a write carrying the token of one already
        applied (for 10 minutes) is not applied again. None: a token of its own.

        `answer`: store it with the pledge, in the same write, unless an unexpired answer is
        already stored under its record id: then nothing is written and
        `AnswerAlreadyStoredError` is raised."""
        ...

    def get(self, challenge_id: str, participant_id: str) -> Pledge | None: ...

    def remove(
        self,
        challenge_id: str,
        participant_id: str,
        *,
        request_token: str | None = None,
        vote: HeldVote | None = None,
        offered: int | float | None = None,
    ) -> bool:
        """Delete the pledge (the pledges stream counts it out); False if there was none
        (`request_token`: as for `add`). With `vote`, only if the pledge still carries that
        vote, counted out with it unless `vote.count_out` is False; False otherwise, and
        when the vote's shard is closed."""
        ...

    def list_for_participant(
        self, participant_id: str, *, limit: int, cursor: str | None
    ) -> Page[Pledge]: ...


class ReportWrite(Enum):
    """What became of a report written to storage."""

    ADDED = "added"  # stored and counted, together with the pledge's quantity_reported
    EXISTS = "exists"  # a report with this id was already stored: nothing written
    NOT_PLEDGED = "not_pledged"  # the participant has no current pledge: nothing written


class ReportRepository(Protocol):
    def add(self, report: Report, shard: int, *, request_token: str | None = None) -> ReportWrite:
        """Store the report, add its quantity to the pledge and to counter shard `shard`,
        atomically, if the pledge exists and the report does not (`request_token`: as for
        `PledgeRepository.add`)."""
        ...

    def get(self, participant_id: str, report_id: str) -> Report | None: ...

    def list_for_participant(
        self, participant_id: str, *, challenge_id: str | None, limit: int, cursor: str | None
    ) -> Page[Report]:
        """Newest first; only one challenge's reports when `challenge_id` is given."""
        ...


class CounterRepository(Protocol):
    def totals(self, challenge_id: str, shards: int) -> Totals:
        """Sum of the challenge's counter shards, read strongly consistently."""
        ...


class OrganizationReader(Protocol):
    def get(self, organization_id: str) -> Organization | None: ...


class AuditRepository(Protocol):
    """The audit trail: append-only, so no method changes or deletes an entry."""

    def append(self, entry: AuditEntry) -> bool:
        """Store the entry unless one with its id exists (nothing is written then): True
        if this call stored it."""
        ...

    def get(self, entry_id: str) -> AuditEntry | None: ...

    def list(
        self,
        *,
        organization_id: str | None,
        since: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> Page[AuditEntry]:
        """Oldest first, from `since` (inclusive) when given: every entry (None), or those
        of one organisation."""
        ...


class ClaimRefused(Enum):
    """Why a delivery could not be claimed."""

    SETTLED = "settled"  # sent, or failed for good, or no longer owed: nothing more to do
    HELD = "held"  # another sender holds its lease (or died holding it): try again later


class DeliveryRepository(Protocol):
    def claim(
        self, delivery: Delivery, *, now: datetime, lease: timedelta, pledged: bool = False
    ) -> Delivery | ClaimRefused:
        """Take the right to send `delivery` until the lease ends, recording one more attempt;
        the returned delivery carries the lease, which fences the mark_* calls. `pledged`: a
        participant's e-mail, claimed only while their pledge on the challenge is held and
        not being erased (SETTLED otherwise), in the same write, so an erasure that ended
        before the claim leaves neither an e-mail nor their address in the log."""
        ...

    def mark_sent(self, claimed: Delivery, *, now: datetime) -> None:
        """Record the send, unless the lease was lost to another sender meanwhile."""
        ...

    def mark_failed(self, claimed: Delivery, *, error: str, final: bool) -> None:
        """Record the failure and release the lease (unless it was lost meanwhile)."""
        ...

    def list_for_challenge(self, challenge_id: str) -> list[Delivery]: ...

    def list_page(
        self,
        challenge_id: str,
        *,
        role: RecipientRole | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Delivery]:
        """The log a page at a time: sponsor entries, then beneficiary, then participant ones
        (one role only when `role` is given), each role's by event and recipient."""
        ...


@dataclass(frozen=True)
class ParticipantPage:
    """Pledges of one pledge-index bucket, by participant id; `last` is the id to go on
    after when more may follow (None: the bucket ends here)."""

    pledges: list[Pledge]
    last: str | None = None


class FanoutRepository(Protocol):
    """The participant e-mail fan-out's chunks (in the outbox) and the pledges they read."""

    def add_chunk(self, chunk: FanoutChunk) -> bool:
        """Write the chunk unless one with its key exists; False when it did (unchanged)."""
        ...

    def get_chunk(self, challenge_id: str, key: str) -> FanoutChunk | None: ...

    def participants(
        self,
        challenge_id: str,
        bucket: int,
        *,
        after: str | None,
        limit: int | None = None,
        until: str | None = None,
    ) -> ParticipantPage:
        """Pledges of the bucket with `after` < participant id (<= `until`), at most `limit`
        read (None: all of them, `last` then being None)."""
        ...


@dataclass(frozen=True)
class EmailMessage:
    to: str
    subject: str
    text: str
    html: str


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> str:
        """Send one e-mail; returns the provider's message id. Raises MailerError."""
        ...


class DeliveryProviderError(Exception):
    """The provider (SES, a sponsor's webhook endpoint) refused or failed to take a message.

    `retryable` says whether sending the same message again may succeed (throttling, an
    outage, a timeout); False when it never will (a rejected address, a forbidden URL).
    """

    def __init__(self, message: str = "", *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class MailerError(DeliveryProviderError):
    """The e-mail provider refused or failed to take the message."""


class WebhookError(DeliveryProviderError):
    """The sponsor's endpoint did not take the delivery (non-2xx, timeout, forbidden URL)."""


class WebhookSender(Protocol):
    def send(self, delivery: Delivery, milestone: Milestone, challenge: Challenge) -> None:
        """POST the signed event to `delivery.to`; raise WebhookError unless it took it."""
        ...


class MetricsRecorder(Protocol):
    """Counts business events (CloudWatch EMF in AWS, a debug line locally)."""

    def count(self, name: str, value: int = 1) -> None: ...


class NoMetrics:
    def count(self, name: str, value: int = 1) -> None:
        return None


NO_METRICS: MetricsRecorder = NoMetrics()


class MetricName:
    """The counters crowdact publishes (namespace `crowdact`, dimensions stage and service)."""

    PLEDGES_CREATED = "PledgesCreated"
    PLEDGES_WITHDRAWN = "PledgesWithdrawn"
    REPORTS_CREATED = "ReportsCreated"
    CHALLENGES_REACHED = "ChallengesReached"
    CHALLENGES_ENDED = "ChallengesEnded"
    NOTIFICATIONS_SENT = "NotificationsSent"
    NOTIFICATIONS_FAILED = "NotificationsFailed"
    NOTIFICATION_RETRIES = "NotificationRetries"
    RATE_LIMITED = "RateLimited"
    AUDIT_APPEND_FAILED = "AuditAppendFailed"
    VOTES_CAST = "VotesCast"
    VOTES_CLOSED = "VotesClosed"
