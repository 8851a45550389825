"""Pledges: their item mapping, the pledge index's hash buckets, and `DynamoPledgeRepository`
(which counts each pledge on a counter shard in the same transaction)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.idempotency import (
    COMPLETED,
    AnswerAlreadyStoredError,
    KeyedAnswer,
)
from chalicelib.domain.model import Pledge, counter_shard_for
from chalicelib.domain.votes import HeldVote
from chalicelib.services.ports import Page
from chalicelib.settings import Settings
from chalicelib.storage.connection import connection
from chalicelib.storage.counters import counter_key
from chalicelib.storage.cursors import checked_start_key, decode_cursor, encode_cursor
from chalicelib.storage.tables import CounterShardItem, IdempotencyItem, PledgeItem
from chalicelib.storage.transactions import (
    CONDITIONAL_CHECK_FAILED,
    cancellation_codes,
    transact_once,
    transact_unless_refused,
    with_transaction_retries,
)
from chalicelib.storage.votes import count_vote, same_vote

PLEDGE_INDEX_BUCKETS = 16


def _pledge_to_item(pledge: Pledge) -> PledgeItem:
    bucket = hash_bucket(pledge.participant_id)
    return PledgeItem(
        participant_id=pledge.participant_id,
        challenge_id=pledge.challenge_id,
        challenge_bucket=f"{pledge.challenge_id}#{bucket}",
        display_name=pledge.display_name,
        area=pledge.area,
        notify=pledge.notify,
        quantity_reported=pledge.quantity_reported,
        created_at=pledge.created_at,
        email=pledge.email,
        locale=pledge.locale,
        pseudonymised=pledge.pseudonymised or None,
        counter_shard=pledge.counter_shard,
        name_hidden=pledge.name_hidden or None,
        idempotency_key=pledge.idempotency_key,
        candidate_id=pledge.candidate_id,
        voted_at=pledge.voted_at,
        vote_shard=pledge.vote_shard,
        offered=pledge.offered or None,
        reported_at=pledge.reported_at,
    )


def pledge_from_item(item: PledgeItem) -> Pledge:
    return Pledge(
        challenge_id=item.challenge_id,
        participant_id=item.participant_id,
        display_name=item.display_name,
        area=item.area,
        notify=bool(item.notify),
        quantity_reported=item.quantity_reported,
        created_at=item.created_at,
        email=item.email,
        locale=item.locale,
        pseudonymised=bool(item.pseudonymised),
        counter_shard=None if item.counter_shard is None else int(item.counter_shard),
        name_hidden=bool(item.name_hidden),
        idempotency_key=item.idempotency_key,
        candidate_id=item.candidate_id,
        voted_at=item.voted_at,
        vote_shard=None if item.vote_shard is None else int(item.vote_shard),
        offered=item.offered or 0,
        reported_at=item.reported_at,
    )


# The stored answer's place in a pledge's transaction as sent, and so in its cancellation
# reasons: PynamoDB sends the puts (the pledge, then the answer) before the updates.
ANSWER_ITEM = 1


def _store_answer(transaction: TransactWrite, answer: KeyedAnswer) -> None:
    """Put the answer as Powertools' completed record, unless an unexpired one is there (an
    expired one not yet deleted by the TTL counts as absent, as Powertools has it)."""
    record = IdempotencyItem(
        id=answer.record_id,
        expiration=answer.expires_at,
        status=COMPLETED,
        data=answer.data,
        validation=answer.payload_hash,
    )
    transaction.save(
        record,
        condition=IdempotencyItem.id.does_not_exist()
        | (IdempotencyItem.expiration < answer.written_at),
    )


def same_offer(offered: int | float) -> Any:
    """The pledge still offers this much (0: nothing)."""
    if not offered:
        return PledgeItem.offered.does_not_exist()
    return PledgeItem.offered == offered


def hash_bucket(participant_id: str) -> int:
    return counter_shard_for(participant_id, PLEDGE_INDEX_BUCKETS)


class DynamoPledgeRepository:
    def __init__(self, settings: Settings) -> None:
        self._connection = connection(settings)
        self._connection.client  # noqa: B018 - built once, up front (see open_connections)

    def _count(
        self,
        transaction: TransactWrite,
        challenge_id: str,
        shard: int,
        delta: int,
        promised: int | float = 0,
    ) -> None:
        actions: list[Action] = [
            CounterShardItem.participants.add(delta),
            CounterShardItem.version.add(1),
        ]
        if promised:
            actions.append(CounterShardItem.promised.add(delta * promised))
        transaction.update(CounterShardItem(id=counter_key(challenge_id, shard)), actions=actions)

    def add(
        self,
        pledge: Pledge,
        shard: int,
        *,
        request_token: str | None = None,
        answer: KeyedAnswer | None = None,
    ) -> bool:
        item = _pledge_to_item(pledge)

        def write(token: str) -> None:
            with TransactWrite(
                connection=self._connection, client_request_token=token
            ) as transaction:
                transaction.save(item, condition=PledgeItem.challenge_id.does_not_exist())
                self._count(transaction, pledge.challenge_id, shard, +1, pledge.offered)
                if answer is not None:
                    _store_answer(transaction, answer)

        def outcome(run: Callable[[], None]) -> bool:
            try:
                with_transaction_retries(run)
            except TransactWriteError as error:
                codes = cancellation_codes(error)
                if answer is not None and codes[ANSWER_ITEM : ANSWER_ITEM + 1] == [
                    CONDITIONAL_CHECK_FAILED
                ]:
                    raise AnswerAlreadyStoredError(answer.record_id) from error
                if codes[:1] == [CONDITIONAL_CHECK_FAILED]:
                    return False
                raise
            return True

        return transact_once(write, request_token, outcome)

    def get(self, challenge_id: str, participant_id: str) -> Pledge | None:
        try:
            return pledge_from_item(
                PledgeItem.get(participant_id, challenge_id, consistent_read=True)
            )
        except PledgeItem.DoesNotExist:
            return None

    def remove(
        self,
        challenge_id: str,
        participant_id: str,
        shard: int,
        *,
        request_token: str | None = None,
        vote: HeldVote | None = None,
        offered: int | float | None = None,
    ) -> bool:
        """Delete the pledge and count it out; with `vote` (a challenge with a beneficiary
        vote), only if it still carries that vote, which is counted out with it; with
        `offered` (a challenge with a unit), only if it offers that much, counted out too."""

        def write(token: str) -> None:
            # A pledge being erased is moved, not withdrawn (storage/personal_data.py): its
            # stream record must not count as a withdrawal.
            condition = PledgeItem.challenge_id.exists() & PledgeItem.erasing.does_not_exist()
            if vote is not None:
                condition &= same_vote(vote.candidate_id)
            if offered is not None:
                condition &= same_offer(offered)
            with TransactWrite(
                connection=self._connection, client_request_token=token
            ) as transaction:
                transaction.delete(
                    PledgeItem(participant_id=participant_id, challenge_id=challenge_id),
                    condition=condition,
                )
                self._count(transaction, challenge_id, shard, -1, offered or 0)
                if vote is not None and vote.count_out and vote.candidate_id is not None:
                    count_vote(transaction, challenge_id, vote.candidate_id, vote.shard or 0, -1)

        return transact_once(write, request_token, transact_unless_refused)

    def list_for_participant(
        self, participant_id: str, *, limit: int, cursor: str | None
    ) -> Page[Pledge]:
        result = PledgeItem.query(
            participant_id,
            limit=limit,
            last_evaluated_key=checked_start_key(
                decode_cursor(cursor), {"participant_id": participant_id, "challenge_id": None}
            ),
        )
        items = [pledge_from_item(item) for item in result]
        next_key = result.last_evaluated_key
        return Page(items, encode_cursor({"k": next_key}) if next_key else None)
