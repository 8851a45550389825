"""The beneficiary vote (Solidons): the participants choose who receives the sponsor's reward.

A challenge created with a `BeneficiaryChoice` lists 2 to 10 candidates. Each participant with
a current pledge has one vote, which they may change until the vote closes: at `closes_at`,
when the challenge reaches its target or ends, whichever comes first. Then the winner is fixed
once and becomes the challenge's beneficiary for every notification.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.domain.model import Party

MIN_CANDIDATES = 2
MAX_CANDIDATES = 10
CANDIDATE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
# Prefix of a vote's counter shard keys in the counters table (beside the challenges'
# `ch_…#<shard>` and the campaigns' shards): never read by the progress aggregator.
VOTE_SHARD_PREFIX = "vote#"


class CastOutcome(Enum):
    """What became of a vote written to storage."""

    CAST = "cast"
    CHANGED = "changed"  # the pledge is gone, being erased, or its vote changed: read again
    CLOSED = "closed"  # a shard it would change is closed: the vote has closed


@dataclass(frozen=True)
class Candidate:
    """One organisation the participants may choose: public name, description and site,
    private e-mail (it gets `vote.closed`, and the reward's e-mails if it wins)."""

    id: str
    name: str
    email: str = field(repr=False)
    description: str = ""
    url: str | None = None


@dataclass(frozen=True)
class BeneficiaryChoice:
    candidates: tuple[Candidate, ...]
    closes_at: datetime | None = None
    # Set once, together, when the vote closes.
    closed_at: datetime | None = None
    winner_id: str | None = None
    final_tallies: Mapping[str, int] | None = None

    @property
    def closed(self) -> bool:
        return self.winner_id is not None

    def candidate(self, candidate_id: str) -> Candidate | None:
        return next((c for c in self.candidates if c.id == candidate_id), None)

    @property
    def winner(self) -> Candidate | None:
        return None if self.winner_id is None else self.candidate(self.winner_id)

    def due_at(self, now: datetime) -> bool:
        """Whether its own deadline has passed (the challenge's may close it earlier)."""
        return self.closes_at is not None and now >= self.closes_at

    def with_result(self, closed_at: datetime, tallies: Mapping[str, int]) -> BeneficiaryChoice:
        return replace(
            self,
            closed_at=closed_at,
            winner_id=pick_winner(self.candidates, tallies).id,
            final_tallies=dict(tallies),
        )


def placeholder_beneficiary(choice: BeneficiaryChoice) -> Party:
    """The beneficiary of a challenge whose vote is open: the candidates' names, no address
    (nobody is told anything as the beneficiary before the vote closes)."""
    from chalicelib.domain.model import Party

    return Party(name=" / ".join(c.name for c in choice.candidates), email="")


def pick_winner(candidates: tuple[Candidate, ...], tallies: Mapping[str, int]) -> Candidate:
    """The candidate with the most votes; a tie goes to the one listed first by the
    challenge's creator (so a vote nobody took part in goes to the first candidate)."""
    if not candidates:
        raise ValueError("a vote without candidates has no winner")
    return max(enumerate(candidates), key=lambda pair: (tallies.get(pair[1].id, 0), -pair[0]))[1]


@dataclass(frozen=True)
class Vote:
    challenge_id: str
    participant_id: str
    candidate_id: str
    cast_at: datetime


@dataclass(frozen=True)
class HeldVote:
    """What a withdrawal knows of the vote its pledge carries: the candidate (None: no vote)
    and its shard, and whether to count it out (not once the vote's shards are closed: the
    tallies are final then). The withdrawal applies only if the pledge still carries it."""

    candidate_id: str | None
    shard: int | None
    count_out: bool = True


@dataclass(frozen=True)
class VoteTallies:
    """The votes per candidate: live (summed from the vote's shards) or final (closed)."""

    challenge_id: str
    choice: BeneficiaryChoice
    votes: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.votes.values())
