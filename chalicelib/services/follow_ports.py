"""The interfaces the follow and update services depend on (DynamoDB and in-memory fakes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Protocol

from chalicelib.domain.follows import ChallengeUpdate, Follow, FollowTarget, UpdateChunk
from chalicelib.services.ports import Page


class FollowRepository(Protocol):
    def put(self, follow: Follow) -> None:
        """Store a person's choice about a target (following or opted out), replacing any."""
        ...

    def get_many(
        self, participant_id: str, targets: Sequence[FollowTarget]
    ) -> dict[FollowTarget, Follow]:
        """The person's stored choices about these targets, read consistently."""
        ...

    def followers(
        self,
        target: FollowTarget,
        *,
        after: str | None,
        limit: int | None,
        until: str | None = None,
    ) -> Page[Follow]:
        """The target's items (following or not) by participant id after `after` and up to
        `until` (inclusive); `next_cursor`: the last participant id of a full page."""
        ...

    def of_participant(self, participant_id: str) -> list[Follow]:
        """Every choice a person made (following or opted out)."""
        ...

    def delete(self, follow: Follow) -> None: ...


class UpdateRepository(Protocol):
    def add(self, update: ChallengeUpdate, chunks: Sequence[UpdateChunk]) -> None:
        """Store the update and its first fan-out chunks together (one transaction)."""
        ...

    def get(self, challenge_id: str, created_key: str) -> ChallengeUpdate | None: ...

    def list_for_challenge(
        self, challenge_id: str, *, limit: int, before: str | None
    ) -> list[ChallengeUpdate]:
        """Newest first, those whose `created_key` is below `before` (None: from the newest)."""
        ...

    def add_chunk(self, chunk: UpdateChunk) -> bool:
        """Write a chunk once: False when it was already written (a redelivery)."""
        ...

    def get_chunk(self, challenge_id: str, key: str) -> UpdateChunk | None: ...


class UpdateClaimRefused(Enum):
    SETTLED = "settled"  # sent, or given up for good
    HELD = "held"  # another sender's lease runs


@dataclass(frozen=True)
class UpdateClaim:
    """A person's claim on one update's e-mail; `lease_until` fences its outcome."""

    update_id: str
    participant_id: str
    attempts: int
    lease_until: datetime


@dataclass(frozen=True)
class UpdateDeliveryRecord:
    """A person's update e-mail as the log holds it (their export)."""

    update_id: str
    challenge_id: str
    status: str
    attempts: int
    sent_at: datetime | None


class UpdateDeliveryRepository(Protocol):
    def claim(
        self,
        update: ChallengeUpdate,
        participant_id: str,
        *,
        now: datetime,
        lease: timedelta,
    ) -> UpdateClaim | UpdateClaimRefused: ...

    def mark_sent(self, claim: UpdateClaim, *, now: datetime) -> None: ...

    def mark_failed(self, claim: UpdateClaim, *, error: str, final: bool) -> None: ...

    def of_participant(self, participant_id: str) -> list[UpdateDeliveryRecord]: ...

    def delete_for_participant(self, participant_id: str) -> int: ...


class UnsubscribeSecret(Protocol):
    def get(self) -> bytes:
        """The key that signs unsubscribe links (read once, then kept)."""
        ...
