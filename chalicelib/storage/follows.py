"""Follows, updates, update fan-out chunks (in the outbox) and update e-mail claims on DynamoDB."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pynamodb.transactions import TransactWrite

from chalicelib.domain.follows import (
    ChallengeUpdate,
    Follow,
    FollowTarget,
    UpdateChunk,
    is_update_chunk_key,
)
from chalicelib.services.follow_ports import (
    UpdateClaim,
    UpdateClaimRefused,
    UpdateDeliveryRecord,
)
from chalicelib.services.ports import Page
from chalicelib.storage.cursors import page_range
from chalicelib.storage.follow_tables import FollowItem, UpdateDeliveryItem, UpdateItem
from chalicelib.storage.leases import LeasedClaims
from chalicelib.storage.table_meta import read_through_index
from chalicelib.storage.tables import ChallengeEventItem
from chalicelib.storage.transactions import (
    put_if_absent,
    with_transaction_retries,
)

# Chunks hold a participant id (where a page ends): deleted this long after their update.
UPDATE_CHUNK_RETENTION = timedelta(days=30)
# A person's claim on an update e-mail is kept this long (redeliveries stop after 24 h).
UPDATE_DELIVERY_RETENTION = timedelta(days=30)


def _follow_from_item(item: FollowItem) -> Follow:
    return Follow(
        target=FollowTarget.from_key(item.target),
        participant_id=item.participant_id,
        following=bool(item.following),
        updated_at=item.updated_at,
        email=item.email,
        locale=item.locale,
    )


class DynamoFollowRepository:
    def put(self, follow: Follow) -> None:
        FollowItem(
            target=follow.target.key,
            participant_id=follow.participant_id,
            following=follow.following,
            updated_at=follow.updated_at,
            email=follow.email,
            locale=follow.locale,
        ).save()

    def get_many(
        self, participant_id: str, targets: Sequence[FollowTarget]
    ) -> dict[FollowTarget, Follow]:
        keys = [(target.key, participant_id) for target in dict.fromkeys(targets)]
        if not keys:
            return {}
        found = FollowItem.batch_get(keys, consistent_read=True)
        return {follow.target: follow for follow in map(_follow_from_item, found)}

    def followers(
        self,
        target: FollowTarget,
        *,
        after: str | None,
        limit: int | None,
        until: str | None = None,
    ) -> Page[Follow]:
        condition = page_range(FollowItem.participant_id, after, until)
        result = FollowItem.query(
            target.key, range_key_condition=condition, limit=limit, consistent_read=True
        )
        follows = [_follow_from_item(item) for item in result if item.participant_id != after]
        full = limit is not None and len(follows) >= limit
        return Page(follows, follows[-1].participant_id if full else None)

    def of_participant(self, participant_id: str) -> list[Follow]:
        return [_follow_from_item(item) for item in FollowItem.by_participant.query(participant_id)]

    def delete(self, follow: Follow) -> None:
        FollowItem(target=follow.target.key, participant_id=follow.participant_id).delete()


def _update_from_item(item: UpdateItem) -> ChallengeUpdate:
    return ChallengeUpdate(
        id=item.id,
        challenge_id=item.challenge_id,
        title=item.title,
        body=item.body,
        locale=item.locale,
        created_at=item.created_at,
    )


def _chunk_to_item(chunk: UpdateChunk) -> ChallengeEventItem:
    # The outbox's milestone attributes are required: an update chunk fills them neutrally.
    return ChallengeEventItem(
        challenge_id=chunk.challenge_id,
        event=chunk.key,
        occurred_at=chunk.occurred_at,
        participants=0,
        quantity=0,
        reached=False,
        fanout_bucket=chunk.bucket,
        fanout_page=chunk.page,
        fanout_after=chunk.after,
        expires_at=chunk.occurred_at + UPDATE_CHUNK_RETENTION,
    )


def update_chunk_from_item(item: ChallengeEventItem) -> UpdateChunk:
    key = str(item.event)
    if not is_update_chunk_key(key) or item.occurred_at is None:
        raise ValueError(f"{key!r} is not an update fan-out chunk")
    return UpdateChunk.from_key(item.challenge_id, key, item.occurred_at, item.fanout_after)


def update_chunk_from_stream_image(image: dict[str, Any]) -> UpdateChunk:
    """Read an update chunk from its stream image (DynamoDB JSON)."""
    return update_chunk_from_item(ChallengeEventItem.from_raw_data(image))


class DynamoUpdateRepository:
    def add(self, update: ChallengeUpdate, chunks: Sequence[UpdateChunk]) -> None:
        item = UpdateItem(
            challenge_id=update.challenge_id,
            created_key=update.created_key,
            id=update.id,
            title=update.title,
            body=update.body,
            locale=update.locale,
            created_at=update.created_at,
        )

        def write() -> None:
            with TransactWrite(connection=item._get_connection().connection) as transaction:
                transaction.save(item, condition=UpdateItem.created_key.does_not_exist())
                for chunk in chunks:
                    transaction.save(
                        _chunk_to_item(chunk),
                        condition=ChallengeEventItem.event.does_not_exist(),
                    )

        with_transaction_retries(write)

    def get(self, challenge_id: str, created_key: str) -> ChallengeUpdate | None:
        try:
            item = UpdateItem.get(challenge_id, created_key, consistent_read=True)
        except UpdateItem.DoesNotExist:
            return None
        return _update_from_item(item)

    def list_for_challenge(
        self, challenge_id: str, *, limit: int, before: str | None
    ) -> list[ChallengeUpdate]:
        condition = UpdateItem.created_key < before if before is not None else None
        return [
            _update_from_item(item)
            for item in UpdateItem.query(
                challenge_id,
                range_key_condition=condition,
                scan_index_forward=False,
                limit=limit,
            )
        ]

    def add_chunk(self, chunk: UpdateChunk) -> bool:
        return put_if_absent(_chunk_to_item(chunk), ChallengeEventItem.event.does_not_exist())

    def get_chunk(self, challenge_id: str, key: str) -> UpdateChunk | None:
        try:
            item = ChallengeEventItem.get(challenge_id, key, consistent_read=True)
        except ChallengeEventItem.DoesNotExist:
            return None
        return update_chunk_from_item(item)


_CLAIMS = LeasedClaims(
    UpdateDeliveryItem, UpdateDeliveryItem.participant_id, UPDATE_DELIVERY_RETENTION
)


class DynamoUpdateDeliveryRepository:
    def claim(
        self,
        update: ChallengeUpdate,
        participant_id: str,
        *,
        now: datetime,
        lease: timedelta,
    ) -> UpdateClaim | UpdateClaimRefused:
        item = UpdateDeliveryItem(update_id=update.id, participant_id=participant_id)
        extra = [UpdateDeliveryItem.challenge_id.set(update.challenge_id)]
        taken = _CLAIMS.claim(item, now=now, lease=lease, extra=extra)
        if taken is None:
            if _CLAIMS.held(update.id, participant_id):
                return UpdateClaimRefused.HELD
            return UpdateClaimRefused.SETTLED
        attempts, lease_until = taken
        return UpdateClaim(update.id, participant_id, attempts, lease_until)

    @staticmethod
    def _item(claim: UpdateClaim) -> UpdateDeliveryItem:
        return UpdateDeliveryItem(update_id=claim.update_id, participant_id=claim.participant_id)

    def mark_sent(self, claim: UpdateClaim, *, now: datetime) -> None:
        _CLAIMS.mark_sent(self._item(claim), claim.lease_until, now=now)

    def mark_failed(self, claim: UpdateClaim, *, error: str, final: bool) -> None:
        _CLAIMS.mark_failed(self._item(claim), claim.lease_until, error=error, final=final)

    def _items(self, participant_id: str) -> list[UpdateDeliveryItem]:
        return read_through_index(
            UpdateDeliveryItem, UpdateDeliveryItem.by_participant, participant_id
        )

    def of_participant(self, participant_id: str) -> list[UpdateDeliveryRecord]:
        return [
            UpdateDeliveryRecord(
                update_id=item.update_id,
                challenge_id=item.challenge_id,
                status=item.status,
                attempts=int(item.attempts),
                sent_at=item.sent_at,
            )
            for item in self._items(participant_id)
        ]

    def delete_for_participant(self, participant_id: str) -> int:
        items = self._items(participant_id)
        for item in items:
            item.delete()
        return len(items)
