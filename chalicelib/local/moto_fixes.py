"""Make moto's DynamoDB streams behave like AWS where crowdact depends on it (local use only)."""

from __future__ import annotations

import functools
from typing import Any

_APPLIED = False


def apply() -> None:
    """Cancelled transactions must leave the stream as it was, with its shard object intact.

    moto applies a transaction's writes one by one (each appending a stream record) and, when
    one fails, swaps the touched tables for deep copies taken beforehand. The stream shard that
    open iterators hold is then orphaned, still carrying the cancelled writes' records, and the
    next real write reuses their sequence numbers: a poller loses it. AWS emits nothing for a
    cancelled transaction, so we put the original shard back, without those records.
    """
    global _APPLIED
    if _APPLIED:
        return
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        shards = {
            name: (table.stream_shard, len(table.stream_shard.items))
            for name, table in self.tables.items()
            if table.stream_shard is not None
        }
        try:
            original(self, transact_items)
        except Exception:
            for name, (shard, length) in shards.items():
                table = self.tables.get(name)
                if table is not None and table.stream_shard is not shard:
                    del shard.items[length:]
                    shard.table = table
                    table.stream_shard = shard
            raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _APPLIED = True
