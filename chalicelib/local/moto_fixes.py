"""Make moto's DynamoDB streams behave like AWS where crowdact depends on it (local use only)."""

from __future__ import annotations

import functools
from typing import Any

_APPLIED = False
# AWS expires a shard iterator after 15 minutes; moto keeps every one forever, and a poller
# makes one per read: about 20 a second, 130 MB an hour. Keep the newest ones only.
MAX_SHARD_ITERATORS = 1000


def apply() -> None:
    """Cancelled transactions must leave the stream as it was, with its shard object intact.

    moto backs a transaction up by deep-copying every table it touches (its items and its
    whole stream), applies the writes one by one (each appending a stream record) and, when one
    fails, swaps the copies in. Open shard iterators then hold an orphaned shard that carries
    the cancelled writes' records, and the next real write reuses their sequence numbers: a
    poller loses it. AWS emits nothing for a cancelled transaction. So the stream shard is
    shared with the backup instead of copied (which also keeps each transaction from copying
    the table's whole stream history), and a cancelled transaction's records are cut off.
    """
    global _APPLIED
    if _APPLIED:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard

    # A backup of a table keeps the same stream shard object.
    StreamShard.__deepcopy__ = lambda self, memo: self  # type: ignore[attr-defined]
    original = DynamoDBBackend.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        lengths = {
            name: len(table.stream_shard.items)
            for name, table in self.tables.items()
            if table.stream_shard is not None
        }
        try:
            original(self, transact_items)
        except Exception:
            for name, length in lengths.items():
                table = self.tables.get(name)
                if table is not None and table.stream_shard is not None:
                    del table.stream_shard.items[length:]
                    table.stream_shard.table = table  # the restored backup
            raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _bound_shard_iterators()
    _APPLIED = True


def _bound_shard_iterators() -> None:
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    original = DynamoDBStreamsBackend.get_records

    @functools.wraps(original)
    def get_records(self: Any, iterator_arn: str, limit: int) -> dict[str, Any]:
        result: dict[str, Any] = original(self, iterator_arn, limit)
        iterators = self.shard_iterators
        while len(iterators) > MAX_SHARD_ITERATORS:
            del iterators[next(iter(iterators))]  # dicts keep insertion order: oldest first
        return result

    DynamoDBStreamsBackend.get_records = get_records  # type: ignore[method-assign]
