"""Geolocated social proof: participants per coarse area, counted from the pledges stream
(services.tallies). Reads show only areas with enough participants (see domain.areas)."""

from __future__ import annotations

from typing import Protocol

from chalicelib.domain.areas import AreaCount, AreaSummary, shown_participants, summarize
from chalicelib.domain.model import Principal
from chalicelib.services.challenges import ChallengeService


class AreaCountRepository(Protocol):
    def counts(self, challenge_id: str) -> list[AreaCount]:
        """Every area of the challenge with its count (eventually consistent)."""
        ...

    def count(self, challenge_id: str, area: str) -> int: ...


class AreaService:
    def __init__(self, counts: AreaCountRepository, challenges: ChallengeService) -> None:
        self._counts = counts
        self._challenges = challenges

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
