"""Citizen proposals: a challenge anyone signed in suggests, approved or rejected by an
admin, supported once per person, and adopted as a draft challenge (issue 14, part 1)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from chalicelib.domain.errors import ConflictError, NotFoundError
from chalicelib.domain.model import Target

PROPOSAL_ID_PREFIX = "prop_"
# Supports an addressed organisation's contacts wait for, unless it sets its own.
DEFAULT_SUPPORT_THRESHOLD = 10
# Outbox items of proposals share the challenge outbox (challenge_events): their sort key
# starts with this, which no milestone or fan-out chunk key does.
PROPOSAL_EVENT_PREFIX = "proposal#"


class ProposalStatus(StrEnum):
    PENDING = "pending"
    OPEN = "open"  # approved: listed, and open to supports
    REJECTED = "rejected"
    ADOPTED = "adopted"  # turned into a draft challenge; supports stay counted, no new ones


class ProposalEvent(StrEnum):
    """What the proposal notifier tells whom (each recipient once per proposal and event)."""

    APPROVED = "approved"  # the proposer
    REJECTED = "rejected"  # the proposer
    THRESHOLD_REACHED = "threshold_reached"  # the addressed organisation's contacts + webhook
    CHALLENGE_LIVE = "challenge_live"  # the proposer and every supporter

    @property
    def key(self) -> str:
        return PROPOSAL_EVENT_PREFIX + self.value


def is_proposal_event_key(event_key: str) -> bool:
    return event_key.startswith(PROPOSAL_EVENT_PREFIX)


def proposal_event_from_key(event_key: str) -> ProposalEvent:
    if not is_proposal_event_key(event_key):
        raise ValueError(f"{event_key!r} is not a proposal event")
    return ProposalEvent(event_key.removeprefix(PROPOSAL_EVENT_PREFIX))


# The supporters' fan-out chunks of a proposal event, beside its outbox record (the same
# partition, the proposal id); no other outbox key starts with this.
SUPPORTER_CHUNK_PREFIX = "supporters#"


@dataclass(frozen=True)
class SupporterChunk:
    """One page of a proposal's supporters to tell of `event`: those after `after` (exclusive;
    None: from the first). Chunk `page` n+1 is written by chunk n."""

    proposal_id: str
    event: ProposalEvent
    occurred_at: datetime
    page: int = 0
    after: str | None = None

    @property
    def key(self) -> str:
        """Deterministic, so a redelivered chunk writes the same successor, once."""
        return f"{SUPPORTER_CHUNK_PREFIX}{self.event.value}#{self.page}"

    def successor(self, after: str) -> SupporterChunk:
        return replace(self, page=self.page + 1, after=after)

    @classmethod
    def from_key(
        cls, proposal_id: str, key: str, occurred_at: datetime, after: str | None
    ) -> SupporterChunk:
        parts = key.removeprefix(SUPPORTER_CHUNK_PREFIX).split("#")
        if not key.startswith(SUPPORTER_CHUNK_PREFIX) or len(parts) != 2:
            raise ValueError(f"{key!r} is not a supporters' chunk")
        return cls(proposal_id, ProposalEvent(parts[0]), occurred_at, int(parts[1]), after)


def is_supporter_chunk_key(event_key: str) -> bool:
    return event_key.startswith(SUPPORTER_CHUNK_PREFIX)


@dataclass(frozen=True)
class Proposal:
    id: str
    proposer_id: str
    title: str
    action: str
    description: str
    suggested_target: Target
    area: str  # a ~5 km geohash cell or a postal district: never the exact place
    status: ProposalStatus
    created_at: datetime
    support_threshold: int = DEFAULT_SUPPORT_THRESHOLD
    organization_id: str | None = None
    supports: int = 0
    decided_at: datetime | None = None
    decision_reason: str | None = None
    threshold_reached_at: datetime | None = None
    challenge_id: str | None = None
    # Private: where the proposer's e-mails go (the token's verified address) and in which
    # language. Never shown to anyone else.
    proposer_email: str | None = field(default=None, repr=False)
    proposer_locale: str | None = None

    @property
    def created_key(self) -> str:
        return f"{self.created_at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{self.id}"

    def with_changes(self, **changes: object) -> Proposal:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Support:
    """One person's support of a proposal: at most one item per proposal and person."""

    proposal_id: str
    participant_id: str
    created_at: datetime
    email: str | None = field(default=None, repr=False)  # told when its challenge goes live
    locale: str | None = None


class ProposalNotFoundError(NotFoundError):
    def __init__(self, proposal_id: str) -> None:
        super().__init__(f"proposal {proposal_id!r} does not exist")


class ProposalNotOpenError(ConflictError):
    """Supports are taken only by an approved (open) proposal."""

    def __init__(self, proposal_id: str, status: ProposalStatus) -> None:
        super().__init__(
            f"proposal {proposal_id!r} is {status}: only an open (approved) proposal takes supports"
        )


class ProposalNotPublicError(ConflictError):
    """Meetups are held on a proposal everyone may see: an open (approved) or adopted one."""

    def __init__(self, proposal_id: str, status: ProposalStatus) -> None:
        super().__init__(
            f"proposal {proposal_id!r} is {status}: meetups are only held on an open "
            "(approved) or adopted proposal"
        )


class ProposalDecidedError(ConflictError):
    """Approving, rejecting or adopting a proposal whose status no longer allows it."""
