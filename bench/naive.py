"""The naive baseline: one counter item per challenge, updated in the pledge's transaction."""

from __future__ import annotations

from collections.abc import Callable

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.model import Pledge
from chalicelib.services.ports import Page
from chalicelib.settings import Settings
from chalicelib.storage.repositories import (
    CONDITIONAL_CHECK_FAILED,
    DynamoPledgeRepository,
    _cancellation_codes,
    _pledge_to_item,
    counter_key,
    with_transaction_retries,
)
from chalicelib.storage.tables import CounterShardItem, PledgeItem

# The one counter item is shard 0, so the stream aggregator (which sums a challenge's
# `counter_shards` items) publishes this baseline's totals unchanged: create its challenge
# with counter_shards=1.
NAIVE_SHARD = 0


class NaivePledgeRepository:
    """crowdact's pledge repository with every pledge of a challenge counted on one item.

    The pledge item, its index entry and the transaction are exactly the application's (the
    same helpers build them); only the counter key differs: `<challenge_id>#0` for every
    participant instead of `<challenge_id>#<hash(participant) mod N>`.
    """

    def __init__(self, settings: Settings) -> None:
        self._real = DynamoPledgeRepository(settings)
        self._connection = Connection(region=settings.region, host=settings.aws_endpoint_url)
        self._connection.client  # noqa: B018 - built once, up front, like the application's

    def _count(self, transaction: TransactWrite, challenge_id: str, delta: int) -> None:
        transaction.update(
            CounterShardItem(id=counter_key(challenge_id, NAIVE_SHARD)),
            actions=[CounterShardItem.participants.add(delta), CounterShardItem.version.add(1)],
        )

    def add(self, pledge: Pledge, shard: int) -> bool:
        def write() -> None:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.save(
                    _pledge_to_item(pledge), condition=PledgeItem.challenge_id.does_not_exist()
                )
                self._count(transaction, pledge.challenge_id, +1)

        return self._attempt(write)

    def remove(self, challenge_id: str, participant_id: str, shard: int) -> bool:
        def write() -> None:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.delete(
                    PledgeItem(participant_id=participant_id, challenge_id=challenge_id),
                    condition=PledgeItem.challenge_id.exists(),
                )
                self._count(transaction, challenge_id, -1)

        return self._attempt(write)

    @staticmethod
    def _attempt(write: Callable[[], None]) -> bool:
        try:
            with_transaction_retries(write)
        except TransactWriteError as error:
            if _cancellation_codes(error)[:1] == [CONDITIONAL_CHECK_FAILED]:
                return False
            raise
        return True

    def get(self, challenge_id: str, participant_id: str) -> Pledge | None:
        return self._real.get(challenge_id, participant_id)

    def list_for_participant(
        self, participant_id: str, *, limit: int, cursor: str | None
    ) -> Page[Pledge]:
        return self._real.list_for_participant(participant_id, limit=limit, cursor=cursor)
