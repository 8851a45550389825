"""The small interfaces services depend on; DynamoDB, SES and in-memory fakes implement them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Generic, Protocol, TypeVar

from chalicelib.domain.model import (
    Challenge,
    ChallengeStatus,
    Delivery,
    Milestone,
    Pledge,
    Totals,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class ChallengeChanges:
    """Fields an admin may change; only the ones present in `fields` are written."""

    fields: dict[str, object] = field(default_factory=dict)

    @property
    def changes_target(self) -> bool:
        return "target" in self.fields


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ChallengeRepository(Protocol):
    def add(self, challenge: Challenge) -> None: ...

    def get(self, challenge_id: str) -> Challenge | None: ...

    def list(
        self,
        statuses: Sequence[ChallengeStatus],
        *,
        limit: int,
        cursor: str | None,
        campaign_id: str | None = None,
    ) -> Page[Challenge]: ...

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
        self, challenge_id: str, source: ChallengeStatus, target: ChallengeStatus, now: datetime
    ) -> Challenge | None:
        """Move from `source` to `target`; None if the challenge was not in `source`."""
        ...

    def save_totals(self, challenge_id: str, totals: Totals) -> bool:
        """Store totals unless newer ones (a higher version) are already stored."""
        ...

    def record_milestone(self, challenge: Challenge, milestone: Milestone) -> bool:
        """Write a milestone once; for `challenge.reached` also set `reached_at` once,
        only while the target is still met. False if it was already recorded."""
        ...


class PledgeRepository(Protocol):
    def add(self, pledge: Pledge, shard: int) -> bool:
        """Store the pledge and count it in `shard`, atomically; False if it already existed."""
        ...

    def get(self, challenge_id: str, participant_id: str) -> Pledge | None: ...

    def remove(self, challenge_id: str, participant_id: str, shard: int) -> bool:
        """Delete the pledge and uncount it, atomically; False if there was none."""
        ...

    def list_for_participant(
        self, participant_id: str, *, limit: int, cursor: str | None
    ) -> Page[Pledge]: ...


class CounterRepository(Protocol):
    def totals(self, challenge_id: str, shards: int) -> Totals:
        """Sum of the challenge's counter shards, read strongly consistently."""
        ...


class DeliveryRepository(Protocol):
    def claim(self, delivery: Delivery, *, now: datetime, lease: timedelta) -> Delivery | None:
        """Take the right to send `delivery` now (recording one more attempt), or None
        when it was already sent, has failed for good, or another sender holds it."""
        ...

    def mark_sent(self, delivery: Delivery, *, now: datetime) -> None: ...

    def mark_failed(self, delivery: Delivery, *, error: str, final: bool) -> None: ...

    def list_for_challenge(self, challenge_id: str) -> list[Delivery]: ...


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


class MailerError(Exception):
    """The e-mail provider refused or failed to take the message."""
