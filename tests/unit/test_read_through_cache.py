"""The read-through cache behind the per-container caches, and the campaign cache built on it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from chalicelib.domain.model import Campaign
from chalicelib.storage.campaign_cache import (
    CAMPAIGN_CACHE_TTL_SECONDS,
    MISSING_CAMPAIGN_TTL_SECONDS,
    CachedCampaignRepository,
)
from chalicelib.storage.expiring import ReadThroughCache
from tests.unit.fakes import DuplicateItemError, FakeCampaignRepository


class Monotonic:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CountingLoader:
    """A store of numbers that counts the keys it is asked for."""

    def __init__(self, **values: int) -> None:
        self.values = dict(values)
        self.loads: list[str] = []

    def __call__(self, key: str) -> int | None:
        self.loads.append(key)
        return self.values.get(key)


def cache(
    clock: Monotonic, *, ttl: float = 10.0, missing_ttl: float = 1.0, max_entries: int = 8
) -> ReadThroughCache[str, int]:
    return ReadThroughCache(
        ttl=ttl, missing_ttl=missing_ttl, max_entries=max_entries, monotonic=clock
    )


# --- ReadThroughCache ----------------------------------------------------------------------------


def test_a_value_is_loaded_once_per_ttl() -> None:
    clock = Monotonic()
    store = CountingLoader(a=1)
    values = cache(clock, ttl=10.0)

    assert values.get("a", store) == 1
    clock.now = 9.9
    store.values["a"] = 2  # not seen until the entry expires
    assert values.get("a", store) == 1
    assert store.loads == ["a"]
    clock.now = 10.0
    assert values.get("a", store) == 2
    assert values.get("a", store) == 2
    assert store.loads == ["a", "a"]


def test_a_miss_is_remembered_for_missing_ttl_only() -> None:
    clock = Monotonic()
    store = CountingLoader()
    values = cache(clock, ttl=10.0, missing_ttl=1.0)

    assert values.get("b", store) is None
    clock.now = 0.9
    store.values["b"] = 7
    assert values.get("b", store) is None  # the remembered miss
    assert store.loads == ["b"]
    clock.now = 1.0
    assert values.get("b", store) == 7
    clock.now = 10.9  # now a hit, kept for ttl from when it was read
    assert values.get("b", store) == 7
    assert store.loads == ["b", "b"]


def test_remember_stores_a_value_without_loading_it() -> None:
    clock = Monotonic()
    store = CountingLoader(a=1)
    values = cache(clock, ttl=10.0, missing_ttl=1.0)

    values.remember("a", 5)
    assert values.get("a", store) == 5
    assert store.loads == []
    values.remember("a", None)  # replaces the value, for missing_ttl only
    assert values.get("a", store) is None
    clock.now = 1.0
    assert values.get("a", store) == 1
    assert store.loads == ["a"]


def test_the_least_recently_used_key_is_evicted_first() -> None:
    store = CountingLoader(a=1, b=2, c=3)
    values = cache(Monotonic(), max_entries=2)

    values.get("a", store)
    values.get("b", store)
    values.get("a", store)  # a is now the most recent
    values.get("c", store)  # the cache is full: b goes
    assert store.loads == ["a", "b", "c"]
    values.get("a", store)
    values.get("b", store)
    assert store.loads == ["a", "b", "c", "b"]


def test_a_zero_ttl_keeps_nothing() -> None:
    store = CountingLoader(a=1)
    values = cache(Monotonic(), ttl=0.0, missing_ttl=0.0)

    values.get("a", store)
    values.get("a", store)
    values.get("missing", store)
    values.get("missing", store)
    assert store.loads == ["a", "a", "missing", "missing"]


def test_a_failed_load_is_not_remembered() -> None:
    store = CountingLoader(a=1)
    values = cache(Monotonic())

    def broken(key: str) -> int | None:
        raise RuntimeError("the store is down")

    with pytest.raises(RuntimeError, match="the store is down"):
        values.get("a", broken)
    assert values.get("a", store) == 1
    assert store.loads == ["a"]


def test_the_loader_runs_outside_the_cache_lock() -> None:
    # A loader that reads the cache itself (or a slow one) must not hold up other readers.
    store = CountingLoader(inner=1)
    values = cache(Monotonic())
    results: list[int | None] = []

    def outer(key: str) -> int | None:
        inner = values.get("inner", store)
        return None if inner is None else inner + 1

    # On a thread: if the load ran under the (non-reentrant) lock, it would never return.
    thread = threading.Thread(
        target=lambda: results.append(values.get("outer", outer)), daemon=True
    )
    thread.start()
    thread.join(timeout=10)

    assert results == [2]
    assert values.get("outer", store) == 2  # remembered: the store has no "outer"


@pytest.mark.parametrize(
    ("ttl", "missing_ttl", "max_entries"),
    [(-1.0, 1.0, 8), (10.0, -0.5, 8), (10.0, 1.0, 0), (10.0, 1.0, -1)],
)
def test_negative_durations_and_a_size_below_one_are_refused(
    ttl: float, missing_ttl: float, max_entries: int
) -> None:
    with pytest.raises(ValueError, match="must not be negative, and the size must be positive"):
        ReadThroughCache[str, int](ttl=ttl, missing_ttl=missing_ttl, max_entries=max_entries)


# --- CachedCampaignRepository --------------------------------------------------------------------

CREATED = datetime(2026, 11, 1, tzinfo=UTC)
WEEK = Campaign(id="cmp_week", title="No Impact Week", created_at=CREATED)
MONTH = Campaign(id="cmp_month", title="Plastic-free month", created_at=CREATED)


class CountingCampaigns(FakeCampaignRepository):
    """A campaign store that counts its reads and refuses an id it already has."""

    def __init__(self, *campaigns: tuple[Campaign, int]) -> None:
        super().__init__()
        for campaign, shards in campaigns:
            self.add(campaign, counter_shards=shards)
        self.reads = 0

    @property
    def by_id(self) -> dict[str, tuple[Campaign, int]]:
        return self.items

    def get(self, campaign_id: str) -> tuple[Campaign, int] | None:
        self.reads += 1
        return super().get(campaign_id)


def test_a_campaign_is_read_once_then_from_memory() -> None:
    store = CountingCampaigns((WEEK, 4))
    campaigns = CachedCampaignRepository(store)

    for _ in range(20):
        assert campaigns.get(WEEK.id) == (WEEK, 4)
    assert store.reads == 1


def test_a_campaign_is_read_again_after_the_default_ttl() -> None:
    clock = Monotonic()
    store = CountingCampaigns((WEEK, 4))
    campaigns = CachedCampaignRepository(store, monotonic=clock)

    campaigns.get(WEEK.id)
    clock.now = CAMPAIGN_CACHE_TTL_SECONDS - 0.1
    campaigns.get(WEEK.id)
    assert store.reads == 1
    clock.now = CAMPAIGN_CACHE_TTL_SECONDS
    assert campaigns.get(WEEK.id) == (WEEK, 4)
    assert store.reads == 2


def test_an_added_campaign_goes_to_the_store_and_is_answered_from_memory() -> None:
    store = CountingCampaigns()
    campaigns = CachedCampaignRepository(store)

    campaigns.add(MONTH, counter_shards=8)

    assert store.by_id == {MONTH.id: (MONTH, 8)}
    assert campaigns.get(MONTH.id) == (MONTH, 8)
    assert store.reads == 0


def test_an_add_replaces_a_remembered_miss() -> None:
    store = CountingCampaigns()
    campaigns = CachedCampaignRepository(store)

    assert campaigns.get(MONTH.id) is None
    campaigns.add(MONTH, counter_shards=2)
    assert campaigns.get(MONTH.id) == (MONTH, 2)
    assert store.reads == 1


def test_a_refused_add_is_not_remembered() -> None:
    store = CountingCampaigns((WEEK, 4))
    campaigns = CachedCampaignRepository(store)

    with pytest.raises(DuplicateItemError):
        campaigns.add(WEEK, counter_shards=16)
    assert campaigns.get(WEEK.id) == (WEEK, 4)  # what the store has, not what was refused
    assert store.reads == 1


def test_an_unknown_campaign_is_retried_after_the_missing_ttl() -> None:
    clock = Monotonic()
    store = CountingCampaigns()
    campaigns = CachedCampaignRepository(store, monotonic=clock)

    assert campaigns.get(WEEK.id) is None
    assert campaigns.get(WEEK.id) is None
    assert store.reads == 1
    store.by_id[WEEK.id] = (WEEK, 4)  # created through another container
    clock.now = MISSING_CAMPAIGN_TTL_SECONDS - 0.1
    assert campaigns.get(WEEK.id) is None
    clock.now = MISSING_CAMPAIGN_TTL_SECONDS
    assert campaigns.get(WEEK.id) == (WEEK, 4)
    assert store.reads == 2


def test_a_miss_does_not_hide_a_value_added_while_it_was_read() -> None:
    """An add (remember) landing between a miss's read and its store wins: the campaign
    trigger must not skip a campaign created a moment ago for missing_ttl."""
    cache: ReadThroughCache[str, int] = ReadThroughCache(
        ttl=60, missing_ttl=1, max_entries=8, monotonic=Monotonic()
    )

    def load_while_another_thread_adds(key: str) -> int | None:
        cache.remember(key, 7)  # the add, done while this read was on its way
        return None  # what the read saw, before the add

    assert cache.get("cmp_new", load_while_another_thread_adds) == 7
    assert cache.get("cmp_new", CountingLoader()) == 7  # remembered, not re-read
