"""The beneficiary vote: cast and change a vote, read the tallies, close the vote once.

Who may vote: a participant with a current pledge on the challenge, while the vote is open
(`Challenge.vote_open_at`). The vote closes at its `closes_at` (the schedule,
`close_due`), when the challenge reaches its target or ends (the notifier closes it before
it tells anyone, so the winner is the beneficiary they are told of), or when an admin closes
the challenge: whichever comes first. Closing freezes the vote's shards, sums them and fixes
the winner once (storage/votes.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from chalicelib.domain.errors import (
    ContentionError,
    InvalidFieldsError,
    NotPledgedError,
    NoVoteError,
    VoteClosedError,
)
from chalicelib.domain.model import (
    Challenge,
    EventType,
    Milestone,
    Pledge,
    Principal,
    counter_shard_for,
)
from chalicelib.domain.votes import BeneficiaryChoice, CastOutcome, Vote, VoteTallies
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.ports import (
    NO_METRICS,
    ChallengeRepository,
    Clock,
    MetricName,
    MetricsRecorder,
    PledgeRepository,
)

logger = logging.getLogger(__name__)

# A vote that keeps racing with the same participant's other writes is retried this often.
VOTE_ATTEMPTS = 3


class VoteRepository(Protocol):
    def cast(self, pledge: Pledge, candidate_id: str, shard: int, now: datetime) -> CastOutcome:
        """Move the vote `pledge` carries (as read) to `candidate_id`, counted on `shard`."""
        ...

    def tallies(
        self, challenge_id: str, candidate_ids: Sequence[str], shards: int, *, consistent: bool
    ) -> dict[str, int]: ...

    def freeze(self, challenge_id: str, candidate_ids: Sequence[str], shards: int) -> None:
        """Close every shard of the vote: no vote or withdrawal changes them after this."""
        ...

    def record_result(
        self, challenge: Challenge, result: BeneficiaryChoice, milestone: Milestone
    ) -> bool:
        """Fix the result (the winner as beneficiary) and write `vote.closed` to the outbox,
        once; False if a result was fixed before."""
        ...

    def list_due(self, now: datetime) -> Sequence[Challenge]:
        """Live challenges whose vote is past its own deadline and has no result yet."""
        ...


@dataclass
class VoteCloseRun:
    closed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class VoteService:
    def __init__(
        self,
        challenges: ChallengeService,
        repository: ChallengeRepository,
        pledges: PledgeRepository,
        votes: VoteRepository,
        clock: Clock,
        *,
        metrics: MetricsRecorder = NO_METRICS,
        tallies_ttl: timedelta = timedelta(seconds=2),
    ) -> None:
        self._challenges = challenges
        # An open vote's live tallies, summed from up to 10 × counter_shards items, are kept
        # this long per container: every watcher of a hot challenge polls them.
        self._tallies_ttl = tallies_ttl
        self._live: dict[str, tuple[datetime, dict[str, int]]] = {}
        self._live_lock = threading.Lock()
        # Read consistently (not through the container's cache) when closing.
        self._repository = repository
        self._pledges = pledges
        self._votes = votes
        self._clock = clock
        self._metrics = metrics

    def cast(self, principal: Principal, challenge_id: str, candidate_id: str) -> Vote:
        """One vote per pledge: a vote for another candidate replaces it; the same vote
        again changes nothing."""
        challenge = self._challenges.get_visible(challenge_id, principal, cached=True)
        choice = _choice(challenge)
        if choice.candidate(candidate_id) is None:
            known = ", ".join(candidate.id for candidate in choice.candidates)
            raise InvalidFieldsError(
                f"no candidate {candidate_id!r} in this vote",
                {"candidate_id": f"one of: {known}"},
            )
        now = self._clock.now()
        if not challenge.vote_open_at(now):
            raise VoteClosedError(_closed_reason(challenge, now))
        shard = counter_shard_for(principal.sub, challenge.counter_shards)
        for _ in range(VOTE_ATTEMPTS):
            pledge = self._pledges.get(challenge.id, principal.sub)
            if pledge is None:
                raise NotPledgedError(challenge.id, then="vote")
            if pledge.candidate_id == candidate_id and pledge.voted_at is not None:
                return _vote(pledge, candidate_id, pledge.voted_at)
            outcome = self._votes.cast(pledge, candidate_id, shard, now)
            if outcome is CastOutcome.CAST:
                self._metrics.count(MetricName.VOTES_CAST)
                return _vote(pledge, candidate_id, now)
            if outcome is CastOutcome.CLOSED:
                raise VoteClosedError("the vote has closed")
        raise ContentionError("your vote raced with your own pledge's changes; try again")

    def mine(self, principal: Principal, challenge_id: str) -> Vote | None:
        challenge = self._challenges.get_visible(challenge_id, principal)
        _choice(challenge)
        pledge = self._pledges.get(challenge.id, principal.sub)
        if pledge is None or pledge.candidate_id is None or pledge.voted_at is None:
            return None
        return _vote(pledge, pledge.candidate_id, pledge.voted_at)

    def tallies(self, principal: Principal | None, challenge_id: str) -> VoteTallies:
        """The final tallies once closed; before, the shards' sum (a vote is counted as soon
        as it is answered, read eventually consistently)."""
        challenge = self._challenges.get_visible(challenge_id, principal)
        choice = _choice(challenge)
        if choice.final_tallies is not None:
            return VoteTallies(challenge.id, choice, _by_candidate(choice, choice.final_tallies))
        return VoteTallies(challenge.id, choice, self._live_tallies(challenge, choice))

    def _live_tallies(self, challenge: Challenge, choice: BeneficiaryChoice) -> dict[str, int]:
        now = self._clock.now()
        with self._live_lock:
            cached = self._live.get(challenge.id)
        if cached is not None and now - cached[0] < self._tallies_ttl:
            return cached[1]
        votes = _by_candidate(
            choice,
            self._votes.tallies(
                challenge.id, _ids(choice), challenge.counter_shards, consistent=False
            ),
        )
        with self._live_lock:
            self._live[challenge.id] = (now, votes)
        return votes

    def close(self, challenge_id: str) -> Challenge | None:
        """Close the challenge's vote now, if it has one still open, and return the
        challenge as stored after: with the winner as beneficiary. Safe to run again and
        concurrently: every closer sums the same frozen shards, and one result is kept."""
        challenge = self._repository.get(challenge_id, consistent=True)
        if challenge is None or challenge.beneficiary_choice is None:
            return challenge
        choice = challenge.beneficiary_choice
        if choice.closed:
            return challenge
        ids = _ids(choice)
        self._votes.freeze(challenge.id, ids, challenge.counter_shards)
        votes = self._votes.tallies(challenge.id, ids, challenge.counter_shards, consistent=True)
        now = self._clock.now()
        result = choice.with_result(now, _by_candidate(choice, votes))
        milestone = Milestone(
            challenge.id, EventType.VOTE_CLOSED, now, challenge.totals, reached=challenge.reached
        )
        if self._votes.record_result(challenge, result, milestone):
            self._metrics.count(MetricName.VOTES_CLOSED)
        return self._repository.get(challenge.id, consistent=True)

    def close_due(self, *, should_stop: Callable[[], bool] = lambda: False) -> VoteCloseRun:
        """Close every live challenge's vote past its own `closes_at`."""
        run = VoteCloseRun()
        for challenge in self._votes.list_due(self._clock.now()):
            if should_stop():
                break
            try:
                self.close(challenge.id)
            except Exception:  # one broken vote must not hold back the others
                logger.exception("closing the vote of challenge %s failed", challenge.id)
                run.failed.append(challenge.id)
                continue
            run.closed.append(challenge.id)
        return run


def _choice(challenge: Challenge) -> BeneficiaryChoice:
    if challenge.beneficiary_choice is None:
        raise NoVoteError(challenge.id)
    return challenge.beneficiary_choice


def _ids(choice: BeneficiaryChoice) -> list[str]:
    return [candidate.id for candidate in choice.candidates]


def _by_candidate(choice: BeneficiaryChoice, votes: Mapping[str, int]) -> dict[str, int]:
    return {candidate.id: int(votes.get(candidate.id, 0)) for candidate in choice.candidates}


def _vote(pledge: Pledge, candidate_id: str, cast_at: datetime) -> Vote:
    return Vote(pledge.challenge_id, pledge.participant_id, candidate_id, cast_at)


def _closed_reason(challenge: Challenge, now: datetime) -> str:
    choice = challenge.beneficiary_choice
    if choice is not None and choice.closed:
        return "the vote has closed"
    if challenge.reached:
        return "the vote closed when the challenge reached its target"
    if choice is not None and choice.due_at(now):
        return "the vote has passed its closing time"
    return f"the vote is closed: this challenge is {challenge.status}"
