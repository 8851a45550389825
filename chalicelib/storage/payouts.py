"""Payouts in DynamoDB (`payouts`): put once per id, listed through `by_recording`."""

from __future__ import annotations

import builtins
from datetime import UTC, date, datetime
from typing import Any

from chalicelib.domain.payouts import Payout
from chalicelib.services.payout_ports import PayoutWrite
from chalicelib.services.ports import Page
from chalicelib.storage.cursors import checked_start_key, decode_cursor, encode_cursor
from chalicelib.storage.payout_tables import PayoutItem
from chalicelib.storage.transactions import put_if_absent


def _sort_time(moment: datetime) -> str:
    # One fixed width, so the keys sort as the instants do.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _to_item(payout: Payout) -> PayoutItem:
    return PayoutItem(
        challenge_id=payout.challenge_id,
        id=payout.id,
        recorded_key=f"{_sort_time(payout.recorded_at)}#{payout.id}",
        amount=payout.amount,
        currency=payout.currency,
        paid_on=payout.paid_on.isoformat(),
        to=payout.to,
        recorded_at=payout.recorded_at,
        proof_url=payout.proof_url,
        note=payout.note,
        idempotency_key=payout.idempotency_key,
    )


def _from_item(item: PayoutItem) -> Payout:
    return Payout(
        id=item.id,
        challenge_id=item.challenge_id,
        amount=item.amount,
        currency=item.currency,
        paid_on=date.fromisoformat(item.paid_on),
        to=item.to,
        recorded_at=item.recorded_at,
        proof_url=item.proof_url,
        note=item.note,
        idempotency_key=item.idempotency_key,
    )


class DynamoPayoutRepository:
    def add(self, payout: Payout) -> PayoutWrite:
        if put_if_absent(_to_item(payout), PayoutItem.id.does_not_exist()):
            return PayoutWrite.ADDED
        return PayoutWrite.EXISTS

    def get(self, challenge_id: str, payout_id: str) -> Payout | None:
        try:
            return _from_item(PayoutItem.get(challenge_id, payout_id, consistent_read=True))
        except PayoutItem.DoesNotExist:
            return None

    def list(self, challenge_id: str, *, limit: int, cursor: str | None) -> Page[Payout]:
        start = checked_start_key(
            decode_cursor(cursor),
            {"challenge_id": challenge_id, "id": None, "recorded_key": None},
        )
        result = PayoutItem.by_recording.query(
            challenge_id, scan_index_forward=False, limit=limit, last_evaluated_key=start
        )
        items = [_from_item(item) for item in result]
        last: dict[str, Any] | None = result.last_evaluated_key
        return Page(items, encode_cursor({"k": last}) if last else None)

    def all(self, challenge_id: str) -> builtins.list[Payout]:
        return [_from_item(item) for item in PayoutItem.query(challenge_id, consistent_read=True)]
