"""An in-memory VoteRepository over the FakeDatabase, keeping the DynamoDB one's promises:
a vote moves between shards only if the pledge still carries the vote that was read, and
no closed shard changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from chalicelib.domain.model import Challenge, ChallengeStatus, Milestone, Party, Pledge
from chalicelib.domain.votes import BeneficiaryChoice, CastOutcome
from chalicelib.storage.votes import vote_shard_key
from tests.unit.fakes import FakeDatabase


class FakeVoteRepository:
    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def cast(self, pledge: Pledge, candidate_id: str, shard: int, now: datetime) -> CastOutcome:
        key = (pledge.participant_id, pledge.challenge_id)
        new_key = vote_shard_key(pledge.challenge_id, candidate_id, shard)
        old_key = (
            vote_shard_key(pledge.challenge_id, pledge.candidate_id, pledge.vote_shard or 0)
            if pledge.candidate_id is not None
            else None
        )
        with self._db.lock:
            current = self._db.pledges.get(key)
            if (
                current is None
                or key in self._db.erasing
                or current.candidate_id != pledge.candidate_id
            ):
                return CastOutcome.CHANGED
            if new_key in self._db.closed_vote_shards or old_key in self._db.closed_vote_shards:
                return CastOutcome.CLOSED
            self._db.pledges[key] = replace(
                current, candidate_id=candidate_id, voted_at=now, vote_shard=shard
            )
            self._db.vote_shards[new_key] = self._db.vote_shards.get(new_key, 0) + 1
            if old_key is not None:
                self._db.vote_shards[old_key] = self._db.vote_shards.get(old_key, 0) - 1
            return CastOutcome.CAST

    def tallies(
        self, challenge_id: str, candidate_ids: Sequence[str], shards: int, *, consistent: bool
    ) -> dict[str, int]:
        with self._db.lock:
            return {
                candidate: sum(
                    self._db.vote_shards.get(vote_shard_key(challenge_id, candidate, shard), 0)
                    for shard in range(shards)
                )
                for candidate in candidate_ids
            }

    def freeze(self, challenge_id: str, candidate_ids: Sequence[str], shards: int) -> None:
        with self._db.lock:
            self._db.closed_vote_shards.update(
                vote_shard_key(challenge_id, candidate, shard)
                for candidate in candidate_ids
                for shard in range(shards)
            )

    def record_result(
        self, challenge: Challenge, result: BeneficiaryChoice, milestone: Milestone
    ) -> bool:
        winner = result.winner
        if winner is None:
            raise ValueError("a vote's result names its winner")
        with self._db.lock:
            stored = self._db.challenges.get(challenge.id)
            if stored is None or stored.beneficiary_choice is None:
                return False
            if stored.beneficiary_choice.closed:
                return False
            if (challenge.id, milestone.event) in self._db.milestones:
                return False
            self._db.store_challenge(
                replace(
                    stored,
                    beneficiary_choice=result,
                    beneficiary=Party(name=winner.name, email=winner.email),
                )
            )
            self._db.milestones[(challenge.id, milestone.event)] = milestone
            return True

    def list_due(self, now: datetime) -> list[Challenge]:
        with self._db.lock:
            return [
                c
                for c in self._db.challenges.values()
                if c.status is ChallengeStatus.LIVE
                and c.beneficiary_choice is not None
                and not c.beneficiary_choice.closed
                and c.beneficiary_choice.due_at(now)
            ]
