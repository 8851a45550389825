"""A participant's rights over their personal data: see it all (`GET /me/export`) and erase it
(`DELETE /me`) without changing any figure.

Erasure pseudonymises rather than deletes: each pledge, report, participant e-mail log entry
and moderation record is moved to a random id unrelated to the `sub` (one per erasure, so the
participant's pledges in a campaign still count as one person), with no name, address or
language. Counts,
quantities, campaign totals, area counts and series are kept by what was counted when the
pledge was made, which the move does not touch (storage/personal_data.py). The inventory of
what is held, and for how long, is docs/privacy.md.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Protocol, TypeVar

from chalicelib.domain.errors import ContentionError
from chalicelib.domain.model import (
    Delivery,
    ModerationAction,
    Pledge,
    Principal,
    Report,
    counter_shard_for,
)
from chalicelib.services.ports import ChallengeRepository, Clock

# Passes over what is still held before an erasure gives up (503, retry): each pass moves
# what the last listing found; pledges and reports the participant makes meanwhile are
# found by the next one.
ERASURE_PASSES = 4
PSEUDONYM_PREFIX = "erased_"

T = TypeVar("T")


def new_pseudonym() -> str:
    """A random id: nothing in it derives from the participant."""
    return PSEUDONYM_PREFIX + secrets.token_hex(12)


class MoveOutcome(Enum):
    MOVED = "moved"  # now held under the pseudonym only
    GONE = "gone"  # no longer held (withdrawn or moved meanwhile): nothing to do
    TAKEN = "taken"  # the pseudonym already holds this key: try another pseudonym
    RETRY = "retry"  # it kept changing under the move: the next pass takes it


@dataclass(frozen=True)
class StoredAnswer:
    """An answer kept for an Idempotency-Key replay of the participant's pledge or report."""

    operation: str  # "pledge" or "report"
    challenge_id: str
    status: int | None
    body: str | None  # the answer's JSON, as it would be replayed
    expires_at: datetime | None


@dataclass(frozen=True)
class PersonalRecords:
    """What storage holds under a participant's `sub`."""

    pledges: list[Pledge] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)  # e-mails addressed to them
    # Moderators' actions on their pledges (each with the pledge as it was, and a reason).
    moderation: list[ModerationAction] = field(default_factory=list)
    # Replayable answers of their keyed pledges and reports: copies of the above, deleted
    # with the pledge or report they answered when it is pseudonymised.
    answers: list[StoredAnswer] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.pledges or self.reports or self.deliveries or self.moderation)


class PersonalDataRepository(Protocol):
    def records(self, participant_id: str) -> PersonalRecords:
        """Everything held under `participant_id`, read consistently."""
        ...

    def begin_erasure(self, participant_id: str, pseudonym: str, *, now: datetime) -> str:
        """The pseudonym of the participant's erasure under way, `pseudonym` if none is: one
        per person however many calls run at once or retry a call that stopped half-way."""
        ...

    def end_erasure(self, participant_id: str) -> None:
        """Forget the erasure under way (its pseudonym): nothing is left to move."""
        ...

    def pseudonymise_pledge(self, pledge: Pledge, pseudonym: str, shard: int) -> MoveOutcome:
        """Move the pledge to `pseudonym` without name, e-mail or locale, keeping its area,
        quantity and date, and recording `shard`, the counter shard it was counted on; no
        count changes. A withdrawal of it meanwhile leaves nothing to move (GONE)."""
        ...

    def pseudonymise_report(self, report: Report, pseudonym: str) -> MoveOutcome: ...

    def pseudonymise_delivery(
        self, delivery: Delivery, pseudonym: str, *, now: datetime
    ) -> MoveOutcome:
        """Move a participant e-mail's log entry to `pseudonym`, without its address; not
        while a sender's lease on it runs (RETRY), but over a lease that ended by `now`."""
        ...

    def pseudonymise_moderation(self, action: ModerationAction, pseudonym: str) -> MoveOutcome:
        """Move a moderation record to `pseudonym`, without the name it kept of the pledge
        (its reason, date and moderator stay: the admin view of the moved pledge shows them)."""
        ...


@dataclass(frozen=True)
class PersonalExport:
    subject: str
    generated_at: datetime
    records: PersonalRecords


@dataclass(frozen=True)
class Erasure:
    """What one `DELETE /me` moved (0s for a second call), and to which pseudonym (None
    when nothing was held)."""

    pseudonym: str | None
    pledges: int = 0
    reports: int = 0
    notifications: int = 0
    moderation: int = 0


class PersonalDataService:
    def __init__(
        self,
        store: PersonalDataRepository,
        challenges: ChallengeRepository,
        clock: Clock,
        *,
        pseudonyms: Callable[[], str] = new_pseudonym,
        passes: int = ERASURE_PASSES,
    ) -> None:
        self._store = store
        self._challenges = challenges
        self._clock = clock
        self._pseudonyms = pseudonyms
        self._passes = passes

    def export(self, principal: Principal) -> PersonalExport:
        return PersonalExport(principal.sub, self._clock.now(), self._store.records(principal.sub))

    def erase(self, principal: Principal) -> Erasure:
        """Pseudonymise everything held under the caller's `sub`; idempotent (a second call
        finds nothing and moves nothing)."""
        records = self._store.records(principal.sub)
        if records.empty:
            self._store.end_erasure(principal.sub)  # one that ended before its last step
            return Erasure(None)
        # Concurrent calls, and a call finishing one that stopped half-way, share one
        # pseudonym, so that the participant still counts once in a campaign.
        pseudonym = self._store.begin_erasure(
            principal.sub, self._pseudonyms(), now=self._clock.now()
        )
        moved = Erasure(pseudonym)
        for _ in range(self._passes):
            if records.empty:
                self._store.end_erasure(principal.sub)
                return moved
            moved = Erasure(
                pseudonym,
                pledges=moved.pledges
                + sum(self._pledge(pledge, pseudonym) for pledge in records.pledges),
                reports=moved.reports
                + sum(
                    self._moved(self._store.pseudonymise_report, report, pseudonym)
                    for report in records.reports
                ),
                notifications=moved.notifications
                + sum(
                    self._moved(self._delivery, delivery, pseudonym)
                    for delivery in records.deliveries
                ),
                moderation=moved.moderation
                + sum(
                    self._moved(self._store.pseudonymise_moderation, action, pseudonym)
                    for action in records.moderation
                ),
            )
            records = self._store.records(principal.sub)
        if records.empty:
            self._store.end_erasure(principal.sub)
            return moved
        raise ContentionError("your data kept changing while it was being erased; try again")

    def _delivery(self, delivery: Delivery, pseudonym: str) -> MoveOutcome:
        return self._store.pseudonymise_delivery(delivery, pseudonym, now=self._clock.now())

    def _pledge(self, pledge: Pledge, pseudonym: str) -> bool:
        challenge = self._challenges.get(pledge.challenge_id)
        # The shard the pledge was counted on, so that removing it later (moderation) takes
        # it off the same shard. A challenge is never deleted; 1 shard if it were.
        shard = counter_shard_for(
            pledge.participant_id, challenge.counter_shards if challenge else 1
        )
        return self._moved(
            lambda item, name: self._store.pseudonymise_pledge(item, name, shard), pledge, pseudonym
        )

    def _moved(self, move: Callable[[T, str], MoveOutcome], item: T, pseudonym: str) -> bool:
        outcome = move(item, pseudonym)
        if outcome is MoveOutcome.TAKEN:
            # The same key again under this pseudonym (pledged anew on the same challenge
            # during the erasure): that second pledge gets a pseudonym of its own.
            outcome = move(item, self._pseudonyms())
        return outcome is MoveOutcome.MOVED
