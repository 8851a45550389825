"""Counts kept from the pledges stream, in DynamoDB: a challenge's participants and offered
quantity (`counters`, read by `aggregate_progress`), participants per area (`area_counts`)
and pledges made and withdrawn per hour (`pledge_hours`), exact under redelivery thanks to
`stream_receipts`.

Lambda delivers stream records at least once, and a plain `ADD` is not idempotent. So every
counted record leaves a receipt, keyed by its sequence number (unique in the stream), in the
same transaction as the `ADD`s it contributed to: either all are written or none. A record
delivered again finds its receipt and is dropped from the group before the group's deltas
are recomputed. Receipts spread over many partitions (their keys are sequence numbers); a
counter shard's, an area's or an hour's item takes one write per challenge and transaction,
and the counter shard written is the first change's, so a hot challenge's count still
spreads over its shards.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.areas import AreaCount
from chalicelib.domain.model import tidy_quantity
from chalicelib.domain.series import HourCount, hour_start
from chalicelib.services.tallies import PledgeChange
from chalicelib.settings import Settings
from chalicelib.storage.connection import connection
from chalicelib.storage.counters import counter_key
from chalicelib.storage.tables import (
    AreaCountItem,
    CounterShardItem,
    PledgeHourItem,
    PledgeItem,
    StreamReceiptItem,
)
from chalicelib.storage.transactions import (
    CONDITIONAL_CHECK_FAILED,
    cancellation_codes,
    with_transaction_retries,
)

# TransactWriteItems takes at most 100 items: the receipts, the counter shard's, the areas' and
# the hours' updates.
MAX_TRANSACTION_ITEMS = 100
# Longer than the 24 h a stream keeps a record, so no record can come back after its receipt.
RECEIPT_LIFETIME = timedelta(days=2)
# The consumer's name in receipt keys: still "areas", as when this trigger counted areas
# alone, so that a record redelivered across the deploy that added the hours finds its
# receipt and is not counted twice.
RECEIPT_CONSUMER = "areas"


def receipt_key(sequence_number: str) -> str:
    return f"{RECEIPT_CONSUMER}#{sequence_number}"


def _chunks(changes: Sequence[PledgeChange]) -> list[list[PledgeChange]]:
    """The changes in transactions of at most 100 items: one receipt per change, plus one
    counter shard update, and one update per distinct area and per distinct hour among them."""
    chunks: list[list[PledgeChange]] = []
    chunk: list[PledgeChange] = []
    areas: set[str] = set()
    hours: set[str] = set()
    for change in changes:
        new_areas = areas | ({change.area} if change.area else set())
        new_hours = hours | {change.hour}
        if chunk and len(chunk) + 2 + len(new_areas) + len(new_hours) > MAX_TRANSACTION_ITEMS:
            chunks.append(chunk)
            chunk, areas, hours = [], set(), set()
            new_areas = {change.area} if change.area else set()
            new_hours = {change.hour}
        chunk.append(change)
        areas, hours = new_areas, new_hours
    if chunk:
        chunks.append(chunk)
    return chunks


class DynamoPledgeTallies:
    def __init__(self, settings: Settings) -> None:
        self._connection = connection(settings)

    def apply(self, challenge_id: str, changes: Sequence[PledgeChange], *, now: datetime) -> int:
        expires_at = now + RECEIPT_LIFETIME
        return sum(self._apply_chunk(challenge_id, chunk, expires_at) for chunk in _chunks(changes))

    def _apply_chunk(
        self, challenge_id: str, changes: Sequence[PledgeChange], expires_at: datetime
    ) -> int:
        pending = list(changes)
        # Each refusal drops at least one change, so this ends.
        while pending:
            write = functools.partial(self._write, challenge_id, pending, expires_at)
            try:
                with_transaction_retries(write)
            except TransactWriteError as error:
                codes = cancellation_codes(error)
                counted = {i for i, code in enumerate(codes) if code == CONDITIONAL_CHECK_FAILED}
                if not counted or max(counted) >= len(pending):
                    raise
                pending = [change for i, change in enumerate(pending) if i not in counted]
                continue
            return len(pending)
        return 0

    def _write(
        self, challenge_id: str, changes: Sequence[PledgeChange], expires_at: datetime
    ) -> None:
        areas: Counter[str] = Counter()
        made: Counter[str] = Counter()
        withdrawn: Counter[str] = Counter()
        for change in changes:
            if change.area:
                areas[change.area] += change.delta
            (made if change.delta > 0 else withdrawn)[change.hour] += abs(change.delta)
        with TransactWrite(connection=self._connection) as transaction:
            # The receipts come first: a refused one's position is its change's position.
            for change in changes:
                transaction.save(
                    StreamReceiptItem(id=receipt_key(change.receipt), expires_at=expires_at),
                    condition=StreamReceiptItem.id.does_not_exist(),
                )
            self._count_participants(transaction, challenge_id, changes)
            for area, delta in areas.items():
                if delta:  # changes netting to zero leave an uncounted area unlisted
                    transaction.update(
                        AreaCountItem(challenge_id=challenge_id, area=area),
                        actions=[AreaCountItem.participants.add(delta)],
                    )
            for hour in {*made, *withdrawn}:
                transaction.update(
                    PledgeHourItem(challenge_id=challenge_id, hour=hour),
                    actions=[
                        PledgeHourItem.made.add(made[hour]),
                        PledgeHourItem.withdrawn.add(withdrawn[hour]),
                    ],
                )

    def _count_participants(
        self, transaction: TransactWrite, challenge_id: str, changes: Sequence[PledgeChange]
    ) -> None:
        """The changes' participants and offers, on the first change's counter shard."""
        participants = sum(change.delta for change in changes)
        promised = tidy_quantity(sum(change.delta * change.offered for change in changes))
        if not (participants or promised):  # made and withdrawn in one batch: nothing
            return
        actions: list[Action] = [
            CounterShardItem.participants.add(participants),
            CounterShardItem.version.add(1),
        ]
        if promised:
            actions.append(CounterShardItem.promised.add(promised))
        transaction.update(
            CounterShardItem(id=counter_key(challenge_id, changes[0].shard)), actions=actions
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

    def hours(self, challenge_id: str) -> list[HourCount]:
        return [
            HourCount(hour_start(item.hour), int(item.made), int(item.withdrawn))
            for item in PledgeHourItem.query(challenge_id)
        ]


def pledge_change_from_stream_record(record: Mapping[str, Any]) -> PledgeChange | None:
    """What a pledges-stream record counts: a pledge made (INSERT, +1, at the pledge's own
    `created_at`) or withdrawn (REMOVE, -1, at the record's time); None for anything else."""
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
    if _erasure_move(name, image):
        return None
    area = (image.get(PledgeItem.area.attr_name) or {}).get("S") or None
    challenge_id = image[PledgeItem.challenge_id.attr_name]["S"]
    return PledgeChange(
        receipt=str(dynamodb["SequenceNumber"]),
        challenge_id=str(challenge_id),
        delta=delta,
        at=_when(image, dynamodb) if delta > 0 else stream_record_time(dynamodb),
        area=str(area) if area else None,
        shard=int(_number(image, PledgeItem.counter_shard.attr_name)),
        offered=tidy_quantity(_number(image, PledgeItem.offered.attr_name)),
    )


def _number(image: Mapping[str, Any], name: str) -> float:
    """A Number attribute of a stream image (0 when absent)."""
    value = (image.get(name) or {}).get("N")
    return float(value) if value is not None else 0


def _erasure_move(name: str, image: Mapping[str, Any]) -> bool:
    """A pledge moved by an erasure (storage/personal_data.py): the REMOVE of the marked
    original and the INSERT of its pseudonymised copy. It was counted when made; the move
    changes no area and no hour, so neither record counts."""
    if name == "INSERT":
        return bool((image.get(PledgeItem.pseudonymised.attr_name) or {}).get("BOOL"))
    return PledgeItem.erasing.attr_name in image


def _when(image: Mapping[str, Any], dynamodb: Mapping[str, Any]) -> datetime:
    created = (image.get(PledgeItem.created_at.attr_name) or {}).get("S")
    if created:
        return PledgeItem.created_at.deserialize(created)  # type: ignore[no-any-return]
    return stream_record_time(dynamodb)


def stream_record_time(dynamodb: Mapping[str, Any]) -> datetime:
    """The stream record's creation time (DynamoDB Streams: epoch seconds)."""
    return datetime.fromtimestamp(float(dynamodb["ApproximateCreationDateTime"]), tz=UTC)
