"""Area counts in DynamoDB (`area_counts`), kept exact under redelivery by `stream_receipts`.

Lambda delivers stream records at least once, and a plain `ADD` is not idempotent. So every
counted record leaves a receipt, keyed by its sequence number (unique in the stream), in the
same transaction as the `ADD` it contributed to: either both are written or neither. A
record delivered again finds its receipt and is dropped from the group before the group's
delta is recomputed. Receipts spread over many partitions (their keys are sequence
numbers); the area's item takes one write per group and batch.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.areas import AreaCount
from chalicelib.services.areas import AreaChange
from chalicelib.settings import Settings
from chalicelib.storage.connection import connection
from chalicelib.storage.tables import AreaCountItem, PledgeItem, StreamReceiptItem
from chalicelib.storage.transactions import (
    CONDITIONAL_CHECK_FAILED,
    cancellation_codes,
    with_transaction_retries,
)

# TransactWriteItems takes at most 100 items: the receipts and the area's update.
RECEIPTS_PER_TRANSACTION = 99
# Longer than the 24 h a stream keeps a record, so no record can come back after its receipt.
RECEIPT_LIFETIME = timedelta(days=2)
RECEIPT_CONSUMER = "areas"


def receipt_key(sequence_number: str) -> str:
    return f"{RECEIPT_CONSUMER}#{sequence_number}"


class DynamoAreaCounts:
    def __init__(self, settings: Settings) -> None:
        self._connection = connection(settings)

    def apply(
        self, challenge_id: str, area: str, changes: Sequence[AreaChange], *, now: datetime
    ) -> int:
        applied = 0
        for start in range(0, len(changes), RECEIPTS_PER_TRANSACTION):
            chunk = changes[start : start + RECEIPTS_PER_TRANSACTION]
            applied += self._apply_chunk(challenge_id, area, chunk, now + RECEIPT_LIFETIME)
        return applied

    def _apply_chunk(
        self,
        challenge_id: str,
        area: str,
        changes: Sequence[AreaChange],
        expires_at: datetime,
    ) -> int:
        pending = list(changes)
        # Each refusal drops at least one change, so this ends.
        while pending:
            delta = sum(change.delta for change in pending)
            write = functools.partial(self._write, challenge_id, area, pending, delta, expires_at)
            try:
                with_transaction_retries(write)
            except TransactWriteError as error:
                codes = cancellation_codes(error)
                counted = {i for i, code in enumerate(codes) if code == CONDITIONAL_CHECK_FAILED}
                if not counted or max(counted) >= len(pending):
                    raise
                pending = [change for i, change in enumerate(pending) if i not in counted]
                continue
            return delta
        return 0

    def _write(
        self,
        challenge_id: str,
        area: str,
        changes: Sequence[AreaChange],
        delta: int,
        expires_at: datetime,
    ) -> None:
        with TransactWrite(connection=self._connection) as transaction:
            # The receipts come first: a refused one's position is its change's position.
            for change in changes:
                transaction.save(
                    StreamReceiptItem(id=receipt_key(change.receipt), expires_at=expires_at),
                    condition=StreamReceiptItem.id.does_not_exist(),
                )
            if delta:
                transaction.update(
                    AreaCountItem(challenge_id=challenge_id, area=area),
                    actions=[AreaCountItem.participants.add(delta)],
                )

    def counts(self, challenge_id: str) -> list[AreaCount]:
        return [
            AreaCount(item.area, int(item.participants))
            for item in AreaCountItem.query(challenge_id)
        ]

    def count(self, challenge_id: str, area: str) -> int:
        try:
            return int(AreaCountItem.get(challenge_id, area).participants)
        except AreaCountItem.DoesNotExist:
            return 0


def area_change_from_stream_record(record: Mapping[str, Any]) -> AreaChange | None:
    """What a pledges-stream record does to area counts: a pledge with an area made (INSERT,
    +1) or withdrawn (REMOVE, -1); None for anything else (MODIFY, no area)."""
    name = record.get("eventName")
    dynamodb = record.get("dynamodb") or {}
    if name == "INSERT":
        image, delta = dynamodb.get("NewImage"), +1
    elif name == "REMOVE":
        image, delta = dynamodb.get("OldImage"), -1
    else:
        return None
    if not image:
        raise ValueError(f"a pledge {name} record without its image: is the stream's view type "
                         "NEW_AND_OLD_IMAGES?")  # fmt: skip
    area = (image.get(PledgeItem.area.attr_name) or {}).get("S")
    if not area:
        return None
    challenge_id = image[PledgeItem.challenge_id.attr_name]["S"]
    return AreaChange(
        receipt=str(dynamodb["SequenceNumber"]),
        challenge_id=str(challenge_id),
        area=str(area),
        delta=delta,
    )
