"""The notification delivery log: `DynamoDeliveryRepository` (leased claims, outcomes, pages)
and the key ranges a log listing walks."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.errors import InvalidRequestError
from chalicelib.domain.model import Channel, Delivery, DeliveryStatus, EventType, RecipientRole
from chalicelib.domain.sponsor_report import NotificationTally
from chalicelib.services.ports import ClaimRefused, Page
from chalicelib.storage.cursors import (
    checked_start_key,
    decode_cursor,
    encode_cursor,
    segment_position,
)
from chalicelib.storage.tables import DeliveryItem, PledgeItem
from chalicelib.storage.transactions import (
    CONDITIONAL_CHECK_FAILED,
    cancellation_codes,
    update_if,
    with_transaction_retries,
)

logger = logging.getLogger(__name__)

# How long a participant e-mail's log entry (and the address in it) is kept: the sponsor's
# report counts them for a season of campaigns, then DynamoDB's TTL deletes them.
PARTICIPANT_DELIVERY_RETENTION = timedelta(days=400)


def delivery_from_item(item: DeliveryItem) -> Delivery:
    return Delivery(
        challenge_id=item.challenge_id,
        event=EventType(item.event),
        recipient_role=RecipientRole(item.recipient_role),
        channel=Channel(item.channel),
        recipient_key=item.recipient_key,
        to=item.to,
        status=DeliveryStatus(item.status),
        attempts=int(item.attempts),
        created_at=item.created_at,
        sent_at=item.sent_at,
        last_error=item.last_error,
        lease_until=item.lease_until,
    )


class DynamoDeliveryRepository:
    def claim(
        self, delivery: Delivery, *, now: datetime, lease: timedelta, pledged: bool = False
    ) -> Delivery | ClaimRefused:
        item = DeliveryItem(challenge_id=delivery.challenge_id, key=delivery.key)
        claimable = DeliveryItem.key.does_not_exist() | (
            (DeliveryItem.status == DeliveryStatus.PENDING.value)
            & (DeliveryItem.lease_until.does_not_exist() | (DeliveryItem.lease_until < now))
        )
        personal: list[Any] = []
        if delivery.recipient_role is RecipientRole.PARTICIPANT:
            # A participant's address, found by their export and erasure, kept for a while.
            personal = [
                DeliveryItem.participant_id.set(delivery.recipient_key),
                DeliveryItem.expires_at.set(
                    DeliveryItem.expires_at | (now + PARTICIPANT_DELIVERY_RETENTION)
                ),
            ]
        actions = [
            *personal,
            DeliveryItem.id.set(delivery.id),
            DeliveryItem.event.set(delivery.event.value),
            DeliveryItem.recipient_role.set(delivery.recipient_role.value),
            DeliveryItem.channel.set(delivery.channel.value),
            DeliveryItem.recipient_key.set(delivery.recipient_key),
            DeliveryItem.to.set(delivery.to),
            DeliveryItem.status.set(DeliveryStatus.PENDING.value),
            DeliveryItem.attempts.add(1),
            DeliveryItem.created_at.set(DeliveryItem.created_at | now),
            DeliveryItem.lease_until.set(now + lease),
        ]
        if pledged:
            return self._claim_while_pledged(delivery, item, actions, claimable)
        if not update_if(item, actions, claimable):
            return self._why_refused(delivery)
        return delivery_from_item(item)

    def _claim_while_pledged(
        self, delivery: Delivery, item: DeliveryItem, actions: list[Any], claimable: Any
    ) -> Delivery | ClaimRefused:
        def write() -> None:
            with TransactWrite(connection=item._get_connection().connection) as transaction:
                transaction.condition_check(
                    PledgeItem,
                    delivery.recipient_key,
                    range_key=delivery.challenge_id,
                    condition=PledgeItem.challenge_id.exists()
                    & PledgeItem.erasing.does_not_exist(),
                )
                transaction.update(item, actions=actions, condition=claimable)

        try:
            with_transaction_retries(write)
        except TransactWriteError as error:
            codes = cancellation_codes(error)
            if codes[:1] == [CONDITIONAL_CHECK_FAILED]:
                return ClaimRefused.SETTLED  # withdrawn or erased: no longer owed
            if codes[1:2] == [CONDITIONAL_CHECK_FAILED]:
                return self._why_refused(delivery)
            raise
        stored = DeliveryItem.get(delivery.challenge_id, delivery.key, consistent_read=True)
        return delivery_from_item(stored)

    @staticmethod
    def _why_refused(delivery: Delivery) -> ClaimRefused:
        try:
            stored = DeliveryItem.get(delivery.challenge_id, delivery.key, consistent_read=True)
        except DeliveryItem.DoesNotExist:
            return ClaimRefused.HELD  # cannot happen (the condition saw it); retry to be safe
        if stored.status == DeliveryStatus.PENDING.value:
            return ClaimRefused.HELD
        return ClaimRefused.SETTLED

    def _finish(self, claimed: Delivery, actions: list[Any]) -> None:
        recorded = update_if(
            DeliveryItem(challenge_id=claimed.challenge_id, key=claimed.key),
            [*actions, DeliveryItem.lease_until.remove()],
            # The lease is a fencing token: a sender whose lease was taken over records
            # nothing, so it cannot overwrite the newer sender's outcome.
            DeliveryItem.lease_until == claimed.lease_until,
        )
        if not recorded:
            logger.warning("delivery %s: lease lost before its outcome was recorded", claimed.id)

    def mark_sent(self, claimed: Delivery, *, now: datetime) -> None:
        self._finish(
            claimed,
            [
                DeliveryItem.status.set(DeliveryStatus.SENT.value),
                DeliveryItem.sent_at.set(now),
                DeliveryItem.last_error.remove(),
            ],
        )

    def mark_failed(self, claimed: Delivery, *, error: str, final: bool) -> None:
        status = DeliveryStatus.FAILED if final else DeliveryStatus.PENDING
        self._finish(
            claimed,
            [DeliveryItem.status.set(status.value), DeliveryItem.last_error.set(error[:500])],
        )

    def list_for_challenge(self, challenge_id: str) -> list[Delivery]:
        return [delivery_from_item(item) for item in DeliveryItem.query(challenge_id)]

    def tally(self, challenge_id: str) -> list[NotificationTally]:
        """The log's deliveries by role, channel and status: the log is read whole (a reached
        challenge's participant e-mails included), but only three small attributes of it."""
        counts: dict[tuple[str, str], Counter[DeliveryStatus]] = {}
        items = DeliveryItem.query(
            challenge_id,
            attributes_to_get=[
                DeliveryItem.recipient_role.attr_name,
                DeliveryItem.channel.attr_name,
                DeliveryItem.status.attr_name,
            ],
        )
        for item in items:
            kind = (item.recipient_role, item.channel)
            counts.setdefault(kind, Counter())[DeliveryStatus(item.status)] += 1
        return [
            NotificationTally(RecipientRole(role), Channel(channel), dict(by_status))
            for (role, channel), by_status in counts.items()
        ]

    def list_page(
        self,
        challenge_id: str,
        *,
        role: RecipientRole | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Delivery]:
        # One key range per role and event (`<event>#<role>#…`), sponsors' first, so the few
        # sponsor and beneficiary entries lead the log however many participants follow.
        segments = delivery_log_segments(role)
        state = decode_cursor(cursor) or {"s": 0}
        position = segment_position(state, len(segments))
        start_key = checked_start_key(state, {"challenge_id": challenge_id, "key": None})
        if start_key is not None and not start_key["key"]["S"].startswith(segments[position]):
            raise InvalidRequestError("the cursor is not one this API returned for this list")
        items: list[Delivery] = []
        while position < len(segments) and len(items) < limit:
            result = DeliveryItem.query(
                challenge_id,
                DeliveryItem.key.startswith(segments[position]),
                limit=limit - len(items),
                last_evaluated_key=start_key,
            )
            items.extend(delivery_from_item(item) for item in result)
            start_key = result.last_evaluated_key
            if start_key is None:
                position += 1
        more = position < len(segments)
        return Page(items, encode_cursor({"s": position, "k": start_key}) if more else None)


LOG_ROLE_ORDER = (
    RecipientRole.SPONSOR,
    RecipientRole.BENEFICIARY,
    RecipientRole.CANDIDATE,
    RecipientRole.PARTICIPANT,
)


def delivery_log_segments(role: RecipientRole | None) -> list[str]:
    """The delivery-key prefixes a log listing walks, in order."""
    roles = LOG_ROLE_ORDER if role is None else (role,)
    return [f"{event}#{each}#" for each in roles for event in EventType]
