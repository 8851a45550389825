"""A bounded map whose entries expire: the store behind the per-container read caches."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ExpiringLru(Generic[K, V]):
    """At most `max_entries` entries (least recently used out first), each until its own
    deadline; the owner reads its clock and passes the time in. Not thread-safe: its owner
    holds a lock around every call."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("the size must be positive")
        self._max_entries = max_entries
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K, now: float) -> tuple[bool, V | None]:
        """(True, value) while the entry lives (it becomes the most recent); (False, None)
        once it has expired (then it is dropped) or if there is none."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        if now >= entry[0]:
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        return True, entry[1]

    def put(self, key: K, value: V, expires_at: float) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (expires_at, value)
        if len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)
