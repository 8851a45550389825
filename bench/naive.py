"""The designs measured beside today's: the pledge counted in its own transaction on the
request path, on one counter item (the naive design) or on sharded ones (crowdact until
issue 16). Today's design counts pledges from the stream (docs/architecture.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pynamodb.transactions import TransactWrite

from chalicelib.domain.idempotency import KeyedAnswer
from chalicelib.domain.model import Pledge
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.pledges import PledgeService
from chalicelib.services.ports import SystemClock
from chalicelib.services.tallies import PledgeChange, TallyService
from chalicelib.settings import Settings
from chalicelib.storage.challenges import DynamoChallengeRepository
from chalicelib.storage.counters import counter_key
from chalicelib.storage.pledges import DynamoPledgeRepository, pledge_to_item
from chalicelib.storage.tables import CounterShardItem, PledgeItem
from chalicelib.storage.tallies import DynamoPledgeTallies
from chalicelib.storage.transactions import transact_if, transact_once
from chalicelib.wiring import Container

# With one shard, every participant's pledge lands on `<challenge_id>#0`: the application's
# own pledge item, index entry and transaction, counted on a single counter item. That is
# the naive design, and the stream aggregator publishes its totals unchanged.
NAIVE_SHARDS = 1


class TransactionCountingPledges(DynamoPledgeRepository):
    """A pledge put and its counter shard's `ADD participants 1` in one transaction, under
    the request token: the request path of the designs measured beside today's (new pledges
    only; the bench withdraws none)."""

    def add(
        self,
        pledge: Pledge,
        shard: int,
        *,
        request_token: str | None = None,
        answer: KeyedAnswer | None = None,
    ) -> bool:
        if answer is not None:
            raise NotImplementedError("the bench sends no Idempotency-Key to this design")
        item = pledge_to_item(pledge, shard)

        def write(token: str) -> None:
            with TransactWrite(
                connection=self._connection, client_request_token=token
            ) as transaction:
                transaction.save(item, condition=PledgeItem.challenge_id.does_not_exist())
                transaction.update(
                    CounterShardItem(id=counter_key(pledge.challenge_id, shard)),
                    actions=[
                        CounterShardItem.participants.add(1),
                        CounterShardItem.version.add(1),
                    ],
                )

        return transact_once(write, request_token, transact_if)


class AreaAndHourTallies(DynamoPledgeTallies):
    """`count_areas` as it was when the request path counted: areas and hours, no counter."""

    def _count_participants(
        self, transaction: TransactWrite, challenge_id: str, changes: Sequence[PledgeChange]
    ) -> None:
        return None


def transaction_services(
    settings: Settings, container: Container, shards: int
) -> tuple[ChallengeService, PledgeService, Container]:
    """Services whose pledges are counted in their transaction, on `shards` counter items
    (create challenges through these), and the container the triggers must run with
    meanwhile (its `count_areas` counts areas and hours only)."""
    challenges = ChallengeService(
        DynamoChallengeRepository(settings),
        container.progress,
        SystemClock(),
        counter_shards=shards,
    )
    pledges = PledgeService(challenges, TransactionCountingPledges(settings), SystemClock())
    triggers = dataclasses.replace(
        container, tallies=TallyService(AreaAndHourTallies(settings), SystemClock())
    )
    return challenges, pledges, triggers
