"""What the pledges stream counts: a challenge's participants (and the quantity they offer)
on its counter shards, participants per coarse area, and pledges made and withdrawn per
hour, each stream record exactly once however often it is delivered.

The pledge path writes nothing for these (a pledge item carries its `area`, its
`created_at`, its counter shard and its offer, that is all). The `count_areas` stream trigger
turns each batch of pledges made and withdrawn into changes grouped by challenge, and the
repository applies each group once: a burst of pledges on one challenge becomes a write per
counter shard, area and hour, not per pledge.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chalicelib.domain.series import hour_key
from chalicelib.services.ports import Clock


@dataclass(frozen=True)
class PledgeChange:
    """One stream record's effect: a pledge made (+1) or withdrawn (-1)."""

    receipt: str  # the stream record's sequence number: unique in its stream
    challenge_id: str
    delta: int
    at: datetime  # when: the pledge's creation, or the withdrawal's stream record
    area: str | None = None
    shard: int = 0  # the pledge's counter shard (any of the challenge's shards would do)
    offered: int | float = 0  # the quantity the pledge offers, in the challenge's unit

    @property
    def hour(self) -> str:
        return hour_key(self.at)


def group_changes(changes: Iterable[PledgeChange]) -> list[list[PledgeChange]]:
    """The changes by challenge, groups in the order they first appear."""
    groups: dict[str, list[PledgeChange]] = {}
    for change in changes:
        groups.setdefault(change.challenge_id, []).append(change)
    return list(groups.values())


class TallyRepository(Protocol):
    def apply(self, challenge_id: str, changes: Sequence[PledgeChange], *, now: datetime) -> int:
        """Add the changes to the challenge's counter shards, area counts and hourly counts,
        skipping every
        change already applied (by its receipt), atomically with recording their receipts;
        returns how many changes were applied now."""
        ...


class TallyService:
    def __init__(self, tallies: TallyRepository, clock: Clock) -> None:
        self._tallies = tallies
        self._clock = clock

    def count(self, changes: Sequence[PledgeChange]) -> int:
        """Apply one group of changes (one challenge) exactly once."""
        if not changes:
            return 0
        challenge_id = changes[0].challenge_id
        if any(change.challenge_id != challenge_id for change in changes):
            raise ValueError("a group of pledge changes must share one challenge")
        return self._tallies.apply(challenge_id, changes, now=self._clock.now())
