"""The bounded, expiring map behind the challenge and organisation caches."""

from __future__ import annotations

import pytest

from chalicelib.storage.expiring import ExpiringLru


def test_entries_live_until_their_deadline_then_are_dropped() -> None:
    store: ExpiringLru[str, int | None] = ExpiringLru(4)
    store.put("a", 1, expires_at=10.0)
    store.put("missing", None, expires_at=5.0)
    assert store.get("a", 9.9) == (True, 1)
    assert store.get("missing", 4.0) == (True, None)  # a cached "does not exist"
    assert store.get("missing", 5.0) == (False, None)
    assert store.get("a", 10.0) == (False, None)
    store.put("a", 2, expires_at=20.0)  # dropped on expiry, so stored afresh
    assert store.get("a", 11.0) == (True, 2)


def test_least_recently_used_goes_first() -> None:
    store: ExpiringLru[str, int] = ExpiringLru(2)
    store.put("a", 1, 100.0)
    store.put("b", 2, 100.0)
    assert store.get("a", 0.0) == (True, 1)  # a is now the most recent
    store.put("c", 3, 100.0)
    assert store.get("b", 0.0) == (False, None)
    assert store.get("a", 0.0) == (True, 1)
    store.pop("a")
    assert store.get("a", 0.0) == (False, None)


def test_a_store_that_holds_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="size must be positive"):
        ExpiringLru(0)


def test_storing_a_key_again_replaces_it_and_makes_it_the_most_recent() -> None:
    store: ExpiringLru[str, int] = ExpiringLru(2)
    store.put("a", 1, 100.0)
    store.put("b", 2, 100.0)
    store.put("a", 10, 50.0)  # a new value and deadline; still two entries
    store.put("c", 3, 100.0)  # b is now the least recent
    assert store.get("b", 0.0) == (False, None)
    assert store.get("c", 0.0) == (True, 3)
    assert store.get("a", 49.0) == (True, 10)
    assert store.get("a", 50.0) == (False, None)
