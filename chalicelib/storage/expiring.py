"""A bounded map whose entries expire, and the read-through cache built on it: the store
behind the per-container read caches."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
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


class ReadThroughCache(Generic[K, V]):
    """Values read through a loader and kept in this container's memory: `ttl` seconds for a
    value found, `missing_ttl` for a key that has none (None). Bounded and thread-safe.

    Two concurrent misses for one key may both load it: a rare, harmless extra read.
    """

    def __init__(
        self,
        *,
        ttl: float,
        missing_ttl: float,
        max_entries: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl < 0 or missing_ttl < 0 or max_entries < 1:
            raise ValueError("cache durations must not be negative, and the size must be positive")
        self._ttl = ttl
        self._missing_ttl = missing_ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: ExpiringLru[K, V | None] = ExpiringLru(max_entries)

    def get(self, key: K, load: Callable[[K], V | None]) -> V | None:
        with self._lock:
            hit, value = self._entries.get(key, self._monotonic())
            if hit:
                return value
        value = load(key)
        with self._lock:
            if value is None:
                # A concurrent `remember` (an add) may have stored it since this load began:
                # keep that rather than hide it behind a miss.
                hit, current = self._entries.get(key, self._monotonic())
                if hit and current is not None:
                    return current
            self._put(key, value)
        return value

    def remember(self, key: K, value: V | None) -> None:
        with self._lock:
            self._put(key, value)

    def forget(self, key: K) -> None:
        """Drop what is known of `key`: its next `get` loads it."""
        with self._lock:
            self._entries.pop(key)

    def _put(self, key: K, value: V | None) -> None:
        ttl = self._ttl if value is not None else self._missing_ttl
        self._entries.put(key, value, self._monotonic() + ttl)
