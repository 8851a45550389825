"""Geolocated social proof: participants per coarse area, counted from the pledges stream.

The pledge path writes nothing for areas (a pledge item carries its `area`, that is all). The
`count_areas` stream trigger turns each batch of pledges made and withdrawn into one change
per (challenge, area), and the repository applies each change once however often the stream
delivers its records. Reads show only areas with enough participants (see domain.areas).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chalicelib.domain.areas import AreaCount, AreaSummary, shown_participants, summarize
from chalicelib.domain.model import Principal
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.ports import Clock


@dataclass(frozen=True)
class AreaChange:
    """One stream record's effect: a pledge made (+1) or withdrawn (-1) in an area."""

    receipt: str  # the stream record's sequence number: unique in its stream
    challenge_id: str
    area: str
    delta: int

    @property
    def group(self) -> tuple[str, str]:
        return self.challenge_id, self.area


def group_changes(changes: Iterable[AreaChange]) -> list[list[AreaChange]]:
    """The changes by (challenge, area), groups in the order they first appear: a burst of
    pledges in one area becomes one write."""
    groups: dict[tuple[str, str], list[AreaChange]] = {}
    for change in changes:
        groups.setdefault(change.group, []).append(change)
    return list(groups.values())


class AreaCountRepository(Protocol):
    def apply(
        self, challenge_id: str, area: str, changes: Sequence[AreaChange], *, now: datetime
    ) -> int:
        """Add the changes' deltas to the area's count, skipping every change already
        applied (by its receipt), atomically with recording their receipts; returns the
        delta actually added."""
        ...

    def counts(self, challenge_id: str) -> list[AreaCount]:
        """Every area of the challenge with its count (eventually consistent)."""
        ...

    def count(self, challenge_id: str, area: str) -> int: ...


class AreaService:
    def __init__(
        self, counts: AreaCountRepository, challenges: ChallengeService, clock: Clock
    ) -> None:
        self._counts = counts
        self._challenges = challenges
        self._clock = clock

    def count(self, changes: Sequence[AreaChange]) -> int:
        """Apply one group of changes (one challenge, one area) exactly once."""
        if not changes:
            return 0
        challenge_id, area = changes[0].group
        if any(change.group != (challenge_id, area) for change in changes):
            raise ValueError("a group of area changes must share one challenge and area")
        return self._counts.apply(challenge_id, area, changes, now=self._clock.now())

    def summary(self, challenge_id: str, principal: Principal | None) -> AreaSummary:
        """The challenge's areas as anyone who may see the challenge may see them."""
        self._visible(challenge_id, principal)
        return summarize(self._counts.counts(challenge_id))

    def nearby(self, challenge_id: str, principal: Principal | None, area: str) -> AreaCount:
        """How many participants share this area ("n people near you"; 0 when too few)."""
        self._visible(challenge_id, principal)
        return AreaCount(area, shown_participants(self._counts.count(challenge_id, area)))

    def _visible(self, challenge_id: str, principal: Principal | None) -> None:
        # The cached read, as on the pledge path: these are read far more than challenges
        # change, and a visibility change may take the cache's TTL (1 s) to show here.
        self._challenges.get_visible(challenge_id, principal, cached=True)
