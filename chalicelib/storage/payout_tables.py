"""The `payouts` table's PynamoDB model: one item per payout, amounts as exact decimals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pynamodb.attributes import Attribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.constants import NUMBER
from pynamodb.indexes import AllProjection, LocalSecondaryIndex
from pynamodb.models import Model

from chalicelib.storage.table_meta import BaseMeta


class DecimalAttribute(Attribute[Decimal]):
    """A DynamoDB Number read and written as `Decimal` (PynamoDB's NumberAttribute goes
    through JSON, and so through float)."""

    attr_type = NUMBER

    def serialize(self, value: Any) -> str:
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError(f"{value!r} is not a finite Decimal")
        return format(value, "f")

    def deserialize(self, value: str) -> Decimal:
        return Decimal(value)


class PayoutsByRecording(LocalSecondaryIndex["PayoutItem"]):
    """A challenge's payouts in the order they were recorded (the public trail)."""

    class Meta:
        index_name = "by_recording"
        projection = AllProjection()

    challenge_id = UnicodeAttribute(hash_key=True)
    recorded_key = UnicodeAttribute(range_key=True)


class PayoutItem(Model):
    """One payout of a reached challenge (chalicelib/storage/payouts.py)."""

    class Meta(BaseMeta):
        table_name = "payouts"

    challenge_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)  # po_…, from the Idempotency-Key when there is one
    recorded_key = UnicodeAttribute()  # <recorded_at, UTC, µs>#<id>
    amount = DecimalAttribute()
    currency = UnicodeAttribute()
    paid_on = UnicodeAttribute()  # YYYY-MM-DD
    to = UnicodeAttribute()
    recorded_at = UTCDateTimeAttribute()
    proof_url = UnicodeAttribute(null=True)
    note = UnicodeAttribute(null=True)
    idempotency_key = UnicodeAttribute(null=True)

    by_recording = PayoutsByRecording()
