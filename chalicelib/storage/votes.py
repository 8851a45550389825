"""Beneficiary votes in DynamoDB: a vote is an attribute of its pledge item, counted on the
vote's counter shards in the same transaction, and closed by freezing those shards.

- **Casting** (`cast`) sets `candidate_id` on the participant's pledge item (the condition:
  the pledge exists, is not being erased, and carries the vote that was read) and moves one
  vote between the candidates' shards `vote#<challenge>#<candidate>#<shard>` in the
  counters table (the shard is the participant's, as for pledges): no item takes every vote
  of a hot challenge, and no stream is needed to count them.
- **Withdrawing** the pledge deletes the item, and with it the vote (`count_vote` -1, in the
  pledge's own transaction: storage/pledges.py).
- **Closing** (`freeze`) marks every shard `closed`; a vote or withdrawal that would change
  a closed shard is refused (its condition), so once all are marked the consistent sum
  (`tallies`) is final and exact. `record_result` then fixes the winner once, as the
  challenge's beneficiary, with the outbox's `vote.closed`, in one conditional transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from chalicelib.domain.model import Challenge, ChallengeStatus, Milestone, Party, Pledge
from chalicelib.domain.votes import VOTE_SHARD_PREFIX, BeneficiaryChoice, CastOutcome
from chalicelib.settings import Settings
from chalicelib.storage.challenges import challenge_from_item, milestone_to_item, party_to_item
from chalicelib.storage.connection import connection
from chalicelib.storage.tables import (
    ChallengeEventItem,
    ChallengeItem,
    CounterShardItem,
    PledgeItem,
)
from chalicelib.storage.transactions import (
    CONDITIONAL_CHECK_FAILED,
    cancellation_codes,
    transact_unless_refused,
    with_transaction_retries,
)

# Marking a vote's shards closed: up to 10 candidates x 32 shards, once per challenge.
FREEZE_THREADS = 8


def vote_shard_key(challenge_id: str, candidate_id: str, shard: int) -> str:
    return f"{VOTE_SHARD_PREFIX}{challenge_id}#{candidate_id}#{shard}"


def same_vote(candidate_id: str | None) -> Condition:
    """The pledge still carries this vote (None: no vote)."""
    if candidate_id is None:
        condition: Condition = PledgeItem.candidate_id.does_not_exist()
    else:
        condition = PledgeItem.candidate_id == candidate_id
    return condition


def count_vote(
    transaction: TransactWrite, challenge_id: str, candidate_id: str, shard: int, delta: int
) -> None:
    """Count a vote in (+1) or out (-1) on its shard, unless the vote closed."""
    transaction.update(
        CounterShardItem(id=vote_shard_key(challenge_id, candidate_id, shard)),
        actions=[CounterShardItem.participants.add(delta), CounterShardItem.version.add(1)],
        condition=CounterShardItem.closed.does_not_exist(),
    )


class DynamoVoteRepository:
    def __init__(self, settings: Settings) -> None:
        self._connection = connection(settings)

    def cast(self, pledge: Pledge, candidate_id: str, shard: int, now: datetime) -> CastOutcome:
        """Move `pledge`'s vote (as read) to `candidate_id`, counted on `shard`."""
        previous, previous_shard = pledge.candidate_id, pledge.vote_shard

        def write() -> None:
            with TransactWrite(connection=self._connection) as transaction:
                # First: a refusal at position 0 is the pledge's.
                transaction.update(
                    PledgeItem(
                        participant_id=pledge.participant_id, challenge_id=pledge.challenge_id
                    ),
                    actions=[
                        PledgeItem.candidate_id.set(candidate_id),
                        PledgeItem.voted_at.set(now),
                        PledgeItem.vote_shard.set(shard),
                    ],
                    condition=PledgeItem.challenge_id.exists()
                    & PledgeItem.erasing.does_not_exist()
                    & same_vote(previous),
                )
                count_vote(transaction, pledge.challenge_id, candidate_id, shard, +1)
                if previous is not None and previous_shard is not None:
                    count_vote(transaction, pledge.challenge_id, previous, previous_shard, -1)

        try:
            with_transaction_retries(write)
        except TransactWriteError as error:
            codes = cancellation_codes(error)
            if codes[:1] == [CONDITIONAL_CHECK_FAILED]:
                return CastOutcome.CHANGED
            if CONDITIONAL_CHECK_FAILED in codes:
                return CastOutcome.CLOSED
            raise
        return CastOutcome.CAST

    def tallies(
        self, challenge_id: str, candidate_ids: Sequence[str], shards: int, *, consistent: bool
    ) -> dict[str, int]:
        keys = {
            vote_shard_key(challenge_id, candidate, shard): candidate
            for candidate in candidate_ids
            for shard in range(shards)
        }
        votes = dict.fromkeys(candidate_ids, 0)
        for item in CounterShardItem.batch_get(list(keys), consistent_read=consistent):
            votes[keys[item.id]] += int(item.participants)
        return votes

    def freeze(self, challenge_id: str, candidate_ids: Sequence[str], shards: int) -> None:
        """Mark every shard of the vote closed (again, harmlessly, after a crash)."""
        keys = [
            vote_shard_key(challenge_id, candidate, shard)
            for candidate in candidate_ids
            for shard in range(shards)
        ]

        def close(key: str) -> None:
            CounterShardItem(id=key).update(actions=[CounterShardItem.closed.set(True)])

        with ThreadPoolExecutor(max_workers=FREEZE_THREADS) as pool:
            list(pool.map(close, keys))

    def record_result(
        self, challenge: Challenge, result: BeneficiaryChoice, milestone: Milestone
    ) -> bool:
        """Fix the vote's result, the winner as beneficiary, and write `vote.closed` to the
        outbox: all or nothing, and only if no result was fixed before."""
        winner, closed_at, tallies = result.winner, result.closed_at, result.final_tallies
        if winner is None or closed_at is None or tallies is None:
            raise ValueError("a vote's result names its winner, time and tallies")

        def write() -> None:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.update(
                    ChallengeItem(id=challenge.id),
                    actions=[
                        ChallengeItem.vote_winner.set(winner.id),
                        ChallengeItem.vote_closed_at.set(closed_at),
                        ChallengeItem.vote_tallies.set(dict(tallies)),
                        ChallengeItem.beneficiary.set(
                            party_to_item(Party(name=winner.name, email=winner.email))
                        ),
                    ],
                    condition=ChallengeItem.id.exists()
                    & ChallengeItem.vote_winner.does_not_exist(),
                )
                transaction.save(
                    milestone_to_item(milestone),
                    condition=ChallengeEventItem.event.does_not_exist(),
                )

        return transact_unless_refused(write)

    def list_due(self, now: datetime) -> list[Challenge]:
        """Live challenges whose vote is past its `closes_at` and has no result yet."""
        result = ChallengeItem.by_status.query(
            ChallengeStatus.LIVE.value,
            filter_condition=(ChallengeItem.vote_closes_at <= now)
            & ChallengeItem.vote_winner.does_not_exist(),
        )
        return [challenge_from_item(item) for item in result]


def candidate_ids(choice: BeneficiaryChoice) -> list[str]:
    return [candidate.id for candidate in choice.candidates]


def tallies_by_candidate(choice: BeneficiaryChoice, votes: Mapping[str, int]) -> dict[str, int]:
    return {candidate.id: int(votes.get(candidate.id, 0)) for candidate in choice.candidates}
