"""A participant's personal data in DynamoDB: what `GET /me/export` reads and what `DELETE /me`
moves to a pseudonym (see docs/privacy.md for the inventory and docs/architecture.md).

A pledge's key is the participant's `sub`, so erasing it is a move: the item is put again
under a random pseudonym, without name, address or language, and the original deleted, in
one transaction that touches no counter, so every count stays what it was. The stream sees a
REMOVE and an INSERT; the area and hour counts skip both (the original is first marked
`erasing`, the copy is `pseudonymised`: `storage/tallies.py`), and the campaign trigger moves
the participant's membership to the pseudonym, which leaves the unique count as it was once
both records are applied. A withdrawal refuses a pledge marked `erasing` (its REMOVE would be
taken for the move), and the move refuses a pledge whose reported quantity changed since it
was read, so a concurrent report is never lost. Concurrent and retried erasures of one person
share one pseudonym through an `erasures` item keyed by a SHA-256 of the `sub`, deleted when
the erasure ends (a day's TTL if it never does).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.idempotency import idempotency_record_id, idempotency_scope
from chalicelib.domain.model import Delivery, ModerationAction, Pledge, Report
from chalicelib.services.personal_data import MoveOutcome, PersonalRecords, StoredAnswer
from chalicelib.settings import Settings
from chalicelib.storage.connection import connection
from chalicelib.storage.deliveries import delivery_from_item
from chalicelib.storage.moderation import moderation_from_item, moderation_key, moderation_to_item
from chalicelib.storage.pledges import hash_bucket, pledge_from_item
from chalicelib.storage.reports import report_from_item
from chalicelib.storage.tables import (
    DeliveryItem,
    ErasureItem,
    IdempotencyItem,
    ModerationItem,
    PledgeItem,
    ReportItem,
)
from chalicelib.storage.transactions import (
    CONDITIONAL_CHECK_FAILED,
    CONDITIONAL_CHECK_FAILED_EXCEPTION,
    cancellation_codes,
    update_if,
    with_transaction_retries,
)
from chalicelib.storage.votes import same_vote

# How long an erasure that never ended keeps its pseudonym for a retry (then TTL).
ERASURE_LEASE = timedelta(days=1)

# A pledge whose quantity kept changing under the move (reports racing it) is left to the
# erasure's next pass after this many tries.
MOVE_ATTEMPTS = 3


def _answer_record(operation: str, participant_id: str, challenge_id: str, key: str) -> str:
    return idempotency_record_id(idempotency_scope(operation, participant_id, challenge_id), key)


def _answer(operation: str, participant_id: str, challenge_id: str, key: str) -> list[StoredAnswer]:
    """The stored answer for a keyed pledge or report, if it has not expired yet."""
    try:
        item = IdempotencyItem.get(
            _answer_record(operation, participant_id, challenge_id, key), consistent_read=True
        )
    except IdempotencyItem.DoesNotExist:
        return []
    stored = json.loads(item.data) if item.data else {}
    expires = item.expiration
    return [
        StoredAnswer(
            operation=operation,
            challenge_id=challenge_id,
            status=stored.get("status"),
            body=stored.get("body"),
            expires_at=None if expires is None else datetime.fromtimestamp(float(expires), UTC),
        )
    ]


def _forget_answer(operation: str, item: Any) -> IdempotencyItem | None:
    """The stored answer to delete with a keyed pledge or report being pseudonymised."""
    if not item.idempotency_key:
        return None
    record = _answer_record(operation, item.participant_id, item.challenge_id, item.idempotency_key)
    return IdempotencyItem(id=record)


def _held_through(model: Any, index: Any, participant_id: str) -> list[Any]:
    """The items of `model` its keys-only `by_participant` index names for the participant,
    each read from the table: the index is eventually consistent, so an entry already moved
    (or expired) is skipped."""
    found = []
    for entry in index.query(participant_id):
        try:
            item = model.get(entry.challenge_id, entry.key, consistent_read=True)
        except model.DoesNotExist:
            continue
        if item.participant_id == participant_id:
            found.append(item)
    return found


def erasure_key(participant_id: str) -> str:
    return hashlib.sha256(participant_id.encode()).hexdigest()


class DynamoPersonalData:
    def __init__(self, settings: Settings) -> None:
        self._connection = connection(settings)
        self._connection.client  # noqa: B018 - built once, up front (see open_connections)

    def records(self, participant_id: str) -> PersonalRecords:
        pledge_items = list(PledgeItem.query(participant_id, consistent_read=True))
        reports = [
            report_from_item(item)
            for item in ReportItem.query(participant_id, consistent_read=True)
        ]
        pledges = [pledge_from_item(item) for item in pledge_items]
        keyed = [("pledge", p.challenge_id, p.idempotency_key) for p in pledges] + [
            ("report", r.challenge_id, r.idempotency_key) for r in reports
        ]
        return PersonalRecords(
            pledges=pledges,
            reports=reports,
            deliveries=self._deliveries(participant_id),
            moderation=self._moderation(participant_id),
            answers=[
                answer
                for operation, challenge_id, key in keyed
                if key is not None
                for answer in _answer(operation, participant_id, challenge_id, key)
            ],
        )

    def begin_erasure(self, participant_id: str, pseudonym: str, *, now: datetime) -> str:
        key = erasure_key(participant_id)
        started = ErasureItem(id=key, pseudonym=pseudonym, expires_at=now + ERASURE_LEASE)
        try:
            started.save(condition=ErasureItem.id.does_not_exist())
        except PutError as error:
            if error.cause_response_code != CONDITIONAL_CHECK_FAILED_EXCEPTION:
                raise
            try:
                return str(ErasureItem.get(key, consistent_read=True).pseudonym)
            except ErasureItem.DoesNotExist:  # it ended between our put and our read
                return self.begin_erasure(participant_id, pseudonym, now=now)
        return pseudonym

    def end_erasure(self, participant_id: str) -> None:
        ErasureItem(id=erasure_key(participant_id)).delete()

    @staticmethod
    def _deliveries(participant_id: str) -> list[Delivery]:
        return [
            delivery_from_item(item)
            for item in _held_through(DeliveryItem, DeliveryItem.by_participant, participant_id)
        ]

    @staticmethod
    def _moderation(participant_id: str) -> list[ModerationAction]:
        return [
            moderation_from_item(item)
            for item in _held_through(ModerationItem, ModerationItem.by_participant, participant_id)
        ]

    def pseudonymise_pledge(self, pledge: Pledge, pseudonym: str, shard: int) -> MoveOutcome:
        original = PledgeItem(
            participant_id=pledge.participant_id, challenge_id=pledge.challenge_id
        )
        for _ in range(MOVE_ATTEMPTS):
            if not update_if(
                original, [PledgeItem.erasing.set(pseudonym)], PledgeItem.challenge_id.exists()
            ):
                return MoveOutcome.GONE  # withdrawn meanwhile: nothing left to erase
            try:
                item = PledgeItem.get(
                    pledge.participant_id, pledge.challenge_id, consistent_read=True
                )
            except PledgeItem.DoesNotExist:
                return MoveOutcome.GONE
            copy = PledgeItem(
                participant_id=pseudonym,
                challenge_id=item.challenge_id,
                challenge_bucket=f"{item.challenge_id}#{hash_bucket(pseudonym)}",
                area=item.area,  # coarse, and already counted: kept
                notify=False,
                quantity_reported=item.quantity_reported,
                created_at=item.created_at,
                pseudonymised=True,
                counter_shard=shard,
                # The vote stays counted, on the shard it was counted on.
                candidate_id=item.candidate_id,
                voted_at=item.voted_at,
                vote_shard=item.vote_shard,
                offered=item.offered,
            )
            outcome = self._move(
                original,
                copy,
                # Still this erasure's, with no report added and no vote changed since it
                # was read.
                (PledgeItem.erasing == pseudonym)
                & (PledgeItem.quantity_reported == item.quantity_reported)
                & same_vote(item.candidate_id),
                PledgeItem.challenge_id.does_not_exist(),
                forget=_forget_answer("pledge", item),
            )
            if outcome is not None:
                return outcome
        return MoveOutcome.RETRY

    def pseudonymise_report(self, report: Report, pseudonym: str) -> MoveOutcome:
        try:
            item = ReportItem.get(report.participant_id, report.id, consistent_read=True)
        except ReportItem.DoesNotExist:
            return MoveOutcome.GONE
        copy = ReportItem(
            participant_id=pseudonym,
            id=item.id,
            challenge_id=item.challenge_id,
            created_key=item.created_key,
            challenge_key=item.challenge_key,
            quantity=item.quantity,
            unit=item.unit,
            occurred_on=item.occurred_on,
            created_at=item.created_at,
        )
        original = ReportItem(participant_id=report.participant_id, id=report.id)
        outcome = self._move(
            original,
            copy,
            ReportItem.id.exists(),
            ReportItem.id.does_not_exist(),
            forget=_forget_answer("report", item),
        )
        return MoveOutcome.RETRY if outcome is None else outcome

    def pseudonymise_delivery(
        self, delivery: Delivery, pseudonym: str, *, now: datetime
    ) -> MoveOutcome:
        try:
            item = DeliveryItem.get(delivery.challenge_id, delivery.key, consistent_read=True)
        except DeliveryItem.DoesNotExist:
            return MoveOutcome.GONE
        moved = delivery_from_item(item)
        anonymous = Delivery(
            challenge_id=moved.challenge_id,
            event=moved.event,
            recipient_role=moved.recipient_role,
            channel=moved.channel,
            recipient_key=pseudonym,
            to="",
        )
        # The entry stays in the log (the sponsor's report counts it), without the address.
        copy = DeliveryItem(
            challenge_id=item.challenge_id,
            key=anonymous.key,
            id=anonymous.id,
            event=item.event,
            recipient_role=item.recipient_role,
            channel=item.channel,
            recipient_key=pseudonym,
            to="",
            status=item.status,
            attempts=item.attempts,
            created_at=item.created_at,
            sent_at=item.sent_at,
            expires_at=item.expires_at,
        )
        original = DeliveryItem(challenge_id=item.challenge_id, key=item.key)
        outcome = self._move(
            original,
            copy,
            # Not while a sender holds it (it would record its outcome on the moved entry),
            # but over a lease that ended: its sender died, and its fenced outcome is void.
            DeliveryItem.key.exists()
            & (DeliveryItem.lease_until.does_not_exist() | (DeliveryItem.lease_until < now)),
            DeliveryItem.key.does_not_exist(),
        )
        return MoveOutcome.RETRY if outcome is None else outcome

    def pseudonymise_moderation(self, action: ModerationAction, pseudonym: str) -> MoveOutcome:
        original = ModerationItem(challenge_id=action.challenge_id, key=moderation_key(action))
        outcome = self._move(
            original,
            moderation_to_item(action, pseudonym),
            ModerationItem.key.exists(),
            ModerationItem.key.does_not_exist(),
        )
        return MoveOutcome.RETRY if outcome is None else outcome

    def _move(
        self,
        original: Any,
        copy: Any,
        still: Any,
        free: Any,
        *,
        forget: IdempotencyItem | None = None,
    ) -> MoveOutcome | None:
        """Delete `original` if `still` holds and put `copy` if `free` does, together (and
        delete `forget`, the answer stored for its Idempotency-Key): MOVED, TAKEN when the
        copy's key is taken, None when `original` changed (read it again)."""

        def write() -> None:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.delete(original, condition=still)
                transaction.save(copy, condition=free)
                if forget is not None:
                    transaction.delete(forget)

        try:
            with_transaction_retries(write)
        except TransactWriteError as error:
            codes = cancellation_codes(error)
            if len(codes) > 1 and codes[1] == CONDITIONAL_CHECK_FAILED:
                return MoveOutcome.TAKEN
            if codes and codes[0] == CONDITIONAL_CHECK_FAILED:
                return None
            raise
        return MoveOutcome.MOVED
