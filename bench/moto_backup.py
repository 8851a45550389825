"""Bench-only moto patch: a transaction backs up the items it touches, not whole tables."""

from __future__ import annotations

import contextvars
import copy
import functools
from dataclasses import dataclass
from typing import Any

# moto backs a transaction up with copy.deepcopy of every table it touches. Each pledge's
# transaction touches the pledges table, so the n-th pledge copies n items: 20,000 pledges
# on one challenge would take hours (profiled: ~45 µs per stored item per transaction). The
# items a transaction does not name cannot change, so saving only the named ones restores
# exactly the same state on cancellation. This changes how moto rolls back, not what the
# application sends or what moto answers.

_IN_TRANSACTION: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "bench_in_transaction", default=False
)
_APPLIED = False


@dataclass
class _Saved:
    table: Any
    hash_key: Any
    range_key: Any
    had_hash: bool
    item: Any  # a deep copy of the stored item, or None when there was none


def apply() -> None:
    """Install the patch (after chalicelib.local.moto_fixes.apply(), which it wraps)."""
    global _APPLIED
    if _APPLIED:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    def table_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
        if _IN_TRANSACTION.get():
            return self  # the backup is the live table; _restore undoes the named items
        result = self.__class__.__new__(self.__class__)
        memo[id(self)] = result
        for name, value in self.__dict__.items():
            setattr(result, name, copy.deepcopy(value, memo))
        return result

    Table.__deepcopy__ = table_deepcopy  # type: ignore[attr-defined]
    original = DynamoDBBackend.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = _save(self, transact_items)
        token = _IN_TRANSACTION.set(True)
        try:
            original(self, transact_items)
        except Exception:
            _restore(saved)
            raise
        finally:
            _IN_TRANSACTION.reset(token)

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _APPLIED = True


def _save(backend: Any, transact_items: list[dict[str, Any]]) -> list[_Saved]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    saved: list[_Saved] = []
    for entry in transact_items:
        if len(entry) != 1:
            continue  # moto rejects it before writing anything
        op_type, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        key = op.get("Item") if op_type == "Put" else op.get("Key")
        if not key or table.hash_key_attr not in key:
            continue
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = None
        if table.range_key_attr is not None:
            if table.range_key_attr not in key:
                continue
            range_key = DynamoType(key[table.range_key_attr])
        had_hash = hash_key in table.items  # before get_item: its defaultdict adds the key
        stored = table.get_item(hash_key, range_key)
        saved.append(_Saved(table, hash_key, range_key, had_hash, copy.deepcopy(stored)))
    return saved


def _restore(saved: list[_Saved]) -> None:
    for entry in reversed(saved):
        items = entry.table.items
        if entry.range_key is None:
            if entry.item is None:
                items.pop(entry.hash_key, None)
            else:
                items[entry.hash_key] = entry.item
            continue
        if entry.item is None:
            items.get(entry.hash_key, {}).pop(entry.range_key, None)
            if not entry.had_hash and not items.get(entry.hash_key):
                items.pop(entry.hash_key, None)
        else:
            items[entry.hash_key][entry.range_key] = entry.item
