"""What the proposal services need from storage and the outside world (fakes in tests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Protocol

from chalicelib.domain.proposals import (
    Proposal,
    ProposalEvent,
    ProposalStatus,
    Support,
    SupporterChunk,
)
from chalicelib.services.ports import Page


class SupportWrite(Enum):
    ADDED = "added"
    ALREADY = "already"  # this person already supports it: nothing counted
    NOT_OPEN = "not open"  # the proposal is not open (anymore): nothing written


class ProposalRepository(Protocol):
    def add(self, proposal: Proposal) -> None: ...

    def get(self, proposal_id: str) -> Proposal | None:
        """Strongly consistent."""
        ...

    def decide(
        self,
        proposal_id: str,
        status: ProposalStatus,
        *,
        now: datetime,
        reason: str | None,
        event: ProposalEvent,
    ) -> Proposal | None:
        """Move a pending proposal to `status` and put `event` in the outbox, in one
        transaction; None (nothing written) if it is not pending any more."""
        ...

    def list_by_status(
        self, status: ProposalStatus, *, limit: int, cursor: str | None
    ) -> Page[Proposal]: ...

    def list_open_in(self, areas: Sequence[str], *, limit: int) -> list[Proposal]:
        """Open proposals in any of these areas, newest first."""
        ...

    def add_support(self, support: Support) -> SupportWrite:
        """The support item (once per person) and the count, in one transaction."""
        ...

    def remove_support(self, proposal_id: str, participant_id: str) -> bool:
        """Delete the person's support and count it out; False if there was none."""
        ...

    def get_support(self, proposal_id: str, participant_id: str) -> Support | None: ...

    def record_threshold(self, proposal_id: str, *, now: datetime) -> bool:
        """If the supports reached the threshold and it was never recorded: record it and
        put THRESHOLD_REACHED in the outbox, in one transaction. True for the one winner."""
        ...

    def adopt(self, proposal_id: str, challenge_id: str, *, now: datetime) -> Proposal | None:
        """Move an open proposal to adopted, linked to `challenge_id`; None if not open."""
        ...

    def supporters(
        self,
        proposal_id: str,
        *,
        after: str | None,
        limit: int | None,
        until: str | None = None,
    ) -> Page[Support]:
        """Supports in participant order after `after`: at most `limit` (the cursor: the last
        participant id, when more may follow), or up to `until` inclusive."""
        ...

    def add_chunk(self, chunk: SupporterChunk) -> bool:
        """Put a supporters' chunk in the outbox unless it is there; True if written now."""
        ...

    def get_chunk(self, proposal_id: str, key: str) -> SupporterChunk | None: ...

    def of_participant(self, participant_id: str) -> tuple[list[Proposal], list[Support]]:
        """What a person proposed and supported (their export)."""
        ...

    def erase_participant(self, participant_id: str) -> int:
        """Delete the person's supports (counted out of open proposals) and remove their
        identity and address from their proposals; how many items changed."""
        ...


class ProposalClaimRefused(Enum):
    SETTLED = "settled"  # sent, or given up for good
    HELD = "held"  # another sender's lease runs


@dataclass(frozen=True)
class ProposalRecipient:
    """One message of a proposal event: `key` is unique per proposal and event."""

    event: ProposalEvent
    channel: str  # "email" or "webhook"
    key: str  # "proposer", "contact", or a supporter's participant id
    to: str
    participant_id: str | None = None  # set for people (their export and erasure)
    locale: str | None = None

    @property
    def recipient(self) -> str:
        return f"{self.event.value}#{self.channel}#{self.key}"


@dataclass(frozen=True)
class ProposalClaim:
    proposal_id: str
    recipient: str
    attempts: int
    lease_until: datetime


@dataclass(frozen=True)
class ProposalDeliveryRecord:
    """A person's proposal e-mail as the log holds it (their export)."""

    proposal_id: str
    recipient: str
    status: str
    attempts: int
    sent_at: datetime | None


class ProposalDeliveryRepository(Protocol):
    def claim(
        self,
        proposal_id: str,
        recipient: ProposalRecipient,
        *,
        now: datetime,
        lease: timedelta,
    ) -> ProposalClaim | ProposalClaimRefused: ...

    def mark_sent(self, claim: ProposalClaim, *, now: datetime) -> None: ...

    def mark_failed(self, claim: ProposalClaim, *, error: str, final: bool) -> None: ...

    def of_participant(self, participant_id: str) -> list[ProposalDeliveryRecord]: ...

    def delete_for_participant(self, participant_id: str) -> int: ...


class ProposalWebhook(Protocol):
    def post(self, url: str, secret: str, *, event: str, delivery_id: str, body: bytes) -> None:
        """POST a signed JSON body; raises WebhookError."""
        ...
