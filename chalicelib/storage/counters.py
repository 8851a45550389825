"""Participant counter shards: their keys and `DynamoCounterRepository`, which sums them."""

from __future__ import annotations

from chalicelib.domain.model import Totals
from chalicelib.storage.tables import CounterShardItem


def counter_key(challenge_id: str, shard: int) -> str:
    return f"{challenge_id}#{shard}"


def challenge_id_from_counter_key(key: str) -> str:
    return key.rsplit("#", 1)[0]


class DynamoCounterRepository:
    def totals(self, challenge_id: str, shards: int) -> Totals:
        keys = [counter_key(challenge_id, shard) for shard in range(shards)]
        total = Totals()
        for item in CounterShardItem.batch_get(keys, consistent_read=True):
            total += Totals(
                int(item.participants), item.quantity, int(item.version), item.promised or 0
            )
        return total
