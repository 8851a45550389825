"""Pledges: their item mapping, the pledge index's hash buckets, and `DynamoPledgeRepository`.

A pledge is one conditional write: the item appears or disappears, and the pledges stream
counts it (`count_areas`, storage/tallies.py) onto the challenge's counter shards. Nothing on
the request path touches a counter (docs/architecture.md, "Counting from the stream")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, TransactWriteError
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
from chalicelib.storage.cursors import checked_start_key, decode_cursor, encode_cursor
from chalicelib.storage.tables import IdempotencyItem, PledgeItem
from chalicelib.storage.transactions import (
    CONDITIONAL_CHECK_FAILED,
    CONDITIONAL_CHECK_FAILED_EXCEPTION,
    cancellation_codes,
    new_request_token,
    transact_once,
    transact_unless_refused,
    with_conflict_retries,
    with_transaction_retries,
)
from chalicelib.storage.votes import count_vote, same_vote

PLEDGE_INDEX_BUCKETS = 16


def pledge_to_item(pledge: Pledge, shard: int | None = None) -> PledgeItem:
    """The item; `shard` (the participant's counter shard) is kept on it for the stream's
    count unless the pledge names its own (a pseudonymised copy keeps the original's)."""
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
        counter_shard=pledge.counter_shard if pledge.counter_shard is not None else shard,
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
        # On every item since issue 16 (the stream counts there); the domain names it for a
        # pseudonymised pledge only, whose shard its id no longer tells.
        counter_shard=(
            int(item.counter_shard)
            if item.pseudonymised and item.counter_shard is not None
            else None
        ),
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

    def add(
        self,
        pledge: Pledge,
        shard: int,
        *,
        request_token: str | None = None,
        answer: KeyedAnswer | None = None,
    ) -> bool:
        """Write the pledge unless the participant already pledged (False, nothing written).

        Without a stored answer it is one conditional `PutItem`, the request token on the
        item (`write_token`): a retry of a put that went through (its answer lost) finds the
        item with its own token, and the write counts as done, as a transaction's token
        makes it. With an answer it is a transaction of the two puts, under the
        request token. `shard` is on the item (`counter_shard`), where the stream reads it.
        """
        item = pledge_to_item(pledge, shard)
        condition = PledgeItem.challenge_id.does_not_exist()
        if answer is None:
            item.write_token = request_token or new_request_token()
            return self._put(item, condition)

        def write(token: str) -> None:
            with TransactWrite(
                connection=self._connection, client_request_token=token
            ) as transaction:
                transaction.save(item, condition=condition)
                _store_answer(transaction, answer)

        def outcome(run: Callable[[], None]) -> bool:
            try:
                with_transaction_retries(run)
            except TransactWriteError as error:
                codes = cancellation_codes(error)
                if codes[ANSWER_ITEM : ANSWER_ITEM + 1] == [CONDITIONAL_CHECK_FAILED]:
                    raise AnswerAlreadyStoredError(answer.record_id) from error
                if codes[:1] == [CONDITIONAL_CHECK_FAILED]:
                    return False
                raise
            return True

        return transact_once(write, request_token, outcome)

    def _put(self, item: PledgeItem, condition: Any) -> bool:
        try:
            with_conflict_retries(lambda: item.save(condition=condition))
        except PutError as error:
            if error.cause_response_code != CONDITIONAL_CHECK_FAILED_EXCEPTION:
                raise
            # Ours if it carries our token: a retry of our put whose answer was lost.
            try:
                stored = PledgeItem.get(
                    item.participant_id, item.challenge_id, consistent_read=True
                )
            except PledgeItem.DoesNotExist:
                return False
            return stored.write_token == item.write_token
        return True

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
        *,
        request_token: str | None = None,
        vote: HeldVote | None = None,
        offered: int | float | None = None,
    ) -> bool:
        """Delete the pledge (the stream counts it out); with `vote` (a challenge with a
        beneficiary vote), only if it still carries that vote, counted out with it in one
        transaction; with `offered` (a challenge with a unit), only if it offers that much.
        False when the condition failed: nothing was deleted."""
        # A pledge being erased is moved, not withdrawn (storage/personal_data.py): its
        # stream record must not count as a withdrawal.
        condition = PledgeItem.challenge_id.exists() & PledgeItem.erasing.does_not_exist()
        if vote is not None:
            condition &= same_vote(vote.candidate_id)
        if offered is not None:
            condition &= same_offer(offered)
        item = PledgeItem(participant_id=participant_id, challenge_id=challenge_id)
        if vote is None or not vote.count_out or vote.candidate_id is None:
            return self._delete(item, condition)
        candidate_id = vote.candidate_id

        def write(token: str) -> None:
            with TransactWrite(
                connection=self._connection, client_request_token=token
            ) as transaction:
                transaction.delete(item, condition=condition)
                count_vote(transaction, challenge_id, candidate_id, vote.shard or 0, -1)

        return transact_once(write, request_token, transact_unless_refused)

    def _delete(self, item: PledgeItem, condition: Any) -> bool:
        try:
            with_conflict_retries(lambda: item.delete(condition=condition))
        except DeleteError as error:
            if error.cause_response_code == CONDITIONAL_CHECK_FAILED_EXCEPTION:
                return False
            raise
        return True

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
